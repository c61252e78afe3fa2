"""A run the user asked to stop reads "stopped" everywhere: the summary line and the log, as in
the runs list; a real failure still reads as one."""

from __future__ import annotations

from soma_console.core.run_progress import RunProgress, format_record
from soma_console.training.events import Error, Started


def _progress(*records: object) -> RunProgress:
    progress = RunProgress("r")
    for record in records:
        progress.apply(record)  # type: ignore[arg-type]
    return progress


def test_a_stopped_run_is_stopped_not_failed() -> None:
    stop = Error(error="interrupted", summary="stopped by SIGTERM after a checkpoint at step 12", step=12)
    progress = _progress(
        Started(run="r", preset="tiny", framework="torch", device="cpu", start_step=0, total_steps=100), stop
    )
    assert progress.status == "stopped"
    assert "stopped" in progress.summary() and "failed" not in progress.summary()
    line = format_record(stop)
    assert line.startswith("stopped at step 12") and "ERROR" not in line


def test_a_failure_is_still_a_failure() -> None:
    boom = Error(error="oom", summary="out of memory", step=3)
    assert _progress(boom).status == "failed"
    assert format_record(boom).startswith("ERROR (oom)")
