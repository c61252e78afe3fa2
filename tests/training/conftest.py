"""Helpers for the trainer tests: tiny specs and the real worker as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from soma_console.training import events as ev
from soma_console.training.spec import TrainSpec, make_spec
from tests.conftest import remember_captured

# Small and quick on two cores: 512 tokens per micro-batch.
FAST_TINY: dict[str, Any] = {"micro_batch": 2, "grad_accum": 1, "shuffle_buffer": 32}


def tiny_spec(out_dir: Path, run: str = "t", **overrides: Any) -> TrainSpec:
    values = {**FAST_TINY, **overrides}
    spec = make_spec(run=run, preset="tiny", out_dir=out_dir, **values)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "spec.json").write_text(spec.to_json())
    return spec


@dataclass
class WorkerResult:
    code: int
    stdout: str
    stderr: str

    @property
    def records(self) -> list[ev.AnyRecord]:
        asm = ev.LineAssembler()
        return asm.feed(self.stdout) + asm.flush()

    def of(self, cls: type) -> list[Any]:
        return [r for r in self.records if isinstance(r, cls)]


def worker_cmd(spec_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "soma_console.training.worker", str(spec_path), *extra]


def run_worker(spec: TrainSpec, *extra: str, timeout: float = 300) -> WorkerResult:
    proc = subprocess.run(
        worker_cmd(Path(spec.out_dir) / "spec.json", *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    remember_captured(proc.stdout + proc.stderr)
    return WorkerResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"
