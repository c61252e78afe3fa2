"""The Earnings screen at 80x24: opened with `e`, read from a real target index file, closed with Escape."""

from __future__ import annotations

from pathlib import Path

from soma_console.core.claims import soma as soma_text
from soma_console.core.earnings import build_view
from soma_console.core.targets_index import TargetIndex
from soma_console.core.targets_reads import owner_share
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
        # the summary's "earned" is the table's: every win's share, split into claimed and not
        summary = str(app.screen.query_one("#earnings-summary").render())
        assert f"earned {soma_text(share)}: 0 SOMA claimed, {soma_text(share)} unclaimed" in summary
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


async def test_c_in_earnings_plans_a_claim_and_sends_only_after_the_typed_word(
    tmp_path: Path, make_app: AppFactory, services: FakeServices
) -> None:
    from soma_console.core.actions import ActionResult
    from soma_console.core.claims import ClaimPlanItem, plan_claims
    from soma_console.core.targets_reads import TargetRecord
    from soma_console.tui.dialogs import ConfirmPlanScreen
    from tests.tui.test_console_actions import type_text

    path = await _index(tmp_path)
    target = TargetRecord("0x0005000001", 5, "claimable", ("0xa1", MINE), MINE, 12_685_185, 0.5)
    plan = plan_claims(
        "devnet",
        [ClaimPlanItem(target, "ab" * 32, owner_share(12_685_185), 63_425, 7_342, None)],
        claimer="cd" * 32,
    )
    sent: list[object] = []

    async def plan_claim() -> object:
        return plan

    async def execute(p: object, progress: object) -> ActionResult:
        sent.append(p)
        return ActionResult(action="claim", ok=True, summary="claimed 1 of 1 wins")

    services.earnings_view = lambda: build_view(path, "devnet", 7, [MINE])  # type: ignore[attr-defined]
    services.plan_claim = plan_claim  # type: ignore[attr-defined]
    services.execute = execute  # type: ignore[method-assign]
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: "per epoch" in screen_text(app))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        text = screen_text(app)
        assert "0.006310879 SOMA" in text  # the owner share, exactly
        await type_text(pilot, "yes")
        await pilot.press("enter")
        await pilot.pause()
        assert "Nothing was sent" in screen_text(app) and sent == []
        await pilot.press(*["backspace"] * 3)
        await type_text(pilot, "claim")
        await pilot.press("enter")
        await settle(pilot)
        assert sent == [plan]


async def test_a_long_list_of_unclaimed_wins_is_bounded_soonest_first(
    tmp_path: Path, make_app: AppFactory, services: FakeServices
) -> None:
    # 10,000 unclaimed wins would hold the UI loop for ~0.2 s (bench.tui_earnings_refresh): the
    # screen shows the soonest claimable ones and says how many more the command line lists.
    from textual.widgets import DataTable

    from soma_console.core.earnings import EarningsView
    from soma_console.tui.earnings_pane import CLAIMABLE_ROWS

    wins = [
        {
            "target_id": f"0x{n:064x}",
            "model_id": MINE,
            "generation_epoch": 5 + n % 4,
            "reward_shannons": 1000,
            "owner_share_shannons": 497,
            "claimable_from_epoch": 7 + n % 4,
            "claimed": False,
        }
        for n in range(CLAIMABLE_ROWS + 120)
    ]
    report = {
        "wins": wins,
        "by_epoch": [],
        "claimable_now_shannons": 0,
        "pending_shannons": 497 * len(wins),
        "total_earned_shannons": 0,
    }
    view = EarningsView("devnet", 8, [], report, wins, True)
    services.earnings_view = lambda: view  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EarningsScreen) and app.screen.view is not None)
        await settle(pilot)
        table = app.screen.query_one("#earnings-claimable", DataTable)
        assert table.row_count == CLAIMABLE_ROWS + 1
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        whens = [r[3] for r in rows[:-1]]
        assert whens[0] == "now" and whens.count("now") == len(
            [w for w in wins if w["claimable_from_epoch"] <= 8]
        )
        assert rows[-1][0] == "… 120 more" and "soma-console earnings" in rows[-1][1]
