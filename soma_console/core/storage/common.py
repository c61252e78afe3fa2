"""Small pieces every storage backend shares: names, safe URL display, progress."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from soma_console.core.storage.errors import StorageError, StorageSpecError
from soma_console.encoding import b58decode

#: ``progress(bytes_done, total)``; always called on the event loop's thread, never going backwards.
ProgressCallback = Callable[[int, int], None]

# The devnet blob contract's name rule; used for every backend so a name that works on the
# devnet works everywhere.
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")
_URL_IN_TEXT = re.compile(r"(https?://[^\s?#]+)[?#][^\s'\"]*")

CHUNK = 1024 * 1024


def check_object_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or set(name) == {"."}:
        raise StorageSpecError(
            f"{name[:60]!r} is not a usable object name.",
            hint="Use 1 to 200 of the characters A-Z a-z 0-9 . _ - (and not only dots).",
        )
    return name


def check_checksum(checksum: str) -> str:
    """A Blake2b-256 checksum as the chain writes it: Base58 of 32 bytes."""
    try:
        raw = b58decode(checksum)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise StorageSpecError(
            f"{checksum[:60]!r} is not a Blake2b-256 checksum.",
            hint="Expected the Base58 form of 32 bytes, as in a model manifest.",
        )
    return checksum


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment: what is safe to print.

    Presigned URLs carry their signature (a time-limited credential) in the query string.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


def scrub_urls(text: str) -> str:
    """Strip query strings from any URL inside free text (library error messages)."""
    return _URL_IN_TEXT.sub(r"\1?…", text)


def is_local_host(url: str) -> bool:
    """True for loopback, private and link-local hosts: addresses other machines cannot reach."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified


def upload_size(path: Path) -> int:
    """The size of a file about to be uploaded, with a clear error when it is not a file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StorageError(f"{path} does not exist.", hint="Check the path of the weights file.") from None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}.", hint="Check its permissions.") from None
    if not os.path.isfile(path):
        raise StorageError(f"{path} is not a regular file.", hint="Pass the encrypted weights file.")
    return st.st_size


class MonotonicProgress:
    """Wraps a progress callback so that it never goes backwards and ends at the total.

    Retries rewind the bytes actually sent; the person watching the bar should see it pause, not
    jump back. Thread-safe: S3 transfer threads report through :meth:`threadsafe`.
    """

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._shown = -1
        self._lock = threading.Lock()

    def __call__(self, done: int) -> None:
        with self._lock:
            value = min(max(done, 0), self._total)
            if value <= self._shown:
                return
            self._shown = value
        if self._callback is not None:
            self._callback(value, self._total)

    def finish(self) -> None:
        self(self._total)
