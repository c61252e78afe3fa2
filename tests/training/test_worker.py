"""The real worker process on the tiny preset: learning, resume, crashes, bad input."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from soma_models.v1.torch import Model, ModelConfig

from soma_console.training import events as ev
from soma_console.training.manifest import list_checkpoints, read_manifest
from tests.training.conftest import run_worker, tiny_spec, worker_cmd

pytestmark = pytest.mark.slow


def test_loss_clearly_falls_over_50_steps_of_builtin_data(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path / "run", steps=50, checkpoint_every=25, micro_batch=4, grad_accum=2)
    r = run_worker(spec)
    assert r.code == 0, r.stderr[-3000:]
    # Nothing but event lines on stdout.
    assert not [x for x in r.records if isinstance(x, ev.LogLine)]
    steps = r.of(ev.Step)
    assert [s.step for s in steps] == list(range(1, 51))
    first = sum(s.loss for s in steps[:5]) / 5
    last = sum(s.loss for s in steps[-5:]) / 5
    assert last < first - 1.5, (first, last)  # byte-level: ~5.6 (uniform over 264) -> ~2.x
    evals = r.of(ev.Eval)
    assert evals[-1].eval_loss < evals[0].eval_loss
    started = r.of(ev.Started)[0]
    assert started.params > 0
    assert started.tokens_per_step == 8 * 256
    (fin,) = r.of(ev.Finished)
    assert fin.final_path.endswith("model-final.safetensors")
    saved = r.of(ev.CheckpointSaved)
    assert [(c.step, c.final) for c in saved] == [(25, False), (50, False), (50, True)]
    # The final manifest: everything the commit needs, measured on held-out data.
    m = read_manifest(Path(saved[-1].manifest))
    assert m.final
    assert m.step == 50
    assert m.embedding_dim == 64
    assert len(m.embedding) == 64
    assert m.architecture == "small"
    assert m.framework == "torch"
    assert m.config["num_layers"] == 2
    assert m.spec["run"] == spec.run
    assert m.data_position["sequences"] == 50 * 8
    assert m.eval_loss == pytest.approx(evals[-1].eval_loss)
    weights = Path(saved[-1].path)
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == m.sha256
    model = Model.load(str(weights), ModelConfig(**m.config))
    assert sum(p.numel() for p in model.parameters()) == started.params


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = tiny_spec(tmp_path / "a", run="a", steps=8, checkpoint_every=4, seed=11, dropout=0.1)
    assert run_worker(straight).code == 0
    # The same run, stopped after 4 steps (as if the machine went away) and resumed to 8.
    part = tiny_spec(tmp_path / "b", run="b", steps=4, checkpoint_every=4, seed=11, dropout=0.1)
    assert run_worker(part).code == 0
    more = tiny_spec(tmp_path / "b", run="b", steps=8, checkpoint_every=4, seed=11, dropout=0.1)
    r = run_worker(more, "--resume")
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Started)[0].start_step == 4
    assert [s.step for s in r.of(ev.Step)] == [5, 6, 7, 8]
    a = (tmp_path / "a" / "checkpoints" / "checkpoint-00000008.safetensors").read_bytes()
    b = (tmp_path / "b" / "checkpoints" / "checkpoint-00000008.safetensors").read_bytes()
    assert a == b  # bit for bit: weights, optimizer, RNG (dropout, SIGReg) and data order restored
    ma = read_manifest(tmp_path / "a" / "checkpoints" / "checkpoint-00000008.json")
    mb = read_manifest(tmp_path / "b" / "checkpoints" / "checkpoint-00000008.json")
    assert (ma.loss, ma.eval_loss, ma.embedding, ma.data_position) == (
        mb.loss,
        mb.eval_loss,
        mb.embedding,
        mb.data_position,
    )


def _check_every_manifested_checkpoint(run_dir: Path) -> int:
    infos = list_checkpoints(run_dir)
    for info in infos:
        blob = info.path.read_bytes()
        assert len(blob) == info.manifest.size
        assert hashlib.sha256(blob).hexdigest() == info.manifest.sha256
        Model.load(str(info.path), ModelConfig(**info.manifest.config))
        if info.manifest.state:
            state = torch.load(info.path.parent / info.manifest.state, weights_only=False)
            assert state["step"] == info.step
    return len(infos)


def test_sigkill_at_random_moments_never_leaves_a_corrupt_checkpoint(tmp_path: Path) -> None:
    # A checkpoint every step, so most kills land in or near one.
    tiny_spec(tmp_path / "run", steps=400, checkpoint_every=1)
    rng = random.Random(20260101)
    torn = 0
    for round_ in range(4):
        cmd = worker_cmd(tmp_path / "run" / "spec.json", *(["--resume"] if round_ else []))
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        assert proc.stdout is not None
        # Once it is checkpointing (after torch import and the held-out scan), kill it at a random moment.
        while b'"soma_event":"checkpoint"' not in (line := proc.stdout.readline()):
            assert line, "worker ended early"
        time.sleep(rng.uniform(0.0, 1.5))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        cdir = tmp_path / "run" / "checkpoints"
        torn += sum(1 for p in cdir.iterdir() if p.name.endswith(".tmp"))
        assert _check_every_manifested_checkpoint(tmp_path / "run") >= 1
    # Whatever the kills left behind, the run continues from its newest complete checkpoint.
    finish = tiny_spec(tmp_path / "run", steps=_last_step(tmp_path / "run") + 2, checkpoint_every=1)
    r = run_worker(finish, "--resume")
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Finished)
    _check_every_manifested_checkpoint(tmp_path / "run")
    print(f"temp files left by kills mid-write: {torn}")


def _last_step(run_dir: Path) -> int:
    return max(c.step for c in list_checkpoints(run_dir))


def test_sigterm_saves_a_checkpoint_and_reports_a_resumable_stop(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path / "run", steps=10_000, checkpoint_every=1000)
    proc = subprocess.Popen(
        worker_cmd(tmp_path / "run" / "spec.json"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    asm = ev.LineAssembler()
    records: list[ev.AnyRecord] = []
    while not any(isinstance(x, ev.Step) and x.step >= 3 for x in records):
        line = proc.stdout.readline()
        assert line, "worker ended early"
        records += asm.feed(line)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    records += asm.feed(rest) + asm.flush()
    assert proc.returncode == 143
    err = [x for x in records if isinstance(x, ev.Error)]
    assert len(err) == 1
    assert err[0].error == "interrupted"
    assert err[0].resumable
    saved = [x for x in records if isinstance(x, ev.CheckpointSaved)]
    assert saved
    assert saved[-1].step == err[0].step
    assert list_checkpoints(Path(spec.out_dir))[0].step == err[0].step


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: str(p / "nowhere"), "does not exist"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no non-empty files"),
    ],
)
def test_bad_data_is_one_error_event_and_a_nonzero_exit(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    spec = tiny_spec(tmp_path / "run", data=make(tmp_path), steps=2)
    r = run_worker(spec)
    assert r.code == 1
    (err,) = r.of(ev.Error)
    assert err.error == "data"
    assert needle in err.summary
    assert "Traceback" not in r.stdout + r.stderr
    assert not list_checkpoints(Path(spec.out_dir))


def test_binary_files_train(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "noise.bin").write_bytes(random.Random(1).randbytes(60_000))
    (data / "notes.txt").write_text("plain words and more words\n\n" * 400)
    spec = tiny_spec(tmp_path / "run", data=str(data), steps=3, checkpoint_every=3)
    r = run_worker(spec)
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Finished)
