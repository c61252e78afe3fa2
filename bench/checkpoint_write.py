"""Checkpoint write speed and the training stall, on this machine's disk and CPU.

    python -m bench.checkpoint_write                       # V1-size weights file + a 4-layer V1-wide model
    python -m bench.checkpoint_write --dir /data/ckpt --layers 24   # on a training box: all of V1

1. **disk**: the same number of bytes as a V1 weights file (4.83 GB), written in 32 MiB pieces and
   fsynced: what the disk itself does.
2. **weights, one piece per tensor** (how checkpoints were written before): each tensor written as it
   comes and hashed (sha256, then blake2b) on the writing thread.
3. **weights, fast**: ``write_safetensors`` as the trainer uses it (small tensors gathered, 32 MiB
   pieces, both hashes on helper threads while the file is written).
   2 and 3 write V1's tensor shapes; the bytes come from one reused random buffer, so the bench needs
   no 4.8 GB of memory.
4. **stall and write of a real checkpoint**: a soma-models ``Model`` with V1's width and ``--layers``
   layers, Adam with its state, snapshotted by ``HostSnapshot`` exactly as the trainer does (on a CPU
   that is a memory copy; on CUDA the copies are queued on a side stream), then weights + resume
   state + manifest written by ``save_checkpoint``. Reported: the stall (what training waits for),
   the write time and MB/s (the host buffers are allocated first, as the trainer does off the
   training thread after the first step).

Results go to stdout and ``bench/out/checkpoint_write.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PIECE = 32 << 20


def v1_shapes(layers: int) -> list[tuple[str, tuple[int, ...]]]:
    """Canonical tensor names and shapes of V1 (vocab 264, d 2048, FFN 8192) with ``layers`` layers."""
    d, f, vocab = 2048, 8192, 264
    out: list[tuple[str, tuple[int, ...]]] = [("embedding.weight", (vocab, d))]
    for i in range(layers):
        p = f"encoder.layers.{i}"
        for n in ("query", "key", "value", "output"):
            out += [(f"{p}.attention.{n}.weight", (d, d)), (f"{p}.attention.{n}.bias", (d,))]
        out += [(f"{p}.norm_1.gamma", (d,)), (f"{p}.norm_1.beta", (d,))]
        out += [(f"{p}.norm_2.gamma", (d,)), (f"{p}.norm_2.beta", (d,))]
        out += [(f"{p}.pwff.linear_inner.weight", (d, f)), (f"{p}.pwff.linear_inner.bias", (f,))]
        out += [(f"{p}.pwff.linear_outer.weight", (f, d)), (f"{p}.pwff.linear_outer.bias", (d,))]
    out += [("final_norm.gamma", (d,)), ("final_norm.beta", (d,)), ("predictor.weight", (d, vocab))]
    out += [("predictor.bias", (vocab,))]
    return out


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk(path: Path, nbytes: int, pool: np.ndarray) -> float:
    view = memoryview(pool).cast("B")
    start = time.perf_counter()
    with open(path, "wb") as fh:
        left = nbytes
        while left:
            n = min(left, PIECE, len(view))
            fh.write(view[:n])
            left -= n
        fh.flush()
        os.fsync(fh.fileno())
    took = time.perf_counter() - start
    path.unlink()
    return took


def per_tensor(path: Path, shapes: list[tuple[str, tuple[int, ...]]], pool: np.ndarray) -> float:
    """The previous writer: header, then each tensor written and hashed in turn on one thread."""
    from soma_console.training.checkpoint import TensorEntry, safetensors_header

    entries = [TensorEntry(n, s, np.dtype("float32"), lambda s=s: _take(pool, s)) for n, s in shapes]
    ordered, head = safetensors_header(entries)
    sha, blake = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    start = time.perf_counter()
    with open(path, "wb") as fh:
        for chunk in [head] + [memoryview(e.fetch()).cast("B") for e in ordered]:
            fh.write(chunk)
            sha.update(chunk)
            blake.update(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    took = time.perf_counter() - start
    path.unlink()
    return took


def fast(path: Path, shapes: list[tuple[str, tuple[int, ...]]], pool: np.ndarray) -> float:
    from soma_console.training.checkpoint import TensorEntry, write_safetensors

    entries = [TensorEntry(n, s, np.dtype("float32"), lambda s=s: _take(pool, s)) for n, s in shapes]
    start = time.perf_counter()
    write_safetensors(path, entries)
    took = time.perf_counter() - start
    path.unlink()
    return took


def _take(pool: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    return pool[:n].reshape(shape)


def real_checkpoint(folder: Path, layers: int, repeats: int) -> dict[str, Any]:
    import torch
    from soma_models.v1.torch import Model, ModelConfig

    from soma_console.training.checkpoint import CheckpointRecord, save_checkpoint
    from soma_console.training.checkpoint_async import HostSnapshot
    from soma_console.training.spec import make_spec
    from soma_console.training.torch_checkpoint import snapshot_training_state

    v1 = make_spec(run="bench", preset="v1", out_dir=str(folder)).model_config()
    cfg = ModelConfig(**{**v1, "num_layers": layers, "dropout_rate": 0.0})
    model = Model(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # Adam's moments now exist, as after any real step
    params = sum(p.numel() for p in model.parameters())
    snapshot = HostSnapshot(torch.device("cpu"))
    record = CheckpointRecord(
        step=1,
        loss=None,
        eval_loss=None,
        eval_ce=None,
        embedding=[0.0],
        config={},
        architecture="v1",
        spec={},
        data_position={},
        framework="torch",
        run="bench",
        tokens=0,
    )
    from soma_console.training.checkpoint_async import layout_of
    from soma_console.training.torch_checkpoint import checkpoint_sources

    # As in the trainer: the host buffers are allocated (and their pages touched) ahead of the first
    # checkpoint, on the background thread; the stall is the copy alone.
    start = time.perf_counter()
    snapshot.allocate(layout_of(checkpoint_sources(model, optimizer.state_dict())))
    allocate_s = time.perf_counter() - start
    rows = []
    for i in range(repeats):
        start = time.perf_counter()
        entries, opt_host = snapshot_training_state(snapshot, model, optimizer)
        snapshot.wait()
        stall = time.perf_counter() - start
        state = {"step": i, "optimizer": opt_host}
        start = time.perf_counter()
        manifest, _ = save_checkpoint(folder, record, entries, lambda fh, state=state: torch.save(state, fh))
        write = time.perf_counter() - start
        size = manifest.size + (folder / str(manifest.state)).stat().st_size
        rows.append({"stall_s": stall, "write_s": write, "bytes": size})
        for p in folder.iterdir():
            p.unlink()
    return {
        "layers": layers,
        "params": params,
        "bytes": rows[0]["bytes"],
        "allocate_s": allocate_s,
        "stall_s": [r["stall_s"] for r in rows],
        "write_s": [r["write_s"] for r in rows],
        "write_mb_s": [r["bytes"] / r["write_s"] / 1e6 for r in rows],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp folder)")
    p.add_argument("--file-layers", type=int, default=24, help="layers of the V1-shaped weights file")
    p.add_argument("--layers", type=int, default=4, help="layers of the model whose checkpoint is taken")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("bench/out/checkpoint_write.json"))
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ckpt-bench-", dir=args.dir))
    try:
        shapes = v1_shapes(args.file_layers)
        nbytes = sum(int(np.prod(s)) * 4 for _, s in shapes)
        free = shutil.disk_usage(folder).free
        if free < 3 * nbytes:
            raise SystemExit(
                f"{folder} has {free / 1e9:.1f} GB free; the bench needs {3 * nbytes / 1e9:.1f} GB"
            )
        biggest = max(int(np.prod(s)) for _, s in shapes)
        pool = np.random.default_rng(0).standard_normal(biggest, dtype=np.float32)
        print(
            f"V1-shaped weights file: {len(shapes)} tensors, {nbytes / 1e9:.2f} GB, in {folder}", flush=True
        )
        results: dict[str, list[float]] = {"disk": [], "per_tensor": [], "fast": []}
        for _ in range(args.repeats):  # interleaved, so a busy moment does not favour one method
            results["disk"].append(nbytes / disk(folder / "raw.bin", nbytes, pool) / 1e6)
            results["per_tensor"].append(nbytes / per_tensor(folder / "old.safetensors", shapes, pool) / 1e6)
            results["fast"].append(nbytes / fast(folder / "new.safetensors", shapes, pool) / 1e6)
        for name, vals in results.items():
            print(
                f"  {name:<11} {statistics.median(vals):8.0f} MB/s  ({', '.join(f'{v:.0f}' for v in vals)})"
            )
        del pool
        print(f"a real checkpoint: V1 width, {args.layers} layers, Adam state ...", flush=True)
        real = real_checkpoint(folder, args.layers, args.repeats)
        print(
            f"  {real['params']:,} parameters, {real['bytes'] / 1e9:.2f} GB per checkpoint; "
            f"stall {statistics.median(real['stall_s']):.2f} s, "
            f"write {statistics.median(real['write_s']):.1f} s "
            f"({statistics.median(real['write_mb_s']):.0f} MB/s)"
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"weights_file_bytes": nbytes, "mb_s": results, "real_checkpoint": real}, indent=2)
        )
        print(f"written to {args.out}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
