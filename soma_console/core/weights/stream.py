"""Streaming AES-256-CTR encryption with the commitments computed in the same pass.

The bytes are exactly ``soma_sdk.SomaClient.encrypt_weights``: AES-256 in CTR mode, a 16-byte
all-zero initial counter block incremented as one big-endian 128-bit number, so a file can be
encrypted chunk by chunk with any chunk size. While each chunk passes through, Blake2b-256 of the
ciphertext (the chain's weights commitment and the manifest checksum) and of the plaintext (to
recognise the same checkpoint later) are computed, so a 4.8 GB checkpoint is read once and never
held in memory.

Both hashes release the GIL, so they run on two worker threads while the main thread reads,
encrypts and writes the neighbouring chunk: on a 2-core machine the pass is bound by Blake2b, not
by the sum of every step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from soma_console.core.weights.keys import raw_key
from soma_console.encoding import b58encode
from soma_console.errors import UserError
from soma_console.fsutil import PRIVATE_FILE_MODE, atomic_writer
from soma_console.secrets import Secret

DEFAULT_CHUNK = 4 << 20
_INITIAL_COUNTER = bytes(16)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EncryptedWeights:
    """An encrypted weights file and what the chain is told about it."""

    path: Path
    size: int
    commitment: str  # Base58 Blake2b-256 of the ciphertext: weights commitment = manifest checksum
    checksum: bytes  # the same hash, raw
    source_size: int
    source_digest: str  # Blake2b-256 hex of the plaintext

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "commitment": self.commitment,
            "source_size": self.source_size,
            "source_digest": self.source_digest,
        }


def _blake() -> Any:
    return hashlib.blake2b(digest_size=32)


def check_source(src: Path, what: str = "weights file") -> int:
    """Refuse a missing, unreadable or non-regular source with one sentence; return its size."""
    src = Path(src)
    try:
        st = src.stat()
    except FileNotFoundError:
        raise UserError(f"the {what} {src} does not exist.") from None
    except OSError as exc:
        raise UserError(f"cannot read the {what} {src} ({exc.strerror}).") from None
    if src.is_dir():
        raise UserError(f"{src} is a directory, not a {what}.")
    if not os.access(src, os.R_OK):
        raise UserError(f"the {what} {src} is not readable by you.")
    return st.st_size


def check_destination(src: Path, dst: Path) -> None:
    """Refuse an output that would clobber the input or land in a directory that is not there."""
    src, dst = Path(src), Path(dst)
    if dst.is_dir():
        raise UserError(f"the output {dst} is a directory.", hint="Name a file inside it.")
    if not dst.parent.is_dir():
        raise UserError(f"the output directory {dst.parent} does not exist.", hint="Create it first.")
    same = dst.resolve() == src.resolve()
    if not same and dst.exists():
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
    if same:
        raise UserError(f"the output {dst} is the input file.", hint="Write to another path.")
    if not os.access(dst.parent, os.W_OK):
        raise UserError(f"cannot write to the directory {dst.parent}.")


@dataclass(frozen=True)
class _PassResult:
    size: int
    out_digest: bytes
    in_digest: bytes


def _crypt_pass(
    src: Path,
    dst: Path,
    key: Secret,
    *,
    encrypt: bool,
    chunk_size: int,
    progress: Progress | None,
    expected_in: bytes | None = None,
) -> _PassResult:
    """One pass src -> AES-CTR -> dst, hashing input and output on worker threads."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    total = check_source(src)
    check_destination(src, dst)
    cipher = Cipher(algorithms.AES(raw_key(key)), modes.CTR(_INITIAL_COUNTER))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    h_in, h_out = _blake(), _blake()
    # Two sets of buffers: while the workers hash one chunk the main thread fills the other.
    ins = [bytearray(chunk_size), bytearray(chunk_size)]
    outs = [bytearray(chunk_size + 15), bytearray(chunk_size + 15)]  # update_into wants block - 1 spare
    done = 0
    with (
        _open_source(src) as inp,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="weights-hash") as pool,
        atomic_writer(dst, mode=PRIVATE_FILE_MODE) as out,
    ):
        pending: list[Future[None]] = []
        k = 0
        while True:
            n = read_full(inp, memoryview(ins[k]))
            if n == 0:
                break
            plain = memoryview(ins[k])[:n]
            ctx.update_into(plain, outs[k])
            result = memoryview(outs[k])[:n]
            for f in pending:  # the previous chunk's hashes must finish first: order matters
                f.result()
            pending = [pool.submit(h_in.update, plain), pool.submit(h_out.update, result)]
            out.write(result)
            done += n
            if progress is not None:
                progress(done, max(total, done))
            k ^= 1
        for f in pending:
            f.result()
        ctx.finalize()
        if expected_in is not None and h_in.digest() != expected_in:
            raise UserError(
                f"{src} does not match the recorded commitment; nothing was written.",
                hint="It is not the file that was encrypted (or it was changed since).",
            )
    return _PassResult(done, h_out.digest(), h_in.digest())


@contextlib.contextmanager
def _open_source(src: Path) -> Iterator[IO[bytes]]:
    try:
        fh = open(src, "rb", buffering=0)  # noqa: SIM115 -- closed below; only open() errors are ours
    except OSError as exc:
        raise UserError(f"cannot read {src} ({exc.strerror}).") from None
    with fh:
        yield fh


def read_full(inp: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` unless the file ends first (a raw read may return less than asked)."""
    got = 0
    while got < len(view):
        n = inp.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def encrypt_file(
    src: Path,
    dst: Path,
    key: Secret,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> EncryptedWeights:
    """Encrypt ``src`` into ``dst`` (mode 0600, atomic) and commit to the ciphertext, in one pass.

    On any failure neither ``dst`` nor a temp file is left behind.
    """
    from soma_console.core.weights.pipeline import encrypt_stream

    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    total = check_source(src)
    check_destination(src, dst)
    with _open_source(src) as inp, atomic_writer(dst, mode=PRIVATE_FILE_MODE) as out:
        r = encrypt_stream(inp, total, key, sink=out.write, progress=progress, chunk_size=chunk_size)
    return EncryptedWeights(
        path=Path(dst),
        size=r.size,
        commitment=b58encode(r.out_digest),
        checksum=r.out_digest,
        source_size=r.size,
        source_digest=r.in_digest.hex(),
    )


def decrypt_file(
    src: Path,
    dst: Path,
    key: Secret,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    expected_commitment: str | None = None,
) -> int:
    """Decrypt ``src`` into ``dst`` (mode 0600, atomic); return the size.

    With ``expected_commitment`` (Base58 Blake2b-256 of the ciphertext) a file that does not
    match is refused and nothing is written.
    """
    expected = None
    if expected_commitment is not None:
        from soma_console.encoding import b58decode

        expected = b58decode(expected_commitment)
    r = _crypt_pass(
        src,
        dst,
        key,
        encrypt=False,
        chunk_size=chunk_size,
        progress=progress,
        expected_in=expected,
    )
    return r.size


def file_digest(path: Path, *, chunk_size: int = DEFAULT_CHUNK, progress: Progress | None = None) -> str:
    """Blake2b-256 hex of a file, streamed."""
    total = check_source(path, "file")
    h = _blake()
    buf = bytearray(chunk_size)
    done = 0
    with open(path, "rb", buffering=0) as fh:
        while n := read_full(fh, memoryview(buf)):
            h.update(memoryview(buf)[:n])
            done += n
            if progress is not None:
                progress(done, max(total, done))
    return str(h.hexdigest())
