"""Bytes to the chain's fixed-length sequences, vectorised with numpy.

The data is cut into ``ceil(len / 1024)`` chunks. Bytes are tokens 0-255 at their absolute
offset in the data. A final chunk shorter than 1024 gets one EOS right after the data and PAD
after that; EOS and PAD positions all read ``chunk start + chunk length``. The targets are the
tokens shifted left by one with PAD appended. Sequences are scored in batches of 16, in order;
the last batch may be shorter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from soma_console.scoring.arch import BATCH_SIZE, EOS_TOKEN, PAD_TOKEN, SEQ_LEN


@dataclass(frozen=True)
class Sequences:
    """``[n, seq_len]`` int64 arrays: inputs, next-token targets and absolute positions."""

    token_ids: np.ndarray
    targets: np.ndarray
    pos_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.token_ids.shape[0])

    def batches(self, batch_size: int = BATCH_SIZE) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for start in range(0, len(self), batch_size):
            end = start + batch_size
            yield self.token_ids[start:end], self.targets[start:end], self.pos_ids[start:end]

    def batch_count(self, batch_size: int = BATCH_SIZE) -> int:
        return -(-len(self) // batch_size)


def tokenize(data: bytes | bytearray | memoryview, seq_len: int = SEQ_LEN) -> Sequences:
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    n = raw.size
    chunks = -(-n // seq_len)
    flat = np.full(chunks * seq_len, PAD_TOKEN, dtype=np.int64)
    flat[:n] = raw
    tokens = flat.reshape(chunks, seq_len)
    offsets = np.arange(chunks * seq_len, dtype=np.int64).reshape(chunks, seq_len)
    pos = np.minimum(offsets, n)  # only the final chunk has cells past the data
    tail = n - (chunks - 1) * seq_len if chunks else 0
    if chunks and tail < seq_len:
        tokens[-1, tail] = EOS_TOKEN
    targets = np.empty_like(tokens)
    targets[:, :-1] = tokens[:, 1:]
    targets[:, -1] = PAD_TOKEN
    return Sequences(tokens, targets, pos)
