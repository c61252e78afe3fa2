"""Snapshots of the console (pytest-textual-snapshot): fixed clock, in-memory services, no timers.

Update after an intended change with ``python -m pytest tests/tui/test_console_snapshots.py
--snapshot-update``, look at the SVGs and copy them to docs/images/ (the screenshots in
docs/console.md are these files: the last test fails while they differ).

These run on the test world (tests/support/fake_world.py), not on a devnet: a live screen is not
the same twice. Two fresh devnets, the same signer key and a frozen console clock draw the same
main screen except for the model ids: they derive from the devnet's chain id, a hash of its genesis
wall-clock time (soma_console/devnet/engine/chain.py). Beyond that, a live countdown follows the
node's wall-clock epoch start (a frozen console clock shows "epoch turning…"), the action log's
times are the journal's wall clock, a commit's commitments come from a fresh random key, and a
trained run's losses and save times differ between machines and runs. The live console's screens
are checked by content instead (tests/live/).
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
