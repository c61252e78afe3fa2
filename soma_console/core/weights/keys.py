"""Decryption keys and the commitments the chain checks at reveal.

A key is 32 random bytes (AES-256). On the chain and in the journal it travels as Base58 text,
the same form ``soma_sdk.SomaClient.encrypt_weights`` returns. In memory it is always a
:class:`~soma_console.secrets.Secret`, so no repr, log line or error message can show it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from soma_console.core import txdata
from soma_console.encoding import b58decode, b58encode
from soma_console.errors import UserError
from soma_console.fsutil import PRIVATE_FILE_MODE, atomic_write_bytes
from soma_console.secrets import Secret

KEY_LEN = 32
_KEY_FILE_MAX = 4096  # a key file is 32 raw bytes or ~44 characters; anything bigger is not one


def new_key() -> Secret:
    """A fresh random 32-byte key."""
    return Secret(os.urandom(KEY_LEN), label="decryption key")


def _raw(key: Secret) -> bytes:
    value = key.reveal()
    if isinstance(value, str):
        return key_from_b58(value).reveal()
    if not isinstance(value, bytes) or len(value) != KEY_LEN:
        raise ValueError("a decryption key must hold 32 bytes")
    return value


def raw_key(key: Secret) -> bytes:
    """The 32 raw bytes of ``key`` (which may hold raw bytes or Base58 text)."""
    return _raw(key)


def key_to_b58(key: Secret) -> Secret:
    """The Base58 text of ``key``, still a Secret (the form the journal and the SDK use)."""
    return Secret(b58encode(_raw(key)), label="decryption key")


def key_from_b58(text: str | Secret) -> Secret:
    """Parse Base58 key text; the text itself never appears in the error."""
    value = text.reveal() if isinstance(text, Secret) else text
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            value = ""
    try:
        raw = b58decode(value) if value.strip() else b""
    except ValueError:
        raw = b""  # the decoder's message quotes the offending character: part of the secret
    if len(raw) != KEY_LEN:
        raise UserError(
            "the decryption key is not Base58 text of 32 bytes.",
            hint="Use the key exactly as soma-console or the SDK printed it.",
        )
    return Secret(raw, label="decryption key")


def key_commitment(key: Secret) -> str:
    """Base58 Blake2b-256 of the 32 raw key bytes (the chain's decryption_key_commitment)."""
    return b58encode(txdata.blake2b256(_raw(key)))


def embedding_commitment(values: Sequence[float]) -> str:
    """Base58 of the chain's embedding commitment (Blake2b-256 of the BCS f32 tensor)."""
    return b58encode(txdata.embedding_commitment(values))


def read_key_file(path: Path) -> Secret:
    """Load a key file holding Base58 text or the 32 raw bytes. Errors never quote the file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_KEY_FILE_MAX + 1)
    except IsADirectoryError:
        raise UserError(f"the key file {path} is a directory.", hint="Name a key file.") from None
    except OSError as exc:
        raise UserError(f"cannot read the key file {path} ({exc.strerror}).") from None
    if len(data) <= _KEY_FILE_MAX:
        try:
            return key_from_b58(data.decode("ascii"))
        except (UnicodeDecodeError, UserError):
            pass
        if len(data) == KEY_LEN:
            return Secret(data, label="decryption key")
    raise UserError(
        f"the key file {path} holds neither 32 raw bytes nor the Base58 text of a 32-byte key.",
        hint="Point --key-file at a key soma-console wrote, or at a path that does not exist yet.",
    )


def write_key_file(path: Path, key: Secret) -> None:
    """Write ``key`` as Base58 text to a new file, mode 0600, atomically; never overwrite one."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise UserError(f"the key file {path} already exists; it was not overwritten.")
    if not path.parent.is_dir():
        raise UserError(f"the directory {path.parent} does not exist.", hint="Create it first.")
    text = key_to_b58(key).reveal()
    atomic_write_bytes(path, (text + "\n").encode("ascii"), mode=PRIVATE_FILE_MODE)
