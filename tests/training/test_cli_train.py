"""``soma-console train | runs | checkpoints | logs`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soma_console.training import events as ev
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.slow
QUICK = ["--micro-batch", "2", "--grad-accum", "1"]


def test_train_then_list_runs_checkpoints_and_logs(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "train",
        "--preset",
        "tiny",
        "--steps",
        "6",
        "--checkpoint-every",
        "3",
        "--data",
        "builtin",
        "--run",
        "demo",
        *QUICK,
    )
    assert r.returncode == 0, r.output
    run_dir = home / "runs" / "demo"
    assert f"checkpoints go to {run_dir / 'checkpoints'}\n" in r.stdout
    assert f"checkpoint at step 3: {run_dir / 'checkpoints' / 'checkpoint-00000003.safetensors'}" in r.stdout
    assert "finished at step 6" in r.stdout
    # The run directory: spec, status, every worker stdout line.
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "finished"
    assert status["backend"] == "local"
    assert status["exit_code"] == 0
    asm = ev.LineAssembler()
    records = asm.feed((run_dir / "events.jsonl").read_bytes()) + asm.flush()
    assert [type(x).__name__ for x in records if not isinstance(x, ev.Step)][:1] == ["Started"]
    assert isinstance(records[-1], ev.Finished)

    runs = cli("runs", "--json").json()
    assert [(x["run"], x["status"], x["step"], x["total_steps"]) for x in runs] == [
        ("demo", "finished", 6, 6)
    ]
    assert cli("runs").returncode == 0

    cks = cli("checkpoints", "--run", "demo", "--json").json()
    assert [(c["step"], c["final"]) for c in cks] == [(6, True), (6, False), (3, False)]
    for c in cks:
        assert {"path", "step", "loss", "eval_loss", "embedding_dim", "config"} <= set(c)
        assert c["embedding_dim"] == 64
        assert Path(c["path"]).is_file()
    assert cli("checkpoints", "--json").json()[0]["run"] == "demo"
    table = cli("checkpoints", "--run", "demo")
    assert table.returncode == 0
    assert "demo" in table.stdout

    logs = cli("logs", "demo")
    assert logs.returncode == 0
    assert "step 6/6" in logs.stdout
    assert "finished at step 6" in logs.stdout
    raw = cli("logs", "demo", "--raw").stdout.splitlines()
    assert all(isinstance(ev.parse_line(line), ev.Event) for line in raw)

    # Continue the same run to more steps.
    more = cli("train", "--run", "demo", "--resume", "--steps", "8")
    assert more.returncode == 0, more.output
    assert "resuming at step 6" in more.stdout
    assert cli("runs", "--json").json()[0]["step"] == 8


def test_logs_follow_streams_a_live_run_until_it_ends(home: Path) -> None:
    env = {**os.environ, "SOMA_CONSOLE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    train = subprocess.Popen(
        [sys.executable, "-m", "soma_console", "train", "--steps", "4", "--run", "live", *QUICK],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (home / "runs" / "live" / "run.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    follow = subprocess.run(
        [sys.executable, "-m", "soma_console", "logs", "live", "-f"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert train.wait(timeout=180) == 0
    assert follow.returncode == 0, follow.stderr
    assert "finished at step 4" in follow.stdout


def test_bad_input_is_one_error_line(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(cli("train", "--preset", "giant", "--run", "x"), "unknown preset")
    missing = cli("train", "--data", str(tmp_path / "nope"), "--run", "m", "--steps", "2")
    assert_one_line_error(missing, "does not exist")
    assert missing.returncode == 2  # refused before a run exists: no failed run is left behind
    assert cli("runs", "--json").json() == []
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("train", "--data", str(tmp_path / "empty"), "--run", "e"), "no non-empty files")
    # That one got as far as the trainer: the failure is recorded in the run and as an error event.
    assert cli("runs", "--json").json()[0]["status"] == "failed"
    assert_one_line_error(cli("train", "--run", "e", "--steps", "2"), "already exists")
    assert_one_line_error(cli("train", "--run", "ghost", "--resume"), "no run 'ghost'")
    assert_one_line_error(cli("train", "--micro-batch", "0", "--run", "z"), "micro-batch")
    assert_one_line_error(cli("logs", "ghost"), "no run 'ghost'")
    assert_one_line_error(cli("checkpoints", "--run", "ghost"), "no run 'ghost'")


def test_v1_without_a_gpu_says_how_slow_and_asks(cli) -> None:  # type: ignore[no-untyped-def]
    # No terminal and no --yes: refuse rather than crawl silently.
    r = cli("train", "--preset", "v1", "--run", "big", "--steps", "1")
    assert_one_line_error(r, "needs confirmation", "--yes")
    # With a terminal, the question names the time per step; answering no sends nothing.
    r = cli(
        "train",
        "--preset",
        "v1",
        "--run",
        "big",
        "--steps",
        "1",
        env={"SOMA_CONSOLE_ASSUME_TTY": "1"},
        input="n\n",
    )
    assert "No GPU is visible: a v1 step (16,384 tokens) takes at least" in r.output
    assert "GFLOP/s measured" in r.output
    assert r.returncode != 0
    assert "aborted" in r.stderr


def test_ctrl_c_stops_the_worker_with_a_checkpoint(home: Path) -> None:
    env = {**os.environ, "SOMA_CONSOLE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "soma_console", "train", "--steps", "100000", "--run", "cc", *QUICK]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = home / "runs" / "cc" / "events.jsonl"
    deadline = time.monotonic() + 90
    while not (events.exists() and b'"soma_event":"step"' in events.read_bytes()):
        assert time.monotonic() < deadline, "no step within 90 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == (
        "error: aborted; the run stopped; continue it with `soma-console train --run cc --resume`."
    )
    status = json.loads((home / "runs" / "cc" / "run.json").read_text())
    assert status["status"] == "stopped"
    assert status["exit_code"] == 143
    asm = ev.LineAssembler()
    records = asm.feed(events.read_bytes()) + asm.flush()
    stop = [r for r in records if isinstance(r, ev.Error)]
    assert [e.error for e in stop] == ["interrupted"]
    saved = [r for r in records if isinstance(r, ev.CheckpointSaved)]
    assert saved
    assert saved[-1].step == stop[0].step
