"""Checkpoint manifests: what a checkpoint is, read without touching its weights.

Layout of a run (local ``<home>/runs/<run>/`` or the same tree on a Modal volume)::

    spec.json                      the TrainSpec
    run.json                       status, pid, backend (written by the backend)
    events.jsonl                   every line the worker printed
    checkpoints/
      checkpoint-00000050.safetensors   weights (canonical soma-models layout)
      checkpoint-00000050.state.pt      resume state (optimizer, RNG, data position)
      checkpoint-00000050.json          the manifest, written LAST
      model-final.safetensors / model-final.json

A checkpoint without a manifest does not exist: the worker writes the weights and the resume
state (each atomically) before the manifest, so a crash at any moment leaves either a complete
checkpoint or an ignorable orphan. Listing reads JSON only, never the weights.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from soma_console.fsutil import atomic_write_text

MANIFEST_VERSION = 1
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{8})\.json$")
FINAL_STEM = "model-final"


def checkpoint_stem(step: int) -> str:
    return f"checkpoint-{step:08d}"


@dataclass(frozen=True)
class Manifest:
    """Everything known about one checkpoint (also what the reveal publishes: ``embedding``)."""

    step: int
    weights: str  # file name of the safetensors beside the manifest
    loss: float | None
    eval_loss: float | None
    embedding: list[float]
    embedding_dim: int
    config: dict[str, Any]
    architecture: str  # "v1" (on-chain shape) or "small" (devnet only)
    spec: dict[str, Any]
    data_position: dict[str, Any]
    framework: str
    created: float
    size: int
    sha256: str
    blake2b: str
    protocol_version: int
    eval_ce: float | None = None
    state: str | None = None  # file name of the resume state, if any
    final: bool = False
    run: str = ""
    tokens: int = 0
    manifest_version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False, default=_nan_safe)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("a manifest must be a JSON object")
        return cls.from_dict(raw)


def _nan_safe(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write atomically (temp, fsync, rename): the moment a checkpoint starts to exist."""
    clean = Manifest.from_dict(
        {
            **asdict(manifest),
            "loss": _clean(manifest.loss),
            "eval_loss": _clean(manifest.eval_loss),
            "eval_ce": _clean(manifest.eval_ce),
        }
    )
    atomic_write_text(path, clean.to_json() + "\n")


def read_manifest(path: Path) -> Manifest:
    return Manifest.from_json(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CheckpointFile:
    """One complete checkpoint on disk: its weights file and manifest (``run_info.CheckpointInfo`` is
    how a runs list shows it)."""

    path: Path  # the safetensors file
    manifest_path: Path
    manifest: Manifest

    @property
    def step(self) -> int:
        return self.manifest.step

    def row(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "run": m.run,
            "path": str(self.path),
            "manifest": str(self.manifest_path),
            "step": m.step,
            "loss": m.loss,
            "eval_loss": m.eval_loss,
            "embedding_dim": m.embedding_dim,
            "architecture": m.architecture,
            "framework": m.framework,
            "config": m.config,
            "size": m.size,
            "created": m.created,
            "final": m.final,
        }


def _load(manifest_path: Path) -> CheckpointFile | None:
    try:
        manifest = read_manifest(manifest_path)
    except (OSError, ValueError, TypeError):
        return None
    weights = manifest_path.parent / manifest.weights
    try:
        if weights.stat().st_size != manifest.size:
            return None
    except OSError:
        return None
    return CheckpointFile(weights, manifest_path, manifest)


def list_checkpoints(run_dir: Path, *, include_final: bool = True) -> list[CheckpointFile]:
    """Complete checkpoints of one run, newest (highest step, final first on a tie) first."""
    cdir = Path(run_dir) / "checkpoints"
    if not cdir.is_dir():
        return []
    found: list[CheckpointFile] = []
    for entry in cdir.iterdir():
        if CHECKPOINT_RE.match(entry.name) or (include_final and entry.name == f"{FINAL_STEM}.json"):
            info = _load(entry)
            if info is not None:
                found.append(info)
    found.sort(key=lambda c: (c.manifest.step, c.manifest.final, c.manifest.created), reverse=True)
    return found


def one_per_checkpoint(found: list[CheckpointFile]) -> list[CheckpointFile]:
    """``found`` with the final weights folded into the step checkpoint they were published
    from (same step, same bytes): one entry, marked ``final``. A final that matches no step
    checkpoint (the step files were deleted) stays as it is."""

    def key(c: CheckpointFile) -> tuple[str, int, str]:
        return (str(c.path.parent), c.manifest.step, c.manifest.sha256)

    steps = {key(c) for c in found if not c.manifest.final}
    finals = {key(c) for c in found if c.manifest.final}
    out: list[CheckpointFile] = []
    for c in found:  # the order of ``found`` is kept
        if c.manifest.final and key(c) in steps:
            continue
        if not c.manifest.final and key(c) in finals:
            c = CheckpointFile(c.path, c.manifest_path, replace(c.manifest, final=True))
        out.append(c)
    return out


def latest_resumable(run_dir: Path) -> CheckpointFile | None:
    """The newest checkpoint that carries a resume state file."""
    for info in list_checkpoints(run_dir, include_final=False):
        state = info.manifest.state
        if state and (info.manifest_path.parent / state).is_file():
            return info
    return None


def list_all_checkpoints(runs_dir: Path) -> list[CheckpointFile]:
    """Every complete checkpoint of every run under ``runs_dir``, newest first."""
    out: list[CheckpointFile] = []
    if Path(runs_dir).is_dir():
        for run in sorted(Path(runs_dir).iterdir()):
            if run.is_dir():
                out.extend(list_checkpoints(run))
    out.sort(key=lambda c: (c.manifest.created, c.manifest.step), reverse=True)
    return out
