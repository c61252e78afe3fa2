"""The trainer's event protocol: one JSON object per line.

The worker writes these to stdout whether it runs as a local subprocess or inside a Modal
container; the console parses them from a pipe, from a log file, or from Modal's log stream, where
lines can arrive split across entries, joined in one entry, or interleaved with other output. The
parser therefore works on arbitrary chunks and treats anything that is not an event as a plain log
line, never as an error.

Every event line is a JSON object with ``"soma_event"`` (the type) and ``"v"`` (the protocol
version). Fields not known to this version are ignored, so an older console can watch a newer
worker.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

PROTOCOL_VERSION = 1
EVENT_KEY = "soma_event"


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""
    t: float = field(default_factory=time.time, kw_only=True)

    def to_line(self) -> str:
        # A shallow dict (``asdict`` would deep-copy every value first: most of the cost of a step
        # event on the training thread); json.dumps walks nested dicts and lists itself.
        values = {name: getattr(self, name) for name in _field_names(type(self))}
        body = {EVENT_KEY: self.kind, "v": PROTOCOL_VERSION, **_finite(values)}
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    run: str
    framework: str
    device: str
    preset: str
    total_steps: int
    start_step: int = 0
    params: int = 0
    tokens_per_step: int = 0
    spec: dict[str, Any] = field(default_factory=dict)
    # Added compatibly (unknown fields are ignored by older parsers):
    world_size: int = 1
    data: str = ""
    checkpoint_dir: str = ""
    fast: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step(Event):
    kind: ClassVar[str] = "step"
    step: int
    total_steps: int
    loss: float
    ce: float
    sigreg: float
    lr: float
    tokens_per_s: float
    tokens: int = 0
    elapsed_s: float = 0.0
    micro_batch: int = 0
    grad_accum: int = 0


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    step: int
    path: str
    manifest: str
    loss: float | None = None
    eval_loss: float | None = None
    size: int = 0
    final: bool = False
    # How long training paused for this checkpoint (waiting for the previous write, queueing the
    # copies), and how long the background write of its files took, for how many bytes.
    stall_s: float | None = None
    write_s: float | None = None
    written_bytes: int | None = None


@dataclass(frozen=True)
class Eval(Event):
    kind: ClassVar[str] = "eval"
    step: int
    eval_loss: float
    eval_ce: float | None = None
    tokens: int = 0


@dataclass(frozen=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    step: int
    final_path: str
    elapsed_s: float = 0.0
    tokens: int = 0


@dataclass(frozen=True)
class Error(Event):
    """A failure the worker could describe. ``summary`` is one readable sentence."""

    kind: ClassVar[str] = "error"
    error: str  # short machine tag: data, config, oom, no_gpu, interrupted, internal, ...
    summary: str
    step: int | None = None
    resumable: bool = True
    detail: str | None = None


@dataclass(frozen=True)
class LogLine:
    """Any line that is not an event: library warnings, tracebacks, Modal's own output."""

    text: str
    t: float = field(default_factory=time.time)
    kind: ClassVar[str] = "log"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Started, Step, CheckpointSaved, Eval, Finished, Error)
}
AnyRecord = Event | LogLine


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/Inf; send them as strings so the line stays valid JSON."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)
        else:
            out[k] = v
    return out


def _coerce_float(v: Any) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def parse_line(line: str) -> AnyRecord:
    """Parse one complete line into an event, or a :class:`LogLine` if it is not one."""
    text = line.rstrip("\r\n")
    start = text.find("{")
    if start < 0 or EVENT_KEY not in text:
        return LogLine(text)
    try:
        obj = json.loads(text[start:])
    except ValueError:
        return LogLine(text)
    if not isinstance(obj, dict):
        return LogLine(text)
    cls = EVENT_TYPES.get(str(obj.get(EVENT_KEY)))
    if cls is None:
        return LogLine(text)
    known = {f.name for f in fields(cls)}
    kwargs = {k: _coerce_float(v) for k, v in obj.items() if k in known}
    try:
        return cls(**kwargs)
    except TypeError:
        return LogLine(text)


class LineAssembler:
    """Feed arbitrary chunks (bytes or str); get back complete records in order.

    A chunk may hold part of a line, several lines, or end mid-line; the tail is kept until the
    next chunk (or :meth:`flush`). Undecodable bytes are replaced, never raised.
    """

    def __init__(self, max_line: int = 1 << 20) -> None:
        self._buf = ""
        self._max_line = max_line

    def feed(self, chunk: bytes | str) -> list[AnyRecord]:
        if isinstance(chunk, bytes):
            chunk = chunk.decode("utf-8", errors="replace")
        self._buf += chunk
        if "\n" not in self._buf:
            if len(self._buf) > self._max_line:  # a runaway line: emit it rather than grow forever
                text, self._buf = self._buf, ""
                return [parse_line(text)]
            return []
        *complete, self._buf = self._buf.split("\n")
        return [parse_line(line) for line in complete]

    def flush(self) -> list[AnyRecord]:
        if not self._buf:
            return []
        text, self._buf = self._buf, ""
        return [parse_line(text)]


def emit(event: Event, stream: Any = None) -> None:
    """Write one event line and flush (the worker's only way to talk)."""
    import sys

    out = stream if stream is not None else sys.stdout
    out.write(event.to_line() + "\n")
    out.flush()
