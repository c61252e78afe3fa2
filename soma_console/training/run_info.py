"""What a training run and a checkpoint are, wherever they live, and the words for their states.

Every listing of runs (``soma-console runs``, ``modal runs``, the console's runs pane) is made of
:class:`RunInfo` rows, and the console's checkpoints pane of :class:`CheckpointInfo` rows (a
checkpoint with its on-chain status), built by :mod:`soma_console.training.run_registry` from the
run directories and the Modal run records. ``soma-console checkpoints`` shows more of each file
(its manifest: ``manifest.CheckpointFile``). A run's state is always one of :data:`RUN_STATUSES`,
local or on Modal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKENDS = ("local", "modal")

RUN_STATUSES = (
    "created",  # its spec is written; the trainer has not reported yet
    "launched",  # a Modal run whose state was not asked (no network read)
    "running",
    "stopping",  # asked to stop; the trainer has not ended yet
    "finished",
    "failed",
    "stopped",  # ended on request (it saved a checkpoint if it could)
    "lost",  # a local trainer that died without saying how
    "expired",  # a Modal call ended so long ago that Modal no longer keeps its outcome
    "unknown",  # its state could not be read (the reason is said elsewhere)
)
ACTIVE = ("starting", "running", "stopping")
"""States in which a run may still write: it can be followed, and stopped."""
ENDED = ("finished", "failed", "stopped", "lost", "expired")
"""States a run never leaves."""

CHECKPOINT_STATUSES = ("", "committed", "pending reveal", "revealed", "missed")


@dataclass(frozen=True)
class RunInfo:
    """One training run, as every runs list shows it."""

    name: str
    backend: str  # one of BACKENDS
    status: str  # one of RUN_STATUSES
    preset: str
    step: int
    total_steps: int
    created: float  # unix seconds: launched, or when its spec was written
    last_loss: float | None
    eval_loss: float | None = None
    framework: str = "?"
    tokens_per_s: float | None = None
    error: str | None = None
    path: Path | None = None  # the run directory (local runs)
    pid: int | None = None  # the trainer's process (local runs)
    started: float | None = None  # when the trainer started (local runs)
    call_id: str | None = None  # the function call (Modal runs)
    gpu: str | None = None  # e.g. "A100 x1" (Modal runs)

    def row(self) -> dict[str, Any]:
        """The run as ``runs --json`` prints it."""
        if self.backend == "modal":
            return {
                "run": self.name,
                "status": self.status,
                "backend": self.backend,
                "call_id": self.call_id,
                "gpu": self.gpu,
                "preset": self.preset,
                "framework": self.framework,
                "total_steps": self.total_steps,
                "launched_at": self.created,
            }
        return {
            "run": self.name,
            "path": str(self.path) if self.path is not None else None,
            "status": self.status,
            "backend": self.backend,
            "pid": self.pid,
            "preset": self.preset,
            "framework": self.framework,
            "step": self.step,
            "total_steps": self.total_steps,
            "loss": self.last_loss,
            "eval_loss": self.eval_loss,
            "tokens_per_s": self.tokens_per_s,
            "started": self.started,
            "error": self.error,
        }


@dataclass(frozen=True)
class CheckpointInfo:
    """One saved checkpoint of a run and where it stands on-chain."""

    run: str
    path: str  # the weights: a local file, or modal://<volume>/<path> on a Modal Volume
    step: int
    created: float  # unix seconds
    loss: float | None
    eval_loss: float | None
    size: int | None  # bytes
    status: str  # one of CHECKPOINT_STATUSES
    model_id: str | None = None  # the model it was committed to, if any
    final: bool = False  # the run's final weights (model-final is the same file as the last step)


def merge_runs(local: list[RunInfo], remote: list[RunInfo]) -> list[RunInfo]:
    """Local runs win a name clash (the directory is what commits read); newest first."""
    names = {r.name for r in local}
    merged = [*local, *(r for r in remote if r.name not in names)]
    merged.sort(key=lambda r: (r.created, r.name), reverse=True)
    return merged
