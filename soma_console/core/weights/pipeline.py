"""One streamed pass over a weights file: NaN/Inf scan, both hashes, AES-256-CTR, hand-off.

The reading thread fills a small ring of chunk buffers and encrypts each chunk (AES-NI runs at
several GB/s, far ahead of everything else). Four single-thread workers then take each chunk in
file order: Blake2b of the plaintext, Blake2b of the ciphertext, the NaN/Inf scan and the sink
(a file, an upload). hashlib, numpy and socket writes release the GIL on large buffers, so on a
machine with two or more cores the pass runs at about the speed of one Blake2b, not of the sum of
the steps. A slot of the ring is refilled only when all four are done with it, so memory stays at
``slots * 2 * chunk_size`` however large the file is.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from soma_console.core.weights.keys import raw_key
from soma_console.core.weights.safetensors import TensorInfo
from soma_console.core.weights.stream import read_full
from soma_console.secrets import Secret

CHUNK = 2 << 20
SLOTS = 4
_INITIAL_COUNTER = bytes(16)
# Bits that are all ones exactly when a float is NaN or +-Inf, per dtype (as unsigned ints).
EXPONENT_MASKS: dict[str, tuple[str, int]] = {
    "F64": ("<u8", 0x7FF0_0000_0000_0000),
    "F32": ("<u4", 0x7F80_0000),
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
}

#: ``sink(chunk)``: called once per chunk, in file order, always on the same thread. The view is
#: only valid during the call (its buffer is reused afterwards).
Sink = Callable[[memoryview], Any]
#: ``progress(bytes_done, total)``: from the reading thread, once per chunk.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PassResult:
    size: int
    in_digest: bytes  # Blake2b-256 of the plaintext
    out_digest: bytes  # Blake2b-256 of the ciphertext
    nonfinite: dict[str, int]  # tensor name -> NaN/Inf count (only tensors that have some)
    seconds: float


class NonfiniteScan:
    """Counts NaN/Inf per float tensor over chunks given in any grouping of the file.

    Elements that straddle a chunk boundary are kept as fragments and checked at the end.
    """

    def __init__(self, tensors: dict[str, TensorInfo], data_start: int) -> None:
        self._spans: list[tuple[int, int, TensorInfo, str, int, int]] = []
        for t in sorted(tensors.values(), key=lambda t: t.begin):
            spec = EXPONENT_MASKS.get(t.dtype)
            if spec is None or t.end == t.begin:
                continue
            dtype, mask = spec
            item = int(dtype[-1])
            self._spans.append((data_start + t.begin, data_start + t.end, t, dtype, mask, item))
        self.counts: dict[str, int] = {}
        self._fragments: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
        self._next = 0  # index of the first span that may still overlap later chunks

    def feed(self, offset: int, data: memoryview) -> None:
        """Scan ``data``, the bytes of the file at ``offset``; chunks must come in file order."""
        import numpy as np

        end = offset + len(data)
        i = self._next
        while i < len(self._spans):
            start, stop, t, dtype, mask, item = self._spans[i]
            if start >= end:
                break
            lo, hi = max(start, offset), min(stop, end)
            if lo < hi:
                first = start + -(-(lo - start) // item) * item  # first whole element in range
                last = start + (hi - start) // item * item
                if first > lo:
                    self._fragment(t.name, first - item, lo, data[lo - offset : min(first, hi) - offset])
                if last < hi and last >= first:
                    self._fragment(t.name, last, last, data[last - offset : hi - offset])
                if last > first:
                    values = np.frombuffer(data[first - offset : last - offset], dtype=dtype)
                    bad = int(np.count_nonzero((values & mask) == mask))
                    if bad:
                        self.counts[t.name] = self.counts.get(t.name, 0) + bad
            if stop <= end:
                self._next = i + 1
            i += 1

    def _fragment(self, name: str, element: int, at: int, piece: memoryview) -> None:
        self._fragments.setdefault((name, element), []).append((at, bytes(piece)))

    def finish(self) -> dict[str, int]:
        import numpy as np

        masks = {t.name: (dtype, mask) for _s, _e, t, dtype, mask, _i in self._spans}
        for (name, _element), pieces in self._fragments.items():
            raw = b"".join(p for _at, p in sorted(pieces))
            dtype, mask = masks[name]
            if len(raw) == np.dtype(dtype).itemsize:
                value = np.frombuffer(raw, dtype=dtype)
                if int(np.count_nonzero((value & mask) == mask)):
                    self.counts[name] = self.counts.get(name, 0) + 1
        self._fragments.clear()
        return dict(self.counts)


def encrypt_stream(
    inp: IO[bytes],
    total: int,
    key: Secret,
    *,
    sink: Sink | None = None,
    scan: NonfiniteScan | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
    slots: int = SLOTS,
    stop: threading.Event | None = None,
) -> PassResult:
    """Encrypt everything ``inp`` yields (``total`` is its expected size, for progress only).

    ``sink`` receives the ciphertext; ``scan`` (if given) sees the plaintext. An exception in any
    worker stops the pass and is raised here; ``stop`` (set from another thread) does the same
    with :class:`InterruptedError`.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    started = time.perf_counter()
    ctx = Cipher(algorithms.AES(raw_key(key)), modes.CTR(_INITIAL_COUNTER)).encryptor()
    h_in, h_out = hashlib.blake2b(digest_size=32), hashlib.blake2b(digest_size=32)
    ins = [bytearray(chunk_size) for _ in range(slots)]
    outs = [bytearray(chunk_size + 15) for _ in range(slots)]  # update_into wants block - 1 spare
    busy: list[list[Future[Any]]] = [[] for _ in range(slots)]
    names = ("plain-hash", "cipher-hash", "scan", "sink")
    pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"weights-{n}") for n in names]
    plain_pool, cipher_pool, scan_pool, sink_pool = pools
    done = 0
    try:
        k = 0
        while True:
            for f in busy[k]:
                f.result()  # the slot's previous chunk is finished everywhere (raises its error)
            if stop is not None and stop.is_set():
                raise InterruptedError("the pass was stopped")
            n = read_full(inp, memoryview(ins[k]))
            if n == 0:
                break
            plain = memoryview(ins[k])[:n]
            ctx.update_into(plain, outs[k])
            cipher = memoryview(outs[k])[:n]
            jobs = [plain_pool.submit(h_in.update, plain), cipher_pool.submit(h_out.update, cipher)]
            if scan is not None:
                jobs.append(scan_pool.submit(scan.feed, done, plain))
            if sink is not None:
                jobs.append(sink_pool.submit(sink, cipher))
            busy[k] = jobs
            done += n
            if progress is not None:
                progress(done, max(total, done))
            k = (k + 1) % slots
        for jobs in busy:
            for f in jobs:
                f.result()
        ctx.finalize()
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    nonfinite = scan.finish() if scan is not None else {}
    return PassResult(done, h_in.digest(), h_out.digest(), nonfinite, time.perf_counter() - started)


def open_source(path: Path) -> IO[bytes]:
    return open(path, "rb", buffering=0)
