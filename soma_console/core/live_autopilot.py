"""Autopilot in the live console: the persisted on/off switch and the rounds that follow each chain poll.

While the switch is on, :class:`~soma_console.core.live_services.LiveServices` hands every usable
chain poll to :class:`AutopilotRounds`, which runs one ``lifecycle.autopilot_tick`` at a time (a
poll that finds a round still running is skipped; the next one tries again). A failed round reaches
the UI through the chain listeners as an :class:`AutopilotError`, once, and never stops anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

from soma_console.core.actions import ActionResult
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.lifecycle import Lifecycle
from soma_console.fsutil import atomic_write_text

log = logging.getLogger(__name__)

AUTOPILOT_FILE = "autopilot.json"


class _Autopilot(Protocol):
    async def autopilot_tick(self, snap: ChainSnapshot, now: float) -> list[ActionResult]: ...


class AutopilotError(ChainError):
    """A failed autopilot round, reported through the chain listener."""


class AutopilotFlag:
    """``<data dir>/console/autopilot.json``: ``{chain name: on}``, written atomically."""

    def __init__(self, path: Path, chain: str) -> None:
        self.path = path
        self.chain = chain
        self._lock = threading.Lock()
        self._on: bool | None = None

    def _read_all(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def get(self) -> bool:
        with self._lock:
            if self._on is None:
                self._on = self._read_all().get(self.chain) is True
            return self._on

    def set(self, on: bool) -> None:
        with self._lock:
            data = self._read_all()
            data[self.chain] = bool(on)
            atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
            self._on = bool(on)

    @property
    def cached(self) -> bool:
        """The last known value, without touching the disk (for the event loop)."""
        return bool(self._on)


Publish = Callable[[ChainSnapshot | None, ChainError | None], None]


class AutopilotRounds:
    """One autopilot round at a time on the event loop; failures told to the UI once."""

    def __init__(
        self, lifecycle: Lifecycle, session: ChainSession, clock: Callable[[], float], publish: Publish
    ) -> None:
        self.lifecycle = lifecycle
        self.session = session
        self.clock = clock
        self._publish = publish
        self.task: asyncio.Task[None] | None = None
        self._said: str | None = None

    def kick(self, snap: ChainSnapshot, loop: asyncio.AbstractEventLoop) -> None:
        if self.task is not None and not self.task.done():
            return  # one round at a time; the next poll tries again
        self.task = loop.create_task(self._round(snap), name="autopilot")

    async def _round(self, snap: ChainSnapshot) -> None:
        try:
            results = await cast(_Autopilot, self.lifecycle).autopilot_tick(snap, self.clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("autopilot round failed", exc_info=True)
            self.problem(f"autopilot: {exc}")
            return
        failed = [r for r in results if not r.ok]
        self.problem(f"autopilot: {failed[0].summary}" if failed else None)
        if results:
            self.session.wake()  # show what it did (queue, action log) at once

    def problem(self, text: str | None) -> None:
        """Tell the UI about an autopilot failure once, not after every poll it repeats."""
        if text is not None and text != self._said:
            self._publish(self.session.latest, AutopilotError(text))
        self._said = text
