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
    ref, fast = result["curves"]["reference"], result["curves"]["fast"]
    assert len(ref) == len(fast) == 3
    # Same seed, same data: the fast path starts where the reference does (bf16 rounding aside).
    assert abs(ref[0] - fast[0]) < 5e-2
    assert "| rung | micro-batch | tokens/s | MFU | peak memory |" in r.stdout
