"""Run directories: ``<home.runs_dir>/<run>/`` with spec.json, run.json, events.jsonl, checkpoints/.

The same layout is used on a Modal volume. ``run.json`` is written by whoever launched the worker
(a backend) and says how it is doing: ``status`` (running, finished, failed, stopped), ``pid``,
``backend``, times and exit code (its words: ``run_info.RUN_STATUSES``). The worker's progress
itself is read from the tail of ``events.jsonl``. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from soma_console.errors import UserError
from soma_console.fsutil import atomic_write_text
from soma_console.training.events import CheckpointSaved, Error, Eval, Finished, LineAssembler, Started, Step
from soma_console.training.run_info import ACTIVE, RunInfo
from soma_console.training.spec import RUN_NAME_RE, TrainSpec

SPEC_FILE = "spec.json"
RUN_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
STDERR_FILE = "worker.stderr.log"


def run_path(runs_dir: Path, name: str) -> Path:
    if not RUN_NAME_RE.match(name):
        raise UserError(
            f"run name {name!r} is not usable; use letters, digits, '.', '_' or '-' (at most 64)."
        )
    return Path(runs_dir) / name


def write_spec(run_dir: Path, spec: TrainSpec) -> Path:
    path = Path(run_dir) / SPEC_FILE
    atomic_write_text(path, spec.to_json() + "\n")
    return path


def read_status(run_dir: Path) -> dict[str, Any]:
    try:
        raw = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def write_status(run_dir: Path, **changes: Any) -> dict[str, Any]:
    status = {**read_status(run_dir), **changes, "updated": time.time()}
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(status, indent=2, sort_keys=True) + "\n")
    return status


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail_records(path: Path, max_bytes: int = 256 * 1024) -> list[Any]:
    """Parsed records from the last ``max_bytes`` of an events file (the first partial line dropped)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return []
    if start > 0:
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    asm = LineAssembler()
    return asm.feed(data) + asm.flush()


def read_run(run_dir: Path) -> RunInfo:
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    spec: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        spec = json.loads((run_dir / SPEC_FILE).read_text(encoding="utf-8"))
    step, total = 0, int(spec.get("steps", 0) or 0)
    loss = eval_loss = rate = None
    error = None
    finished = False
    for rec in tail_records(run_dir / EVENTS_FILE):
        if isinstance(rec, Started):
            total = rec.total_steps
            step = max(step, rec.start_step)
        elif isinstance(rec, Step):
            step, total, loss, rate = rec.step, rec.total_steps, rec.loss, rec.tokens_per_s
        elif isinstance(rec, Eval) or (isinstance(rec, CheckpointSaved) and rec.eval_loss is not None):
            eval_loss = rec.eval_loss
        elif isinstance(rec, Error):
            error = rec.summary
        elif isinstance(rec, Finished):
            finished, error = True, None
    state = str(status.get("status") or ("finished" if finished else "created"))
    if state in ACTIVE and status.get("backend", "local") == "local" and not pid_alive(status.get("pid")):
        # The launcher died without recording the end; the events say how it went.
        state = "finished" if finished else "failed" if error else "lost"
    started = status.get("started")
    created = started
    if created is None:  # the launcher has not reported yet: the spec's time
        with contextlib.suppress(OSError):
            created = (run_dir / SPEC_FILE).stat().st_mtime
    return RunInfo(
        name=run_dir.name,
        path=run_dir,
        status=state,
        backend=str(status.get("backend", "local")),
        pid=status.get("pid"),
        preset=str(spec.get("preset", "?")),
        framework=str(spec.get("framework", "?")),
        step=step,
        total_steps=total,
        created=float(created or 0.0),
        last_loss=loss,
        eval_loss=eval_loss,
        tokens_per_s=rate,
        started=started,
        error=error,
    )


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run directory (one with a spec.json), newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in root.iterdir() if p.is_dir() and (p / SPEC_FILE).is_file()]
    runs.sort(key=lambda r: (r.created, r.name), reverse=True)
    return runs
