"""Writing checkpoints: streamed safetensors, hashed on the way out, each file atomic.

The weights are written tensor by tensor straight into the temp file (never a whole second copy
of a 4.8 GB model in memory), and sha256 + blake2b-256 are computed over exactly the bytes written,
so the manifest's hashes need no re-read. Framework-neutral: tensors arrive as numpy arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from soma_console.fsutil import atomic_writer, fsync_dir
from soma_console.training.events import PROTOCOL_VERSION
from soma_console.training.manifest import FINAL_STEM, Manifest, checkpoint_stem, write_manifest

_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
}


@dataclass(frozen=True)
class TensorEntry:
    """A tensor to write: its canonical name, shape and dtype now, its bytes only when asked."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fetch: Callable[[], np.ndarray]


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    size: int
    sha256: str
    blake2b: str


# Writes go out in pieces of at most this size; smaller tensors are gathered into one piece first.
WRITE_CHUNK = 32 << 20
_HASH_POOL: ThreadPoolExecutor | None = None
_HASH_POOL_LOCK = threading.Lock()


def _hash_pool() -> ThreadPoolExecutor:
    global _HASH_POOL
    with _HASH_POOL_LOCK:
        if _HASH_POOL is None:
            _HASH_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="soma-hash")
        return _HASH_POOL


class HashedSink:
    """Large writes to one file, hashed (sha256 and blake2b-256) over exactly the bytes written.

    Small pieces are gathered into one buffer and written together; large ones go out in
    ``WRITE_CHUNK`` slices without a copy. Both hashes run on helper threads while the current one
    writes (hashlib and file writes release the GIL), so a checkpoint is written at the speed of the
    slowest of the three rather than of their sum.
    """

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self.fh = fh
        self.path = Path(path)
        self.sha = hashlib.sha256()
        self.blake = hashlib.blake2b(digest_size=32)
        self.size = 0
        self._pending = bytearray()
        self._pool = _hash_pool()

    def put(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if not view.nbytes:
            return
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if len(view) < WRITE_CHUNK // 4:
            self._pending += view
            if len(self._pending) >= WRITE_CHUNK:
                self._flush_pending()
            return
        self._flush_pending()
        for start in range(0, len(view), WRITE_CHUNK):
            self._write(view[start : start + WRITE_CHUNK])

    def close(self) -> WrittenFile:
        self._flush_pending()
        return WrittenFile(self.path, self.size, self.sha.hexdigest(), self.blake.hexdigest())

    def _flush_pending(self) -> None:
        if self._pending:
            piece, self._pending = bytes(self._pending), bytearray()
            self._write(memoryview(piece))

    def _write(self, piece: memoryview) -> None:
        sha = self._pool.submit(self.sha.update, piece)
        blake = self._pool.submit(self.blake.update, piece)
        try:
            self.fh.write(piece)
            _test_pause(self)
        finally:
            sha.result()
            blake.result()
        self.size += len(piece)


def _test_pause(sink: HashedSink) -> None:
    """Fault injection for the crash tests: ``SOMA_CONSOLE_TEST_WRITE_PAUSE=NAME:SECONDS`` sleeps
    once, after the first piece of the file whose name contains NAME, so a test can kill the process
    while that file is half written."""
    spec = os.environ.get("SOMA_CONSOLE_TEST_WRITE_PAUSE")
    if not spec or sink.size:
        return
    name, _, seconds = spec.rpartition(":")
    if name and name in sink.path.name:
        time.sleep(float(seconds))


def safetensors_header(
    entries: Iterable[TensorEntry], metadata: dict[str, str] | None = None
) -> tuple[list[TensorEntry], bytes]:
    """The entries in file order and the header bytes (8-byte length + JSON, padded to 8 bytes)."""
    ordered = sorted(entries, key=lambda e: e.name)
    header: dict[str, object] = {}
    offset = 0
    for e in ordered:
        if e.dtype not in _DTYPES:
            raise ValueError(f"unsupported dtype {e.dtype} for {e.name}")
        nbytes = int(np.prod(e.shape, dtype=np.int64)) * e.dtype.itemsize
        header[e.name] = {
            "dtype": _DTYPES[e.dtype],
            "shape": list(e.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    return ordered, len(raw).to_bytes(8, "little") + raw


def write_safetensors(
    path: Path, entries: Iterable[TensorEntry], metadata: dict[str, str] | None = None
) -> WrittenFile:
    """Write a safetensors file atomically; tensors in name order, fetched one at a time."""
    ordered, head = safetensors_header(entries, metadata)
    with atomic_writer(path) as fh:
        sink = HashedSink(fh, Path(path))
        sink.put(head)
        for e in ordered:
            arr = np.asarray(e.fetch(), dtype=e.dtype, order="C")  # keeps 0-d arrays 0-d
            if tuple(arr.shape) != tuple(e.shape):
                raise ValueError(f"{e.name}: expected shape {e.shape}, got {arr.shape}")
            sink.put(memoryview(arr.reshape(-1).view(np.uint8)))  # type: ignore[arg-type]
        return sink.close()


def write_bytes_hashed(path: Path, data: bytes) -> WrittenFile:
    with atomic_writer(path) as fh:
        fh.write(data)
    return WrittenFile(
        Path(path),
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.blake2b(data, digest_size=32).hexdigest(),
    )


def write_blob(path: Path, writer: Callable[[Any], None]) -> None:
    """Atomically write a file produced by ``writer(fileobj)`` (resume state)."""
    with atomic_writer(path) as fh:
        writer(fh)


def link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a copy of ``src`` atomically: a hard link where possible, else a streamed copy."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.link")
    try:
        tmp.unlink(missing_ok=True)
        os.link(src, tmp)
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
        return
    except OSError:
        tmp.unlink(missing_ok=True)
    with atomic_writer(dst) as out, open(src, "rb") as inp:
        while chunk := inp.read(8 << 20):
            out.write(chunk)


@dataclass(frozen=True)
class CheckpointRecord:
    """What the trainer knows at checkpoint time (the manifest minus the file facts)."""

    step: int
    loss: float | None
    eval_loss: float | None
    eval_ce: float | None
    embedding: list[float]
    config: dict[str, object]
    architecture: str
    spec: dict[str, object]
    data_position: dict[str, object]
    framework: str
    run: str
    tokens: int


def save_checkpoint(
    checkpoint_dir: Path,
    record: CheckpointRecord,
    entries: list[TensorEntry] | None,
    state_writer: Callable[[Any], None] | None,
    *,
    weights_bytes: bytes | None = None,
    state_suffix: str = ".state.pt",
) -> tuple[Manifest, Path]:
    """Weights, then resume state, then manifest (the commit point). Returns the manifest and its path.

    Weights come as ``entries`` (streamed) or as finished safetensors ``weights_bytes``.
    """
    stem = checkpoint_stem(record.step)
    weights_path = checkpoint_dir / f"{stem}.safetensors"
    if entries is not None:
        # No metadata: the file is then byte-identical to what soma-models' own Model.save writes.
        written = write_safetensors(weights_path, entries)
    else:
        assert weights_bytes is not None
        written = write_bytes_hashed(weights_path, weights_bytes)
    state_name = None
    if state_writer is not None:
        state_name = f"{stem}{state_suffix}"
        write_blob(checkpoint_dir / state_name, state_writer)
    manifest = _manifest(record, weights_path.name, written, state_name, final=False)
    manifest_path = checkpoint_dir / f"{stem}.json"
    write_manifest(manifest_path, manifest)
    return manifest, manifest_path


def publish_final(checkpoint_dir: Path, manifest: Manifest) -> tuple[Manifest, Path]:
    """``model-final.safetensors`` (+ manifest) from a complete checkpoint."""
    src = checkpoint_dir / manifest.weights
    dst = checkpoint_dir / f"{FINAL_STEM}.safetensors"
    link_or_copy(src, dst)
    final = Manifest.from_dict(
        {**manifest.__dict__, "weights": dst.name, "final": True, "state": manifest.state}
    )
    path = checkpoint_dir / f"{FINAL_STEM}.json"
    write_manifest(path, final)
    return final, path


def _manifest(
    record: CheckpointRecord, weights: str, written: WrittenFile, state: str | None, *, final: bool
) -> Manifest:
    return Manifest(
        step=record.step,
        weights=weights,
        loss=record.loss,
        eval_loss=record.eval_loss,
        eval_ce=record.eval_ce,
        embedding=[float(x) for x in record.embedding],
        embedding_dim=len(record.embedding),
        config=dict(record.config),
        architecture=record.architecture,
        spec=dict(record.spec),
        data_position=dict(record.data_position),
        framework=record.framework,
        created=time.time(),
        size=written.size,
        sha256=written.sha256,
        blake2b=written.blake2b,
        protocol_version=PROTOCOL_VERSION,
        state=state,
        final=final,
        run=record.run,
        tokens=record.tokens,
    )
