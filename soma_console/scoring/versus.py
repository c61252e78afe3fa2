"""Many models over many pieces of data, each model loaded once: the engine of ``score``.

The scoring service evaluates one request (one piece of data, a few models) at a time. Scoring a
checkpoint against the last N targets is the transpose: few distinct models, many pieces of data.
So the loop runs models outermost: each weights file is loaded into memory once, evaluated on
every piece it competes on, and released before the next, so a 4.8 GB V1 file is never read
twice and at most one model is in memory. The per-piece computation is :func:`.compute.evaluate`,
the same function the devnet's scoring service runs (fp32, GPU when present).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soma_console.scoring.arch import Arch
from soma_console.scoring.tokens import Sequences, tokenize


@dataclass(frozen=True)
class Evaluated:
    loss: float
    embedding: np.ndarray


@dataclass
class VersusStats:
    tokens: int = 0
    seconds: float = 0.0
    loads: int = 0
    device: str = ""


def evaluate_all(
    arch: Arch,
    weights: Mapping[str, Path],
    pieces: Mapping[str, bytes],
    plan: Mapping[str, Sequence[str]],
    *,
    seed: int = 0,
    device: str | None = None,
    cpu_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    stats: VersusStats | None = None,
) -> dict[tuple[str, str], Evaluated]:
    """``{(model, piece): Evaluated}`` for every model in ``plan`` on each of its pieces.

    ``weights`` maps a model name to a plaintext safetensors file, ``pieces`` a piece name to its
    bytes, ``plan`` a model name to the pieces it is evaluated on.
    """
    import torch

    from soma_console.scoring.compute import NoiseTable, evaluate, load_model, pick_device

    dev = pick_device(device)
    if dev.type == "cpu" and cpu_threads:
        torch.set_num_threads(cpu_threads)
    noise = NoiseTable()
    seqs: dict[str, Sequences] = {}
    out: dict[tuple[str, str], Evaluated] = {}
    total = sum(len(v) for v in plan.values())
    done = 0
    started = time.perf_counter()
    st = stats if stats is not None else VersusStats()
    st.device = str(dev)
    for name, piece_names in plan.items():
        if not piece_names:
            continue
        model = load_model(arch, weights[name], dev)
        st.loads += 1
        try:
            for piece in piece_names:
                s = seqs.get(piece)
                if s is None:
                    s = seqs[piece] = tokenize(pieces[piece])
                r = evaluate(model, s, seed, dev, noise, arch.embedding_dim)
                out[(name, piece)] = Evaluated(r.loss, r.embedding)
                st.tokens += int(s.token_ids.size)
                done += 1
                if progress:
                    progress(f"scoring {done}/{total}")
        finally:
            del model
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    st.seconds += time.perf_counter() - started
    return out
