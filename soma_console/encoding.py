"""Small encodings the chain uses: Base58 (Bitcoin alphabet), hex ids, ULEB128."""

from __future__ import annotations

from soma_console.errors import UserError

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Base58 with the Bitcoin alphabet; each leading zero byte becomes '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    text = text.strip()
    n = 0
    for ch in text:
        try:
            n = n * 58 + _INDEX[ch]
        except KeyError:
            raise ValueError(f"not Base58: unexpected character {ch!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def uleb128(n: int) -> bytes:
    if n < 0:
        raise ValueError("uleb128 of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def normalize_model_id(model_id: str) -> str:
    """Model ids are 32-byte hex; accept them with or without 0x, any case; return 0x + lower."""
    raw = model_id.strip().lower()
    if raw.startswith("0x"):
        raw = raw[2:]
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise UserError(
            f"{model_id!r} is not a model id.",
            hint="A model id is 0x followed by 64 hex digits; `soma-console models` lists them.",
        )
    return "0x" + raw


def normalize_address(address: str) -> str:
    """Addresses are 32-byte hex; the chain shows owners without 0x. Return lower hex, no 0x."""
    raw = address.strip().lower()
    if raw.startswith("0x"):
        raw = raw[2:]
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise UserError(f"{address!r} is not an address.", hint="An address is 64 hex digits.")
    return raw
