"""Loopback HTTP servers the storage tests talk to.

``BlobStandIn`` is a STAND-IN for the devnet blob server (built on another branch): it implements
the devnet blob contract (``PUT /blobs/<name>`` -> 201 ``{"url", "size", "checksum"}``; ``GET`` with
Range; 404 unknown, 400 bad name, 413 too large) so the client can be tested now; the end-to-end
test against the real devnet comes when both branches meet. It also serves as the boundary for the
download tests, with faults to inject: drop the connection after N bytes, answer 503 a few times,
ignore Range, lie about the checksum.

Every server binds 127.0.0.1 on a free port, runs on daemon threads, and stops when its fixture
ends (or with the test process).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from soma_console.encoding import b58encode

NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,200}")
RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class Faults:
    """Misbehaviour to inject, consumed request by request."""

    drop_after: list[int] = field(default_factory=list)  # GET: close after this many body bytes
    statuses: list[int] = field(default_factory=list)  # any request: answer this status instead
    s3_errors: list[tuple[int, str]] = field(default_factory=list)  # PUT: S3-style XML error answers
    ignore_range: bool = False
    lie_checksum: bool = False
    reject_names: set[str] = field(default_factory=set)
    s3_success: bool = False  # PUT: answer success as S3 does (200, ETag, empty body) instead of 201 JSON


@dataclass
class Seen:
    method: str
    path: str
    range: str | None
    content_length: int | None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client cut off mid-upload (the tests kill uploads on purpose) is expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BlobStandIn:
    def __init__(self, max_size: int = 1 << 40) -> None:
        self.max_size = max_size
        self.objects: dict[str, bytes] = {}
        self.faults = Faults()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def object_url(self, name: str) -> str:
        return f"{self.url}/blobs/{name}"

    def start(self) -> BlobStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def ranges_requested(self) -> list[str | None]:
        with self.lock:
            return [s.range for s in self.seen if s.method == "GET"]


def _make_handler(server: BlobStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _name(self) -> str | None:
            if not self.path.startswith("/blobs/"):
                return None
            return self.path[len("/blobs/") :]

        def _record(self) -> None:
            length = self.headers.get("Content-Length")
            with server.lock:
                server.seen.append(
                    Seen(self.command, self.path, self.headers.get("Range"), int(length) if length else None)
                )

        def _injected_status(self) -> int | None:
            with server.lock:
                return server.faults.statuses.pop(0) if server.faults.statuses else None

        def _drain(self) -> None:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)

        def do_PUT(self) -> None:
            self._record()
            injected = self._injected_status()
            name = self._name()
            with server.lock:
                s3_error = server.faults.s3_errors.pop(0) if server.faults.s3_errors else None
            if s3_error is not None:
                self._drain()
                status, code = s3_error
                body = (
                    f"<Error><Code>{code}</Code><SignatureProvided>sig</SignatureProvided></Error>".encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if injected is not None:
                self._drain()
                return self._status(injected)
            if name is None:
                self._drain()
                return self._status(404)
            if not NAME_RE.fullmatch(name) or name in server.faults.reject_names:
                self._drain()
                return self._json(400, {"error": "bad name"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > server.max_size:
                self._drain()
                return self._json(413, {"error": "too large"})
            hasher = hashlib.blake2b(digest_size=32)
            parts = []
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    return
                hasher.update(chunk)
                parts.append(chunk)
                remaining -= len(chunk)
            data = b"".join(parts)
            with server.lock:
                server.objects[name] = data
            checksum = b58encode(hasher.digest())
            if server.faults.s3_success:
                self.send_response(200)
                self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if server.faults.lie_checksum:
                checksum = b58encode(hashlib.blake2b(b"other", digest_size=32).digest())
            self._json(201, {"url": server.object_url(name), "size": len(data), "checksum": checksum})

        def do_GET(self) -> None:
            self._record()
            injected = self._injected_status()
            if injected is not None:
                return self._status(injected)
            name = self._name()
            with server.lock:
                data = server.objects.get(name) if name is not None else None
                drop = server.faults.drop_after.pop(0) if server.faults.drop_after else None
                ignore_range = server.faults.ignore_range
            if data is None:
                return self._status(404)
            start, end = 0, len(data) - 1
            match = RANGE_RE.fullmatch(self.headers.get("Range") or "")
            if match and not ignore_range:
                start = int(match.group(1))
                if match.group(2):
                    end = min(end, int(match.group(2)))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start : end + 1]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if drop is not None and drop < len(body):
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler
