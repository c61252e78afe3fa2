"""bench/gpu_check.py is ready for a GPU window: the ladder and the real worker in one command, one JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

ALL_BUT_TWO = "reference,tf32,bf16,sdpa,no_sync,fused_adam,micro_batch,compile"


def test_gpu_check_runs_the_ladder_and_stops_the_worker_inside_its_budget(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    cmd = [sys.executable, "-m", "bench.gpu_check", "--preset", "tiny", "--device", "cpu", "--out", str(out)]
    # One ladder rung (the real loader, as long as it takes on a busy machine); then a worker asked
    # for 10,000 steps whose share of the budget is already spent: it must get SIGTERM once it is
    # up, write a last checkpoint and exit, within the grace period.
    cmd += [f"--ladder-args=--steps 1 --warmup 1 --skip {ALL_BUT_TWO}", "--ladder-budget-s", "3000"]
    cmd += ["--budget-s", "30", "--stop-grace-s", "400", "--checkpoint-every", "3", "--settle-steps", "0"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [row["rung"] for row in result["ladder"]["rungs"]] == ["data_loader"]
    worker = result["worker"]
    assert worker["exit_code"] == 143, worker  # SIGTERM: stopped after writing a checkpoint
    assert not worker["killed"]
    assert worker["steps_done"] >= 1
    assert worker["fast"]["reasons"]["compile"].startswith("off:")
    stops = worker["checkpoints"]
    assert stops and stops[-1]["step"] == worker["steps_done"]
    assert all(c["stall_s"] >= 0 and c["write_mb_s"] > 0 for c in stops)
    assert [e["error"] for e in worker["errors"]] == ["interrupted"]
    assert "stall_s" in result["targets"]
    assert "SIGTERM" in r.stdout
