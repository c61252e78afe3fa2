"""The chain's side services: faucet and admin.

Upstream defines these with hand-written gRPC service descriptions whose messages are BCS, not
protobuf (there are no .proto files for them), so they are served here with grpc's generic
handlers and our own BCS codecs:

* ``/faucet.Faucet/RequestGas``: ``GasRequest { recipient: String }`` →
  ``GasResponse { status: String, coins_sent: Vec<GasCoinInfo { amount: u64, id: String,
  transfer_tx_digest: String }> }``.
* ``/admin.Admin/AdvanceEpoch``: ``AdvanceEpochRequest {}`` (empty) →
  ``AdvanceEpochResponse { epoch: u64 }``.
* ``/admin.Admin/Fund`` (devnet only, not upstream): ``{ recipient: String, amount: u64 }`` →
  a ``GasResponse`` as above; mints one coin of ``amount`` shannons (tests and demos).

The scoring service (``/scoring.Scoring/*``) is in ``scoring_service``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from soma_console.core.bcs import BcsError, Reader, Writer
from soma_console.devnet.convert.incoming import BadRequest, address
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.models import EpochEvent
from soma_console.devnet.engine.objects import hex_id
from soma_console.encoding import b58encode

log = logging.getLogger("soma_console.devnet")


def _identity(data: bytes) -> bytes:
    return data


def _gas_response(amount: int, coin_id: bytes, digest: bytes) -> bytes:
    w = Writer().string("Success").uleb(1)
    return w.u64(amount).string(hex_id(coin_id)).string(b58encode(digest)).to_bytes()


def _unary(fn: Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]) -> grpc.RpcMethodHandler:
    async def wrapped(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            return await fn(request, context)
        except (BcsError, BadRequest) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("devnet: side service failed")
            await context.abort(
                grpc.StatusCode.INTERNAL, f"devnet internal error: {type(exc).__name__}: {exc}"
            )
        return b""  # pragma: no cover - abort raises

    return grpc.unary_unary_rpc_method_handler(
        wrapped, request_deserializer=_identity, response_serializer=_identity
    )


def faucet_handler(
    engine: Engine, pool: ThreadPoolExecutor, on_grant: Callable[[bytes, int], None] | None = None
) -> grpc.GenericRpcHandler:
    async def request_gas(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        r = Reader(request)
        recipient_text = r.string()
        r.finish()
        try:
            recipient = address(recipient_text, "recipient")
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid address: {exc}")
            raise  # pragma: no cover
        grant = await asyncio.get_running_loop().run_in_executor(pool, lambda: engine.faucet(recipient))
        if on_grant is not None:
            on_grant(recipient, grant.amount)
        return _gas_response(grant.amount, grant.coin_id, grant.digest)

    return grpc.method_handlers_generic_handler("faucet.Faucet", {"RequestGas": _unary(request_gas)})


def admin_handler(
    engine: Engine,
    pool: ThreadPoolExecutor,
    on_advance: Callable[[int, list[EpochEvent]], None] | None = None,
) -> grpc.GenericRpcHandler:
    async def advance_epoch(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        # AdvanceEpochRequest is an empty struct: zero bytes. Anything else is not from a client.
        if request:
            raise BadRequest("AdvanceEpochRequest takes no fields")
        new_epoch, events = await asyncio.get_running_loop().run_in_executor(pool, engine.advance_epoch)
        if on_advance is not None:
            on_advance(new_epoch, events)
        return Writer().u64(new_epoch).to_bytes()

    async def fund(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        r = Reader(request)
        recipient = address(r.string(), "recipient")
        amount = r.u64()
        r.finish()
        if amount == 0:
            raise BadRequest("amount must be positive")
        grant = await asyncio.get_running_loop().run_in_executor(
            pool, lambda: engine.faucet(recipient, amount)
        )
        return _gas_response(grant.amount, grant.coin_id, grant.digest)

    return grpc.method_handlers_generic_handler(
        "admin.Admin", {"AdvanceEpoch": _unary(advance_epoch), "Fund": _unary(fund)}
    )


def decode_gas_response(data: bytes) -> dict[str, Any]:
    """For tests and the CLI: GasResponse BCS → plain dict."""
    r = Reader(data)
    status = r.string()
    coins = r.seq(lambda: {"amount": r.u64(), "id": r.string(), "transfer_tx_digest": r.string()})
    r.finish()
    return {"status": status, "coins_sent": coins}
