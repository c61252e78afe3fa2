"""The pure parts behind the console's views: the line hand-off and the run's progress."""

from __future__ import annotations

import pytest

from soma_console.core.linebuffer import LineBuffer
from soma_console.core.run_progress import LossCurve, RunProgress, format_record, human_bytes
from soma_console.training.events import CheckpointSaved, Error, Eval, Finished, LogLine, Started, Step


def step(n: int, *, total: int = 1000, loss: float = 3.0, elapsed: float = 0.0) -> Step:
    return Step(
        step=n,
        total_steps=total,
        loss=loss,
        ce=loss,
        sigreg=0.0,
        lr=1e-3,
        tokens_per_s=1000.0,
        elapsed_s=elapsed,
    )


def test_line_buffer_keeps_the_newest_lines_and_counts_the_rest() -> None:
    buf = LineBuffer(3)
    buf.extend(["a", "b"])
    buf.append("c")
    buf.extend(["d", "e"])
    assert buf.drain() == (["c", "d", "e"], 2)
    assert buf.drain() == ([], 0)
    assert buf.total == 5
    buf.extend(str(i) for i in range(10))
    lines, dropped = buf.drain()
    assert lines == ["7", "8", "9"] and dropped == 7
    with pytest.raises(ValueError):
        LineBuffer(0)


def test_progress_folds_events_into_step_speed_and_eta() -> None:
    p = RunProgress("r1")
    p.apply(
        Started(run="r1", framework="torch", device="cpu", preset="tiny", total_steps=1000, start_step=100)
    )
    assert p.eta_seconds() is None  # no rate yet
    p.apply(step(300, elapsed=100.0))
    assert p.eta_seconds() == pytest.approx(350.0)  # 700 steps left at 2 steps/s
    p.apply(Eval(step=300, eval_loss=2.9))
    p.apply(CheckpointSaved(step=300, path="x", manifest="y"))
    assert p.summary() == "step 300/1000 · 1,000 tok/s · ETA 05:50 · loss 3.0000 · eval 2.9000"
    assert p.last_checkpoint_step == 300
    p.apply(Finished(step=1000, final_path="f", elapsed_s=500.0))
    assert p.status == "finished" and p.eta_seconds() is None
    p.apply(Error(error="oom", summary="the GPU ran out of memory."))
    assert p.status == "failed" and p.error == "the GPU ran out of memory."


def test_every_record_becomes_one_readable_line() -> None:
    assert format_record(LogLine("plain text [not markup]")) == "plain text [not markup]"
    assert format_record(step(5, loss=float("nan"))).startswith("step 5/1000  loss nan")
    assert "checkpoint (final) at step 7" in format_record(
        CheckpointSaved(step=7, path="p", manifest="m", size=2_000_000, final=True)
    )
    assert (
        format_record(Error(error="data", summary="no data.", step=3)) == "ERROR (data) at step 3: no data."
    )
    assert human_bytes(None) == "-" and human_bytes(999) == "999 B" and human_bytes(4_838_736_640) == "4.8 GB"


def test_loss_curve_keeps_the_whole_run_in_bounded_memory() -> None:
    curve = LossCurve(capacity=8)
    for i in range(1000):
        curve.add(1000.0 - i)
    curve.add(float("inf"))  # ignored
    assert 4 <= len(curve.points) < 8
    assert curve.points[0] > curve.points[-1]  # still falls from the first step to the last
    assert curve.points[0] > 900  # and still starts near the first loss
