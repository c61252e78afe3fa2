"""Tokenized sequences and the held-out split: which sequences evaluate and never train.

Every document is tokenized with ``soma_models.v1.tokenizer.tokenize``. Each resulting sequence is
held out for evaluation (and the embedding) or used for training by a hash of its document key and
chunk index, so the split is deterministic and needs no bookkeeping.

Imports neither torch nor jax.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass

import numpy as np

from soma_console.training.data_sources import DataError, Source

Sequence = np.ndarray  # int32 [3, seq_len]: token_ids, targets, pos_ids


def tokenize_doc(data: bytes, seq_len: int) -> list[Sequence]:
    from soma_models.v1.tokenizer import tokenize

    return [
        np.array((s.token_ids, s.targets, s.pos_ids), dtype=np.int32)
        for s in tokenize(data, max_seq_len=seq_len)
    ]


def chunk_hash(key: str, index: int) -> float:
    """A uniform number in [0, 1) fixed by the document key and chunk index."""
    digest = hashlib.blake2b(f"{key}#{index}".encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


@dataclass(frozen=True)
class HeldOut:
    """Which sequences never train: those hashing under ``fraction``, plus ``extra`` keys."""

    fraction: float
    extra: frozenset[str] = frozenset()

    def __call__(self, key: str, index: int) -> bool:
        return chunk_hash(key, index) < self.fraction or f"{key}#{index}" in self.extra


def heldout_set(source: Source, seq_len: int, fraction: float, count: int) -> tuple[list[Sequence], HeldOut]:
    """The first ``count`` held-out sequences of the source, in source order.

    A source too small to have any chunk under the hash threshold gives up its lowest-hashing
    chunks instead (at most a tenth of it), so a single small file still gets an evaluation.
    """
    split = HeldOut(fraction)
    found: list[Sequence] = []
    lowest: list[tuple[float, int, str, Sequence]] = []  # max-heap by -hash of the smallest hashes
    total = 0
    for key, data, _ in source.documents():
        for index, seq in enumerate(tokenize_doc(data, seq_len)):
            total += 1
            if split(key, index):
                found.append(seq)
                if len(found) >= count:
                    return found, split
            elif not found:
                item = (-chunk_hash(key, index), total, f"{key}#{index}", seq)
                if len(lowest) < count:
                    heapq.heappush(lowest, item)
                elif item > lowest[0]:
                    heapq.heapreplace(lowest, item)
    if found:
        return found, split
    if total < 2:
        raise DataError(
            f"the data source {source.label} is too small to train on ({total} sequence); add more data."
        )
    keep = max(1, min(count, total // 10))
    chosen = sorted(lowest, reverse=True)[:keep]
    chosen.sort(key=lambda item: item[1])
    return [c[3] for c in chosen], HeldOut(fraction, frozenset(c[2] for c in chosen))
