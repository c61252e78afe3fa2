"""Write a V1-family checkpoint (safetensors + manifest) with random initial values, streamed.

The layout is exactly what soma_models' V1 ``Model.save`` writes (tensor names sorted, float32,
compact JSON header padded to 8 bytes); with soma_models' default config that is 4,838,779,992
bytes. Values follow a plain initialisation (weights N(0, 0.02), biases and LayerNorm beta 0,
gamma 1), generated a few MiB at a time, so building it needs no more memory than a chunk.
The manifest's sha256 and blake2b are computed while the file is written.

Run: python -m bench.checkpoint_builder DIR [--embedding-dim D --num-layers L --ffn F]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from soma_console.core.weights.layout import expected_layout, v1_dims
from soma_console.training.manifest import MANIFEST_VERSION, Manifest, checkpoint_stem, write_manifest

_FLOATS = 1 << 20  # values generated per block (4 MiB)


def _header(layout: dict[str, tuple[int, ...]]) -> bytes:
    entries: dict[str, object] = {}
    offset = 0
    for name in sorted(layout):
        size = 4 * math.prod(layout[name])
        entries[name] = {"dtype": "F32", "shape": list(layout[name]), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(entries, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def _blocks(name: str, shape: tuple[int, ...], rng: np.random.Generator):  # type: ignore[no-untyped-def]
    left = math.prod(shape)
    fill = 1.0 if name.endswith(".gamma") else 0.0 if name.endswith((".beta", ".bias")) else None
    while left:
        n = min(left, _FLOATS)
        if fill is None:
            block = rng.standard_normal(n, dtype=np.float32)
            block *= np.float32(0.02)
        else:
            block = np.full(n, fill, dtype=np.float32)
        yield block.tobytes()
        left -= n


def build_checkpoint(
    directory: Path, dims: dict[str, int] | None = None, *, seed: int = 0, step: int = 1
) -> Path:
    """Write ``checkpoint-<step>.safetensors`` and its manifest into ``directory``; return the weights."""
    dims = dims or v1_dims()
    layout = expected_layout(**dims)
    directory.mkdir(parents=True, exist_ok=True)
    stem = checkpoint_stem(step)
    weights = directory / f"{stem}.safetensors"
    rng = np.random.default_rng(seed)
    sha, blake = hashlib.sha256(), hashlib.blake2b(digest_size=32)
    size = 0
    with open(weights, "wb") as out, ThreadPoolExecutor(max_workers=2) as pool:
        pending: list = []  # type: ignore[type-arg]

        def put(data: bytes) -> None:
            nonlocal pending, size
            for f in pending:
                f.result()
            pending = [pool.submit(sha.update, data), pool.submit(blake.update, data)]
            out.write(data)
            size += len(data)

        put(_header(layout))
        for name in sorted(layout):
            for data in _blocks(name, layout[name], rng):
                put(data)
        for f in pending:
            f.result()
    embedding = [float(x) for x in np.random.default_rng(seed + 1).standard_normal(dims["embedding_dim"])]
    arch = "v1" if dims == v1_dims() else "small"
    write_manifest(
        directory / f"{stem}.json",
        Manifest(
            step=step,
            weights=weights.name,
            loss=None,
            eval_loss=None,
            embedding=embedding,
            embedding_dim=dims["embedding_dim"],
            config=dict(dims),
            architecture=arch,
            spec={},
            data_position={},
            framework="random-init",
            created=time.time(),
            size=size,
            sha256=sha.hexdigest(),
            blake2b=blake.hexdigest(),
            protocol_version=MANIFEST_VERSION,
        ),
    )
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--embedding-dim", type=int)
    parser.add_argument("--num-layers", type=int)
    parser.add_argument("--ffn", type=int)
    args = parser.parse_args()
    dims = v1_dims()
    for key in ("embedding_dim", "num_layers", "ffn"):
        if getattr(args, key) is not None:
            dims[key] = getattr(args, key)
    started = time.perf_counter()
    path = build_checkpoint(args.directory, dims)
    print(f"{path} {os.path.getsize(path):,} bytes in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
