"""The real worker killed with SIGKILL while a checkpoint is being written in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from soma_console.training import events as ev
from soma_console.training.manifest import latest_resumable, list_checkpoints, read_manifest
from tests.training.conftest import run_worker, tiny_spec, worker_cmd

pytestmark = pytest.mark.slow

RUN = {"steps": 10, "checkpoint_every": 4, "seed": 5, "dropout": 0.1}


def test_sigkill_during_a_background_write_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = tiny_spec(tmp_path / "a", run="a", **RUN)
    r = run_worker(straight)
    assert r.code == 0, r.stderr[-3000:]
    saved = [c for c in r.of(ev.CheckpointSaved) if not c.final]
    # Every periodic checkpoint says how long training paused for it and what the write moved.
    assert all(c.stall_s is not None and c.stall_s >= 0 for c in saved)
    assert all(c.written_bytes and c.written_bytes > c.size for c in saved)  # weights + resume state

    tiny_spec(tmp_path / "b", run="b", **RUN)
    cdir = tmp_path / "b" / "checkpoints"
    # Hold the write of checkpoint 8 after its first piece, so the kill lands mid-write for sure.
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SOMA_CONSOLE_TEST_WRITE_PAUSE": "checkpoint-00000008.safetensors:300",
    }
    proc = subprocess.Popen(
        worker_cmd(tmp_path / "b" / "spec.json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    assert proc.stdout is not None
    asm = ev.LineAssembler()
    seen: list[ev.AnyRecord] = []
    deadline = time.monotonic() + 240
    try:
        # Training goes on while checkpoint 8 is being written: step 9 arrives with its temp file there.
        while not any(isinstance(x, ev.Step) and x.step >= 9 for x in seen):
            line = proc.stdout.readline()
            assert line, "the worker ended before step 9"
            assert time.monotonic() < deadline
            seen += asm.feed(line)
        torn = [p for p in cdir.iterdir() if p.name.startswith(".checkpoint-00000008.safetensors")]
        assert torn, sorted(p.name for p in cdir.iterdir())
        assert torn[0].stat().st_size > 0  # half written
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Checkpoint 8 never existed: no manifest. The newest complete one is 4, and it is resumable.
    assert not (cdir / "checkpoint-00000008.json").exists()
    assert [c.step for c in list_checkpoints(tmp_path / "b")] == [4]
    prior = latest_resumable(tmp_path / "b")
    assert prior is not None and prior.step == 4

    r = run_worker(tiny_spec(tmp_path / "b", run="b", **RUN), "--resume")
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Started)[0].start_step == 4
    assert [s.step for s in r.of(ev.Step)] == [5, 6, 7, 8, 9, 10]
    assert not [p.name for p in cdir.iterdir() if p.name.endswith(".tmp")]  # the torn file was cleared
    for name in ("checkpoint-00000008", "model-final"):
        a = (tmp_path / "a" / "checkpoints" / f"{name}.safetensors").read_bytes()
        b = (cdir / f"{name}.safetensors").read_bytes()
        assert a == b, name  # bit for bit: weights, optimizer, RNG and data order all restored
    ma = read_manifest(tmp_path / "a" / "checkpoints" / "model-final.json")
    mb = read_manifest(cdir / "model-final.json")
    assert (ma.loss, ma.eval_loss, ma.embedding, ma.data_position) == (
        mb.loss,
        mb.eval_loss,
        mb.embedding,
        mb.data_position,
    )
