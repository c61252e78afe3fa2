"""The read-back check in parallel ranges: several HTTP Range requests in flight, one hash.

Blake2b cannot be split, so the segments are hashed strictly in order as they arrive; the network
side (several connections, each reading a whole segment straight into its buffer with the GIL
released) keeps the hasher fed. At most ``window`` segments are held at once. A segment that
fails transiently is fetched again on its own; a server that ignores Range requests is left to
the sequential check (:func:`~soma_console.core.storage.fetch.verify_public`).
"""

from __future__ import annotations

import hashlib
import http.client
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urljoin, urlsplit

from soma_console import __version__
from soma_console.core.storage.common import MonotonicProgress, check_checksum, display_url
from soma_console.core.storage.errors import NotReadable, WrongContent, WrongSize
from soma_console.core.storage.retry import TRANSIENT_STATUS, RetryPolicy
from soma_console.encoding import b58encode

SEGMENT = 4 << 20
CONNECTIONS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_REDIRECTS = 5


class RangesUnsupported(Exception):
    """The server answered a Range request with the whole object."""


class _Retry(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _connect(url: str, policy: RetryPolicy) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotReadable(display_url(url), "it is not an http(s) URL")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=policy.read_timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return conn, target


def _fetch(url: str, begin: int, end: int, size: int, policy: RetryPolicy) -> bytearray:
    """Bytes ``[begin, end)`` of ``url``, following redirects; raises on anything but success."""
    shown = display_url(url)
    for _hop in range(_REDIRECTS + 1):
        conn, target = _connect(url, policy)
        try:
            try:
                conn.request(
                    "GET",
                    target,
                    headers={
                        "Range": f"bytes={begin}-{end - 1}",
                        "Accept-Encoding": "identity",
                        "User-Agent": f"soma-console/{__version__}",
                    },
                )
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(type(exc).__name__) from None
            status = resp.status
            if status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location", ""))
                continue
            if status in TRANSIENT_STATUS:
                raise _Retry(f"HTTP {status} {resp.reason}".rstrip())
            if status == 416:
                raise WrongSize(shown, size, None)
            if status == 200:
                length = resp.getheader("Content-Length")
                if length is not None and length.isdigit() and int(length) != size:
                    raise WrongSize(shown, size, int(length))
                raise RangesUnsupported
            if status != 206:
                raise NotReadable(shown, f"HTTP {status} {resp.reason}".rstrip())
            match = _CONTENT_RANGE.fullmatch((resp.getheader("Content-Range") or "").strip())
            if match is None or int(match.group(1)) != begin:
                raise _Retry("the server answered another range")
            if match.group(3) != "*" and int(match.group(3)) != size:
                raise WrongSize(shown, size, int(match.group(3)))
            if int(match.group(2)) != end - 1:
                raise WrongSize(shown, size, int(match.group(2)) + 1)
            buf = bytearray(end - begin)
            view, got = memoryview(buf), 0
            try:
                while got < len(buf):
                    n = resp.readinto(view[got:])
                    if not n:
                        break
                    got += n
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(type(exc).__name__) from None
            if got != len(buf):
                raise _Retry("the connection closed before the range was complete")
            return buf
        finally:
            conn.close()
    raise NotReadable(shown, "too many redirects")


def _fetch_retrying(url: str, begin: int, end: int, size: int, policy: RetryPolicy) -> bytearray:
    for attempt in range(1, policy.attempts + 1):
        try:
            return _fetch(url, begin, end, size, policy)
        except _Retry as exc:
            if attempt == policy.attempts:
                raise NotReadable(display_url(url), f"{exc.reason} (after {attempt} attempts)") from None
            time.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def verify_ranges(
    url: str,
    size: int,
    checksum: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    policy: RetryPolicy | None = None,
    segment: int = SEGMENT,
    connections: int = CONNECTIONS,
) -> str:
    """Read ``url`` back in parallel ranges and prove it is ``size`` bytes hashing to ``checksum``.

    Blocking (run it on a worker thread). Raises :class:`NotReadable`, :class:`WrongSize`,
    :class:`WrongContent`, or :class:`RangesUnsupported` when the server ignores ranges.
    """
    check_checksum(checksum)
    policy = policy or RetryPolicy()
    mono = MonotonicProgress(progress, size)
    hasher = hashlib.blake2b(digest_size=32)
    bounds = [(b, min(size, b + segment)) for b in range(0, size, segment)]
    window = connections + 1
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="readback") as pool:
        pending: dict[int, Future[bytearray]] = {}
        try:
            for i in range(min(window, len(bounds))):
                pending[i] = pool.submit(_fetch_retrying, url, *bounds[i], size, policy)
            for i, (_begin, end) in enumerate(bounds):
                data = pending.pop(i).result()
                nxt = i + window
                if nxt < len(bounds):
                    pending[nxt] = pool.submit(_fetch_retrying, url, *bounds[nxt], size, policy)
                hasher.update(data)
                del data
                mono(end)
        finally:
            for f in pending.values():
                f.cancel()
    if size == 0:
        _fetch_empty(url, policy)
    actual = b58encode(hasher.digest())
    if actual != checksum:
        raise WrongContent(display_url(url), checksum, actual)
    mono.finish()
    return actual


def _fetch_empty(url: str, policy: RetryPolicy) -> None:
    """An empty object cannot be asked for by range; leave it to the sequential check."""
    raise RangesUnsupported
