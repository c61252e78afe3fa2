"""The Earnings screen at 80x24: opened with `e`, read from a real target index file, closed with Escape."""

from __future__ import annotations

from pathlib import Path

from soma_console.core.earnings import build_view
from soma_console.core.targets_index import TargetIndex, owner_share
from soma_console.tui.earnings_pane import EarningsScreen
from tests.earnings.test_targets_index import Listing
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import screen_text, settle, wait_for

MINE = "0xb2"


async def _index(tmp_path: Path) -> Path:
    src = Listing()
    src.add(4, epoch=5, models=("0xa1", MINE, "0xc3"))
    src.add(6, epoch=7, models=(MINE, "0xa1", "0xc3"))
    won = src.targets["0x0005000001"]
    won.status, won.winning_model_id = "claimable", MINE
    other = src.targets["0x0007000002"]
    other.status, other.winning_model_id = "filled", MINE
    path = tmp_path / "targets.sqlite"
    index = TargetIndex.open(path)
    await index.sync("devnet", src.fetch, 7)
    index.close()
    return path


async def test_e_opens_earnings_readable_at_80x24(
    tmp_path: Path, make_app: AppFactory, services: FakeServices
) -> None:
    path = await _index(tmp_path)
    services.earnings_view = lambda: build_view(path, "devnet", 7, [MINE])  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: "per epoch" in screen_text(app))
        await settle(pilot)
        text = screen_text(app)
        assert isinstance(app.screen, EarningsScreen)
        share = owner_share(1001) + owner_share(1002)
        view = app.screen.view
        assert view is not None and view.report["pending_shannons"] == share
        assert view.models == [
            {
                "model_id": MINE,
                "assigned": 6,
                "share": 1.0,
                "filled": 1,
                "won": 1,
                "win_rate": 1.0,
                "earned_shannons": share,
            }
        ]
        assert "0xb2…" in text and "100.0%" in text
        assert "now" in text and "epoch 9" in text  # one claimable now, one from generation epoch + 2
        assert "▄" in text or "█" in text  # the per-epoch chart
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, EarningsScreen)


async def test_earnings_without_an_index_says_what_to_run(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: "soma-console earnings" in screen_text(app))
