"""The RPC port's front door: gRPC and the full node's HTTP proxy routes on one port.

A SOMA full node serves ``GET /model/{model_id}`` and ``GET /data/{target_id}`` on the same
listener as its gRPC API; the SDK's ``fetch_model`` and ``fetch_submission_data`` fall back to
them (``{rpc_url}/model/…``) when the manifest URL cannot be read directly. gRPC clients open
their connection with the HTTP/2 preface (``PRI * HTTP/2.0``), so the first bytes tell the two
apart: HTTP/2 connections are relayed byte for byte to the gRPC server on a private loopback
port, anything else is answered here as HTTP/1.1 (one request per connection).

* ``/model/{id}``: the bytes at the model's manifest URL (the encrypted weights), streamed.
* ``/data/{target_id}``: the winning submission's bytes of a filled, unclaimed target, checked
  against the manifest's size and Blake2b-256 checksum before they are sent.
* An id that is not 64 hex digits (``0x`` optional) → 400; an unknown model, a model without
  weights or a target that is not filled → 404; a download that fails or does not match → 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import threading

import httpx

from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.targets import FILLED

log = logging.getLogger("soma_console.devnet")

_H2_PREFACE_START = b"PRI"
_ID = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_MAX_HEADER = 16 * 1024
_CHUNK = 256 * 1024
_TIMEOUT = httpx.Timeout(10.0, read=60.0)


class RpcFront:
    def __init__(self, engine: Engine, host: str, port: int, grpc_port: int) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.grpc_port = grpc_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> int:
        """Bind (raises OSError when the port is taken) and serve on a thread; returns the port."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready: dict[str, object] = {}
        started = threading.Event()

        async def bind() -> None:
            self._server = await asyncio.start_server(
                self._connection, self.host, self.port, reuse_port=False
            )

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(bind())
            except BaseException as exc:
                ready["error"] = exc
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="devnet-rpc-front", daemon=True)
        self._thread.start()
        started.wait()
        error = ready.get("error")
        if isinstance(error, BaseException):
            self._thread.join(timeout=5)
            raise error
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(timeout=10)
        self._loop = None
        self._thread = None

    # -- connections ---------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            head = await reader.read(len(_H2_PREFACE_START))
            while head and len(head) < len(_H2_PREFACE_START) and _H2_PREFACE_START.startswith(head):
                more = await reader.read(len(_H2_PREFACE_START) - len(head))
                if not more:
                    break
                head += more
            if head.startswith(_H2_PREFACE_START):
                await self._relay(head, reader, writer)
            elif head:
                await self._http(head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Shutting down. Ending normally matters: asyncio's stream callback asks a finished
            # handler task for its exception, which raises (and is logged) for a cancelled one.
            pass
        except Exception:
            log.exception("devnet: RPC front connection failed")
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _relay(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.grpc_port)
        up_writer.write(head)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(_CHUNK):
                    dst.write(data)
                    await dst.drain()
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()

    # -- HTTP/1.1 --------------------------------------------------------------------------------

    async def _http(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = head
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_HEADER:
                await _respond(writer, 431, b"request header too large\n")
                return
            more = await reader.read(4096)
            if not more:
                return
            data += more
        request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _respond(writer, 400, b"not an HTTP/1.1 request\n")
            return
        method, path = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            await _respond(writer, 405, b"only GET is served here\n")
            return
        route = _route(path)
        if route is None:
            await _respond(writer, 404, b"not found: the routes are /model/{id} and /data/{target_id}\n")
            return
        kind, raw_id = route
        match = _ID.match(raw_id)
        if match is None:
            await _respond(writer, 400, b"the id must be 64 hex digits, with or without 0x\n")
            return
        object_id = bytes.fromhex(match.group(1))
        if kind == "model":
            await self._serve_model(object_id, writer, head_only=method == "HEAD")
        else:
            await self._serve_data(object_id, writer, head_only=method == "HEAD")

    async def _serve_model(self, model_id: bytes, writer: asyncio.StreamWriter, *, head_only: bool) -> None:
        model = self.engine.model(model_id)
        if model is None or model.manifest is None:
            await _respond(writer, 404, b"no such model, or it has no committed weights\n")
            return
        manifest = model.manifest
        try:
            async with (
                httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=True) as http,
                http.stream("GET", manifest.url) as resp,
            ):
                if resp.status_code != 200:
                    await _respond(writer, 502, f"the weights URL answered {resp.status_code}\n".encode())
                    return
                writer.write(_header(200, manifest.size, "application/octet-stream"))
                if head_only:
                    await writer.drain()
                    return
                sent = 0
                async for chunk in resp.aiter_bytes(_CHUNK):
                    chunk = chunk[: max(manifest.size - sent, 0)]
                    writer.write(chunk)
                    sent += len(chunk)
                    await writer.drain()
                if sent != manifest.size:
                    # The promised length cannot be met: cut the connection so the client sees it.
                    writer.transport.abort()
        except httpx.HTTPError as exc:
            await _respond(writer, 502, f"cannot fetch the weights: {type(exc).__name__}\n".encode())

    async def _serve_data(self, target_id: bytes, writer: asyncio.StreamWriter, *, head_only: bool) -> None:
        target = self.engine.target(target_id)
        if target is None or target.status != FILLED or target.winning_manifest is None:
            await _respond(writer, 404, b"no filled, unclaimed target with this id\n")
            return
        manifest = target.winning_manifest
        body = await _fetch_checked(manifest.url, manifest.size, manifest.checksum)
        if isinstance(body, str):
            await _respond(writer, 502, (body + "\n").encode())
            return
        writer.write(_header(200, len(body), "application/octet-stream"))
        if not head_only:
            writer.write(body)
        await writer.drain()


async def _fetch_checked(url: str, size: int, checksum: bytes) -> bytes | str:
    """The bytes at ``url`` if they match size and checksum, otherwise why not (a sentence)."""
    try:
        async with (
            httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=True) as http,
            http.stream("GET", url) as resp,
        ):
            if resp.status_code != 200:
                return f"the data URL answered {resp.status_code}"
            out = bytearray()
            async for chunk in resp.aiter_bytes(_CHUNK):
                out += chunk
                if len(out) > size:
                    return "the data is larger than its manifest says"
    except httpx.HTTPError as exc:
        return f"cannot fetch the data: {type(exc).__name__}"
    if len(out) != size:
        return "the data's size does not match its manifest"
    if hashlib.blake2b(bytes(out), digest_size=32).digest() != checksum:
        return "the data's checksum does not match its manifest"
    return bytes(out)


def _route(path: str) -> tuple[str, str] | None:
    for kind in ("model", "data"):
        prefix = f"/{kind}/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            return kind, path[len(prefix) :]
    return None


def _header(status: int, length: int, content_type: str) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "Error")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Length: {length}\r\nContent-Type: {content_type}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    writer.write(_header(status, len(body), "text/plain; charset=utf-8") + body)
    await writer.drain()
