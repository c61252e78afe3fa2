"""One readable line per trainer record: the runs pane's log, ``logs`` and ``modal logs``.

The same events (a local pipe, an events file, Modal's log stream) always read the same way.
"""

from __future__ import annotations

import math
import time

from soma_console.training.events import (
    AnyRecord,
    CheckpointSaved,
    Error,
    Eval,
    Finished,
    LogLine,
    Started,
    Step,
)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def num_text(value: float | None, fmt: str = ".4f") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, fmt)


def format_record(record: AnyRecord, *, stamp: bool = False) -> str:
    """One log line for one record (events become sentences; plain lines pass through).

    ``stamp``: events start with the local time they were written (``logs`` prints them so).
    """
    if isinstance(record, LogLine):
        return record.text
    if stamp:
        return f"{time.strftime('%H:%M:%S', time.localtime(record.t))} {format_record(record)}"
    if isinstance(record, Step):
        return (
            f"step {record.step}/{record.total_steps}  loss {num_text(record.loss)}  ce {num_text(record.ce)}"
            f"  sigreg {num_text(record.sigreg)}  lr {record.lr:.2e}  {record.tokens_per_s:,.0f} tok/s"
        )
    if isinstance(record, Started):
        return (
            f"started {record.run}: preset {record.preset}, {record.framework} on {record.device}, "
            f"steps {record.start_step}..{record.total_steps}"
        )
    if isinstance(record, CheckpointSaved):
        final = " (final)" if record.final else ""
        return (
            f"checkpoint{final} at step {record.step}: {record.path} ({human_bytes(record.size)}, "
            f"loss {num_text(record.loss)}, eval {num_text(record.eval_loss)})"
        )
    if isinstance(record, Eval):
        return f"eval at step {record.step}: loss {num_text(record.eval_loss)}"
    if isinstance(record, Finished):
        return f"finished at step {record.step} in {record.elapsed_s:.0f} s: {record.final_path}"
    if isinstance(record, Error):
        where = f" at step {record.step}" if record.step is not None else ""
        if record.error == STOPPED_TAG:  # asked to stop (x, Ctrl-C, SIGTERM): not a failure
            return f"stopped{where}: {record.summary}"
        return f"ERROR ({record.error}){where}: {record.summary}"
    return str(record)  # pragma: no cover - AnyRecord is closed


# The worker's tag for a run that was asked to stop (SIGINT/SIGTERM): the runs list shows it as
# "stopped", and so do the summary line and the log.
STOPPED_TAG = "interrupted"
