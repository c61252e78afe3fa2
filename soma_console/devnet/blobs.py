"""A small HTTP blob store: where the console uploads encrypted weights and anyone downloads them.

The contract (clients are written against it; keep it exactly):

* ``PUT /blobs/<name>`` with the raw bytes as the body (``Content-Length`` or chunked) answers
  ``201`` and ``{"url": "http://<host>:<port>/blobs/<name>", "size": N, "checksum":
  "<Base58 Blake2b-256 of the bytes>"}``. The body is streamed to a temporary file, fsynced and
  renamed over the old blob, so an existing name is replaced atomically and a broken upload
  leaves nothing behind. ``name`` must match ``[A-Za-z0-9._-]{1,200}`` (and not be only dots),
  else ``400``; a body over the size limit gets ``413``.
* ``GET /blobs/<name>`` streams the bytes (``200`` with ``Content-Length``); a single
  ``Range: bytes=a-`` or ``bytes=a-b`` gets ``206`` with ``Content-Range`` (resumable
  downloads); an unsatisfiable range gets ``416``. ``HEAD`` answers the same headers.
  Unknown names get ``404``.

Runs standalone in a thread (:class:`BlobServer`) or inside the devnet node, which adds a
read-only JSON view of the model registry under ``/devnet/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from soma_console.encoding import b58encode
from soma_console.fsutil import fsync_dir

NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")
DEFAULT_MAX_BYTES = 8 * 1024**3
CHUNK = 1024 * 1024
_RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,255}")


def valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name)) and name.strip(".") != ""


class BlobStore:
    """Files under ``root/data``; uploads are staged in ``root/tmp``."""

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.tmp = root / "tmp"
        self.data.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # leftovers of uploads cut short by a crash
            with contextlib.suppress(OSError):
                stale.unlink()

    def path(self, name: str) -> Path:
        return self.data / name

    def stat(self, name: str) -> int | None:
        try:
            return self.path(name).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None


class _TooLarge(Exception):
    pass


class _BadBody(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BlobServer

    # -- plumbing ----------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # quiet unless asked
        if self.server.log is not None:
            self.server.log(format % args)

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, *, close: bool = False) -> None:
        self._reply(status, (json.dumps(obj) + "\n").encode(), close=close)

    def _error(self, status: int, message: str, *, close: bool = False) -> None:
        self._json(status, {"error": message}, close=close)

    def _blob_name(self) -> str | None:
        path = self.path.split("?", 1)[0]
        if not path.startswith("/blobs/"):
            return None
        return path[len("/blobs/") :]

    # -- PUT ---------------------------------------------------------------------------------

    def _body_chunks(self, limit: int) -> Any:
        """Yield the request body in chunks, enforcing ``limit``; handles chunked encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                except ValueError:
                    raise _BadBody("malformed chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                total += size
                if total > limit:
                    raise _TooLarge
                yield from self._read_exactly(size)
                self.rfile.readline(8)  # the CRLF after each chunk
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise _BadBody("send Content-Length or use chunked transfer encoding")
        try:
            length = int(length_text)
        except ValueError:
            raise _BadBody("Content-Length is not a number") from None
        if length < 0:
            raise _BadBody("Content-Length is negative")
        if length > limit:
            raise _TooLarge
        yield from self._read_exactly(length)

    def _read_exactly(self, length: int) -> Any:
        """Yield exactly ``length`` bytes of the body, in pieces of at most CHUNK."""
        remaining = length
        while remaining:
            piece = self.rfile.read(min(CHUNK, remaining))
            if not piece:
                raise _BadBody("the upload ended early")
            remaining -= len(piece)
            yield piece

    def do_PUT(self) -> None:
        name = self._blob_name()
        if name is None:
            self._error(404, "not found; upload to /blobs/<name>", close=True)
            return
        if not valid_name(name):
            self._error(400, "bad blob name; use 1-200 of A-Z a-z 0-9 . _ -", close=True)
            return
        store = self.server.store
        fd, tmp_name = tempfile.mkstemp(prefix="upload-", dir=store.tmp)
        tmp = Path(tmp_name)
        hasher = hashlib.blake2b(digest_size=32)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for piece in self._body_chunks(self.server.max_bytes):
                    hasher.update(piece)
                    fh.write(piece)
                    size += len(piece)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, store.path(name))
            fsync_dir(store.data)
        except _TooLarge:
            tmp.unlink(missing_ok=True)
            self._error(413, f"blob larger than the limit of {self.server.max_bytes} bytes", close=True)
            return
        except _BadBody as exc:
            tmp.unlink(missing_ok=True)
            self._error(400, str(exc), close=True)
            return
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._json(
            201,
            {
                "url": self.server.url_for(name, self.headers.get("Host")),
                "size": size,
                "checksum": b58encode(hasher.digest()),
            },
        )

    # -- GET / HEAD --------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        route = self.server.extra_routes.get(path)
        if route is not None:
            self._json(200, route())
            return
        name = self._blob_name()
        if name is None:
            self._error(404, "not found")
            return
        if not valid_name(name):
            self._error(400, "bad blob name")
            return
        try:
            fh = open(self.server.store.path(name), "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._error(404, f"no blob named {name}")
            return
        with fh:
            size = os.fstat(fh.fileno()).st_size
            start, end = 0, size - 1
            status = 200
            headers = {"Accept-Ranges": "bytes"}
            rng = self.headers.get("Range")
            if rng is not None and "," not in rng:
                m = _RANGE_RE.fullmatch(rng.strip())
                if m is not None:
                    start = int(m.group(1))
                    if m.group(2):
                        end = min(int(m.group(2)), size - 1)
                    if start >= size or start > end:
                        self._reply(416, b"", headers={"Content-Range": f"bytes */{size}"})
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            length = max(0, end - start + 1)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            self.wfile.flush()
            # The kernel copies file to socket (sendfile): no pass through Python for each MiB.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.connection.sendfile(fh, start, length)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _not_allowed(self) -> None:
        self._error(405, "method not allowed", close=True)

    do_POST = do_DELETE = do_PATCH = _not_allowed


class BlobServer(ThreadingHTTPServer):
    """The blob endpoint. ``start()`` serves from a daemon thread; ``stop()`` shuts it down."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        public_host: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = BlobStore(root)
        self.max_bytes = max_bytes
        self.log = log
        self.extra_routes: dict[str, Callable[[], Any]] = {}
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)
        self.wildcard = public_host is None and host in ("0.0.0.0", "::", "")  # noqa: S104
        bound_host = public_host or ("127.0.0.1" if self.wildcard else host)
        self.base_url = f"http://{bound_host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-transfer is normal; anything else goes to the log."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        logging.getLogger("soma_console.devnet").exception(
            "blob server: request from %s failed", client_address
        )

    def url_for(self, name: str, request_host: str | None = None) -> str:
        """The blob's public URL. Bound to every interface, the address the client used is the
        one that reaches us, so the request's Host header wins over 127.0.0.1."""
        if self.wildcard and request_host and _HOST_RE.fullmatch(request_host):
            return f"http://{request_host}/blobs/{name}"
        return f"{self.base_url}/blobs/{name}"

    def start(self) -> BlobServer:
        self._thread = threading.Thread(target=self.serve_forever, name="devnet-blobs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
