"""Micro-batches prepared ahead of the trainer on a background thread.

Imports neither torch nor jax.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from soma_console.training.data_stream import StreamState, TrainStream

T = TypeVar("T")


@dataclass
class Prepared(Generic[T]):
    """One micro-batch ready for the device, and the stream position right after it."""

    batch: T
    state: StreamState


class Prefetcher(Generic[T]):
    """Prepare micro-batches on a background thread (tokenize, stack, convert, pin).

    ``convert`` turns the numpy batch into what the trainer feeds (pinned torch tensors, jax
    arrays). With ``depth`` 0 everything happens inline on the caller's thread. Errors raised by the
    producer are re-raised by :meth:`next`.
    """

    def __init__(
        self, stream: TrainStream, micro_batch: int, convert: Callable[[np.ndarray], T], depth: int = 2
    ) -> None:
        self._stream = stream
        self._micro_batch = micro_batch
        self._convert = convert
        self._depth = depth
        self._stop = threading.Event()
        self._queue: queue.Queue[Prepared[T] | BaseException] = queue.Queue(maxsize=max(1, depth))
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._run, name="soma-data-prefetch", daemon=True)
            self._thread.start()

    def _make(self) -> Prepared[T]:
        arr = self._stream.micro_batch(self._micro_batch)
        return Prepared(self._convert(arr), self._stream.snapshot())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item: Prepared[T] | BaseException = self._make()
            except BaseException as exc:
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def next(self) -> Prepared[T]:
        if self._thread is None:
            return self._make()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
