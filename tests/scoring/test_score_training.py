"""A checkpoint trained longer would win more of the network's targets than its early checkpoint.

The real trainer (a subprocess) trains one tiny run; its middle checkpoint is registered on a tiny
devnet next to two untrained models, the built-in submitter fills targets, and ``score`` rates
the run's early and final checkpoints against the same winners.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from tests.scoring.conftest import fill_world, start_tiny_devnet
from tests.scoring.reference import tiny_weights
from tests.scoring.test_score_cmd import run_score

STEPS, EVERY = 30, 6


def _train(home) -> dict[int, str]:
    env = {**os.environ, "SOMA_CONSOLE_HOME": str(home)}
    args = ["--preset", "tiny", "--run", "t", "--steps", str(STEPS), "--checkpoint-every", str(EVERY)]
    args += ["--grad-accum", "1", "--lr", "4e-3", "--scoring-objective", "--json", "-y"]
    proc = subprocess.run(
        [sys.executable, "-m", "soma_console", "train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = {}
    for line in proc.stdout.splitlines():
        ev = json.loads(line) if line.startswith("{") else {}
        if ev.get("soma_event") == "checkpoint" and not ev.get("final"):
            found[int(ev["step"])] = ev["path"]
    return found


def test_a_longer_trained_checkpoint_would_win_more(tmp_path):
    ckpts = _train(tmp_path / "train")
    steps = sorted(ckpts)
    early, middle, final = ckpts[steps[0]], ckpts[steps[len(steps) // 2]], ckpts[steps[-1]]
    node = start_tiny_devnet(tmp_path / "devnet")
    try:
        assert node.endpoints is not None
        urls = node.endpoints.as_dict()
        with open(middle, "rb") as f:
            asyncio.run(fill_world(urls, [f.read(), tiny_weights(101), tiny_weights(202)]))
        home = tmp_path / "home"
        rates = {}
        for name, path in (("early", early), ("final", final)):
            proc = run_score(home, urls["rpc_url"], path, "--targets", "10", "--json")
            assert proc.returncode == 0, proc.stderr
            rates[name] = json.loads(proc.stdout)
        assert rates["early"]["scored"] == rates["final"]["scored"] >= 3
        assert [t["target_id"] for t in rates["early"]["targets"]] == [
            t["target_id"] for t in rates["final"]["targets"]
        ]
        assert rates["final"]["would_win"] > rates["early"]["would_win"]
        assert rates["final"]["mean_loss_delta"] < rates["early"]["mean_loss_delta"]
    finally:
        node.stop()


pytestmark = pytest.mark.slow
