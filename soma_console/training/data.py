"""Training data: documents from a source, tokenized, split, shuffled, resumable.

Sources (``TrainSpec.data``):

* ``fineweb``: ``HuggingFaceFW/fineweb`` (``sample-10BT``) streamed with ``datasets``, as the
  upstream scripts do (needs internet).
* a local file or folder: ``.jsonl``/``.json`` and ``.parquet`` through ``datasets``' local loaders
  (``streaming=True``, the ``text`` column), UTF-8 ``.txt``/``.md``/``.rst`` through the ``text``
  loader (paragraphs packed back into blocks of at most 1 MiB), anything else (binary files, text
  that is not UTF-8) read as raw bytes: the tokenizer takes bytes, so every file is data.
* ``builtin``: the running Python's own standard library sources and ``pydoc_data/topics.py``, read
  at run time, so a rehearsal needs no download and the package ships nothing large.

Every document is tokenized with ``soma_models.v1.tokenizer.tokenize``. Each resulting sequence is
held out for evaluation (and the embedding) or used for training by a hash of its document key and
chunk index, so the split is deterministic and needs no bookkeeping. Training sequences pass
through a seeded shuffle buffer. :meth:`TrainStream.snapshot` captures the exact position (source
cursor, the current document's remaining chunks, the buffer, the RNG) so a resumed run sees the
same sequences an uninterrupted one would.

Imports neither torch nor jax.
"""

from __future__ import annotations

import hashlib
import heapq
import queue
import random
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from soma_console.errors import UserError

BLOCK_BYTES = 1 << 20  # raw files and packed text are cut into documents of at most this size
FINEWEB = ("HuggingFaceFW/fineweb", "sample-10BT")
JSON_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


class DataError(UserError):
    """The data source cannot feed a run (missing, empty, unreadable)."""


# ---------------------------------------------------------------------------------------------
# Sources: ordered parts, each yielding (key, bytes, cursor-after) from a JSON-able cursor.
# ---------------------------------------------------------------------------------------------

Cursor = dict[str, Any]


class Part:
    name: str

    def documents(self, cursor: Cursor | None) -> Iterator[tuple[str, bytes, Cursor]]:
        raise NotImplementedError


@dataclass
class RawFilePart(Part):
    """A file read as bytes, block by block (streamed, never loaded whole)."""

    path: Path
    label: str

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    def documents(self, cursor: Cursor | None) -> Iterator[tuple[str, bytes, Cursor]]:
        block = int((cursor or {}).get("block", 0))
        try:
            fh = self.path.open("rb")
        except OSError as exc:
            raise DataError(
                f"cannot read {self.path}: {exc.strerror}; check the path and permissions."
            ) from None
        with fh:
            fh.seek(block * BLOCK_BYTES)
            while True:
                data = fh.read(BLOCK_BYTES)
                if not data:
                    return
                block += 1
                yield f"{self.label}:{block - 1}", data, {"block": block}


@dataclass
class DatasetPart(Part):
    """Rows of a ``datasets`` streaming loader (hub or local files)."""

    label: str
    builder: str
    config: str | None = None
    data_files: list[str] | None = None
    text_packing: bool = False
    data_dir: str | None = None
    token: str | None = field(default=None, repr=False)

    def row_bytes(self, row: Any) -> bytes:
        return _row_bytes(row)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    def _open(self) -> Any:
        try:
            from datasets import load_dataset
        except ImportError as exc:  # pragma: no cover - datasets is a hard dependency
            raise DataError(f"the datasets package is missing ({exc}); reinstall soma-console.") from None
        kwargs: dict[str, Any] = {"split": "train", "streaming": True}
        if self.data_files is not None:
            kwargs["data_files"] = self.data_files
        if self.data_dir is not None:
            kwargs["data_dir"] = self.data_dir
        if self.token is not None:
            kwargs["token"] = self.token
        if self.builder == "text":
            kwargs.update(sample_by="paragraph", keep_linebreaks=True)
        try:
            if self.config is not None:
                return load_dataset(self.builder, self.config, **kwargs)
            return load_dataset(self.builder, **kwargs)
        except Exception as exc:
            raise DataError(f"cannot open {self.label}: {_one_line(exc)}.") from None

    def documents(self, cursor: Cursor | None) -> Iterator[tuple[str, bytes, Cursor]]:
        ds = self._open()
        docs = int((cursor or {}).get("docs", 0))
        state = (cursor or {}).get("state")
        if state is not None and hasattr(ds, "load_state_dict"):
            ds.load_state_dict(state)
        elif docs:
            ds = ds.skip(docs)
        rows = iter(ds)
        packed: list[bytes] = []
        size = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except Exception as exc:
                raise DataError(f"cannot read {self.label}: {_one_line(exc)}.") from None
            data = self.row_bytes(row)
            if not data:
                continue
            if self.text_packing:
                packed.append(data)
                size += len(data)
                if size < BLOCK_BYTES:
                    continue
                data, packed, size = b"\n\n".join(packed), [], 0
            docs += 1
            yield f"{self.label}:{_row_key(row, docs)}", data, self._cursor(ds, docs)
        if packed:
            docs += 1
            yield f"{self.label}:{docs}", b"\n\n".join(packed), self._cursor(ds, docs)

    @staticmethod
    def _cursor(ds: Any, docs: int) -> Cursor:
        state = ds.state_dict() if hasattr(ds, "state_dict") else None
        return {"docs": docs, "state": state}


STACK_V2 = "bigcode/the-stack-v2-dedup"
STACK_V2_BUCKET = "softwareheritage"


@dataclass
class StackV2Part(DatasetPart):
    """The Stack v2: file metadata streamed from the hub (gated: a token that accepted its
    terms, from ``HF_TOKEN``), each file's contents read from Software Heritage's S3 bucket
    (``s3://softwareheritage/content/{blob_id}``, gzip, decoded with ``src_encoding``; AWS
    credentials from the usual environment). ``s3_endpoint`` points elsewhere (a mirror, a test)."""

    s3_endpoint: str | None = None
    bucket: str = STACK_V2_BUCKET
    _s3: Any = field(default=None, repr=False)

    def row_bytes(self, row: Any) -> bytes:
        import gzip

        if not isinstance(row, dict) or not isinstance(row.get("blob_id"), str):
            return _row_bytes(row)
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.s3_endpoint)
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=f"content/{row['blob_id']}")["Body"].read()
            raw = gzip.decompress(body)
        except Exception as exc:
            raise DataError(f"cannot read {self.label} file {row['blob_id']}: {_one_line(exc)}.") from None
        encoding = str(row.get("src_encoding") or "utf-8")
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            return raw  # the tokenizer takes bytes; keep what the file holds
        return text.encode("utf-8", errors="surrogateescape") if text.strip() else b""


def stack_v2_source(language: str | None = None, *, token: str | None = None) -> Source:
    """``stack-v2`` or ``stack-v2:LANGUAGE`` (a folder of the dataset, e.g. ``Python``)."""
    import os

    token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise DataError(
            "The Stack v2 is gated on the Hugging Face hub: set HF_TOKEN to a token of an account "
            "that accepted its terms (and AWS credentials for the Software Heritage bucket)."
        )
    label = STACK_V2 + (f"/{language}" if language else "")
    part = StackV2Part(
        label,
        STACK_V2,
        data_dir=f"data/{language}" if language else None,
        token=token,
        s3_endpoint=os.environ.get("SOMA_STACK_S3_ENDPOINT") or None,
    )
    return Source(label, [part])


def _row_bytes(row: Any) -> bytes:
    if not isinstance(row, dict):
        return b""
    value = row.get("text")
    if value is None:
        value = row.get("content")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogateescape") if value.strip() else b""
    return b""


def _row_key(row: dict[str, Any], index: int) -> str:
    for name in ("id", "uuid", "url"):
        if isinstance(row.get(name), str | int):
            return str(row[name])
    return str(index)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


@dataclass
class Source:
    """An ordered list of parts; the cursor says which part and where in it."""

    label: str
    parts: list[Part]

    def documents(self, cursor: Cursor | None = None) -> Iterator[tuple[str, bytes, Cursor]]:
        start = int((cursor or {}).get("part", 0))
        inner = (cursor or {}).get("inner")
        for index in range(start, len(self.parts)):
            part = self.parts[index]
            for key, data, after in part.documents(inner if index == start else None):
                yield key, data, {"part": index, "inner": after}
            # The next part starts fresh; a cursor at the end of this part points at it.
            inner = None


def builtin_files() -> list[Path]:
    """The offline corpus: pydoc topics (English prose) first, then stdlib sources, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files: list[Path] = []
    topics = root / "pydoc_data" / "topics.py"
    if topics.is_file():
        files.append(topics)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if _SKIP_DIRS & set(rel.parts[:-1]) or path == topics:
            continue
        files.append(path)
    return files


def open_source(data: str) -> Source:
    """Resolve ``TrainSpec.data`` into a :class:`Source` (checks local paths up front)."""
    if data == "builtin":
        root = Path(sysconfig.get_paths()["stdlib"])
        files = builtin_files()
        if not files:
            raise DataError(f"no Python standard library sources were found under {root}.")
        parts: list[Part] = [RawFilePart(p, f"builtin/{p.relative_to(root)}") for p in files]
        return Source(f"builtin (Python {sys.version.split()[0]} standard library)", parts)
    if data == "stack-v2" or data.startswith("stack-v2:"):
        return stack_v2_source(data.partition(":")[2] or None)
    if data == "fineweb":
        name, config = FINEWEB
        return Source(f"{name} ({config})", [DatasetPart(f"{name}/{config}", name, config)])
    return _local_source(Path(data).expanduser())


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    return "raw"


def _local_source(path: Path) -> Source:
    if not path.exists():
        raise DataError(f"the data path {path} does not exist; pass an existing file or folder.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        root = path
    else:
        files, root = [path], path.parent
    files = [p for p in files if _size(p) > 0]
    if not files:
        raise DataError(f"the data path {path} holds no non-empty files; add some data.")
    groups: dict[str, list[Path]] = {"json": [], "parquet": [], "text": [], "raw": []}
    for f in files:
        kind = _kind(f)
        if kind == "text" and not _is_utf8(f):
            kind = "raw"  # arrow strings cannot hold arbitrary bytes; the tokenizer can
        groups[kind].append(f)
    parts: list[Part] = []
    for kind in ("json", "parquet", "text"):
        if groups[kind]:
            parts.append(
                DatasetPart(
                    f"{path.name}/{kind}",
                    kind,
                    data_files=[str(f) for f in groups[kind]],
                    text_packing=kind == "text",
                )
            )
    parts.extend(RawFilePart(f, str(f.relative_to(root))) for f in groups["raw"])
    return Source(str(path), parts)


def _is_utf8(path: Path) -> bool:
    """Stream the file through an incremental decoder (never loads it whole)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError):
        return False
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------------
# Sequences: tokenize, split, shuffle.
# ---------------------------------------------------------------------------------------------

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
