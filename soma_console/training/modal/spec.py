"""What the Modal code needs to know about a TrainSpec, and where a run lives on the Volume.

The TrainSpec type belongs to the trainer (``soma_console.training.spec``); the Modal code takes
the spec as plain JSON (a dict or its text) so that it never depends on that module's internals.
It reads and writes only these keys:

``run``      the run's name; also its folder on the Volume (``runs/<run>/``).
``out_dir``  where the worker writes checkpoints; rewritten to the Volume path in the container.
``gpus``     how many GPUs the worker trains on (DDP in one container); set from ``--gpus``.
``steps``    total steps to train to; a cron round raises it by ``--steps`` before resuming.

Every other key travels unchanged to the worker. On the Volume a run looks like::

    runs/<run>/spec.json                                   the spec the container ran
    runs/<run>/checkpoints/checkpoint-00000500.safetensors
    runs/<run>/checkpoints/checkpoint-00000500.json        manifest, written after the weights
    runs/<run>/model-final.safetensors + model-final.json
    cron/<app>/journal.jsonl                               what the scheduled rounds did
    cron/<app>/home/                                       the scheduled rounds' soma-console home

A checkpoint without its manifest does not exist (the worker writes the manifest last).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from soma_console.errors import UsageError

SPEC_RUN = "run"
SPEC_OUT_DIR = "out_dir"
SPEC_GPUS = "gpus"
SPEC_STEPS = "steps"

RUNS_DIR = "runs"
CRON_DIR = "cron"
CHECKPOINTS_DIR = "checkpoints"
SPEC_FILE = "spec.json"
FINAL_STEM = "model-final"
WEIGHTS_SUFFIX = ".safetensors"
MANIFEST_SUFFIX = ".json"

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHECKPOINT_STEM = re.compile(r"^checkpoint-(\d{8,})$")


def parse_spec(spec: Mapping[str, Any] | str) -> dict[str, Any]:
    """A spec as a fresh dict, from a mapping or JSON text; the run name must be a safe folder name."""
    if isinstance(spec, str):
        try:
            loaded = json.loads(spec)
        except ValueError as exc:
            raise UsageError(f"the train spec is not valid JSON ({exc}).") from None
    else:
        loaded = dict(spec)
    if not isinstance(loaded, dict):
        raise UsageError("the train spec must be a JSON object.")
    run = loaded.get(SPEC_RUN)
    if not isinstance(run, str) or not _RUN_NAME.match(run):
        raise UsageError(
            f"the train spec needs a run name of letters, digits, '.', '_' or '-' (got {run!r}).",
            hint="Pass --run NAME.",
        )
    return loaded


def run_dir(volume_root: Path | PurePosixPath, run: str) -> Path:
    return Path(volume_root) / RUNS_DIR / run


def volume_run_path(run: str) -> str:
    """A run's folder as a path inside the Volume (what ``Volume.listdir`` takes)."""
    return f"{RUNS_DIR}/{run}"


def cron_dir(volume_root: Path, app_name: str) -> Path:
    return volume_root / CRON_DIR / app_name


def volume_cron_journal(app_name: str) -> str:
    return f"{CRON_DIR}/{app_name}/journal.jsonl"


@dataclass(frozen=True, order=True)
class CheckpointName:
    """A checkpoint's identity from its file name: the step it was saved at, or the final model."""

    step: int
    final: bool
    stem: str

    @classmethod
    def parse(cls, name: str) -> CheckpointName | None:
        stem = name.removesuffix(WEIGHTS_SUFFIX).removesuffix(MANIFEST_SUFFIX)
        if stem == FINAL_STEM:
            return cls(step=-1, final=True, stem=stem)
        match = _CHECKPOINT_STEM.match(stem)
        if match is None:
            return None
        return cls(step=int(match.group(1)), final=False, stem=stem)


def manifest_step(manifest: Mapping[str, Any], fallback: int) -> int:
    step = manifest.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else fallback
