"""The training stream: held-in sequences in a seeded shuffle, cycling over the source, resumable.

:meth:`TrainStream.snapshot` captures the exact position (source cursor, the current document's
remaining chunks, the shuffle buffer, the RNG) so a resumed run sees the same sequences an
uninterrupted one would.

Imports neither torch nor jax.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from soma_console.training.data_heldout import HeldOut, Sequence, tokenize_doc
from soma_console.training.data_sources import Cursor, DataError, Source


@dataclass
class StreamState:
    """A resumable position: everything needed to continue exactly where a snapshot was taken.

    The current document's unserved chunks are not stored: ``doc_cursor`` points at that document
    and ``pending`` says how many of its training chunks were still to come, so a resume
    re-tokenizes one document instead of carrying megabytes of chunks in the state file.
    """

    cursor: Cursor | None  # after the current document
    doc_cursor: Cursor | None  # before it
    pending: int
    epoch: int
    served: int
    docs: int
    buffer: list[Sequence]
    rng: Any

    def position(self) -> dict[str, Any]:
        """The JSON part (recorded in manifests); the buffer lives in the resume state file."""
        return {
            "cursor": self.cursor,
            "doc_cursor": self.doc_cursor,
            "pending": self.pending,
            "epoch": self.epoch,
            "sequences": self.served,
            "documents": self.docs,
        }


class TrainStream:
    """Training sequences in shuffled order, cycling over the source forever."""

    def __init__(
        self,
        source: Source,
        seq_len: int,
        heldout: HeldOut,
        seed: int,
        buffer_size: int,
        state: StreamState | None = None,
    ) -> None:
        self.source = source
        self.seq_len = seq_len
        self.heldout = heldout
        self.buffer_size = buffer_size
        self._rng = random.Random(seed)
        self._cursor: Cursor | None = None
        self._doc_cursor: Cursor | None = None
        self._epoch = 0
        self._served = 0
        self._docs = 0
        self._pending: list[Sequence] = []
        self._buffer: list[Sequence] = []
        self._docs_iter: Iterator[tuple[str, bytes, Cursor]] | None = None
        if state is not None:
            self._restore(state)

    def _restore(self, state: StreamState) -> None:
        self._cursor, self._doc_cursor = state.cursor, state.doc_cursor
        self._epoch, self._served, self._docs = state.epoch, state.served, state.docs
        self._buffer = list(state.buffer)
        self._rng.setstate(_rng_state_from_json(state.rng))
        if state.pending:
            self._docs_iter = self.source.documents(state.doc_cursor)
            key, data, after = next(self._docs_iter)
            seqs = self._training_chunks(key, data)
            self._pending = seqs[::-1][: state.pending]
            self._cursor = after

    def snapshot(self) -> StreamState:
        # The buffer list is copied (its arrays are never mutated), so a snapshot is cheap.
        return StreamState(
            self._cursor,
            self._doc_cursor,
            len(self._pending),
            self._epoch,
            self._served,
            self._docs,
            list(self._buffer),
            _rng_state_to_json(self._rng.getstate()),
        )

    def _training_chunks(self, key: str, data: bytes) -> list[Sequence]:
        return [s for i, s in enumerate(tokenize_doc(data, self.seq_len)) if not self.heldout(key, i)]

    def _refill_pending(self) -> bool:
        """Tokenize the next document with training chunks; False once a whole epoch yields nothing."""
        restarts = 0
        while True:
            if self._docs_iter is None:
                self._docs_iter = self.source.documents(self._cursor)
            try:
                key, data, after = next(self._docs_iter)
            except StopIteration:
                self._docs_iter = None
                self._cursor = None
                self._epoch += 1
                restarts += 1
                if restarts > 1:
                    return False
                continue
            self._doc_cursor, self._cursor = self._cursor, after
            self._docs += 1
            seqs = self._training_chunks(key, data)
            if seqs:
                # Reversed so that pop() serves the document's chunks in order.
                self._pending = seqs[::-1]
                return True

    def __iter__(self) -> Iterator[Sequence]:
        return self

    def __next__(self) -> Sequence:
        while len(self._buffer) < self.buffer_size:
            if not self._pending and not self._refill_pending():
                if not self._buffer:
                    raise DataError(
                        f"the data source {self.source.label} has no training data left after the "
                        "held-out split; add more data."
                    )
                break
            self._buffer.append(self._pending.pop())
        index = self._rng.randrange(len(self._buffer))
        self._buffer[index], self._buffer[-1] = self._buffer[-1], self._buffer[index]
        seq = self._buffer.pop()
        self._served += 1
        return seq

    def micro_batch(self, size: int) -> np.ndarray:
        """``size`` sequences stacked: int32 [size, 3, seq_len]."""
        return np.stack([next(self) for _ in range(size)])


def _rng_state_to_json(state: Any) -> Any:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(state: Any) -> Any:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
