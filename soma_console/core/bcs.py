"""Binary Canonical Serialization (BCS): the byte format SOMA hashes and signs.

Only what the chain's transaction and object types need: fixed-width little-endian integers,
ULEB128 lengths and enum tags, byte strings, UTF-8 strings, options and sequences.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from soma_console.encoding import uleb128

T = TypeVar("T")

U64_MAX = (1 << 64) - 1


class BcsError(ValueError):
    """Bytes that are not a valid encoding of the expected type."""


class Writer:
    """Appends BCS encodings to a growing buffer."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def to_bytes(self) -> bytes:
        return bytes(self._buf)

    def raw(self, data: bytes) -> Writer:
        """Fixed-size data (addresses, ids): written as is, no length."""
        self._buf += data
        return self

    def u8(self, n: int) -> Writer:
        self._buf += struct.pack("<B", n)
        return self

    def u32(self, n: int) -> Writer:
        self._buf += struct.pack("<I", n)
        return self

    def u64(self, n: int) -> Writer:
        if not 0 <= n <= U64_MAX:
            raise BcsError(f"{n} does not fit in a u64")
        self._buf += struct.pack("<Q", n)
        return self

    def f32(self, x: float) -> Writer:
        self._buf += struct.pack("<f", x)
        return self

    def uleb(self, n: int) -> Writer:
        self._buf += uleb128(n)
        return self

    def var_bytes(self, data: bytes) -> Writer:
        """A byte vector: ULEB128 length, then the bytes."""
        self.uleb(len(data))
        self._buf += data
        return self

    def string(self, text: str) -> Writer:
        return self.var_bytes(text.encode("utf-8"))

    def option(self, value: T | None, write: Callable[[T], object]) -> Writer:
        if value is None:
            self.u8(0)
        else:
            self.u8(1)
            write(value)
        return self

    def seq(self, items: Sequence[T], write: Callable[[T], object]) -> Writer:
        self.uleb(len(items))
        for item in items:
            write(item)
        return self


class Reader:
    """Reads BCS values from a byte string; every read checks bounds."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise BcsError(f"unexpected end of data (wanted {n} bytes at offset {self._pos})")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def u8(self) -> int:
        return int(self._take(1)[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self._take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self._take(8))[0])

    def f32(self) -> float:
        return float(struct.unpack("<f", self._take(4))[0])

    def uleb(self) -> int:
        value = 0
        shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise BcsError("ULEB128 value is too long")
        if value > 0xFFFFFFFF:
            raise BcsError("ULEB128 length or tag does not fit in 32 bits")
        return value

    def var_bytes(self) -> bytes:
        return self._take(self.uleb())

    def string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise BcsError("string is not UTF-8") from None

    def option(self, read: Callable[[], T]) -> T | None:
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return read()
        raise BcsError(f"invalid option tag {tag}")

    def seq(self, read: Callable[[], T]) -> list[T]:
        n = self.uleb()
        if n > self.remaining:  # every element takes at least one byte
            raise BcsError(f"sequence of {n} elements cannot fit in {self.remaining} bytes")
        return [read() for _ in range(n)]

    def finish(self) -> None:
        if self.remaining:
            raise BcsError(f"{self.remaining} trailing bytes")
