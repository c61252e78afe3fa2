"""Reading and validating a safetensors header without loading a single tensor.

The format: an 8-byte little-endian header length N, N bytes of JSON (an object mapping each
tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` plus an optional
``"__metadata__"`` of strings), then the data section. Offsets are relative to the data section;
the tensors must tile it exactly, with no gap, overlap or trailing byte (the rules the
``safetensors`` library enforces when it loads a file). Shared by ``weights check`` and the
devnet's post-reveal check.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soma_console.errors import UserError

MAX_HEADER = 100 * 1024 * 1024  # the format's own limit; a V1 header is ~30 KB
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


class HeaderError(ValueError):
    """The header parses but does not describe a loadable file."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # relative to the data section
    end: int

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Header:
    """A parsed header: the raw JSON object and where the data section starts."""

    raw: dict[str, Any]
    data_start: int  # 8 + N
    file_size: int

    @property
    def data_len(self) -> int:
        return self.file_size - self.data_start


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise HeaderError(f"the header names {k!r} twice")
        out[k] = v
    return out


def decode_header_json(raw: bytes) -> dict[str, Any]:
    """The header's JSON object; ``HeaderError`` when it is not one."""
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except HeaderError:
        raise
    except (UnicodeDecodeError, ValueError):
        raise HeaderError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise HeaderError("the header is not a JSON object")
    return header


def read_header(path: Path) -> Header:
    """Read just the header of ``path``. Anything that is not safetensors is a :class:`UserError`."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(0)
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise UserError(f"{path} is not a safetensors file (it is only {size} bytes long).")
            (n,) = struct.unpack("<Q", prefix)
            if n > MAX_HEADER:
                raise UserError(
                    f"{path} is not a safetensors file (it starts with an impossible header length)."
                )
            if n > size - 8:
                raise UserError(
                    f"{path} is not a safetensors file, or a truncated one: it ends inside its header."
                )
            raw = fh.read(n)
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a safetensors file.") from None
    except FileNotFoundError:
        raise UserError(f"the weights file {path} does not exist.") from None
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror}).") from None
    try:
        header = decode_header_json(raw)
    except HeaderError as exc:
        raise UserError(f"{path} is not a safetensors file ({exc}).") from None
    return Header(raw=header, data_start=8 + n, file_size=size)


def _tensor(name: str, info: Any) -> TensorInfo:
    if not isinstance(info, dict):
        raise HeaderError(f"tensor {name} has no description")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise HeaderError(f"tensor {name} has an unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise HeaderError(f"tensor {name} has an invalid shape")
    if any(d < 0 for d in shape):
        raise HeaderError(f"tensor {name} has a negative dimension")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise HeaderError(f"tensor {name} has invalid data offsets")
    begin, end = offsets
    t = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), begin=begin, end=end)
    if begin < 0 or end < begin:
        raise HeaderError(f"tensor {name} has invalid data offsets [{begin}, {end}]")
    if end - begin != t.count * DTYPE_BYTES[dtype]:
        raise HeaderError(f"tensor {name}'s byte range does not match its shape")
    return t


def validate(header: dict[str, Any], data_len: int) -> dict[str, TensorInfo]:
    """Check every tensor description against the data section; ``HeaderError`` on the first flaw."""
    meta = header.get("__metadata__")
    if meta is not None and (
        not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
    ):
        raise HeaderError("the header's __metadata__ is not a map of strings")
    tensors = {name: _tensor(name, info) for name, info in header.items() if name != "__metadata__"}
    cursor = 0
    prev: TensorInfo | None = None
    for t in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if t.begin < cursor:
            assert prev is not None
            raise HeaderError(f"tensors {prev.name} and {t.name} overlap")
        if t.begin > cursor:
            raise HeaderError(f"there are {t.begin - cursor} unused bytes before tensor {t.name}")
        cursor, prev = t.end, t
    if cursor > data_len:
        raise HeaderError(
            f"the tensors cover {cursor} bytes but the file holds only {data_len} (it is truncated)"
        )
    if cursor < data_len:
        raise HeaderError(f"the tensors cover {cursor} bytes but the file holds {data_len}")
    return tensors
