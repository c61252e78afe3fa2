"""The pending-reveal queue: every commit waiting for its reveal, and its window.

A commit made in epoch N can be revealed only in epoch N+1: the window opens at the boundary
after the commit epoch and closes at the next one. Missing it costs half the stake of a new
model (an update is dropped instead), so the queue computes, for every commit the journal knows,
where its window stands *now*, from the chain's latest snapshot and an injectable clock.

Boundary times are estimates: the chain reports the current epoch's start and duration, and an
epoch can end early (a devnet admin advance) or late. Everything here is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.journal import Intent

# An open window with less than this fraction left raises the alarm.
ALARM_FRACTION = 0.10

WAITING = "waiting"  # commit epoch still running: the window opens at the next boundary
OPEN = "open"  # this is the reveal epoch
CLOSING = "closing"  # open, and less than ALARM_FRACTION of the window is left
MISSED = "missed"  # the reveal epoch ended without a reveal
REVEALED = "revealed"
OVERWRITTEN = "overwritten"  # an update replaced by a later commit before its reveal (no slash)
UNCONFIRMED = "unconfirmed"  # the commit itself is not confirmed yet
UNKNOWN = "unknown"  # no chain snapshot yet


@dataclass(frozen=True)
class QueueEntry:
    intent_id: int
    model_id: str | None
    kind: str  # "initial" or "update"
    commit_epoch: int | None
    reveal_epoch: int | None
    state: str
    opens_at: float | None  # unix seconds (estimate)
    closes_at: float | None
    seconds_to_open: float | None
    seconds_to_close: float | None
    fraction_left: float | None
    alarm: bool
    weights_url: str | None = None
    revealed_epoch: int | None = None
    error: str | None = None

    @property
    def actionable(self) -> bool:
        """Can (and must) be revealed right now."""
        return self.state in (OPEN, CLOSING)

    def to_json(self) -> dict[str, Any]:
        return {
            "intent_id": self.intent_id,
            "model_id": self.model_id,
            "kind": self.kind,
            "commit_epoch": self.commit_epoch,
            "reveal_epoch": self.reveal_epoch,
            "state": self.state,
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "seconds_to_open": None if self.seconds_to_open is None else round(self.seconds_to_open, 1),
            "seconds_to_close": None if self.seconds_to_close is None else round(self.seconds_to_close, 1),
            "fraction_left": None if self.fraction_left is None else round(self.fraction_left, 4),
            "alarm": self.alarm,
            "weights_url": self.weights_url,
            "revealed_epoch": self.revealed_epoch,
            "error": self.error,
        }


def entry_for(intent: Intent, snap: ChainSnapshot | None, now: float) -> QueueEntry:
    kind = "update" if intent.params.get("update") else "initial"
    base: dict[str, Any] = {
        "intent_id": intent.id,
        "model_id": intent.model_id,
        "kind": kind,
        "commit_epoch": intent.commit_epoch,
        "reveal_epoch": intent.reveal_epoch,
        "weights_url": intent.params.get("weights_url"),
        "revealed_epoch": intent.revealed_epoch,
        "error": intent.error,
    }
    blank: dict[str, Any] = {
        "opens_at": None,
        "closes_at": None,
        "seconds_to_open": None,
        "seconds_to_close": None,
        "fraction_left": None,
        "alarm": False,
    }
    if intent.state == "revealed":
        return QueueEntry(state=REVEALED, **base, **blank)
    if intent.state == "missed":
        # An update replaced by a later commit was not missed (nothing is slashed for it).
        overwritten = (intent.error or "").startswith(OVERWRITTEN)
        return QueueEntry(state=OVERWRITTEN if overwritten else MISSED, **base, **blank)
    if intent.state in ("intent", "submitted") or intent.commit_epoch is None:
        return QueueEntry(state=UNCONFIRMED, **base, **blank)
    if snap is None:
        return QueueEntry(state=UNKNOWN, **base, **blank)

    duration = snap.epoch_duration_ms / 1000.0
    start = snap.epoch_start_ms / 1000.0
    boundary = start + duration
    n = intent.commit_epoch
    if snap.epoch <= n:
        # Still in (or, on a lagging snapshot, before) the commit epoch.
        opens = boundary + (n - snap.epoch) * duration
        closes = opens + duration
        return QueueEntry(
            state=WAITING,
            opens_at=opens,
            closes_at=closes,
            seconds_to_open=max(0.0, opens - now),
            seconds_to_close=max(0.0, closes - now),
            fraction_left=1.0,
            alarm=False,
            **base,
        )
    if snap.epoch == n + 1:
        return QueueEntry(**_open_window(start, boundary, now), **base)
    return QueueEntry(state=MISSED, **base, **blank)


def is_closing(fraction_left: float) -> bool:
    """The alarm rule: an open window with less than :data:`ALARM_FRACTION` of it left."""
    return fraction_left < ALARM_FRACTION


def _open_window(opens: float, closes: float, now: float) -> dict[str, Any]:
    """An open window's state, countdown and alarm at ``now``."""
    span = closes - opens
    left = max(0.0, closes - now)
    fraction = 0.0 if span <= 0 else min(1.0, left / span)
    alarm = is_closing(fraction)
    return {
        "state": CLOSING if alarm else OPEN,
        "opens_at": opens,
        "closes_at": closes,
        "seconds_to_open": 0.0,
        "seconds_to_close": left,
        "fraction_left": fraction,
        "alarm": alarm,
    }


def retime(entry: QueueEntry, now: float) -> QueueEntry:
    """``entry`` with its countdowns and alarm worked out again at ``now``, between two reads of the
    chain (a view ticks its countdowns with this every second, without I/O).

    A waiting window stays waiting even once ``now`` passes its estimated opening: it opens when the
    chain reports the new epoch (the next read), not when a clock says so; until then a reveal would
    be refused. Only waiting and open windows change; every other entry is returned as it is."""
    if entry.opens_at is None or entry.closes_at is None:
        return entry
    if entry.state == WAITING:
        return replace(
            entry,
            seconds_to_open=max(0.0, entry.opens_at - now),
            seconds_to_close=max(0.0, entry.closes_at - now),
        )
    if entry.state in (OPEN, CLOSING):
        return replace(entry, **_open_window(entry.opens_at, entry.closes_at, now))
    return entry


def build_queue(intents: Iterable[Intent], snap: ChainSnapshot | None, now: float) -> list[QueueEntry]:
    """Entries for commit intents, most urgent first (open windows, then waiting, then history)."""
    order = {
        CLOSING: 0,
        OPEN: 1,
        WAITING: 2,
        UNCONFIRMED: 3,
        UNKNOWN: 4,
        MISSED: 5,
        OVERWRITTEN: 6,
        REVEALED: 7,
    }
    entries = [entry_for(i, snap, now) for i in intents if i.kind == "commit" and i.state != "failed"]
    entries.sort(key=lambda e: (order.get(e.state, 9), e.seconds_to_close or 0.0, -e.intent_id))
    return entries


def format_countdown(seconds: float | None) -> str:
    """``1d 02:03:04`` / ``02:03:04`` / ``03:04``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{s:02d}"
    if hours:
        return f"{hours:02d}:{minutes:02d}:{s:02d}"
    return f"{minutes:02d}:{s:02d}"
