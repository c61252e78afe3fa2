"""The GPU ladder benchmark is ready to run: a smoke run of every rung on the tiny preset, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_gpu_ladder_runs_end_to_end_on_a_cpu(tmp_path: Path) -> None:
    out = tmp_path / "ladder.json"
    cmd = [sys.executable, "-m", "bench.train_gpu_ladder", "--preset", "tiny", "--device", "cpu"]
    cmd += ["--steps", "1", "--warmup", "1", "--curve-steps", "3", "--skip", "compile", "--out", str(out)]
    cmd += ["--budget-s", "100000"]  # a loaded CI machine must not cut the smoke run short
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    rungs = [row["rung"] for row in result["rungs"]]
    assert rungs == [
        "reference",
        "tf32",
        "bf16",
        "sdpa",
        "no_sync",
        "fused_adam",
        "micro_batch",
        "data_loader",
    ]
    assert all(row["tokens_per_s"] > 0 for row in result["rungs"])
    curves = result["curves"]
    assert [len(curves[k]) for k in ("reference", "fast", "defaults")] == [3, 3, 3]
    # Same initial weights, seed and data: the fast path at the reference's micro-batch (bf16
    # autocast runs on a CPU too) stays within the stated tolerance of the reference at every step.
    assert all(abs(a - b) < 0.05 for a, b in zip(curves["reference"], curves["fast"], strict=True))
    assert result["comparisons"]["fast"]["within_tolerance"]
    assert result["comparisons"]["fast"]["tolerance"] == 0.05
    assert result["best_rung"]["rung"] in rungs
    assert "| rung | micro-batch | tokens/s | MFU | peak memory |" in r.stdout
    assert "| step | reference (fp32) | fast (same micro-batch) | defaults |" in r.stdout
