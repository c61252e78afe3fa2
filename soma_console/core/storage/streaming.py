"""Uploads fed while the bytes are produced: the commit's encryption pass writes straight into one.

An :class:`UploadStream` is opened with the final size, written in order from one thread
(``write`` may block: that is the back-pressure that keeps the pass's memory bounded), then either
``finish``-ed (the object becomes visible at once and completely, never half) or ``abort``-ed.
Every method blocks; callers run them on worker threads. ``discard`` removes what an abandoned
attempt may have left behind (S3: an unfinished multipart upload, or a finished object nothing
was committed with).
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from soma_console import __version__
from soma_console.core.storage.common import display_url
from soma_console.core.storage.errors import StorageError


class UploadStream(Protocol):
    url: str  # the public URL the object will have
    busy_seconds: float  # time spent inside write/finish (the upload's share of the pass)

    def write(self, data: memoryview) -> None: ...

    def finish(self, checksum: str) -> str: ...

    def abort(self) -> None: ...


@runtime_checkable
class StreamingBackend(Protocol):
    """A backend that takes an upload as it is produced (see :class:`UploadStream`)."""

    def describe(self) -> str: ...

    def public_url(self, object_name: str) -> str: ...

    def open_stream(self, object_name: str, size: int) -> UploadStream: ...

    def discard(self, object_name: str) -> None: ...


class HttpPutStream:
    """One streamed ``PUT`` with a Content-Length, over a plain socket (``http.client``): each
    chunk goes out with a single ``sendall`` that releases the GIL."""

    def __init__(
        self, put_url: str, public_url: str, size: int, *, timeout: float, what: str, hint: str
    ) -> None:
        self.url = public_url
        self.busy_seconds = 0.0
        self.sent = 0
        self._size = size
        self._what, self._hint = what, hint
        parts = urlsplit(put_url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = cls(parts.hostname or "", parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        started = time.perf_counter()
        try:
            self._conn.putrequest("PUT", target, skip_accept_encoding=True)
            self._conn.putheader("Content-Type", "application/octet-stream")
            self._conn.putheader("Content-Length", str(size))
            self._conn.putheader("User-Agent", f"soma-console/{__version__}")
            self._conn.endheaders()
        except OSError as exc:
            self._conn.close()
            raise self._failed(exc.strerror or type(exc).__name__) from None
        self.busy_seconds += time.perf_counter() - started

    def _failed(self, reason: str) -> StorageError:
        return StorageError(f"{self._what} failed: {reason}.", hint=self._hint)

    def write(self, data: memoryview) -> None:
        started = time.perf_counter()
        try:
            self._conn.send(data)
        except OSError:
            status, _body = self._response()  # a server that refused early says why
            if status:
                raise self._failed(f"the server answered HTTP {status} before the upload ended") from None
            raise self._failed("the connection was closed during the upload") from None
        self.sent += len(data)
        self.busy_seconds += time.perf_counter() - started

    def _response(self) -> tuple[int, bytes]:
        try:
            resp = self._conn.getresponse()
            return resp.status, resp.read(64 * 1024)
        except (OSError, http.client.HTTPException):
            return 0, b""
        finally:
            self._conn.close()

    def finish_response(self) -> tuple[int, bytes]:
        """Wait for the server's answer to the complete body."""
        if self.sent != self._size:
            self.abort()
            raise self._failed(f"{self.sent:,} of {self._size:,} bytes were produced")
        started = time.perf_counter()
        status, body = self._response()
        self.busy_seconds += time.perf_counter() - started
        if status == 0:
            raise self._failed("the server closed the connection without an answer")
        return status, body

    def finish(self, checksum: str) -> str:
        status, _body = self.finish_response()
        if status not in (200, 201, 204):
            raise self._failed(f"HTTP {status}")
        return self.url

    def abort(self) -> None:
        self._conn.close()  # the server sees a short body and keeps nothing


class DevnetPutStream(HttpPutStream):
    """A streamed PUT to the devnet blob store, whose answer carries its own size and checksum."""

    def __init__(self, blob_url: str, public_url: str, name: str, size: int, *, timeout: float) -> None:
        self._blob_url, self._name = blob_url, name
        super().__init__(
            public_url,
            public_url,
            size,
            timeout=timeout,
            what=f"uploading {name} to the devnet blob store at {display_url(blob_url)}",
            hint="Check that the devnet is running (its blob store listens there).",
        )

    def finish(self, checksum: str) -> str:
        return devnet_accept(self, self._name, self._size, checksum, self._blob_url)


def devnet_accept(stream: HttpPutStream, name: str, size: int, checksum: str, blob_url: str) -> str:
    """Finish a devnet PUT and check the store's own size and checksum against ours."""
    status, body = stream.finish_response()
    return devnet_answer(status, body, name=name, size=size, checksum=checksum, blob_url=blob_url)


def devnet_answer(status: int, body: bytes, *, name: str, size: int, checksum: str, blob_url: str) -> str:
    """The public URL from the devnet store's answer to a PUT of ``name``, or one sentence saying
    why the upload cannot be trusted (refused, or stored other bytes than were sent)."""
    if status == 400:
        raise StorageError(
            f"the devnet blob store at {blob_url} refused the name {name!r} (HTTP 400).",
            hint="Names may use 1 to 200 of A-Z a-z 0-9 . _ -.",
        )
    if status == 413:
        raise StorageError(
            f"the devnet blob store at {blob_url} refused {name}: {size:,} bytes is too large (HTTP 413).",
            hint="Raise the devnet's blob size limit, or use S3-compatible storage.",
        )
    if status not in (200, 201):
        raise StorageError(
            f"the devnet blob store at {blob_url} answered HTTP {status} to the upload of {name}.",
            hint="Check the devnet's log.",
        )
    try:
        answer = json.loads(body)
        url, stored_size, stored_checksum = answer["url"], answer["size"], answer["checksum"]
    except (ValueError, KeyError, TypeError):
        url = None
    if not isinstance(url, str) or not isinstance(stored_size, int):
        raise StorageError(
            f"the devnet blob store at {blob_url} answered the upload of {name} with an unexpected body.",
            hint="Check that the devnet and soma-console versions match.",
        )
    if stored_size != size or stored_checksum != checksum:
        raise StorageError(
            f"the devnet blob store at {blob_url} stored {stored_size:,} bytes with checksum "
            f"{stored_checksum} for {name}, but {size:,} bytes with checksum {checksum} were sent.",
            hint="Upload again; if it repeats, check the devnet's disk.",
        )
    return url
