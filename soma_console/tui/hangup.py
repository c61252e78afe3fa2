"""Leaving quietly when the terminal goes away (an SSH connection drops, tmux kills the pane).

The kernel sends SIGHUP, and right behind it SIGCONT, to a program whose terminal hangs up.
Left to defaults, Textual treats the SIGCONT as "resume from ctrl+z" and starts writing to the
dead terminal again, and its output thread can wedge on writes that can never complete: the
process lingers. So the console takes SIGHUP itself, as a plain Python signal handler (Python
runs handlers in signal-number order, so SIGHUP's runs before SIGCONT's), and:

* stops Textual from resuming on the SIGCONT that follows;
* if the terminal is really gone, points stdin/stdout/stderr at /dev/null, so every write that
  shutdown makes (restoring modes, printing anything) succeeds into nothing instead of failing
  or blocking;
* if the terminal is still there (someone ran ``kill -HUP``), leaves it alone so shutdown restores
  it as on any normal exit;
* asks the app to exit, which stops the services (the console never leaves work half-done).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
from collections.abc import Callable
from types import FrameType
from typing import Any

from textual.app import App


def terminal_is_gone(fd: int | None = None) -> bool:
    """True when ``fd`` (stdin by default) is a terminal that has hung up."""
    if fd is None:
        stream = sys.__stdin__
        if stream is None:
            return True
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            return True
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        # A hung-up terminal answers EIO; something that never was a terminal answers ENOTTY.
        return True
    return False


def detach_from_terminal() -> None:
    """Point fds 0, 1 and 2 at /dev/null."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class HangupGuard:
    """Installs the SIGHUP handler for the lifetime of the app (main thread only)."""

    def __init__(self, on_hangup: Callable[[], None]) -> None:
        self.on_hangup = on_hangup
        self._previous: object = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.installed = False

    def install(self) -> bool:
        try:
            self._loop = asyncio.get_running_loop()
            self._previous = signal.signal(signal.SIGHUP, self._handle)
        except (ValueError, RuntimeError, AttributeError):  # not the main thread, or no SIGHUP
            return False
        self.installed = True
        return True

    def uninstall(self) -> None:
        if self.installed:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGHUP, self._previous)  # type: ignore[arg-type]
            self.installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: do the minimum, hand the rest to the loop.
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGCONT, signal.SIG_DFL)
        if terminal_is_gone():
            detach_from_terminal()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.on_hangup)


class HangupAwareApp(App[int]):
    """An app that leaves quietly, with exit code 129, when its terminal hangs up: no warning
    dialog, no traceback printed on a terminal that no longer exists."""

    hung_up = False
    _hangup_guard: HangupGuard | None = None

    def install_hangup_guard(self) -> None:
        """Take SIGHUP from now on (call it once the app runs, from the main thread)."""
        self._hangup_guard = HangupGuard(self.hang_up)
        self._hangup_guard.install()

    def uninstall_hangup_guard(self) -> None:
        if self._hangup_guard is not None:
            self._hangup_guard.uninstall()

    def hang_up(self) -> None:
        """The terminal went away (SIGHUP): leave quietly, with no warning dialog and no traceback."""
        self.hung_up = True
        self.exit(129)

    def panic(self, *renderables: Any) -> None:
        # After a hang-up the driver's reads and writes fail; that is expected, not an error to
        # print on a terminal that no longer exists.
        if self.hung_up:
            self.exit(129)
            return
        super().panic(*renderables)

    def _fatal_error(self) -> None:
        if self.hung_up:
            self.exit(129)
            return
        super()._fatal_error()
