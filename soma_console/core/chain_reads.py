"""Reads of the chain through our own gRPC client, sized for the answer.

The SDK decodes at most 4 MiB per response, and the system state carries every model with its
2048-float embedding: about 600 active models already exceed that. Reads therefore go through
the RPC's own protobuf messages (``soma_console/devnet/proto``, the same ``soma.rpc`` package a
full node serves), on a channel whose receive limit is set for the whole system state:

* **the clock** (``GetEpoch`` with the read mask ``epoch,start,protocol_config``): the epoch, when
  it started and the protocol's parameters. A few kilobytes, whatever the number of models; the
  reveal path needs nothing else.
* **the registry** (``GetEpoch`` with ``system_state``): every model. The chain offers no smaller
  way to read models (they live inside the system state; GetEpoch's mask does not reach into it),
  so this read is as large as the network: about 9 KB per active model.
* **the balance** (``StateService.GetBalance``).

The SDK still signs, builds and sends transactions; nothing here needs it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from soma_console.core.chain_errors import ChainError, ChainTimeout, NodeUnreachable

MIB = 1024 * 1024
# A whole system state with 10,000 active models is ~90 MB; leave room for the network to grow.
DEFAULT_MAX_STATE_BYTES = 1024 * MIB
CLOCK_MASK = ("epoch", "start", "protocol_config")
STATE_MASK = ("epoch", "start", "system_state")
_TOO_LARGE_RE = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


class StateTooLarge(ChainError):
    """The system state is larger than the receive limit this console was given."""

    kind = "StateTooLarge"


@dataclass(frozen=True)
class EpochClock:
    """What the small read tells: the epoch, its start and the protocol's parameters."""

    epoch: int
    start_ms: int | None
    protocol_version: int | None
    attributes: Mapping[str, str]

    def attribute(self, name: str) -> int | None:
        value = self.attributes.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None


def grpc_target(rpc_url: str) -> tuple[str, bool]:
    """``http://host:port`` -> (``host:port``, secure?)."""
    parsed = urlparse(rpc_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ChainError(f"{rpc_url!r} is not an http(s):// RPC URL.")
    secure = parsed.scheme == "https"
    port = parsed.port or (443 if secure else 80)
    host = parsed.hostname
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}", secure


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / MIB:,.1f} MiB".replace(".0 MiB", " MiB") if n >= MIB else f"{n / 1024:,.0f} KiB"


def read_error(exc: BaseException, *, url: str, what: str, timeout: float, limit: int) -> ChainError:
    """A gRPC failure of one of our reads as one sentence a person can act on."""
    import grpc

    if isinstance(exc, ChainError):
        return exc
    if isinstance(exc, TimeoutError):
        return ChainTimeout(f"the chain at {url} did not answer the {what} read within {timeout:g} s.")
    if not isinstance(exc, grpc.RpcError):
        return ChainError(f"reading the {what} from {url} failed ({type(exc).__name__}).")
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        m = _TOO_LARGE_RE.search(details)
        size = f"is {_size(int(m.group(1)))}, more than" if m else "is larger than"
        return StateTooLarge(
            f"the chain's {what} {size} the {_size(limit)} this console accepts.",
            hint="Raise chain.max_state_mib in config.toml.",
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        local = "127.0.0.1" in url or "localhost" in url
        return NodeUnreachable(
            f"the chain at {url} does not answer.",
            hint="Is the node running? Start a local one with `soma-console devnet`."
            if local
            else "Check the URL and your network.",
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ChainTimeout(f"the chain at {url} did not answer the {what} read within {timeout:g} s.")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ChainError(f"the chain at {url} does not serve the {what} read (is it a SOMA full node?).")
    name = code.name.lower() if code is not None else "error"
    short = details.strip().splitlines()[0][:200] if details.strip() else "no details"
    return ChainError(f"the chain at {url} refused the {what} read ({name}: {short}).")


def decode_system_state(raw: bytes, *, url: str = "the chain") -> Any:
    """``GetEpochResponse`` bytes -> its ``SystemState`` message (protobuf's C decoder)."""
    from google.protobuf.message import DecodeError

    from soma_console.devnet.proto import services_pb2 as svc

    try:
        resp = svc.GetEpochResponse.FromString(raw)
    except DecodeError:
        raise ChainError(f"the system state {url} sent is not a valid soma.rpc message.") from None
    if not resp.epoch.HasField("system_state"):
        raise ChainError(f"{url} sent no system state.")
    return resp.epoch.system_state


class RpcReader:
    """One gRPC channel to a chain's RPC port, for reads. Belongs to one event loop."""

    def __init__(self, rpc_url: str, *, timeout: float, max_state_bytes: int = DEFAULT_MAX_STATE_BYTES):
        self.rpc_url = rpc_url
        self.timeout = timeout
        self.max_state_bytes = max_state_bytes
        self._channel: Any = None
        self._ledger: Any = None
        self._state: Any = None
        self._raw_epoch: Any = None
        self.last_state_bytes: int | None = None
        self.last_state_seconds: float | None = None

    def __repr__(self) -> str:
        return f"RpcReader({self.rpc_url!r})"

    def _stubs(self) -> tuple[Any, Any]:
        if self._channel is None:
            import grpc

            from soma_console.devnet.proto import services_pb2_grpc

            target, secure = grpc_target(self.rpc_url)
            options = [
                ("grpc.max_receive_message_length", self.max_state_bytes),
                ("grpc.max_send_message_length", 16 * MIB),
                ("grpc.enable_retries", 0),
            ]
            if secure:
                channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
            else:
                channel = grpc.aio.insecure_channel(target, options=options)
            self._channel = channel
            self._ledger = services_pb2_grpc.LedgerServiceStub(channel)
            self._state = services_pb2_grpc.StateServiceStub(channel)
        return self._ledger, self._state

    async def _call(self, what: str, method: Any, request: Any, timeout: float | None) -> Any:
        limit = self.timeout if timeout is None else timeout
        try:
            return await method(request, timeout=limit)
        except Exception as exc:
            raise read_error(
                exc, url=self.rpc_url, what=what, timeout=limit, limit=self.max_state_bytes
            ) from None

    async def clock(self, *, timeout: float | None = None) -> EpochClock:
        from google.protobuf import field_mask_pb2

        from soma_console.devnet.proto import services_pb2 as svc

        ledger, _ = self._stubs()
        req = svc.GetEpochRequest(read_mask=field_mask_pb2.FieldMask(paths=list(CLOCK_MASK)))
        resp = await self._call("epoch", ledger.GetEpoch, req, timeout)
        ep = resp.epoch
        start_ms = None
        if ep.HasField("start"):
            start_ms = ep.start.seconds * 1000 + ep.start.nanos // 1_000_000
        cfg = ep.protocol_config
        return EpochClock(
            epoch=ep.epoch,
            start_ms=start_ms,
            protocol_version=cfg.protocol_version if cfg.HasField("protocol_version") else None,
            attributes=dict(cfg.attributes),
        )

    async def system_state_bytes(self, *, timeout: float | None = None) -> bytes:
        """The current ``GetEpochResponse`` with the whole system state, still encoded: decode it
        with :func:`decode_system_state`, off the event loop (90 MB at 10,000 active models)."""
        from google.protobuf import field_mask_pb2

        from soma_console.devnet.proto import services_pb2 as svc

        self._stubs()
        if self._raw_epoch is None:
            self._raw_epoch = self._channel.unary_unary(
                "/soma.rpc.LedgerService/GetEpoch",
                request_serializer=svc.GetEpochRequest.SerializeToString,
                response_deserializer=None,  # the bytes as they came
            )
        req = svc.GetEpochRequest(read_mask=field_mask_pb2.FieldMask(paths=list(STATE_MASK)))
        started = time.perf_counter()
        raw = await self._call("system state", self._raw_epoch, req, timeout)
        self.last_state_seconds = time.perf_counter() - started
        self.last_state_bytes = len(raw)
        return bytes(raw)

    async def system_state(self, *, timeout: float | None = None) -> Any:
        """The current system state message (``state_pb2.SystemState``), models included."""
        return decode_system_state(await self.system_state_bytes(timeout=timeout), url=self.rpc_url)

    async def balance(self, address: str, *, timeout: float | None = None) -> int:
        from soma_console.devnet.proto import services_pb2 as svc

        _, state = self._stubs()
        resp = await self._call("balance", state.GetBalance, svc.GetBalanceRequest(owner=address), timeout)
        return int(resp.balance)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._ledger = self._state = self._raw_epoch = None
        if channel is not None:
            await channel.close()
