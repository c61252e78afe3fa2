"""A training run's progress as a person reads it, folded from the trainer's event records.

The console's training pane shows step, tokens per second, ETA and a loss curve, and a log in
which every event is one readable line (``training.event_text``, the same lines ``logs`` prints).
This module does the folding in plain Python so it can be tested without a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from soma_console.core.reveal_queue import format_countdown
from soma_console.training.event_text import STOPPED_TAG, format_record, human_bytes, num_text
from soma_console.training.events import AnyRecord, CheckpointSaved, Error, Eval, Finished, Started, Step

__all__ = ["STOPPED_TAG", "LossCurve", "RunProgress", "format_record", "human_bytes"]


class LossCurve:
    """The whole run's loss history in bounded memory.

    When full, neighbouring points are averaged pairwise, so the curve keeps its overall shape
    from the first step to the last, at a resolution that halves as the run grows.
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = max(2, capacity - capacity % 2)
        self.points: list[float] = []
        self._stride = 1  # records per point
        self._pending: list[float] = []

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self._pending.append(value)
        if len(self._pending) < self._stride:
            return
        self.points.append(sum(self._pending) / len(self._pending))
        self._pending.clear()
        if len(self.points) >= self.capacity:
            pts = self.points
            self.points = [(pts[i] + pts[i + 1]) / 2 for i in range(0, len(pts) - 1, 2)]
            self._stride *= 2


@dataclass
class RunProgress:
    """What the training pane shows about the selected run."""

    run: str
    status: str = "waiting"
    preset: str = ""
    device: str = ""
    step: int = 0
    start_step: int = 0
    total_steps: int = 0
    loss: float | None = None
    eval_loss: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float = 0.0
    error: str | None = None
    last_checkpoint_step: int | None = None
    curve: LossCurve = field(default_factory=LossCurve)

    def apply(self, record: AnyRecord) -> None:
        if isinstance(record, Step):
            self.status = "running"
            self.step = record.step
            self.total_steps = record.total_steps or self.total_steps
            self.loss = record.loss
            self.tokens_per_s = record.tokens_per_s
            self.elapsed_s = record.elapsed_s
            self.curve.add(record.loss)
        elif isinstance(record, Started):
            self.status = "running"
            self.preset = record.preset
            self.device = record.device
            self.start_step = record.start_step
            self.step = record.start_step
            self.total_steps = record.total_steps
        elif isinstance(record, Eval):
            self.eval_loss = record.eval_loss
        elif isinstance(record, CheckpointSaved):
            self.last_checkpoint_step = record.step
        elif isinstance(record, Finished):
            self.status = "finished"
            self.step = record.step
            self.elapsed_s = record.elapsed_s or self.elapsed_s
        elif isinstance(record, Error):
            self.status = "stopped" if record.error == STOPPED_TAG else "failed"
            self.error = record.summary

    def eta_seconds(self) -> float | None:
        """Seconds left at the rate seen so far; None until there is a rate."""
        done = self.step - self.start_step
        left = self.total_steps - self.step
        if self.status != "running" or done <= 0 or self.elapsed_s <= 0 or left < 0:
            return None
        return left * self.elapsed_s / done

    def summary(self) -> str:
        """``step 120/1000 · 12,345 tok/s · ETA 04:10 · loss 3.2100``"""
        parts = [f"step {self.step}/{self.total_steps or '?'}"]
        parts.append(f"{self.tokens_per_s:,.0f} tok/s" if self.tokens_per_s is not None else "- tok/s")
        eta = self.eta_seconds()
        parts.append(f"ETA {format_countdown(eta)}" if eta is not None else f"{self.status}")
        parts.append(f"loss {num_text(self.loss)}")
        if self.eval_loss is not None:
            parts.append(f"eval {num_text(self.eval_loss)}")
        return " · ".join(parts)
