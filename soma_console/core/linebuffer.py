"""A bounded hand-off for log lines between whoever produces them and the screen that draws them.

Producers (a trainer's event stream, at any rate) append; the console drains the buffer 10-20
times a second and writes each batch in one call, which is what keeps a 50,000-lines-per-second
log from starving the UI. The buffer never holds more than ``capacity`` lines: when the screen
falls behind (or the user has paused following), the oldest lines are dropped and counted, so
memory stays flat however long a run logs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable


class LineBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._lines: deque[str] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._dropped = 0
        self._total = 0

    def append(self, line: str) -> None:
        with self._lock:
            if len(self._lines) == self.capacity:
                self._dropped += 1
            self._lines.append(line)
            self._total += 1

    def extend(self, lines: Iterable[str]) -> None:
        batch = list(lines)
        with self._lock:
            overflow = len(self._lines) + len(batch) - self.capacity
            if overflow > 0:
                self._dropped += overflow
            self._lines.extend(batch)
            self._total += len(batch)

    def drain(self) -> tuple[list[str], int]:
        """Take every waiting line; also return how many were dropped since the last drain."""
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
            dropped, self._dropped = self._dropped, 0
        return lines, dropped

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()
            self._dropped = 0

    @property
    def total(self) -> int:
        """Lines ever appended (drawn, waiting or dropped)."""
        return self._total

    def __len__(self) -> int:
        return len(self._lines)
