"""Where training documents come from: a :class:`Source` of ordered parts, each streaming documents.

A part yields ``(key, bytes, cursor-after)`` from a JSON-able cursor, so a run can stop anywhere and
continue at the same document: :class:`RawFilePart` reads a file block by block,
:class:`DatasetPart` streams the rows of a ``datasets`` loader (hub or local files). Which parts a
``TrainSpec.data`` value means is decided in :mod:`soma_console.training.data_open`.

Imports neither torch nor jax.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.errors import UserError

BLOCK_BYTES = 1 << 20  # raw files and packed text are cut into documents of at most this size


class DataError(UserError):
    """The data source cannot feed a run (missing, empty, unreadable)."""


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
        return plain_row_bytes(row)

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
            raise DataError(f"cannot open {self.label}: {one_line(exc)}.") from None

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
                raise DataError(f"cannot read {self.label}: {one_line(exc)}.") from None
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


def plain_row_bytes(row: Any) -> bytes:
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


def one_line(exc: BaseException) -> str:
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
