"""Downloaded blobs, verified and kept by checksum on a bounded amount of disk.

A blob is named by its Base58 Blake2b-256 checksum, so a cached copy is never fetched again and
two URLs holding the same bytes share one file. A download is streamed to a temporary file and
hashed on the way; only when its size and hash match the manifest is it renamed into place, so
the cache never holds a wrong or half-written blob. Derived files (decrypted weights) live next
to the blobs and count against the same budget. When the total passes ``max_bytes`` the least
recently used files go first; files in use by a running score are never removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from soma_console.encoding import b58decode
from soma_console.fsutil import PRIVATE_FILE_MODE, atomic_writer, ensure_dir

log = logging.getLogger("soma_console.scoring")

DEFAULT_MAX_BYTES = 16 * 1024**3
CHUNK = 1 << 20


class BlobError(Exception):
    """A blob that cannot be fetched or does not match its manifest (one sentence)."""


def parse_checksum(text: str, what: str) -> bytes:
    try:
        raw = b58decode(text) if text else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise BlobError(f"Invalid checksum for {what}: expected Base58 text of 32 bytes, got {text[:60]!r}")
    return raw


class BlobCache:
    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        client: httpx.Client | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.root = ensure_dir(Path(root), private=True)
        self.blobs = ensure_dir(self.root / "blobs")
        self.derived = ensure_dir(self.root / "derived", private=True)
        self.max_bytes = max_bytes
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._own_client = client is None
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._pinned: dict[Path, int] = {}
        self.downloads = 0  # blobs fetched over the network since start (tests, logs)
        for d in (self.blobs, self.derived):
            for stale in d.glob(".*.tmp"):  # an interrupted download or decryption
                with contextlib.suppress(OSError):
                    stale.unlink()

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    # -- locking and pinning --------------------------------------------------------------------

    def _key_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(name, threading.Lock())

    @contextlib.contextmanager
    def pinned(self, *paths: Path) -> Iterator[None]:
        """Keep ``paths`` out of eviction while the block runs."""
        with self._lock:
            for p in paths:
                self._pinned[p] = self._pinned.get(p, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                for p in paths:
                    left = self._pinned[p] - 1
                    if left:
                        self._pinned[p] = left
                    else:
                        del self._pinned[p]

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, checksum: bytes) -> Path:
        return self.blobs / checksum.hex()

    def fetch(self, url: str, checksum: str, size: int, what: str) -> Path:
        """The verified local copy of the blob at ``url``; downloads it unless cached."""
        raw = parse_checksum(checksum, what)
        path = self.blob_path(raw)
        with self._key_lock(path.name):
            if self._is_cached(path, size):
                self._touch(path)
                return path
            self._download(url, raw, size, path, what)
        self.evict(keep=path)
        return path

    def _is_cached(self, path: Path, size: int) -> bool:
        try:
            return path.stat().st_size == size
        except FileNotFoundError:
            return False

    def _touch(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    def _download(self, url: str, checksum: bytes, size: int, path: Path, what: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise BlobError(f"Invalid URL for {what}: {url[:200]!r} is not http(s)")
        h = hashlib.blake2b(digest_size=32)
        got = 0
        try:
            with self._client.stream("GET", url) as resp, atomic_writer(path, mode=PRIVATE_FILE_MODE) as out:
                if resp.status_code != 200:
                    raise BlobError(f"failed to download {what} from {url}: HTTP {resp.status_code}")
                for chunk in resp.iter_bytes(CHUNK):
                    got += len(chunk)
                    if got > size:
                        raise BlobError(
                            f"Checksum mismatch for {what} at {url}: more than the declared {size} bytes"
                        )
                    h.update(chunk)
                    out.write(chunk)
                if got != size:
                    raise BlobError(
                        f"Checksum mismatch for {what} at {url}: {got} bytes, the manifest says {size}"
                    )
                if h.digest() != checksum:
                    raise BlobError(f"Checksum mismatch for {what} at {url}: the bytes hash differently")
        except httpx.HTTPError as exc:
            raise BlobError(f"failed to download {what} from {url}: {exc}") from None
        self.downloads += 1
        log.info("scoring: fetched %s (%d bytes) from %s", what, size, url)

    # -- derived files --------------------------------------------------------------------------

    def derive(self, name: str, make: Callable[[Path], None]) -> Path:
        """A cached file derived from blobs (e.g. decrypted weights), made once by ``make(dst)``.

        ``make`` must write ``dst`` atomically (or not at all).
        """
        path = self.derived / name
        with self._key_lock("derived/" + name):
            if path.exists():
                self._touch(path)
                return path
            make(path)
        self.evict(keep=path)
        return path

    # -- eviction -------------------------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        for d in (self.blobs, self.derived):
            for p in d.iterdir():
                if p.name.startswith("."):
                    continue
                with contextlib.suppress(OSError):
                    st = p.stat()
                    out.append((st.st_mtime, st.st_size, p))
        return out

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used files until the cache fits; returns bytes freed."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        freed = 0
        with self._lock:
            for _, size, p in entries:
                if total <= self.max_bytes:
                    break
                if p == keep or p in self._pinned:
                    continue
                with contextlib.suppress(OSError):
                    p.unlink()
                    total -= size
                    freed += size
        return freed
