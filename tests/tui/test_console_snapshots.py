"""Snapshots of the console (pytest-textual-snapshot): fixed clock, in-memory services, no timers.

Update after an intended change with ``python -m pytest tests/tui/test_console_snapshots.py
--snapshot-update``, look at the SVGs and copy them to docs/images/ (the screenshots in
docs/console.md are these files: the last test fails while they differ).

These run on the test world (tests/support/fake_world.py), not on a devnet: a live screen is not
the same twice. The wallet balance and the model ids follow from gas coins and digests the devnet
picks, the status bar's countdown and the action log's times follow from the node's wall-clock
epoch boundaries, a commit's weights and key commitments come from a fresh random key, and the
losses come from a real training run (they differ between CPUs). The live console's screens are
checked by content instead (tests/live/test_live_console.py, tests/live/test_live_actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from soma_console.tui.app import ConsoleApp
from soma_console.tui.dialogs import ConfirmPlanScreen
from tests.conftest import REPO
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeClock
from tests.tui.helpers import settle, wait_for

Snap = Callable[..., bool]


async def ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await settle(pilot)
    app.flush_logs()
    app.tick()
    await pilot.pause()


def test_main_screen_80x24(snap_compare: Snap, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=ready)


def test_main_screen_160x48(snap_compare: Snap, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=ready)


def test_commit_confirmation_80x24(snap_compare: Snap, make_app: AppFactory) -> None:
    async def open_commit(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("2", "c")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmPlanScreen))
        await pilot.press(*"comit", "enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_commit)


def test_reveal_alarm_no_color_160x48(
    snap_compare: Snap, make_app: AppFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()

    async def closing(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        clock.advance(430)
        pilot.app.tick()  # type: ignore[attr-defined]
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=closing)


SCREENSHOTS = {
    "test_main_screen_80x24": "console-80x24",
    "test_main_screen_160x48": "console-160x48",
    "test_commit_confirmation_80x24": "console-commit-80x24",
    "test_reveal_alarm_no_color_160x48": "console-alarm-no-color-160x48",
}


@pytest.mark.parametrize("snapshot", sorted(SCREENSHOTS))
def test_the_docs_screenshots_are_the_snapshots(snapshot: str) -> None:
    taken = REPO / "tests" / "tui" / "__snapshots__" / "test_console_snapshots" / f"{snapshot}.svg"
    shown = REPO / "docs" / "images" / f"{SCREENSHOTS[snapshot]}.svg"
    assert shown.read_bytes() == taken.read_bytes(), f"copy {taken} to {shown}"
