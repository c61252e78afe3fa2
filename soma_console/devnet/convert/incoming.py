"""Incoming protobuf messages rebuilt as engine values: transactions, addresses, digests.

Incoming transactions are rebuilt as :class:`~soma_console.core.txdata.TransactionData`, so
the devnet can recompute the BCS the client signed, compare digests and verify the signature.
Anything malformed raises :class:`BadRequest` (answered with INVALID_ARGUMENT and a message that
names the field), never an unhandled exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from soma_console.core.txdata import TransactionData
from soma_console.core.txkinds import (
    AddStake,
    AddStakeToModel,
    ClaimRewards,
    CommitModel,
    CreateModel,
    DeactivateModel,
    Kind,
    Manifest,
    ObjectRef,
    PayCoins,
    RemoveValidator,
    ReportModel,
    ReportSubmission,
    ReportValidator,
    RevealModel,
    SetCommissionRate,
    SetModelCommissionRate,
    SubmitData,
    TransferCoin,
    TransferObjects,
    UndoReportModel,
    UndoReportSubmission,
    UndoReportValidator,
    UpdateValidatorMetadata,
    WithdrawStake,
)
from soma_console.devnet.engine.objects import parse_hex32
from soma_console.devnet.proto import transaction_pb2, types_pb2
from soma_console.encoding import b58decode

T = TypeVar("T")


class BadRequest(ValueError):
    """A request the devnet cannot make sense of; the message names the culprit."""


# ---------------------------------------------------------------------------------------------
# Small parsers
# ---------------------------------------------------------------------------------------------


def _need(msg: Any, name: str, where: str) -> Any:
    if not msg.HasField(name):
        raise BadRequest(f"{where}.{name} is missing")
    return getattr(msg, name)


def address(text: str, where: str) -> bytes:
    try:
        return parse_hex32(text, where)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def digest32(text: str, where: str) -> bytes:
    try:
        raw = b58decode(text)
    except ValueError:
        raise BadRequest(f"{where} {text[:80]!r} is not Base58") from None
    if len(raw) != 32:
        raise BadRequest(f"{where} must decode to 32 bytes, not {len(raw)}")
    return raw


def bytes32(data: bytes, where: str) -> bytes:
    if len(data) != 32:
        raise BadRequest(f"{where} must be 32 bytes, not {len(data)}")
    return bytes(data)


def object_ref(msg: types_pb2.ObjectReference, where: str) -> ObjectRef:
    oid = address(_need(msg, "object_id", where), f"{where}.object_id")
    version = _need(msg, "version", where)
    dig = digest32(_need(msg, "digest", where), f"{where}.digest")
    return ObjectRef(oid, int(version), dig)


def _opt_u64(msg: Any, name: str) -> int | None:
    return int(getattr(msg, name)) if msg.HasField(name) else None


def _manifest(msg: transaction_pb2.Manifest, where: str) -> Manifest:
    if msg.WhichOneof("version") != "v1":
        raise BadRequest(f"{where} has no v1 manifest")
    v1 = msg.v1
    url = _need(v1, "url", f"{where}.v1")
    if not url or len(url) > 4096:
        raise BadRequest(f"{where}.v1.url must be 1 to 4096 characters")
    meta = _need(v1, "metadata", f"{where}.v1")
    if meta.WhichOneof("version") != "v1":
        raise BadRequest(f"{where}.v1.metadata has no v1 metadata")
    checksum = bytes32(_need(meta.v1, "checksum", f"{where}.metadata.v1"), f"{where}.checksum")
    size = int(_need(meta.v1, "size", f"{where}.metadata.v1"))
    return Manifest(url=url, checksum=checksum, size=size)


def _embedding(values: Iterable[float], where: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out:
        raise BadRequest(f"{where} is empty")
    if not all(math.isfinite(v) for v in out):
        raise BadRequest(f"{where} contains NaN or infinity")
    return out


def _seq(items: Iterable[T], fn: Callable[[T, str], Any], where: str) -> tuple[Any, ...]:
    return tuple(fn(item, f"{where}[{i}]") for i, item in enumerate(items))


def transaction_kind(msg: transaction_pb2.TransactionKind) -> Kind:
    which = msg.WhichOneof("kind")
    if which is None:
        raise BadRequest("transaction.kind is missing or of a kind the devnet does not support")
    k = getattr(msg, which)
    w = f"transaction.kind.{which}"
    if which == "create_model":
        return CreateModel(
            int(_need(k, "stake_amount", w)),
            int(_need(k, "commission_rate", w)),
            int(_need(k, "architecture_version", w)),
        )
    if which == "commit_model":
        return CommitModel(
            address(_need(k, "model_id", w), f"{w}.model_id"),
            _manifest(_need(k, "manifest", w), f"{w}.manifest"),
            bytes32(_need(k, "weights_commitment", w), f"{w}.weights_commitment"),
            bytes32(_need(k, "embedding_commitment", w), f"{w}.embedding_commitment"),
            bytes32(_need(k, "decryption_key_commitment", w), f"{w}.decryption_key_commitment"),
        )
    if which == "reveal_model":
        return RevealModel(
            address(_need(k, "model_id", w), f"{w}.model_id"),
            bytes32(_need(k, "decryption_key", w), f"{w}.decryption_key"),
            _embedding(k.embedding, f"{w}.embedding"),
        )
    if which == "add_stake_to_model":
        return AddStakeToModel(
            address(_need(k, "model_id", w), f"{w}.model_id"),
            object_ref(_need(k, "coin_ref", w), f"{w}.coin_ref"),
            _opt_u64(k, "amount"),
        )
    if which == "set_model_commission_rate":
        return SetModelCommissionRate(
            address(_need(k, "model_id", w), f"{w}.model_id"), int(_need(k, "new_rate", w))
        )
    if which == "deactivate_model":
        return DeactivateModel(address(_need(k, "model_id", w), f"{w}.model_id"))
    if which == "report_model":
        return ReportModel(address(_need(k, "model_id", w), f"{w}.model_id"))
    if which == "undo_report_model":
        return UndoReportModel(address(_need(k, "model_id", w), f"{w}.model_id"))
    if which == "transfer_coin":
        return TransferCoin(
            object_ref(_need(k, "coin", w), f"{w}.coin"),
            _opt_u64(k, "amount"),
            address(_need(k, "recipient", w), f"{w}.recipient"),
        )
    if which == "pay_coins":
        # The SDK always sends amounts for pay_coins; an empty list means "pay everything".
        amounts = tuple(int(a) for a in k.amounts) if len(k.amounts) else None
        return PayCoins(
            _seq(k.coins, object_ref, f"{w}.coins"),
            amounts,
            _seq(k.recipients, address, f"{w}.recipients"),
        )
    if which == "transfer_objects":
        return TransferObjects(
            _seq(k.objects, object_ref, f"{w}.objects"), address(_need(k, "recipient", w), f"{w}.recipient")
        )
    if which == "add_stake":
        return AddStake(
            address(_need(k, "address", w), f"{w}.address"),
            object_ref(_need(k, "coin_ref", w), f"{w}.coin_ref"),
            _opt_u64(k, "amount"),
        )
    if which == "withdraw_stake":
        return WithdrawStake(object_ref(_need(k, "staked_soma", w), f"{w}.staked_soma"))
    return _submission_or_validator_kind(which, k, w)


def _submission_or_validator_kind(which: str, k: Any, w: str) -> Kind:
    if which == "submit_data":
        sub = _need(k, "data_manifest", w)
        return SubmitData(
            target_id=address(_need(k, "target_id", w), f"{w}.target_id"),
            manifest=_manifest(_need(sub, "manifest", f"{w}.data_manifest"), f"{w}.data_manifest.manifest"),
            model_id=address(_need(k, "model_id", w), f"{w}.model_id"),
            embedding=_embedding(k.embedding, f"{w}.embedding"),
            distance_score=float(_need(k, "distance_score", w)),
            loss_score=tuple(float(v) for v in k.loss_score),
            bond_coin=object_ref(_need(k, "bond_coin", w), f"{w}.bond_coin"),
        )
    if which in ("claim_rewards", "report_submission", "undo_report_submission"):
        target = address(_need(k, "target_id", w), f"{w}.target_id")
        if which == "claim_rewards":
            return ClaimRewards(target)
        if which == "report_submission":
            return ReportSubmission(target)
        return UndoReportSubmission(target)
    if which == "remove_validator":
        return RemoveValidator(bytes(_need(k, "pubkey_bytes", w)))
    if which in ("report_validator", "undo_report_validator"):
        reportee = address(_need(k, "reportee", w), f"{w}.reportee")
        return ReportValidator(reportee) if which == "report_validator" else UndoReportValidator(reportee)
    if which == "update_validator_metadata":
        names = [f.name for f in k.DESCRIPTOR.fields]
        return UpdateValidatorMetadata(tuple(bytes(getattr(k, n)) if k.HasField(n) else None for n in names))
    if which == "set_commission_rate":
        return SetCommissionRate(int(_need(k, "new_rate", w)))
    raise BadRequest(f"transaction kind {which} is not supported by the devnet")


def transaction_data(msg: transaction_pb2.Transaction) -> TransactionData:
    kind = transaction_kind(_need(msg, "kind", "transaction"))
    sender = address(_need(msg, "sender", "transaction"), "transaction.sender")
    gas = _seq(msg.gas_payment, object_ref, "transaction.gas_payment")
    return TransactionData(kind=kind, sender=sender, gas_payment=gas)
