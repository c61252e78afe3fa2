"""Driving the console in tests: wait for its workers, read the screen as text."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from soma_console.tui.options import ConsoleOptions


def pilot_options(**changes: object) -> ConsoleOptions:
    """The console's options under Pilot: no blinking cursor, the process's SIGHUP and collector
    left alone (many consoles run in one test process); ``changes`` on top."""
    return ConsoleOptions(cursor_blink=False, watch_hangup=False, freeze_gc=False, **changes)  # type: ignore[arg-type]


# Workers that never finish on their own (following a live run's log).
OPEN_ENDED = frozenset({"follow", "lifecycle"})


async def settle(pilot: Pilot[object], *, timeout: float = 10.0) -> None:
    """Wait until every finite worker is done and the messages they posted are handled."""
    app = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await pilot.pause()
        busy = [w for w in app.workers if w.group not in OPEN_ENDED and not w.is_finished]
        if not busy:
            break
        if loop.time() > deadline:
            raise AssertionError(f"workers still running after {timeout} s: {busy}")
        await asyncio.sleep(0.005)
    await pilot.pause()


async def wait_for(pilot: Pilot[object], predicate: Callable[[], bool], *, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time; the screen shows:\n" + screen_text(pilot.app))
        await pilot.pause(0.01)


def screen_text(app: App[object]) -> str:
    """What the terminal shows, as plain text (one line per row)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens, simplify=True)
    )
    return console.export_text()


async def shows(pilot: Pilot[object], text: str, *, timeout: float = 5.0) -> str:
    """Wait until ``text`` is on screen (notifications take a frame or two); return the screen."""
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout=timeout)
    return screen_text(pilot.app)
