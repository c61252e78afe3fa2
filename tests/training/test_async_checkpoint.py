"""Checkpoints that do not stop training: the host snapshot, the background writer, the fast write."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from safetensors.numpy import save as st_save
from torch import nn

from soma_console.training import checkpoint as ck
from soma_console.training.checkpoint import TensorEntry, write_safetensors
from soma_console.training.checkpoint_async import BackgroundWriter, HostSnapshot, Source
from soma_console.training.spec import make_spec
from soma_console.training.torch_checkpoint import remove_stale_temp_files
from soma_console.training.torch_device import Resolved, probe_micro_batch


def test_a_snapshot_is_a_copy_taken_at_capture_time_into_reused_buffers() -> None:
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    b = torch.ones(4)
    state = torch.full((3, 4), 7.0)
    snap = HostSnapshot(torch.device("cpu"))
    sources = [Source(w, transpose=True), Source(b), Source(state, group=1)]
    host = snap.capture(sources)
    snap.wait()
    assert torch.equal(host[0], w.t()) and host[0].is_contiguous()
    assert torch.equal(host[1], b) and torch.equal(host[2], state)
    w.add_(100)  # training goes on: the snapshot keeps the values it was taken with
    assert host[0][0, 0].item() == 0.0
    again = snap.capture(sources)
    assert [t.data_ptr() for t in again] == [t.data_ptr() for t in host]  # never a second host copy
    assert again[0][0, 0].item() == 100.0
    # Optimizer state (group 1) has a storage of its own, so saving it never drags the weights along.
    assert again[2].untyped_storage().nbytes() < 3 * 4 * 4 + 64
    assert again[2].untyped_storage().data_ptr() != again[0].untyped_storage().data_ptr()


def test_a_changed_layout_gets_new_buffers() -> None:
    snap = HostSnapshot(torch.device("cpu"))
    first = snap.capture([Source(torch.zeros(4))])
    second = snap.capture([Source(torch.zeros(4)), Source(torch.ones(2, 2))])
    assert len(second) == 2 and torch.equal(second[1], torch.ones(2, 2))
    assert first[0].shape == second[0].shape


def test_the_writer_runs_one_job_at_a_time_and_reports_a_failure_on_the_training_thread() -> None:
    writer = BackgroundWriter()
    order: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        gate.wait(5)
        order.append("first")

    writer.submit(slow)
    assert writer.running
    threading.Timer(0.2, gate.set).start()
    writer.submit(lambda: order.append("second"))  # waits for the first job
    writer.wait()
    assert order == ["first", "second"]

    def broken() -> None:
        raise OSError(28, "No space left on device")

    writer.submit(broken)
    with pytest.raises(OSError, match="No space left"):
        writer.wait()
    writer.wait()  # reported once


def _entries(arrays: dict[str, np.ndarray]) -> list[TensorEntry]:
    return [TensorEntry(k, v.shape, v.dtype, lambda v=v: v) for k, v in arrays.items()]


def test_the_fast_write_is_byte_identical_to_safetensors_and_hashes_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ck, "WRITE_CHUNK", 4096)  # force both paths: gathered small pieces, sliced big ones
    rng = np.random.default_rng(3)
    arrays = {
        "big.weight": rng.standard_normal((97, 61)).astype(np.float32),  # several chunks
        "a.bias": rng.standard_normal(5).astype(np.float32),
        "a.gamma": rng.standard_normal(300).astype(np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(0.5, dtype=np.float32),
    }
    written = write_safetensors(tmp_path / "w.safetensors", _entries(arrays))
    blob = (tmp_path / "w.safetensors").read_bytes()
    assert blob == st_save(arrays)  # one dtype, as in a model: the same order and bytes
    assert written.size == len(blob)
    assert written.sha256 == hashlib.sha256(blob).hexdigest()
    assert written.blake2b == hashlib.blake2b(blob, digest_size=32).hexdigest()
    mixed = {**arrays, "count": np.array(7, dtype=np.int64)}
    write_safetensors(tmp_path / "m.safetensors", _entries(mixed))
    back = load_file(tmp_path / "m.safetensors")
    assert back.keys() == mixed.keys()
    assert all(np.array_equal(back[k], v) and back[k].shape == v.shape for k, v in mixed.items())


def test_a_write_killed_midway_leaves_only_a_temp_file_which_the_next_start_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdir = tmp_path / "checkpoints"
    cdir.mkdir()
    (cdir / "checkpoint-00000004.json").write_text("{}")
    (cdir / ".checkpoint-00000008.safetensors.abc.tmp").write_bytes(b"half")
    (cdir / ".model-final.safetensors.12.link").write_bytes(b"")
    assert remove_stale_temp_files(cdir) == 2
    assert sorted(p.name for p in cdir.iterdir()) == ["checkpoint-00000004.json"]


class _Fits(nn.Module):
    """A loss module whose forward fails like a full GPU above a given micro-batch."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.limit = limit
        self.tried: list[int] = []

    def forward(self, ids: torch.Tensor, _t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.tried.append(ids.shape[0])
        if ids.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        loss = (self.w * ids.float().mean()).sum()
        return loss, loss.detach(), loss.detach()


def test_the_probe_takes_the_largest_fitting_divisor_and_leaves_no_gradients(tmp_path: Path) -> None:
    spec = make_spec(run="p", preset="tiny", out_dir=tmp_path)
    res = Resolved(torch.device("cpu"), True, None, True, False, False, False, 0, False, False, 1)
    mod = _Fits(limit=5)
    assert probe_micro_batch(mod, spec, res, 16) == 4
    assert mod.tried == [16, 8, 4]  # divisors of 16 only, largest first
    assert mod.w.grad is None
    assert probe_micro_batch(_Fits(limit=0), spec, res, 6) == 1
