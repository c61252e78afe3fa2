"""The scheduled rounds' log: one JSON object per line, on the Modal Volume.

Each round writes its own file, ``cron/<app>/rounds/<round id>.jsonl`` (round ids sort by start
time), so two rounds running at once never write the same file: a Volume merges concurrent writes
to one file as last-write-wins, which would drop lines. (Older deployments wrote one shared
``journal.jsonl``; it is still read.)

A training round appends ``round_started``, ``revealed`` (its reveal phase), then ``trained`` (or
``round_failed``), then ``chain`` (what the lifecycle revealed, committed and still has pending),
and finally ``round_finished``. A reveal round (``kind: reveal``) appends ``round_started``,
``revealed`` or ``reveal_skipped`` (another round held the journal lease) and ``round_finished``.
``alarm`` records a warning sent through the hook/webhook. Each append is flushed and fsynced and
the Volume is committed after it, so a container that dies mid-round leaves every line it wrote. A
line cut short by such a death is skipped when reading, never fatal.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS = (
    "round_started",
    "trained",
    "round_failed",
    "chain",
    "chain_skipped",
    "round_finished",
    "revealed",
    "reveal_skipped",
    "alarm",
)
ROUNDS_DIR = "rounds"
LEGACY_FILE = "journal.jsonl"


def round_path(cron_root: Path, round_id: str) -> Path:
    return cron_root / ROUNDS_DIR / f"{round_id}.jsonl"


def read_all(cron_root: Path) -> list[JournalEntry]:
    """Every round's entries, oldest round first (the legacy shared file included)."""
    entries = read(cron_root / LEGACY_FILE)
    folder = cron_root / ROUNDS_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.jsonl")):
            entries += read(path)
    return entries


@dataclass(frozen=True)
class JournalEntry:
    event: str
    round: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_line(self) -> str:
        return json.dumps(
            {"event": self.event, "round": self.round, "t": self.t, **self.data}, sort_keys=True
        )


def append(path: Path, event: str, round_id: str, **data: Any) -> JournalEntry:
    """Append one entry durably (write, flush, fsync)."""
    if event not in EVENTS:
        raise ValueError(f"unknown journal event {event!r}")
    entry = JournalEntry(event=event, round=round_id, t=time.time(), data=data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(entry.to_line() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def parse(lines: Iterable[str]) -> list[JournalEntry]:
    """Entries in order; a torn or foreign line is skipped."""
    out = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict) or obj.get("event") not in EVENTS:
            continue
        data = {k: v for k, v in obj.items() if k not in ("event", "round", "t")}
        out.append(JournalEntry(str(obj["event"]), str(obj.get("round", "")), float(obj.get("t", 0.0)), data))
    return out


def read(path: Path) -> list[JournalEntry]:
    if not path.exists():
        return []
    return parse(path.read_text(encoding="utf-8", errors="replace").splitlines())


@dataclass(frozen=True)
class CronSummary:
    """What ``cron status`` shows: the recent rounds and what the chain still owes."""

    rounds: list[dict[str, Any]]
    pending: list[Any]
    last_error: str | None


def summarize(entries: list[JournalEntry], *, last: int = 5) -> CronSummary:
    by_round: dict[str, dict[str, Any]] = {}
    pending: list[Any] = []
    last_error: str | None = None
    for e in entries:
        r = by_round.setdefault(e.round, {"round": e.round, "started": None, "state": "running"})
        if e.event == "round_started":
            r["started"] = e.t
            r["kind"] = e.data.get("kind", "train")
        elif e.event == "revealed":
            result = e.data.get("result")
            if isinstance(result, Mapping):
                r["revealed"] = list(result.get("revealed") or [])
                if "pending" in result:
                    pending = list(result.get("pending") or [])
            if r.get("kind") == "reveal":
                r["state"] = "revealed" if r.get("revealed") else "nothing due"
        elif e.event == "reveal_skipped":
            r["state"] = "skipped"
            r["note"] = e.data.get("reason")
        elif e.event == "alarm":
            r.setdefault("alarms", []).append(e.data.get("message"))
        elif e.event == "trained":
            r["state"] = "trained"
            r["step"] = e.data.get("step")
            r["checkpoint"] = e.data.get("checkpoint")
        elif e.event == "round_failed":
            r["state"] = "failed"
            r["error"] = e.data.get("error")
            last_error = str(e.data.get("error"))
        elif e.event == "chain":
            r["state"] = "chain done"
            r["chain"] = e.data.get("result")
            result = e.data.get("result")
            if isinstance(result, Mapping):
                pending = list(result.get("pending") or [])
        elif e.event == "chain_skipped":
            r["state"] = "trained (chain step skipped)"
            r["chain_skipped"] = e.data.get("reason")
        elif e.event == "round_finished":
            r["finished"] = e.t
    rounds = sorted(by_round.values(), key=lambda r: r.get("started") or 0.0)[-last:]
    return CronSummary(rounds=rounds, pending=pending, last_error=last_error)
