"""How the console runs: one options object with the defaults ``soma-console console`` uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

NARROW_BELOW = 120  # columns: below this the panes become tabs


@dataclass(frozen=True)
class ConsoleOptions:
    """How the console runs. The defaults are what ``soma-console console`` uses; a test or a
    benchmark changes only what it must (a frozen clock, no timers, no blinking cursor)."""

    clock: Callable[[], float] = time.time
    timers: bool = True  # the 1 s countdown, the log flush and the runs refresh (tests tick by hand)
    log_lines: int = 5000  # lines the training log keeps
    flush_hz: float = 15.0  # how often new log lines are drawn
    narrow_below: int = NARROW_BELOW  # columns under which the panes become tabs
    cursor_blink: bool = True  # in dialogs' inputs (a snapshot must not catch it half-way)
    watch_hangup: bool = True  # take SIGHUP: leave quietly when the terminal goes away
    freeze_gc: bool = True  # after the first frame, move what lives forever out of the collector's sight
