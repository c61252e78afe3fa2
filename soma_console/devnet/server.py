"""The devnet's gRPC services, served with grpc.aio on one event loop.

* RPC port: the four protobuf services of a full node (package ``soma.rpc``).
* faucet, admin and scoring ports: the chain's small side services. Like the real ones they use
  BCS, not protobuf, on plain gRPC framing (see ``bcs_services``).

Engine calls run on a small thread pool so the event loop keeps serving streams while a
transaction is being written. Every handler turns bad input into INVALID_ARGUMENT with a
message and any unexpected exception into INTERNAL, so no request can take the node down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError, Message

from soma_console.core.txdata import (
    TransactionData,
    address_from_ed25519,
    signing_digest,
    transaction_digest,
)
from soma_console.devnet import target_views
from soma_console.devnet.convert import incoming, outgoing
from soma_console.devnet.convert.incoming import BadRequest
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.errors import TxRejected
from soma_console.devnet.engine.objects import hex_id
from soma_console.devnet.engine.values import Checkpoint, Effects
from soma_console.devnet.proto import services_pb2 as svc
from soma_console.devnet.proto import state_pb2
from soma_console.devnet.registry_bytes import RegistryEncoder
from soma_console.devnet.registry_bytes import length_delimited as _length_delimited
from soma_console.encoding import b58encode

log = logging.getLogger("soma_console.devnet")

# check_api_version compares the part after the slash with the SDK's API version (0.1.19 in soma-sdk 0.1.15).
SERVER_VERSION = "soma-console-devnet/0.1.19"
# A chain whose identifier is not testnet's is "localnet" to upstream code (Chain::Unknown).
CHAIN_NAME = "localnet"

# tonic clients ping every few seconds; without these grpc-core answers GOAWAY
# ("too_many_pings") and the SDK's calls start failing after a minute.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.so_reuseport", 0),  # a second devnet on the same port must fail, not share it
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
]

M = TypeVar("M", bound=Message)
R = TypeVar("R")
AfterExecute = Callable[[TransactionData, Effects], None]


class _Malformed:
    """Stands in for a request body that is not valid protobuf."""

    def __init__(self, error: str) -> None:
        self.error = error


def _deserializer(cls: type[M]) -> Callable[[bytes], M | _Malformed]:
    def parse(data: bytes) -> M | _Malformed:
        try:
            return cls.FromString(data)
        except (DecodeError, RuntimeError, ValueError) as exc:
            return _Malformed(f"request is not a valid {cls.DESCRIPTOR.full_name}: {exc}")

    return parse


def _serialize(message: Message | bytes) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> None:
    await context.abort(code, message)


def _mask_paths(mask: Any) -> set[str]:
    return set(mask.paths) if mask is not None else set()


class RpcServices:
    """The protobuf services of the RPC port."""

    def __init__(
        self, engine: Engine, pool: ThreadPoolExecutor, after_execute: AfterExecute | None = None
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.after_execute = after_execute
        self.registry = RegistryEncoder()

    async def _run(self, fn: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    # -- registration ------------------------------------------------------------------------

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(fn: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], req: type[Message]) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(fn), request_deserializer=_deserializer(req), response_serializer=_serialize
            )

        ledger = {
            "GetServiceInfo": unary(self.get_service_info, svc.GetServiceInfoRequest),
            "GetObject": unary(self.get_object, svc.GetObjectRequest),
            "GetTransaction": unary(self.get_transaction, svc.GetTransactionRequest),
            "GetCheckpoint": unary(self.get_checkpoint, svc.GetCheckpointRequest),
            "GetEpoch": unary(self.get_epoch, svc.GetEpochRequest),
        }
        state = {
            "ListOwnedObjects": unary(self.list_owned_objects, svc.ListOwnedObjectsRequest),
            "GetBalance": unary(self.get_balance, svc.GetBalanceRequest),
            "GetTarget": unary(self.get_target, svc.GetTargetRequest),
            "ListTargets": unary(self.list_targets, svc.ListTargetsRequest),
        }
        execution = {
            "ExecuteTransaction": unary(self.execute_transaction, svc.ExecuteTransactionRequest),
            "SimulateTransaction": unary(self.simulate_transaction, svc.SimulateTransactionRequest),
        }
        subscription = {
            "SubscribeCheckpoints": grpc.unary_stream_rpc_method_handler(
                self.subscribe_checkpoints,
                request_deserializer=_deserializer(svc.SubscribeCheckpointsRequest),
                response_serializer=_serialize,
            )
        }
        return [
            grpc.method_handlers_generic_handler("soma.rpc.LedgerService", ledger),
            grpc.method_handlers_generic_handler("soma.rpc.StateService", state),
            grpc.method_handlers_generic_handler("soma.rpc.TransactionExecutionService", execution),
            grpc.method_handlers_generic_handler("soma.rpc.SubscriptionService", subscription),
        ]

    def _guard(
        self, fn: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.error)
            try:
                return await fn(request, context)
            except BadRequest as exc:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except TxRejected as exc:
                await _abort(
                    context, getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INVALID_ARGUMENT), exc.message
                )
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("devnet: %s failed", getattr(fn, "__name__", "request"))
                await _abort(
                    context, grpc.StatusCode.INTERNAL, f"devnet internal error: {type(exc).__name__}: {exc}"
                )
            return None

        return wrapped

    # -- LedgerService -------------------------------------------------------------------------

    async def get_service_info(
        self, request: svc.GetServiceInfoRequest, context: Any
    ) -> svc.GetServiceInfoResponse:
        def build() -> svc.GetServiceInfoResponse:
            cp = self.engine.checkpoint()
            resp = svc.GetServiceInfoResponse(
                chain_id=b58encode(self.engine.chain_identifier),
                chain=CHAIN_NAME,
                epoch=self.engine.epoch,
                lowest_available_checkpoint=0,
                lowest_available_checkpoint_objects=0,
                server=SERVER_VERSION,
            )
            if cp is not None:
                resp.checkpoint_height = cp.sequence_number
                resp.timestamp.CopyFrom(outgoing.timestamp(cp.timestamp_ms))
            return resp

        return await self._run(build)

    async def get_object(
        self, request: svc.GetObjectRequest, context: grpc.aio.ServicerContext
    ) -> svc.GetObjectResponse:
        if not request.HasField("object_id"):
            raise BadRequest("object_id is missing")
        oid = incoming.address(request.object_id, "object_id")
        target = await self._run(lambda: self.engine.target(oid))
        if target is not None and (not request.HasField("version") or request.version == target.version):
            return svc.GetObjectResponse(object=outgoing.target_object_msg(target))
        obj = await self._run(lambda: self.engine.get_object(oid))
        if obj is None or (request.HasField("version") and request.version != obj.version):
            which = f" at version {request.version}" if request.HasField("version") else ""
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"object {hex_id(oid)}{which} not found")
        assert obj is not None
        return svc.GetObjectResponse(object=outgoing.object_msg(obj))

    async def get_transaction(
        self, request: svc.GetTransactionRequest, context: grpc.aio.ServicerContext
    ) -> svc.GetTransactionResponse:
        if not request.HasField("digest"):
            raise BadRequest("digest is missing")
        digest = incoming.digest32(request.digest, "digest")
        effects = await self._run(lambda: self.engine.transaction(digest))
        if effects is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"transaction {request.digest} not found")
        assert effects is not None
        return svc.GetTransactionResponse(transaction=outgoing.executed_msg(effects))

    async def get_checkpoint(
        self, request: svc.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> svc.GetCheckpointResponse:
        which = request.WhichOneof("checkpoint_id")
        if which == "digest":
            dig = incoming.digest32(request.digest, "digest")
            cp = await self._run(lambda: self.engine.checkpoint(digest=dig))
        else:
            seq = request.sequence_number if which == "sequence_number" else None
            cp = await self._run(lambda: self.engine.checkpoint(seq))
        if cp is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND, "checkpoint not found")
        assert cp is not None
        return svc.GetCheckpointResponse(checkpoint=outgoing.checkpoint_msg(cp, full=True))

    async def get_epoch(self, request: svc.GetEpochRequest, context: grpc.aio.ServicerContext) -> bytes:
        paths = (
            _mask_paths(request.read_mask)
            if request.HasField("read_mask")
            else {
                "epoch",
                "first_checkpoint",
                "last_checkpoint",
                "start",
                "end",
                "protocol_config.protocol_version",
            }
        )
        return await self._run(lambda: self._epoch_bytes(request, paths))

    def _epoch_bytes(self, request: svc.GetEpochRequest, paths: set[str]) -> bytes:
        snap = self.engine.snapshot()
        current = snap.meta.epoch
        epoch = request.epoch if request.HasField("epoch") else current
        if epoch > current:
            raise TxRejected(
                f"epoch {epoch} has not started (the current epoch is {current})", code="NOT_FOUND"
            )
        info = self.engine.epoch_info(epoch)
        msg = state_pb2.Epoch()
        if "epoch" in paths:
            msg.epoch = epoch
        if info is not None:
            if "first_checkpoint" in paths:
                msg.first_checkpoint = info.first_checkpoint
            if "last_checkpoint" in paths and info.last_checkpoint is not None:
                msg.last_checkpoint = info.last_checkpoint
            if "start" in paths:
                msg.start.CopyFrom(outgoing.timestamp(info.start_ms))
            if "end" in paths and info.end_ms is not None:
                msg.end.CopyFrom(outgoing.timestamp(info.end_ms))
        if "protocol_config" in paths:
            msg.protocol_config.protocol_version = snap.params.protocol_version
            for k, v in snap.params.attributes().items():
                msg.protocol_config.attributes[k] = v
            msg.protocol_config.attributes["epoch_duration_ms"] = str(snap.meta.epoch_duration_ms)
        elif "protocol_config.protocol_version" in paths:
            msg.protocol_config.protocol_version = snap.params.protocol_version
        epoch_bytes = msg.SerializeToString()
        if "system_state" in paths and epoch == current:
            epoch_bytes += self.registry.system_state_field(snap)
        return _length_delimited(1, epoch_bytes)  # GetEpochResponse.epoch

    # -- StateService --------------------------------------------------------------------------

    async def list_owned_objects(
        self, request: svc.ListOwnedObjectsRequest, context: Any
    ) -> svc.ListOwnedObjectsResponse:
        if not request.HasField("owner"):
            raise BadRequest("owner is missing")
        owner = incoming.address(request.owner, "owner")
        kind = request.object_type if request.HasField("object_type") else None
        if kind is not None and kind not in ("Coin", "StakedSoma", "SystemState", "Target"):
            raise BadRequest(f"unknown object_type {kind!r}")
        size = request.page_size if request.HasField("page_size") and request.page_size > 0 else 50
        size = min(size, 1000)
        after = bytes(request.page_token) if request.HasField("page_token") else b""
        if after and len(after) != 32:
            raise BadRequest("page_token is not one this devnet handed out")
        objects = await self._run(lambda: self.engine.owned_objects(owner, kind))
        page = [o for o in objects if o.object_id > after][: size + 1]
        resp = svc.ListOwnedObjectsResponse(objects=[outgoing.object_msg(o) for o in page[:size]])
        if len(page) > size:
            resp.next_page_token = page[size - 1].object_id
        return resp

    async def get_balance(self, request: svc.GetBalanceRequest, context: Any) -> svc.GetBalanceResponse:
        if not request.HasField("owner"):
            raise BadRequest("owner is missing")
        owner = incoming.address(request.owner, "owner")
        return svc.GetBalanceResponse(balance=await self._run(lambda: self.engine.balance(owner)))

    async def get_target(
        self, request: svc.GetTargetRequest, context: grpc.aio.ServicerContext
    ) -> svc.GetTargetResponse:
        if not request.HasField("target_id"):
            raise BadRequest("target_id is missing")
        tid = incoming.address(request.target_id, "target_id")
        target = await self._run(lambda: self.engine.target(tid))
        if target is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"target {hex_id(tid)} not found")
        assert target is not None
        paths = (
            set(request.read_mask.paths)
            if request.HasField("read_mask") and request.read_mask.paths
            else target_views.GET_TARGET_DEFAULT_MASK
        )
        return svc.GetTargetResponse(target=target_views.target_msg(target, paths, None))

    async def list_targets(self, request: svc.ListTargetsRequest, context: Any) -> svc.ListTargetsResponse:
        def build() -> svc.ListTargetsResponse:
            epoch, targets = self.engine.targets()
            return target_views.list_targets(request, epoch, targets)

        return await self._run(build)

    # -- TransactionExecutionService -----------------------------------------------------------

    def _check_signed(self, request: svc.ExecuteTransactionRequest) -> tuple[TransactionData, bytes]:
        if not request.HasField("transaction"):
            raise BadRequest("transaction is missing")
        tx_msg = request.transaction
        tx = incoming.transaction_data(tx_msg)
        tx_bcs = tx.to_bcs()
        digest = transaction_digest(tx_bcs)
        if not tx_msg.HasField("digest"):
            raise BadRequest("transaction.digest is missing")
        if incoming.digest32(tx_msg.digest, "transaction.digest") != digest:
            raise BadRequest(
                f"transaction.digest {tx_msg.digest} does not match the transaction "
                f"(the devnet computes {b58encode(digest)})"
            )
        if len(request.signatures) != 1:
            raise BadRequest(f"expected exactly one signature, got {len(request.signatures)}")
        sig = request.signatures[0]
        if sig.WhichOneof("signature") != "simple":
            raise BadRequest("only simple Ed25519 signatures are supported")
        simple = sig.simple
        if simple.scheme != 0 or sig.scheme != 0:
            raise BadRequest("only the Ed25519 signature scheme is supported")
        pk, raw_sig = bytes(simple.public_key), bytes(simple.signature)
        if len(pk) != 32 or len(raw_sig) != 64:
            raise BadRequest("an Ed25519 signature needs a 32-byte public key and a 64-byte signature")
        if address_from_ed25519(pk) != tx.sender:
            raise BadRequest("the signature's public key does not belong to the transaction's sender")
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(raw_sig, signing_digest(tx_bcs))
        except (InvalidSignature, ValueError):
            raise BadRequest("the signature does not verify against the transaction") from None
        return tx, digest

    async def execute_transaction(
        self, request: svc.ExecuteTransactionRequest, context: Any
    ) -> svc.ExecuteTransactionResponse:
        def run() -> Effects:
            tx, digest = self._check_signed(request)
            effects = self.engine.execute(tx, digest)
            if self.after_execute is not None and effects.success:
                try:
                    self.after_execute(tx, effects)
                except Exception:
                    log.exception("devnet: post-transaction hook failed")
            return effects

        effects = await self._run(run)
        return svc.ExecuteTransactionResponse(transaction=outgoing.executed_msg(effects, request.transaction))

    async def simulate_transaction(
        self, request: svc.SimulateTransactionRequest, context: Any
    ) -> svc.SimulateTransactionResponse:
        if not request.HasField("transaction"):
            raise BadRequest("transaction is missing")
        tx = incoming.transaction_data(request.transaction)
        effects = await self._run(lambda: self.engine.simulate(tx))
        return svc.SimulateTransactionResponse(transaction=outgoing.executed_msg(effects))

    # -- SubscriptionService -------------------------------------------------------------------

    async def subscribe_checkpoints(
        self, request: svc.SubscribeCheckpointsRequest | _Malformed, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[svc.SubscribeCheckpointsResponse]:
        if isinstance(request, _Malformed):
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.error)
            return
        paths = _mask_paths(request.read_mask) if request.HasField("read_mask") else set()
        full = not paths or any(p.startswith(("summary", "signature", "contents", "digest")) for p in paths)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Checkpoint | None] = asyncio.Queue(maxsize=10_000)
        # One slot is kept for the end marker of a subscriber that stopped reading.
        limit = queue.maxsize - 1

        def deliver(cp: Checkpoint) -> None:
            def put() -> None:
                if queue.qsize() < limit:
                    queue.put_nowait(cp)
                elif queue.qsize() == limit:
                    queue.put_nowait(None)

            loop.call_soon_threadsafe(put)

        # Register before the headers go out: the SDK sends its transaction as soon as it sees
        # them, and its checkpoint must not slip through the gap.
        self.engine.add_listener(deliver)
        try:
            await context.send_initial_metadata(())
            # As the protocol describes, the stream begins with the latest checkpoint.
            latest = await self._run(lambda: self.engine.checkpoint())
            if latest is not None:
                yield svc.SubscribeCheckpointsResponse(
                    cursor=latest.sequence_number, checkpoint=outgoing.checkpoint_msg(latest, full=full)
                )
            while True:
                cp = await queue.get()
                if cp is None:
                    await _abort(
                        context, grpc.StatusCode.RESOURCE_EXHAUSTED, "subscriber fell too far behind"
                    )
                    return
                yield svc.SubscribeCheckpointsResponse(
                    cursor=cp.sequence_number, checkpoint=outgoing.checkpoint_msg(cp, full=full)
                )
        finally:
            self.engine.remove_listener(deliver)
