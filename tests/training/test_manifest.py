"""Manifests round-trip, and listing trusts only complete checkpoints."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from soma_console import fsutil
from soma_console.training.checkpoint import CheckpointRecord, TensorEntry, publish_final, save_checkpoint
from soma_console.training.manifest import (
    Manifest,
    latest_resumable,
    list_all_checkpoints,
    list_checkpoints,
    read_manifest,
)


def _record(step: int, loss: float | None = 1.5) -> CheckpointRecord:
    return CheckpointRecord(
        step=step,
        loss=loss,
        eval_loss=1.25,
        eval_ce=1.2,
        embedding=[0.5, -0.25, 1e-8],
        config={"embedding_dim": 3, "num_layers": 1},
        architecture="small",
        spec={"run": "r", "preset": "tiny"},
        data_position={"sequences": step * 4},
        framework="torch",
        run="r",
        tokens=step * 100,
    )


def _entries(seed: int) -> list[TensorEntry]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    return [
        TensorEntry("w.weight", a.shape, a.dtype, lambda: a),
        TensorEntry("w.bias", b.shape, b.dtype, lambda: b),
    ]


def test_a_saved_checkpoint_round_trips(tmp_path: Path) -> None:
    cdir = tmp_path / "run" / "checkpoints"
    entries = _entries(0)
    manifest, mpath = save_checkpoint(cdir, _record(10), entries, lambda fh: fh.write(b"state"))
    assert mpath.name == "checkpoint-00000010.json"
    back = read_manifest(mpath)
    assert back == manifest
    assert Manifest.from_json(back.to_json()) == back
    weights = cdir / manifest.weights
    blob = weights.read_bytes()
    assert manifest.size == len(blob)
    assert manifest.sha256 == hashlib.sha256(blob).hexdigest()
    assert manifest.blake2b == hashlib.blake2b(blob, digest_size=32).hexdigest()
    loaded = load_file(str(weights))
    for e in entries:
        assert np.array_equal(loaded[e.name], e.fetch())
    assert (cdir / "checkpoint-00000010.state.pt").read_bytes() == b"state"
    assert manifest.embedding_dim == 3
    assert manifest.protocol_version == 1


def test_listing_is_newest_first_and_skips_incomplete_ones(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cdir = run / "checkpoints"
    for step in (5, 10, 15):
        save_checkpoint(cdir, _record(step), _entries(step), lambda fh: fh.write(b"s"))
        time.sleep(0.01)
    # Weights without a manifest (a crash between the two) do not exist.
    (cdir / "checkpoint-00000020.safetensors").write_bytes(b"partial")
    # A manifest whose weights were truncated does not count either.
    m, _ = save_checkpoint(cdir, _record(25), _entries(25), None)
    with open(cdir / m.weights, "r+b") as fh:
        fh.truncate(10)
    # Nor a manifest that is not JSON, nor temp files.
    (cdir / "checkpoint-00000030.json").write_text("{garbage")
    (cdir / ".checkpoint-00000035.json.abc.tmp").write_text("{}")
    steps = [c.step for c in list_checkpoints(run)]
    assert steps == [15, 10, 5]
    latest = latest_resumable(run)
    assert latest is not None
    assert latest.step == 15
    publish_final(cdir, latest.manifest)
    listed = list_checkpoints(run)
    assert [(c.step, c.manifest.final) for c in listed] == [(15, True), (15, False), (10, False), (5, False)]
    assert (cdir / "model-final.safetensors").read_bytes() == (
        cdir / "checkpoint-00000015.safetensors"
    ).read_bytes()
    row = listed[0].row()
    assert {"path", "step", "loss", "eval_loss", "embedding_dim", "config", "size", "created"} <= set(row)
    assert [c.step for c in list_all_checkpoints(tmp_path)][:1] == [15]


def test_nan_losses_become_null_not_invalid_json(tmp_path: Path) -> None:
    _, mpath = save_checkpoint(tmp_path, _record(1, loss=float("nan")), _entries(1), None)
    assert read_manifest(mpath).loss is None


@pytest.mark.parametrize("die_at", [1, 2, 3])
def test_a_crash_at_any_rename_leaves_only_complete_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, die_at: int
) -> None:
    """Weights, state and manifest are renamed into place in that order; die before each."""
    run = tmp_path / "run"
    cdir = run / "checkpoints"
    save_checkpoint(cdir, _record(1), _entries(1), lambda fh: fh.write(b"s"))
    calls = {"n": 0}
    real_replace = os.replace

    def dying_replace(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == die_at:
            raise KeyboardInterrupt("power cut")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(fsutil.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(cdir, _record(2), _entries(2), lambda fh: fh.write(b"s"))
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    assert [c.step for c in list_checkpoints(run)] == [1]
    latest = latest_resumable(run)
    assert latest is not None
    assert latest.step == 1
    assert not [p for p in cdir.iterdir() if p.name.endswith(".tmp")]  # temp files cleaned on the way out


KILL_CHILD = """
import sys, time
from pathlib import Path
import numpy as np
from soma_console.training.checkpoint import CheckpointRecord, TensorEntry, save_checkpoint
cdir = Path(sys.argv[1])
big = np.random.default_rng(0).standard_normal((4, 1 << 20)).astype(np.float32)  # 16 MiB
entries = [TensorEntry(f"t{i}", big[i].shape, big.dtype, (lambda i=i: big[i])) for i in range(4)]
for step in range(1, 10_000):
    rec = CheckpointRecord(step, 1.0, 1.0, 1.0, [0.0], {}, "small", {}, {}, "torch", "k", 0)
    save_checkpoint(cdir, rec, entries, lambda fh: fh.write(b"state" * 100_000))
    old = cdir / f"checkpoint-{step - 2:08d}"
    for suffix in (".json", ".safetensors", ".state.pt"):  # manifest first: never a dangling one
        Path(str(old) + suffix).unlink(missing_ok=True)
    print(step, flush=True)
"""


def test_sigkill_in_the_middle_of_writing_never_corrupts_a_listed_checkpoint(tmp_path: Path) -> None:
    """Large checkpoints written back to back, SIGKILLed at random moments: most kills land mid-write."""
    cdir = tmp_path / "run" / "checkpoints"
    rng = random.Random(7)
    torn = 0
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(cdir)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline()  # one complete checkpoint exists
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.wait()
        torn += sum(1 for p in cdir.iterdir() if p.name.endswith(".tmp"))
        listed = list_checkpoints(tmp_path / "run")
        assert listed
        for info in listed:
            blob = info.path.read_bytes()
            assert hashlib.sha256(blob).hexdigest() == info.manifest.sha256
            assert len(load_file(str(info.path))) == 4
            assert info.manifest.state
            assert (cdir / info.manifest.state).stat().st_size == 500_000
        for p in cdir.iterdir():  # the next round starts clean, as a resumed worker would
            if p.name.endswith(".tmp"):
                p.unlink()
    assert torn >= 1, "no kill landed inside a write; the test proved nothing"
