"""A stand-in for Modal's control plane on loopback, so the unmodified ``modal`` client can be tested.

It implements the RPCs that soma-console's Modal paths make (client hello, app lookup and stop,
function lookup, options, spawn, outputs, cancel, call info, log streaming and fetching, volume
lookup, listing and block reads, and the handful a deploy needs) and nothing else: any other call
fails with UNIMPLEMENTED and is recorded in ``unimplemented``, so a test notices when the client
starts needing something new.

A spawned call runs a *runner* registered for the function's tag in a thread, the way a container
would run it: the runner gets a :class:`Container` whose ``stdout``/``stderr`` become log entries,
whose volumes are real directories, and whose ``stop`` event is set when the call is cancelled.
The runner's return value or exception becomes the call's result.

Everything runs on one event loop in a background thread; the server binds free loopback ports and
:meth:`FakeModal.stop` (or leaving the ``with`` block) always shuts it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from google.protobuf.empty_pb2 import Empty
from grpclib import GRPCError
from grpclib.const import Status
from grpclib.events import RecvRequest, listen
from grpclib.server import Server, Stream
from modal._serialization import deserialize_data_format, serialize
from modal._utils.blob_utils import BLOCK_SIZE
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase

Runner = Callable[..., Any]
FOREVER = 3600.0
_EXPIRED = (Path("/expired"), -1, -1)  # a download link past its expiry


@dataclass
class LogRecord:
    entry_id: int
    ts_ns: int
    fd: int
    data: str
    app_id: str
    function_id: str
    function_call_id: str


@dataclass
class FakeFunction:
    function_id: str
    app_id: str
    tag: str
    definition: api_pb2.Function
    base_id: str = ""


@dataclass
class FakeApp:
    app_id: str
    name: str
    state: str = "deployed"  # deployed | stopped
    functions: dict[str, str] = field(default_factory=dict)  # tag -> function id


@dataclass
class FakeVolume:
    volume_id: str
    name: str
    root: Path
    commits: int = 0


@dataclass
class FakeCall:
    call_id: str
    function_id: str
    app_id: str
    input_id: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    created_at: float
    stop: threading.Event = field(default_factory=threading.Event)
    state: str = "running"  # running | succeeded | failed | cancelled
    result: api_pb2.GenericResult | None = None
    gpu: str = ""


class _LogWriter:
    """A text stream whose writes become log entries of one call (what a container's stdout is)."""

    def __init__(self, fake: FakeModal, call: FakeCall, fd: int) -> None:
        self._fake, self._call, self._fd = fake, call, fd

    def write(self, text: str) -> int:
        if text:
            self._fake.append_log(self._call, text, fd=self._fd)
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class Container:
    """What a runner sees: its call, its output streams, the volumes and the cancel signal."""

    fake: FakeModal
    call: FakeCall
    stdout: _LogWriter
    stderr: _LogWriter

    @property
    def stop(self) -> threading.Event:
        return self.call.stop

    key: str = ""  # which container this is: reused containers share a key (and their Volume views)

    def volume_dir(self, name: str) -> Path:
        """The Volume as this container sees it: the shared folder, or (``isolated_volumes``) its own
        view, a copy of the committed state taken when the container started."""
        vol = self.fake.volume(name)
        if not self.fake.isolated_volumes:
            return vol.root
        view = self.fake.workdir / "views" / (self.key or self.call.call_id) / name
        with self.fake.lock:
            if not view.exists():
                _sync_tree(vol.root, view)
        return view

    def commit(self, name: str) -> None:
        """``Volume.commit()``: the view's changes become the Volume's (file by file, last write wins).
        With ``commit_needs_reload`` the server answers that a reload is needed, which the client does at
        once, so a commit fails the way a reload does while files are open."""
        with self.fake.lock:
            vol = self.fake.volume(name)
            vol.commits += 1
            if not self.fake.isolated_volumes:
                return
            view = self.volume_dir(name)
            _sync_tree(view, vol.root, delete=False)
        if self.fake.commit_needs_reload:
            self.reload(name)

    def reload(self, name: str) -> None:
        """``Volume.reload()``: the view becomes the Volume's committed state; refused while this
        process holds a file open under the view (what Modal answers for open files)."""
        vol = self.fake.volume(name)
        self.fake.reloads += 1
        if not self.fake.isolated_volumes:
            return
        view = self.volume_dir(name)
        held = _open_files_under(view)
        if held:
            raise RuntimeError(
                f"there are open files preventing the operation: {held[0]} (fake Volume reload)"
            )
        with self.fake.lock:
            _sync_tree(vol.root, view)


def _sync_tree(src: Path, dst: Path, *, delete: bool = True) -> None:
    """Make ``dst`` hold ``src``'s files (copied, so the two never share an inode)."""
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    if delete:
        for p in sorted(dst.rglob("*"), reverse=True):
            if not (src / p.relative_to(dst)).exists():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
    for p in src.rglob("*"):
        target = dst / p.relative_to(src)
        if p.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists() or target.read_bytes() != p.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".sync-tmp")
            shutil.copy2(p, tmp)
            tmp.replace(target)


def _open_files_under(folder: Path) -> list[str]:
    import os

    found = []
    root = str(folder.resolve())
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(root + "/"):
            found.append(target)
    return found


@dataclass
class FakeDict:
    dict_id: str
    name: str
    data: dict[bytes, bytes] = field(default_factory=dict)


class FakeModal:
    """State plus knobs; see the module docstring."""

    def __init__(self, workdir: Path, token: tuple[str, str] = ("ak-test", "as-test")) -> None:
        self.workdir = workdir
        self.token = token
        self.lock = threading.RLock()
        self.apps: dict[str, FakeApp] = {}
        self.functions: dict[str, FakeFunction] = {}
        self.volumes: dict[str, FakeVolume] = {}
        self.calls: dict[str, FakeCall] = {}
        self.logs: list[LogRecord] = []
        self.runners: dict[str, Runner] = {}
        self.requests: list[str] = []
        self.unimplemented: list[str] = []
        self.mounted_files: dict[str, bytes] = {}
        self.secrets: set[str] = set()
        self.blobs: dict[str, bytes] = {}
        self.dicts: dict[str, FakeDict] = {}
        self.reloads = 0
        # Knobs a test turns.
        self.stream_from_start = True  # what AppGetLogs sends when the client has no last_entry_id
        self.drop_log_streams: list[int] = []  # abort the next streams after this many batches each
        self.refuse_log_streams = 0  # refuse this many new log streams outright
        self.log_stream_generation = 0
        self.hang: set[str] = set()  # RPC names that never answer
        self.cut_block_requests = 0  # block downloads to cut off half way
        self.cut_block_offsets: dict[int, int] = {}  # block offset -> how many of its downloads to cut
        self.split_log_writes = False  # store every container write as two entries
        self.isolated_volumes = False  # each container sees its own view of a Volume (Modal's v2 model)
        self.commit_needs_reload = False  # VolumeCommit answers "reload needed" (skip_reload=False)
        self.reuse_containers = False  # a function's calls run in one warm container, one after another
        self.exhaust_spawns = 0  # answer the next spawns RESOURCE_EXHAUSTED (no capacity)
        self.expire_links_after_blocks: int | None = None  # then every link issued so far answers 403
        self.served_bytes = 0
        self.image_build_error: str | None = None  # the next image builds fail with this message
        self.log_lag_s = 0.0  # a log entry becomes visible (streamed or fetched) only this long after it
        self._ids = itertools.count(1)
        self._entry_ids = itertools.count(1)
        self._blocks: dict[str, tuple[Path, int, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._grpc: Server | None = None
        self._http: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None
        self.grpc_port = 0
        self.http_port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self) -> FakeModal:
        ready: Future[None] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-modal", daemon=True)
        self._thread.start()
        ready.result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for call in list(self.calls.values()):
            call.stop.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeModal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_on_loop(self, coro: Any, timeout: float = 30) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def drop_connections(self, pause: float) -> None:
        """Take the control plane off the network for ``pause`` seconds (connections cut, port closed)."""
        self.run_on_loop(self._bounce(pause), timeout=pause + 30)

    async def _start(self) -> None:
        self._changed = asyncio.Event()
        await self._start_grpc(0)
        app = web.Application()
        app.router.add_get("/block/{token}", self._serve_block)
        self._http = web.AppRunner(app, access_log=None)
        await self._http.setup()
        sock = _bind(0)
        self.http_port = sock.getsockname()[1]
        await web.SockSite(self._http, sock).start()

    async def _start_grpc(self, port: int) -> None:
        servicer = _servicer_class()(self)
        server = Server([servicer])
        listen(server, RecvRequest, self._on_request)
        sock = _bind(port)
        self.grpc_port = sock.getsockname()[1]
        await server.start(sock=sock)
        self._grpc = server

    async def _bounce(self, pause: float) -> None:
        assert self._grpc is not None
        self._grpc.close()
        await self._grpc.wait_closed()
        await asyncio.sleep(pause)
        await self._start_grpc(self.grpc_port)

    async def _shutdown(self) -> None:
        if self._grpc is not None:
            self._grpc.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._grpc.wait_closed(), 5)
        if self._http is not None:
            await self._http.cleanup()

    async def _on_request(self, event: RecvRequest) -> None:
        name = event.method_name.rsplit("/", 1)[-1]
        self.requests.append(name)
        metadata = dict(event.metadata)
        given = (metadata.get("x-modal-token-id"), metadata.get("x-modal-token-secret"))
        inner = event.method_func
        hang = name in self.hang

        async def guarded(stream: Stream[Any, Any]) -> None:
            if given != self.token:
                raise GRPCError(Status.UNAUTHENTICATED, "Token ID or secret is invalid.")
            if hang:
                await asyncio.sleep(FOREVER)
            await inner(stream)

        event.method_func = guarded

    # ---- state helpers (any thread) ----------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}{secrets.token_hex(3)}"

    def volume(self, name: str) -> FakeVolume:
        with self.lock:
            vol = self.volumes.get(name)
            if vol is None:
                raise KeyError(name)
            return vol

    def create_volume(self, name: str) -> FakeVolume:
        with self.lock:
            if name not in self.volumes:
                root = self.workdir / "volumes" / name
                root.mkdir(parents=True, exist_ok=True)
                self.volumes[name] = FakeVolume(self.new_id("vo"), name, root)
            return self.volumes[name]

    def deploy(
        self, app_name: str, tags: dict[str, Runner], *, gpu: str = "A100", volume: str | None = None
    ) -> FakeApp:
        """Deploy an app with functions directly (what `modal deploy` would leave behind)."""
        with self.lock:
            app = self._app_by_name(app_name) or self._new_app(app_name)
            mounts = []
            if volume is not None:
                mounts.append(
                    api_pb2.VolumeMount(volume_id=self.create_volume(volume).volume_id, mount_path="/vol")
                )
            for tag, runner in tags.items():
                definition = api_pb2.Function(
                    function_name=tag,
                    module_name="soma_console.training.modal.app",
                    resources=api_pb2.Resources(gpu_config=api_pb2.GPUConfig(gpu_type=gpu, count=1)),
                    volume_mounts=mounts,
                )
                fn = FakeFunction(self.new_id("fu"), app.app_id, tag, definition)
                self.functions[fn.function_id] = fn
                app.functions[tag] = fn.function_id
                self.runners[tag] = runner
            return app

    def log_outage(self, refused: int) -> None:
        """Break every open log stream and refuse the next ``refused`` ones (the log service is down).

        modal's client retries a broken stream 10 times (~7 s) before giving up; refusing 10 makes it
        give up, so the caller's own reconnection is what brings the stream back.
        """
        with self.lock:
            self.refuse_log_streams = refused
            self.log_stream_generation += 1
        self._notify()

    def reset_knobs(self) -> None:
        with self.lock:
            self.stream_from_start = True
            self.drop_log_streams = []
            self.refuse_log_streams = 0
            self.hang = set()
            self.cut_block_requests = 0
            self.cut_block_offsets = {}
            self.split_log_writes = False
            self.isolated_volumes = False
            self.commit_needs_reload = False
            self.reuse_containers = False
            self.exhaust_spawns = 0
            self.expire_links_after_blocks = None
            self.served_bytes = 0
            self.image_build_error = None
            self.log_lag_s = 0.0

    def app_function(self, app_name: str, tag: str) -> FakeFunction | None:
        with self.lock:
            app = self._app_by_name(app_name)
            fid = app.functions.get(tag) if app else None
            return self.functions.get(fid) if fid else None

    def _new_app(self, name: str) -> FakeApp:
        app = FakeApp(self.new_id("ap"), name)
        self.apps[app.app_id] = app
        return app

    def _app_by_name(self, name: str) -> FakeApp | None:
        for app in self.apps.values():
            if app.name == name and app.state == "deployed":
                return app
        return None

    def append_log(self, call: FakeCall, text: str, *, fd: int = api_pb2.FILE_DESCRIPTOR_STDOUT) -> None:
        parts = [text]
        if self.split_log_writes and len(text) > 1:
            cut = max(1, len(text) // 3)
            parts = [text[:cut], text[cut:]]
        with self.lock:
            for part in parts:
                self.logs.append(
                    LogRecord(
                        next(self._entry_ids),
                        time.time_ns(),
                        fd,
                        part,
                        call.app_id,
                        call.function_id,
                        call.call_id,
                    )
                )
        self._notify()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._set_changed)

    def _set_changed(self) -> None:
        assert self._changed is not None
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_changed(self, timeout: float) -> None:
        assert self._changed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    # ---- calls -----------------------------------------------------------------------------

    def spawn(self, fn: FakeFunction, item: api_pb2.FunctionPutInputsItem) -> FakeCall:
        args, kwargs = deserialize_data_format(item.input.args, item.input.data_format, None)
        base = self.functions.get(fn.base_id) if fn.base_id else fn
        assert base is not None
        gpu = fn.definition.resources.gpu_config
        call = FakeCall(
            self.new_id("fc"),
            fn.function_id,
            fn.app_id,
            self.new_id("in"),
            tuple(args),
            dict(kwargs),
            time.time(),
            gpu=f"{gpu.gpu_type}:{gpu.count}" if gpu.count else "",
        )
        with self.lock:
            self.calls[call.call_id] = call
        runner = self.runners.get(base.tag)
        threading.Thread(target=self._run_call, args=(call, runner), daemon=True).start()
        return call

    def _run_call(self, call: FakeCall, runner: Runner | None) -> None:
        container = Container(
            self,
            call,
            _LogWriter(self, call, api_pb2.FILE_DESCRIPTOR_STDOUT),
            _LogWriter(self, call, api_pb2.FILE_DESCRIPTOR_STDERR),
            key=f"warm-{call.function_id}" if self.reuse_containers else call.call_id,
        )
        status = api_pb2.GenericResult.GENERIC_STATUS_SUCCESS
        try:
            if runner is None:
                raise RuntimeError("no runner registered for this function in the fake")
            value = runner(container, *call.args, **call.kwargs)
            result = api_pb2.GenericResult(status=status, data=serialize(value))
            state = "succeeded"
        except Exception as exc:
            container.stderr.write("".join(traceback.format_exception(exc)))
            if call.stop.is_set():
                status, state = api_pb2.GenericResult.GENERIC_STATUS_TERMINATED, "cancelled"
                result = api_pb2.GenericResult(status=status, exception="Input was cancelled")
            else:
                status, state = api_pb2.GenericResult.GENERIC_STATUS_FAILURE, "failed"
                result = api_pb2.GenericResult(
                    status=status,
                    exception=repr(exc),
                    traceback="".join(traceback.format_tb(exc.__traceback__)),
                    data=serialize(exc),
                )
        if call.stop.is_set() and state == "succeeded":
            state = "cancelled"
            result = api_pb2.GenericResult(
                status=api_pb2.GenericResult.GENERIC_STATUS_TERMINATED, exception="Input was cancelled"
            )
        with self.lock:
            call.result, call.state = result, state
        self._notify()

    # ---- blocks ----------------------------------------------------------------------------

    def block_urls(self, path: Path, start: int, length: int) -> list[str]:
        urls = []
        pos, end = start, start + length
        while pos < end:
            block_end = min(end, (pos // BLOCK_SIZE + 1) * BLOCK_SIZE)
            token = secrets.token_hex(8)
            with self.lock:
                self._blocks[token] = (path, pos, block_end - pos)
            urls.append(f"http://127.0.0.1:{self.http_port}/block/{token}")
            pos = block_end
        return urls

    async def _serve_block(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            found = self._blocks.get(request.match_info["token"])
            cut = self.cut_block_requests > 0
            if cut:
                self.cut_block_requests -= 1
            elif found is not None and self.cut_block_offsets.get(found[1], 0) > 0:
                self.cut_block_offsets[found[1]] -= 1
                cut = True
        if found is None:
            return web.Response(status=404, text="no such block")
        if found == _EXPIRED:
            return web.Response(status=403, text="Request has expired")
        with self.lock:
            if self.expire_links_after_blocks is not None:
                if self.expire_links_after_blocks <= 0:
                    self.expire_links_after_blocks = None
                    for token in self._blocks:
                        self._blocks[token] = _EXPIRED
                    return web.Response(status=403, text="Request has expired")
                self.expire_links_after_blocks -= 1
        path, offset, length = found
        with path.open("rb") as fh:
            fh.seek(offset)
            body = fh.read(length)
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        with self.lock:
            self.served_bytes += len(body) // 2 if cut else len(body)
        if cut:
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body)
        await response.write_eof()
        return response


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


_SERVICER: type | None = None


def _servicer_class() -> type:
    """The servicer: every RPC answers UNIMPLEMENTED unless :class:`_Servicer` defines it."""
    global _SERVICER
    if _SERVICER is None:

        def unimplemented(name: str) -> Callable[..., Any]:
            async def handler(self: Any, stream: Stream[Any, Any]) -> None:
                self.fake.unimplemented.append(name)
                raise GRPCError(Status.UNIMPLEMENTED, f"the fake Modal server does not implement {name}")

            return handler

        defaults = {
            name: unimplemented(name)
            for name in ModalClientBase.__abstractmethods__
            if name not in _Servicer.__dict__
        }
        _SERVICER = type("FakeModalServicer", (_Servicer,), defaults)
    return _SERVICER


def _function_data(fn: FakeFunction) -> api_pb2.FunctionData:
    return api_pb2.FunctionData(
        function_name=fn.tag,
        module_name=fn.definition.module_name,
        ranked_functions=[api_pb2.FunctionData.RankedFunction(rank=0, function=fn.definition)],
        schedule=fn.definition.schedule,
        timeout_secs=fn.definition.timeout_secs,
    )


def _handle(fn: FakeFunction) -> api_pb2.FunctionHandleMetadata:
    return api_pb2.FunctionHandleMetadata(
        function_name=fn.tag,
        function_type=api_pb2.Function.FUNCTION_TYPE_FUNCTION,
        app_id=fn.app_id,
    )


def _volume_path(path: str) -> str:
    return path.strip().strip("/")


class _Servicer(ModalClientBase):
    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake

    # ---- client and apps -------------------------------------------------------------------

    async def ClientHello(self, stream: Stream[Empty, api_pb2.ClientHelloResponse]) -> None:
        await stream.recv_message()
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def AppGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            if req.app_name.startswith("ap-"):
                app = self.fake.apps.get(req.app_name)
            else:
                app = self.fake._app_by_name(req.app_name)
                if app is None and req.object_creation_type == api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                    app = self.fake._new_app(req.app_name)
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App '{req.app_name}' not found")
        await stream.send_message(api_pb2.AppGetOrCreateResponse(app_id=app.app_id))

    async def AppGetByDeploymentName(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        app = self.fake._app_by_name(req.name)
        await stream.send_message(api_pb2.AppGetByDeploymentNameResponse(app_id=app.app_id if app else ""))

    async def AppStop(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            app = self.fake.apps.get(req.app_id)
            if app is None:
                raise GRPCError(Status.NOT_FOUND, f"App {req.app_id} not found")
            app.state = "stopped"
            for call in self.fake.calls.values():
                if call.app_id == app.app_id:
                    call.stop.set()
        await stream.send_message(Empty())

    # ---- deploy ----------------------------------------------------------------------------

    async def AppCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            app = FakeApp(self.fake.new_id("ap"), req.description or "ephemeral", state="creating")
            self.fake.apps[app.app_id] = app
        await stream.send_message(api_pb2.AppCreateResponse(app_id=app.app_id))

    async def AppPublish(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            app = self.fake.apps[req.app_id]
            old = self.fake._app_by_name(req.name)
            if old is not None and old is not app:
                old.state = "stopped"
            app.name, app.state = req.name, "deployed"
            for tag, fid in req.function_ids.items():
                app.functions[tag] = fid
        await stream.send_message(api_pb2.AppPublishResponse(url=f"https://modal.test/apps/{req.name}"))

    async def AppClientDisconnect(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(Empty())

    async def AppGetLayout(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(api_pb2.AppGetLayoutResponse())

    async def EnvironmentGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        settings = api_pb2.EnvironmentSettings(image_builder_version="2025.06", webhook_suffix="modal.test")
        metadata = api_pb2.EnvironmentMetadata(name=req.deployment_name or "main", settings=settings)
        await stream.send_message(
            api_pb2.EnvironmentGetOrCreateResponse(environment_id="en-fake", metadata=metadata)
        )

    async def AppSetObjects(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(Empty())

    async def ImageGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        error = self.fake.image_build_error
        result = (
            api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_FAILURE, exception=error)
            if error
            else api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)
        )
        await stream.send_message(
            api_pb2.ImageGetOrCreateResponse(image_id=self.fake.new_id("im"), result=result)
        )

    async def MountBatchedCheckExistence(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            missing = [h for h in req.sha256_hex_hashes if h not in self.fake.blobs]
        await stream.send_message(
            api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=missing)
        )

    async def MountPutFile(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        if req.WhichOneof("data_oneof") == "data":
            if hashlib.sha256(req.data).hexdigest() != req.sha256_hex:
                raise GRPCError(Status.INVALID_ARGUMENT, "sha256 does not match the data")
            with self.fake.lock:
                self.fake.blobs[req.sha256_hex] = req.data
        with self.fake.lock:
            exists = req.sha256_hex in self.fake.blobs
        await stream.send_message(api_pb2.MountPutFileResponse(exists=exists))

    async def MountGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            for f in req.files:
                self.fake.mounted_files[f.filename] = self.fake.blobs.get(f.sha256_hex, b"")
        await stream.send_message(
            api_pb2.MountGetOrCreateResponse(
                mount_id=self.fake.new_id("mo"), handle_metadata=api_pb2.MountHandleMetadata()
            )
        )

    async def AppHeartbeat(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(Empty())

    async def SecretGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        if req.deployment_name not in self.fake.secrets:
            raise GRPCError(Status.NOT_FOUND, f"Secret '{req.deployment_name}' not found")
        await stream.send_message(api_pb2.SecretGetOrCreateResponse(secret_id=self.fake.new_id("st")))

    async def VolumeCommit(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        self._volume_by_id(req.volume_id).commits += 1
        await stream.send_message(api_pb2.VolumeCommitResponse(skip_reload=True))

    async def FunctionPrecreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        fid = req.existing_function_id or self.fake.new_id("fu")
        await stream.send_message(
            api_pb2.FunctionPrecreateResponse(
                function_id=fid,
                handle_metadata=api_pb2.FunctionHandleMetadata(
                    function_name=req.function_name, function_type=req.function_type, app_id=req.app_id
                ),
            )
        )

    async def FunctionCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        if req.function_data.ranked_functions:
            definition = api_pb2.Function()
            definition.CopyFrom(req.function_data.ranked_functions[0].function)
            definition.function_name = req.function_data.function_name
            definition.schedule.CopyFrom(req.function_data.schedule)
        else:
            definition = api_pb2.Function()
            definition.CopyFrom(req.function)
        if req.HasField("schedule"):
            definition.schedule.CopyFrom(req.schedule)
        fid = req.existing_function_id or self.fake.new_id("fu")
        fn = FakeFunction(fid, req.app_id, definition.function_name, definition)
        with self.fake.lock:
            self.fake.functions[fid] = fn
        await stream.send_message(
            api_pb2.FunctionCreateResponse(
                function_id=fid, handle_metadata=_handle(fn), function_data=_function_data(fn)
            )
        )

    # ---- functions and calls ---------------------------------------------------------------

    async def FunctionGet(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            app = self.fake._app_by_name(req.app_name)
            fid = app.functions.get(req.object_tag) if app else None
            fn = self.fake.functions.get(fid) if fid else None
        if app is None:
            raise GRPCError(Status.NOT_FOUND, f"App '{req.app_name}' not found")
        if fn is None:
            raise GRPCError(Status.NOT_FOUND, f"Function '{req.object_tag}' not found in '{req.app_name}'")
        await stream.send_message(
            api_pb2.FunctionGetResponse(
                function_id=fn.function_id, handle_metadata=_handle(fn), function=_function_data(fn)
            )
        )

    async def FunctionBindParams(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            base = self.fake.functions[req.function_id]
            definition = api_pb2.Function()
            definition.CopyFrom(base.definition)
            if req.function_options.HasField("resources"):
                definition.resources.CopyFrom(req.function_options.resources)
            bound = FakeFunction(
                self.fake.new_id("fu"), base.app_id, base.tag, definition, base_id=base.function_id
            )
            self.fake.functions[bound.function_id] = bound
        await stream.send_message(
            api_pb2.FunctionBindParamsResponse(
                bound_function_id=bound.function_id, handle_metadata=_handle(bound)
            )
        )

    async def FunctionMap(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            fn = self.fake.functions.get(req.function_id)
            app = self.fake.apps.get(fn.app_id) if fn else None
        if fn is None or app is None or app.state != "deployed":
            raise GRPCError(Status.NOT_FOUND, "Function not found or its app is stopped")
        with self.fake.lock:
            exhausted = self.fake.exhaust_spawns > 0
            if exhausted:
                self.fake.exhaust_spawns -= 1
        if exhausted:
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "No capacity for the requested GPU (fake)")
        call = self.fake.spawn(fn, req.pipelined_inputs[0])
        await stream.send_message(
            api_pb2.FunctionMapResponse(
                function_call_id=call.call_id,
                function_call_jwt="fc-jwt",
                pipelined_inputs=[
                    api_pb2.FunctionPutInputsResponseItem(idx=0, input_id=call.input_id, input_jwt="in-jwt")
                ],
            )
        )

    def _call(self, call_id: str) -> FakeCall:
        with self.fake.lock:
            call = self.fake.calls.get(call_id)
        if call is None:
            raise GRPCError(Status.NOT_FOUND, f"Function call {call_id} not found")
        return call

    async def FunctionGetOutputs(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        call = self._call(req.function_call_id)
        deadline = time.monotonic() + max(0.0, req.timeout)
        while call.result is None and time.monotonic() < deadline:
            await self.fake.wait_changed(deadline - time.monotonic())
        if call.result is None:
            await stream.send_message(api_pb2.FunctionGetOutputsResponse(num_unfinished_inputs=1))
            return
        item = api_pb2.FunctionGetOutputsItem(
            result=call.result, idx=0, input_id=call.input_id, data_format=api_pb2.DATA_FORMAT_PICKLE
        )
        await stream.send_message(api_pb2.FunctionGetOutputsResponse(outputs=[item], num_unfinished_inputs=0))

    async def FunctionCallCancel(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        self._call(req.function_call_id).stop.set()
        await stream.send_message(Empty())

    async def FunctionCallFromId(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        call = self._call(req.function_call_id)
        await stream.send_message(
            api_pb2.FunctionCallFromIdResponse(
                function_call_id=call.call_id,
                num_inputs=1,
                metadata=api_pb2.FunctionCallHandleMetadata(app_id=call.app_id, function_id=call.function_id),
            )
        )

    async def FunctionCallGetInfo(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        call = self._call(req.function_call_id)
        counts = {
            state: api_pb2.InputCategoryInfo(total=int(call.state == state))
            for state in ("succeeded", "failed", "cancelled")
        }
        info = api_pb2.FunctionCallInfo(
            function_call_id=call.call_id,
            created_at=call.created_at,
            total_inputs=1,
            succeeded_inputs=counts["succeeded"],
            failed_inputs=counts["failed"],
            cancelled_inputs=counts["cancelled"],
        )
        await stream.send_message(api_pb2.FunctionCallGetInfoResponse(info=info))

    # ---- logs ------------------------------------------------------------------------------

    def _matching_logs(self, req: Any, after: int = 0) -> list[LogRecord]:
        fd = getattr(req, "file_descriptor", 0) or getattr(req, "source", 0)
        visible = time.time_ns() - int(self.fake.log_lag_s * 1e9)
        with self.fake.lock:
            return [
                r
                for r in self.fake.logs
                if r.entry_id > after
                and r.ts_ns <= visible
                and r.app_id == req.app_id
                and (not req.function_call_id or r.function_call_id == req.function_call_id)
                and (not req.function_id or r.function_id == req.function_id)
                and (not fd or r.fd == fd)
            ]

    @staticmethod
    def _items(records: list[LogRecord]) -> list[api_pb2.TaskLogs]:
        return [
            api_pb2.TaskLogs(
                data=r.data,
                timestamp=r.ts_ns / 1e9,
                timestamp_ns=r.ts_ns,
                file_descriptor=r.fd,  # type: ignore[arg-type]
                function_call_id=r.function_call_id,
                container_id="ta-fake",
            )
            for r in records
        ]

    async def AppGetLogs(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            drop_after = self.fake.drop_log_streams.pop(0) if self.fake.drop_log_streams else None
            newest = max((r.entry_id for r in self.fake.logs), default=0)
            refuse = self.fake.refuse_log_streams > 0
            if refuse:
                self.fake.refuse_log_streams -= 1
            generation = self.fake.log_stream_generation
        if refuse:
            raise GRPCError(Status.UNAVAILABLE, "log service unavailable (fake outage)")
        start = 0 if self.fake.stream_from_start else newest
        after = int(req.last_entry_id) if req.last_entry_id else start
        deadline = time.monotonic() + (req.timeout or 55.0)
        sent = 0
        while time.monotonic() < deadline:
            if self.fake.log_stream_generation != generation:
                raise GRPCError(Status.UNAVAILABLE, "log stream broken (fake outage)")
            records = self._matching_logs(req, after)
            if records:
                if drop_after is not None and sent >= drop_after:
                    raise GRPCError(Status.UNAVAILABLE, "log stream interrupted (fake)")
                after = records[-1].entry_id
                await stream.send_message(
                    api_pb2.TaskLogsBatch(entry_id=str(after), items=self._items(records), task_id="ta-fake")
                )
                sent += 1
                continue
            await self.fake.wait_changed(min(1.0, deadline - time.monotonic()))

    def _in_range(self, req: Any) -> list[LogRecord]:
        since = req.since.seconds * 10**9 + req.since.nanos
        until = req.until.seconds * 10**9 + req.until.nanos
        return [r for r in self._matching_logs(req) if since <= r.ts_ns < until]

    async def AppCountLogs(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        width = max(1, req.bucket_secs) * 10**9
        counts: dict[int, list[int]] = {}
        for r in self._in_range(req):
            start = r.ts_ns - r.ts_ns % width
            slot = counts.setdefault(start, [0, 0, 0])
            slot[
                0
                if r.fd == api_pb2.FILE_DESCRIPTOR_STDOUT
                else 1
                if r.fd == api_pb2.FILE_DESCRIPTOR_STDERR
                else 2
            ] += 1
        buckets = []
        for start, (out, err, system) in sorted(counts.items()):
            bucket = api_pb2.AppCountLogsResponse.LogBucket(
                stdout_logs=out, stderr_logs=err, system_logs=system
            )
            bucket.bucket_start_at.FromNanoseconds(start)
            buckets.append(bucket)
        await stream.send_message(api_pb2.AppCountLogsResponse(app_id=req.app_id, buckets=buckets))

    async def AppFetchLogs(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        records = self._in_range(req)[: req.limit or None]
        batch = api_pb2.TaskLogsBatch(items=self._items(records), task_id="ta-fake")
        await stream.send_message(api_pb2.AppFetchLogsResponse(batches=[batch] if records else []))

    # ---- volumes ---------------------------------------------------------------------------

    async def VolumeGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            vol = self.fake.volumes.get(req.deployment_name)
            if vol is None and req.object_creation_type == api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                vol = self.fake.create_volume(req.deployment_name)
        if vol is None:
            raise GRPCError(Status.NOT_FOUND, f"Volume '{req.deployment_name}' not found")
        metadata = api_pb2.VolumeMetadata(version=api_pb2.VOLUME_FS_VERSION_V2, name=vol.name)
        await stream.send_message(
            api_pb2.VolumeGetOrCreateResponse(
                volume_id=vol.volume_id, version=metadata.version, metadata=metadata
            )
        )

    def _volume_by_id(self, volume_id: str) -> FakeVolume:
        with self.fake.lock:
            for vol in self.fake.volumes.values():
                if vol.volume_id == volume_id:
                    return vol
        raise GRPCError(Status.NOT_FOUND, f"Volume {volume_id} not found")

    async def VolumeListFiles2(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        vol = self._volume_by_id(req.volume_id)
        rel = _volume_path(req.path)
        target = vol.root / rel if rel else vol.root
        if not target.exists():
            raise GRPCError(Status.NOT_FOUND, f"No such file or directory: {req.path}")
        paths = (
            [target] if target.is_file() else sorted(target.rglob("*") if req.recursive else target.iterdir())
        )
        entries = []
        for p in paths:
            st = p.stat()
            entries.append(
                api_pb2.FileEntry(
                    path=str(p.relative_to(vol.root)),
                    type=api_pb2.FileEntry.FileType.DIRECTORY
                    if p.is_dir()
                    else api_pb2.FileEntry.FileType.FILE,
                    mtime=int(st.st_mtime),
                    size=0 if p.is_dir() else st.st_size,
                )
            )
        await stream.send_message(api_pb2.VolumeListFiles2Response(entries=entries))

    async def VolumeGetFile2(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        vol = self._volume_by_id(req.volume_id)
        target = vol.root / _volume_path(req.path)
        if not target.is_file():
            raise GRPCError(Status.NOT_FOUND, f"No such file: {req.path}")
        size = target.stat().st_size
        start = min(req.start, size)
        length = size - start if not req.len else min(req.len, size - start)
        await stream.send_message(
            api_pb2.VolumeGetFile2Response(
                get_urls=self.fake.block_urls(target, start, length), size=size, start=start, len=length
            )
        )

    # ---- dicts -----------------------------------------------------------------------------

    async def DictGetOrCreate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        with self.fake.lock:
            d = self.fake.dicts.get(req.deployment_name)
            if d is None and req.object_creation_type == api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                d = FakeDict(self.fake.new_id("di"), req.deployment_name)
                self.fake.dicts[d.name] = d
        if d is None:
            raise GRPCError(Status.NOT_FOUND, f"Dict '{req.deployment_name}' not found")
        await stream.send_message(api_pb2.DictGetOrCreateResponse(dict_id=d.dict_id))

    def _dict(self, dict_id: str) -> FakeDict:
        with self.fake.lock:
            for d in self.fake.dicts.values():
                if d.dict_id == dict_id:
                    return d
        raise GRPCError(Status.NOT_FOUND, f"Dict {dict_id} not found")

    async def DictUpdate(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        d = self._dict(req.dict_id)
        created = True
        with self.fake.lock:  # the whole update is atomic, as Modal's is
            if req.if_not_exists and any(e.key in d.data for e in req.updates):
                created = False
            else:
                for e in req.updates:
                    d.data[e.key] = e.value
        await stream.send_message(api_pb2.DictUpdateResponse(created=created))

    async def DictGet(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        d = self._dict(req.dict_id)
        with self.fake.lock:
            value = d.data.get(req.key)
        await stream.send_message(api_pb2.DictGetResponse(found=value is not None, value=value or b""))

    async def DictContains(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        d = self._dict(req.dict_id)
        with self.fake.lock:
            found = req.key in d.data
        await stream.send_message(api_pb2.DictContainsResponse(found=found))

    async def DictPop(self, stream: Stream[Any, Any]) -> None:
        req = await stream.recv_message()
        d = self._dict(req.dict_id)
        with self.fake.lock:
            value = d.data.pop(req.key, None)
        await stream.send_message(api_pb2.DictPopResponse(found=value is not None, value=value or b""))

    async def DictHeartbeat(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(Empty())
