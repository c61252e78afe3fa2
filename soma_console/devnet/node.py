"""The devnet node: engine + gRPC services + blob endpoint + epoch timer, in one process.

``DevnetNode(config).start()`` binds every port (or raises a one-line :class:`PortInUse`),
serves from background threads and returns at once; ``stop()`` shuts everything down and
releases the state directory. ``soma-console devnet`` runs one in the foreground; ``soma-console
demo`` runs that command (with ``--submitter``) as a child of the console process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from soma_console.core.txdata import TransactionData
from soma_console.core.txkinds import RevealModel
from soma_console.devnet import bcs_services
from soma_console.devnet.blobs import DEFAULT_MAX_BYTES, BlobServer
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.errors import StateError
from soma_console.devnet.engine.models import ACTIVE, EpochEvent
from soma_console.devnet.engine.objects import hex_id, parse_hex32
from soma_console.devnet.engine.params import DEFAULT_EPOCH_DURATION_MS, MODEL_PRESETS, ChainParams
from soma_console.devnet.engine.values import Effects
from soma_console.devnet.rpc_front import RpcFront
from soma_console.devnet.scoring_service import ScoringService
from soma_console.devnet.server import SERVER_OPTIONS, RpcServices
from soma_console.devnet.weights_check import WeightsChecker, registry_view
from soma_console.errors import UserError
from soma_console.scoring.arch import Arch

log = logging.getLogger("soma_console.devnet")


class PortInUse(UserError):
    pass


class DevnetStateError(UserError):
    pass


@dataclass(frozen=True)
class DevnetConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    rpc_port: int = 9000
    faucet_port: int = 9123
    scoring_port: int = 9124
    admin_port: int = 9125
    blob_port: int = 9210
    epoch_seconds: float = 60.0
    fund: tuple[str, ...] = ()
    fund_shannons: int | None = None  # what each ``fund`` address gets (None: one faucet grant)
    fund_below_shannons: int | None = None  # fund only addresses holding less than this
    blob_max_bytes: int = DEFAULT_MAX_BYTES
    check_weights: bool = True
    # "v1" or "tiny" (engine.params.MODEL_PRESETS): the chain's embedding size and the
    # scoring service's model configuration.
    model_preset: str = "v1"


@dataclass(frozen=True)
class Endpoints:
    host: str
    rpc: int
    faucet: int
    scoring: int
    admin: int
    blob: int

    def url(self, port: int) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host  # noqa: S104
        return f"http://{host}:{port}"

    def as_dict(self) -> dict[str, str]:
        return {
            "rpc_url": self.url(self.rpc),
            "faucet_url": self.url(self.faucet),
            "scoring_url": self.url(self.scoring),
            "admin_url": self.url(self.admin),
            "blob_url": self.url(self.blob),
        }


def _check_port_free(host: str, port: int, what: str) -> None:
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise _port_error(host, port, what, exc) from None


def _port_error(host: str, port: int, what: str, exc: BaseException | None = None) -> UserError:
    flag = {"rpc": "--port"}.get(what, f"--{what}-port")
    if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL:
        return PortInUse(
            f"cannot listen on {host}:{port} ({what}): no such local address.", hint="Check --host."
        )
    return PortInUse(
        f"port {port} on {host} ({what}) is already in use.",
        hint=f"Stop the program using it (maybe another devnet) or pick another port with {flag}.",
    )


def chain_params(config: DevnetConfig) -> ChainParams:
    """The chain's parameters for a node configuration.

    With ``epoch_seconds == 0`` epochs advance on request only, and the chain reports the
    default epoch length (86,400,000 ms) like a real localnet whose epochs are advanced by hand.
    """
    preset = MODEL_PRESETS[config.model_preset]
    duration = int(config.epoch_seconds * 1000) or DEFAULT_EPOCH_DURATION_MS
    return ChainParams(epoch_duration_ms=duration, target_embedding_dim=preset.embedding_dim)


class DevnetNode:
    def __init__(self, config: DevnetConfig, *, params: ChainParams | None = None) -> None:
        self.config = config
        self.params = params or chain_params(config)
        self.engine: Engine | None = None
        self.endpoints: Endpoints | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[grpc.aio.Server] = []
        self._blobs: BlobServer | None = None
        self._front: RpcFront | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._checker: WeightsChecker | None = None
        self._scoring: ScoringService | None = None
        self._stop_timer = threading.Event()
        self._timer: threading.Thread | None = None
        self._stopped = threading.Event()
        self.on_event: Callable[[str], None] | None = None

    # -- start / stop ------------------------------------------------------------------------

    def start(self) -> Endpoints:
        c = self.config
        for what, port in (
            ("rpc", c.rpc_port),
            ("faucet", c.faucet_port),
            ("scoring", c.scoring_port),
            ("admin", c.admin_port),
            ("blob", c.blob_port),
        ):
            _check_port_free(c.host, port, what)
        try:
            self.engine = Engine(c.state_dir, params=self.params)
        except StateError as exc:
            raise DevnetStateError(str(exc)) from None
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise
        assert self.endpoints is not None
        return self.endpoints

    def _start_services(self) -> None:
        c = self.config
        engine = self.engine
        assert engine is not None
        try:
            self._blobs = BlobServer(c.state_dir / "blobs", c.host, c.blob_port, max_bytes=c.blob_max_bytes)
        except OSError as exc:
            raise _port_error(c.host, c.blob_port, "blob", exc) from None
        self._blobs.extra_routes["/devnet/registry"] = lambda: registry_view(engine)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devnet-engine")
        if c.check_weights:
            self._checker = WeightsChecker(engine)
            self._checker.start()
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready: dict[str, Any] = {}
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                ready["ports"] = loop.run_until_complete(self._serve())
            except BaseException as exc:
                ready["error"] = exc
            started.set()
            if "error" not in ready:
                loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped.set()

        self._thread = threading.Thread(target=run, name="devnet-grpc", daemon=True)
        self._thread.start()
        started.wait()
        if "error" in ready:
            self._thread.join(timeout=5)
            raise ready["error"]
        grpc_rpc, faucet, scoring, admin = ready["ports"]
        # gRPC and the full node's HTTP proxy routes share the RPC port, as on a full node.
        self._front = RpcFront(engine, c.host, c.rpc_port, grpc_rpc)
        try:
            rpc = self._front.start()
        except OSError as exc:
            raise _port_error(c.host, c.rpc_port, "rpc", exc) from None
        self._blobs.start()
        self.endpoints = Endpoints(c.host, rpc, faucet, scoring, admin, self._blobs.port)
        for addr in c.fund:
            owner = parse_hex32(addr, "address")
            if c.fund_below_shannons is not None and engine.balance(owner) >= c.fund_below_shannons:
                continue
            grant = engine.faucet(owner, c.fund_shannons)
            self._event(f"funded {addr} with {grant.amount / 1e9:g} SOMA")
        if self._checker is not None:
            for model_id, model in engine.snapshot().models.items():
                if model.state == ACTIVE:
                    self._checker.submit(model_id, model)
        if c.epoch_seconds > 0:
            self._timer = threading.Thread(target=self._epoch_timer, name="devnet-epochs", daemon=True)
            self._timer.start()

    async def _serve(self) -> tuple[int, int, int, int]:
        c = self.config
        engine = self.engine
        pool = self._pool
        assert engine is not None
        assert pool is not None
        self._scoring = ScoringService(_scoring_arch(c.model_preset), c.state_dir / "scoring-cache")
        specs: list[tuple[str, int, list[grpc.GenericRpcHandler]]] = [
            # on a private loopback port behind the RPC front (rpc_front.RpcFront)
            ("rpc", 0, RpcServices(engine, pool, self._after_execute).handlers()),
            ("faucet", c.faucet_port, [bcs_services.faucet_handler(engine, pool, self._after_grant)]),
            ("scoring", c.scoring_port, [self._scoring.handler()]),
            ("admin", c.admin_port, [bcs_services.admin_handler(engine, pool, self._report_epoch)]),
        ]
        ports = []
        for what, port, handlers in specs:
            server = grpc.aio.server(options=SERVER_OPTIONS)
            server.add_generic_rpc_handlers(handlers)
            host = "127.0.0.1" if what == "rpc" else c.host
            addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            try:
                bound = server.add_insecure_port(addr)
            except RuntimeError as exc:
                raise _port_error(c.host, port, what, exc) from None
            if bound == 0:
                raise _port_error(c.host, port, what)
            await server.start()
            self._servers.append(server)
            ports.append(bound)
        return ports[0], ports[1], ports[2], ports[3]

    def stop(self) -> None:
        """Idempotent; safe to call from any thread except the node's own."""
        self._stop_timer.set()
        if self._timer is not None:
            self._timer.join(timeout=5)
            self._timer = None
        if self._front is not None:
            self._front.stop()
            self._front = None
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():

            async def shutdown() -> None:
                await asyncio.gather(*(s.stop(grace=0.5) for s in self._servers), return_exceptions=True)
                loop.stop()

            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(shutdown(), loop)
            self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._servers = []
        if self._blobs is not None:
            self._blobs.stop()
            self._blobs = None
        if self._checker is not None:
            self._checker.stop()
            self._checker = None
        if self._scoring is not None:
            self._scoring.close()
            self._scoring = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def __enter__(self) -> DevnetNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- hooks -------------------------------------------------------------------------------

    def _event(self, text: str) -> None:
        log.info("devnet: %s", text)
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(text)

    def _after_execute(self, tx: TransactionData, effects: Effects) -> None:
        if isinstance(tx.kind, RevealModel) and self._checker is not None and self.engine is not None:
            model = self.engine.model(tx.kind.model_id)
            if model is not None:
                self._checker.submit(tx.kind.model_id, model)

    def _after_grant(self, recipient: bytes, amount: int) -> None:
        self._event(f"faucet: {amount / 1e9:g} SOMA to 0x{recipient.hex()}")

    def _after_advance(self, epoch: int) -> None:
        self._event(f"epoch {epoch} started")

    def advance_epoch(self) -> int:
        """Advance now (the demo's "next epoch" key); returns the new epoch."""
        assert self.engine is not None
        epoch, events = self.engine.advance_epoch()
        self._report_epoch(epoch, events)
        return epoch

    def _report_epoch(self, epoch: int, events: list[EpochEvent]) -> None:
        self._after_advance(epoch)
        note = self.engine.boundary_note if self.engine is not None else None
        if note:
            self._event(f"epoch {epoch}: {note}")
        for ev in events:
            amount = f" ({ev.amount / 1e9:g} SOMA)" if ev.amount else ""
            self._event(f"model {hex_id(ev.model_id)}: {ev.what.replace('_', ' ')}{amount}")

    def _epoch_timer(self) -> None:
        while not self._stop_timer.wait(0.2):
            engine = self.engine
            if engine is None:
                return
            try:
                advanced = engine.advance_epoch_if_due()
            except Exception:
                log.exception("devnet: epoch timer failed")
                continue
            if advanced is not None:
                self._report_epoch(*advanced)


def _scoring_arch(preset_name: str) -> Arch:
    """The scoring service evaluates the chain's own preset (the one that sets its embedding size)."""
    try:
        p = MODEL_PRESETS[preset_name]
    except KeyError:
        raise UserError(
            f"unknown model preset {preset_name!r}; use one of {', '.join(sorted(MODEL_PRESETS))}."
        ) from None
    return Arch(
        name=p.name,
        embedding_dim=p.embedding_dim,
        num_layers=p.num_layers,
        num_heads=p.num_heads,
        pwff_hidden_dim=p.pwff_hidden_dim,
        vocab_size=p.vocab_size,
    )
