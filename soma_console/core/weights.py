"""Weights files: validate, encrypt and decrypt them in one streaming pass each.

Encryption is what the chain expects (and what ``SomaClient.encrypt_weights`` does): AES-256-CTR
with a 16-byte all-zero initial counter block; the weights commitment and the manifest checksum
are Blake2b-256 of the *encrypted* bytes; the key commitment is Blake2b-256 of the 32 raw key
bytes. Files are read in chunks and written atomically (temp file, fsync, rename, mode 0600), so
a 4 GB checkpoint never sits in memory and a crash never leaves a half-written output.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.core import txdata
from soma_console.core.encoding import b58decode, b58encode
from soma_console.errors import UserError
from soma_console.fsutil import atomic_writer
from soma_console.secrets import Secret

KEY_BYTES = 32
CHUNK = 4 << 20
MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit
V1_DIMS = {"embedding_dim": 2048, "num_layers": 24, "ffn_dim": 8192, "vocab_size": 264}
_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}

Progress = Callable[[int, int], None]


def new_key() -> Secret:
    return Secret(os.urandom(KEY_BYTES), label="decryption key")


def _raw(key: Secret) -> bytes:
    value = key.reveal()
    raw = value if isinstance(value, bytes) else b58decode(str(value))
    if len(raw) != KEY_BYTES:
        raise UserError("the decryption key is not 32 bytes.")
    return raw


def key_to_b58(key: Secret) -> Secret:
    return Secret(b58encode(_raw(key)), label="decryption key")


def key_from_b58(text: str | Secret) -> Secret:
    value = text.reveal() if isinstance(text, Secret) else text
    try:
        raw = b58decode(str(value).strip())
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise UserError("the decryption key is not the Base58 form of 32 bytes.")
    return Secret(raw, label="decryption key")


def key_commitment(key: Secret) -> str:
    return b58encode(hashlib.blake2b(_raw(key), digest_size=32).digest())


def embedding_commitment(values: Sequence[float]) -> str:
    return b58encode(txdata.embedding_commitment(values))


def _cipher(key: Secret) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(_raw(key)), modes.CTR(bytes(16)))


@dataclass(frozen=True)
class EncryptedWeights:
    path: Path
    size: int
    commitment: str  # Base58 Blake2b-256 of the ciphertext (the manifest checksum)
    checksum: bytes
    source_size: int
    source_digest: str  # Blake2b-256 hex of the plaintext


def _open_source(src: Path) -> Any:
    try:
        if src.is_dir():
            raise UserError(f"{src} is a directory, not a weights file.")
        return src.open("rb")
    except FileNotFoundError:
        raise UserError(f"there is no file at {src}.") from None
    except OSError as exc:
        raise UserError(f"cannot read {src}: {exc.strerror}.") from None


def _transform(
    src: Path, dst: Path, key: Secret, chunk_size: int, progress: Progress | None
) -> tuple[int, bytes, bytes]:
    if Path(dst).resolve() == Path(src).resolve():
        raise UserError("the output file must differ from the input.", hint="Pass another --out path.")
    if not dst.parent.is_dir():
        raise UserError(f"the folder {dst.parent} does not exist.", hint="Create it or pick another --out.")
    total = src.stat().st_size if src.exists() else 0
    crypt = _cipher(key).encryptor()  # CTR: encrypting and decrypting are the same operation
    h_in = hashlib.blake2b(digest_size=32)
    h_out = hashlib.blake2b(digest_size=32)
    done = 0
    with _open_source(src) as fin, atomic_writer(dst, mode=0o600) as fout:
        while chunk := fin.read(chunk_size):
            out = crypt.update(chunk)
            h_in.update(chunk)
            h_out.update(out)
            fout.write(out)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        tail = crypt.finalize()
        if tail:
            h_out.update(tail)
            fout.write(tail)
    return done, h_in.digest(), h_out.digest()


def encrypt_file(
    src: Path, dst: Path, key: Secret, *, chunk_size: int = CHUNK, progress: Progress | None = None
) -> EncryptedWeights:
    size, plain_hash, cipher_hash = _transform(Path(src), Path(dst), key, chunk_size, progress)
    return EncryptedWeights(
        path=Path(dst),
        size=size,
        commitment=b58encode(cipher_hash),
        checksum=cipher_hash,
        source_size=size,
        source_digest=plain_hash.hex(),
    )


def decrypt_file(
    src: Path, dst: Path, key: Secret, *, chunk_size: int = CHUNK, progress: Progress | None = None
) -> int:
    size, _, _ = _transform(Path(src), Path(dst), key, chunk_size, progress)
    return size


def file_digest(path: Path, chunk_size: int = CHUNK) -> str:
    h = hashlib.blake2b(digest_size=32)
    with _open_source(Path(path)) as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class WeightsReport:
    path: Path
    size: int
    architecture: str | None  # "v1", "small" (V1 family, other dims) or None
    config: dict[str, int] = field(default_factory=dict)
    tensors: int = 0
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "architecture": self.architecture,
            "config": self.config,
            "tensors": self.tensors,
            "problems": list(self.problems),
            "ok": self.ok,
        }


def read_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """(header, header length, file size) of a safetensors file, reading only its header."""
    with _open_source(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"{path.name} is not a safetensors file (it is {size} bytes long).")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise UserError(f"{path.name} is not a safetensors file (its header length is implausible).")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path.name} is not a safetensors file (its header is not JSON).") from None
    if not isinstance(header, dict):
        raise UserError(f"{path.name} is not a safetensors file (its header is not a JSON object).")
    return header, n, size


def _layout_problems(tensors: dict[str, Any], data_len: int) -> list[str]:
    problems: list[str] = []
    spans = []
    for name, info in tensors.items():
        if not isinstance(info, dict):
            problems.append(f"tensor {name} has no description")
            continue
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPE_BYTES or not isinstance(shape, list) or not isinstance(offsets, list):
            problems.append(f"tensor {name} has an invalid description")
            continue
        count = 1
        for d in shape:
            count *= d if isinstance(d, int) and d >= 0 else -1
        if len(offsets) != 2 or count < 0 or offsets[1] - offsets[0] != count * _DTYPE_BYTES[dtype]:
            problems.append(f"tensor {name}'s byte range does not match its shape")
            continue
        spans.append((offsets[0], offsets[1]))
    cursor = 0
    for begin, end in sorted(spans):
        if begin != cursor:
            problems.append("the tensors' byte ranges overlap or leave gaps")
            break
        cursor = end
    if not problems and cursor != data_len:
        problems.append(
            f"the tensors cover {cursor} bytes but the file holds {data_len} (truncated or padded)"
        )
    return problems


def _v1_family(tensors: dict[str, Any]) -> tuple[str | None, dict[str, int], list[str]]:
    emb = tensors.get("embedding.weight")
    inner = tensors.get("encoder.layers.0.pwff.linear_inner.weight")
    if not isinstance(emb, dict) or not isinstance(inner, dict) or len(emb.get("shape", [])) != 2:
        return None, {}, []
    layers = {
        int(k.split(".")[2]) for k in tensors if k.startswith("encoder.layers.") and k.split(".")[2].isdigit()
    }
    dims = {
        "vocab_size": int(emb["shape"][0]),
        "embedding_dim": int(emb["shape"][1]),
        "num_layers": len(layers),
        "ffn_dim": int(inner["shape"][-1])
        if inner["shape"][-1] != emb["shape"][1]
        else int(inner["shape"][0]),
    }
    problems = []
    d = dims["embedding_dim"]
    for i in sorted(layers):
        prefix = f"encoder.layers.{i}."
        for name, info in tensors.items():
            if name.startswith(prefix) and isinstance(info, dict):
                shape = info.get("shape") or []
                if shape and d not in shape and dims["ffn_dim"] not in shape:
                    problems.append(f"tensor {name} has shape {shape}, which does not fit embedding_dim {d}")
    if any(info.get("dtype") != "F32" for info in tensors.values() if isinstance(info, dict)):
        problems.append("the on-chain layout is float32; some tensors are not F32")
    return ("v1" if dims == V1_DIMS else "small"), dims, problems


def check_weights(path: Path) -> WeightsReport:
    """Validate a safetensors file against the V1 family without loading its tensors."""
    path = Path(path)
    header, n, size = read_header(path)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    problems = _layout_problems(tensors, size - 8 - n)
    arch, dims, more = _v1_family(tensors)
    problems += more
    if arch is None:
        problems.append("it is not a V1-family model (no embedding.weight / encoder.layers.N tensors)")
    return WeightsReport(path, size, arch, dims, len(tensors), tuple(problems))
