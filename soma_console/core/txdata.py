"""SOMA ``TransactionData`` in BCS, its digest and its signing message.

The console builds these bytes for ``SomaClient.simulate_transaction(tx_data_bytes)`` (fee
estimates) and the devnet rebuilds them from the structured protobuf the SDK sends, to check the
client's digest and Ed25519 signature. The layout follows the chain's Rust types:

* ``TransactionData::V1 { kind, sender, gas_payment }`` (enum tag 0);
* ``TransactionKind`` is an enum whose tag is the variant's position (``core.txkinds.KIND_TAGS``);
* addresses and object ids are 32 raw bytes; versions are u64; digests, commitments, checksums
  and decryption keys are 32-byte vectors (ULEB128 length 32 first); ``usize`` is a u64; a URL
  is a string; an embedding is a ``SomaTensor`` (``tensor_bcs``).

Digest = Blake2b-256(``b"TransactionData::"`` ‖ BCS). The sender signs Blake2b-256(intent ‖ BCS)
with the intent ``[0, 0, 1]`` (scope TransactionData, version 0, app SOMA).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from soma_console.core.bcs import BcsError, Reader, Writer
from soma_console.core.txkinds import (
    KIND_TAGS,
    UPDATE_VALIDATOR_METADATA_FIELDS,
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

# Read from here by the devnet's executor, with the kinds above.

DIGEST_LEN = 32
ADDRESS_LEN = 32
TX_INTENT = bytes([0, 0, 1])
_DIGEST_SALT = b"TransactionData::"


def blake2b256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


@dataclass(frozen=True)
class TransactionData:
    kind: Kind
    sender: bytes  # 32
    gas_payment: tuple[ObjectRef, ...]

    def to_bcs(self) -> bytes:
        return encode_transaction_data(self)

    def digest(self) -> bytes:
        return transaction_digest(self.to_bcs())


# --------------------------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------------------------


def transaction_digest(tx_bcs: bytes) -> bytes:
    """The 32-byte transaction digest (shown Base58 everywhere)."""
    return blake2b256(_DIGEST_SALT + tx_bcs)


def signing_digest(tx_bcs: bytes) -> bytes:
    """What the sender's Ed25519 key signs: Blake2b-256(intent ‖ BCS(TransactionData))."""
    return blake2b256(TX_INTENT + tx_bcs)


def derive_object_id(tx_digest: bytes, creation_index: int) -> bytes:
    """Ids of objects a transaction creates: Blake2b-256(digest ‖ u64 LE index).

    CreateModel's model id is index 0, its staking pool index 1, the StakedSoma receipt 2.
    """
    return blake2b256(tx_digest + creation_index.to_bytes(8, "little"))


def address_from_ed25519(public_key: bytes) -> bytes:
    """SOMA address of an Ed25519 public key: Blake2b-256(flag 0x00 ‖ key)."""
    return blake2b256(b"\x00" + public_key)


def tensor_bcs(values: Sequence[float]) -> bytes:
    """A 1-D f32 ``SomaTensor``: dtype tag 0, the f32 bytes as a vector, shape ``[n]``."""
    w = Writer().u8(0)
    data = Writer()
    for v in values:
        data.f32(v)
    w.var_bytes(data.to_bytes())
    w.uleb(1).u64(len(values))
    return w.to_bytes()


def embedding_commitment(values: Sequence[float]) -> bytes:
    return blake2b256(tensor_bcs(values))


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _fixed(w: Writer, data: bytes, n: int, what: str) -> None:
    if len(data) != n:
        raise BcsError(f"{what} must be {n} bytes, not {len(data)}")
    w.raw(data)


def _digest(w: Writer, data: bytes, what: str) -> None:
    if len(data) != DIGEST_LEN:
        raise BcsError(f"{what} must be {DIGEST_LEN} bytes, not {len(data)}")
    w.var_bytes(data)


def _object_ref(w: Writer, ref: ObjectRef) -> None:
    _fixed(w, ref.object_id, ADDRESS_LEN, "object id")
    w.u64(ref.version)
    _digest(w, ref.digest, "object digest")


def _manifest(w: Writer, m: Manifest) -> None:
    w.uleb(0)  # Manifest::V1
    w.string(m.url)
    w.uleb(0)  # Metadata::V1
    _digest(w, m.checksum, "checksum")
    w.u64(m.size)


def _kind(w: Writer, kind: Kind) -> None:
    tag = KIND_TAGS.get(type(kind))
    if tag is None:
        raise BcsError(f"unsupported transaction kind {type(kind).__name__}")
    w.uleb(tag)
    match kind:
        case CreateModel():
            w.u64(kind.stake_amount).u64(kind.commission_rate).u64(kind.architecture_version)
        case CommitModel():
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
            _manifest(w, kind.manifest)
            _digest(w, kind.weights_commitment, "weights commitment")
            _digest(w, kind.embedding_commitment, "embedding commitment")
            _digest(w, kind.decryption_key_commitment, "decryption key commitment")
        case RevealModel():
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
            _digest(w, kind.decryption_key, "decryption key")
            w.raw(tensor_bcs(kind.embedding))
        case AddStakeToModel():
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
            _object_ref(w, kind.coin)
            w.option(kind.amount, w.u64)
        case SetModelCommissionRate():
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
            w.u64(kind.new_rate)
        case DeactivateModel() | ReportModel() | UndoReportModel():
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
        case TransferCoin():
            _object_ref(w, kind.coin)
            w.option(kind.amount, w.u64)
            _fixed(w, kind.recipient, ADDRESS_LEN, "recipient")
        case PayCoins():
            w.seq(kind.coins, lambda r: _object_ref(w, r))
            w.option(kind.amounts, lambda a: w.seq(a, w.u64))
            w.seq(kind.recipients, lambda r: _fixed(w, r, ADDRESS_LEN, "recipient"))
        case TransferObjects():
            w.seq(kind.objects, lambda r: _object_ref(w, r))
            _fixed(w, kind.recipient, ADDRESS_LEN, "recipient")
        case AddStake():
            _fixed(w, kind.address, ADDRESS_LEN, "validator address")
            _object_ref(w, kind.coin)
            w.option(kind.amount, w.u64)
        case WithdrawStake():
            _object_ref(w, kind.staked_soma)
        case SubmitData():
            _fixed(w, kind.target_id, ADDRESS_LEN, "target id")
            _manifest(w, kind.manifest)  # SubmissionManifest { manifest }
            _fixed(w, kind.model_id, ADDRESS_LEN, "model id")
            w.raw(tensor_bcs(kind.embedding))
            w.raw(tensor_bcs((kind.distance_score,)))
            w.raw(tensor_bcs(kind.loss_score))
            _object_ref(w, kind.bond_coin)
        case ClaimRewards() | ReportSubmission() | UndoReportSubmission():
            _fixed(w, kind.target_id, ADDRESS_LEN, "target id")
        case RemoveValidator():
            w.var_bytes(kind.pubkey_bytes)
        case ReportValidator() | UndoReportValidator():
            _fixed(w, kind.reportee, ADDRESS_LEN, "reportee")
        case UpdateValidatorMetadata():
            if len(kind.fields) != UPDATE_VALIDATOR_METADATA_FIELDS:
                raise BcsError("UpdateValidatorMetadata has eight fields")
            for value in kind.fields:
                w.option(value, w.var_bytes)
        case SetCommissionRate():
            w.u64(kind.new_rate)


def encode_transaction_data(tx: TransactionData) -> bytes:
    w = Writer().uleb(0)  # TransactionData::V1
    _kind(w, tx.kind)
    _fixed(w, tx.sender, ADDRESS_LEN, "sender")
    w.seq(tx.gas_payment, lambda r: _object_ref(w, r))
    return w.to_bytes()


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _r_digest(r: Reader, what: str) -> bytes:
    data = r.var_bytes()
    if len(data) != DIGEST_LEN:
        raise BcsError(f"{what} must be {DIGEST_LEN} bytes, not {len(data)}")
    return data


def _r_object_ref(r: Reader) -> ObjectRef:
    return ObjectRef(r.raw(ADDRESS_LEN), r.u64(), _r_digest(r, "object digest"))


def _r_manifest(r: Reader) -> Manifest:
    if r.uleb() != 0:
        raise BcsError("unknown Manifest version")
    url = r.string()
    if r.uleb() != 0:
        raise BcsError("unknown Metadata version")
    return Manifest(url=url, checksum=_r_digest(r, "checksum"), size=r.u64())


def read_tensor(r: Reader) -> tuple[float, ...]:
    if r.u8() != 0:
        raise BcsError("only f32 tensors are supported")
    data = r.var_bytes()
    shape = r.seq(r.u64)
    if len(data) % 4:
        raise BcsError("tensor data is not a whole number of f32 values")
    n = len(data) // 4
    if len(shape) != 1 or shape[0] != n:
        raise BcsError(f"expected a 1-D tensor of {n} values, got shape {shape}")
    inner = Reader(data)
    return tuple(inner.f32() for _ in range(n))


def _r_scalar(r: Reader) -> float:
    values = read_tensor(r)
    if len(values) != 1:
        raise BcsError(f"expected a scalar tensor of shape [1], got {len(values)} values")
    return values[0]


_TAG_NAMES = {
    0: "Genesis",
    1: "ConsensusCommitPrologueV1",
    2: "ChangeEpoch",
    3: "AddValidator",
    4: "RemoveValidator",
    5: "ReportValidator",
    6: "UndoReportValidator",
    7: "UpdateValidatorMetadata",
}


def _r_kind(r: Reader) -> Kind:
    tag = r.uleb()
    if tag == 9:
        return TransferCoin(_r_object_ref(r), r.option(r.u64), r.raw(ADDRESS_LEN))
    if tag == 10:
        coins = tuple(r.seq(lambda: _r_object_ref(r)))
        amounts = r.option(lambda: tuple(r.seq(r.u64)))
        return PayCoins(coins, amounts, tuple(r.seq(lambda: r.raw(ADDRESS_LEN))))
    if tag == 11:
        return TransferObjects(tuple(r.seq(lambda: _r_object_ref(r))), r.raw(ADDRESS_LEN))
    if tag == 12:
        return AddStake(r.raw(ADDRESS_LEN), _r_object_ref(r), r.option(r.u64))
    if tag == 13:
        return WithdrawStake(_r_object_ref(r))
    if tag == 14:
        return CreateModel(r.u64(), r.u64(), r.u64())
    if tag == 15:
        return CommitModel(
            r.raw(ADDRESS_LEN),
            _r_manifest(r),
            _r_digest(r, "weights commitment"),
            _r_digest(r, "embedding commitment"),
            _r_digest(r, "decryption key commitment"),
        )
    if tag == 16:
        return RevealModel(r.raw(ADDRESS_LEN), _r_digest(r, "decryption key"), read_tensor(r))
    if tag == 17:
        return AddStakeToModel(r.raw(ADDRESS_LEN), _r_object_ref(r), r.option(r.u64))
    if tag == 18:
        return SetModelCommissionRate(r.raw(ADDRESS_LEN), r.u64())
    if tag == 19:
        return DeactivateModel(r.raw(ADDRESS_LEN))
    if tag == 20:
        return ReportModel(r.raw(ADDRESS_LEN))
    if tag == 21:
        return UndoReportModel(r.raw(ADDRESS_LEN))
    if tag == 22:
        return SubmitData(
            r.raw(ADDRESS_LEN),
            _r_manifest(r),
            r.raw(ADDRESS_LEN),
            read_tensor(r),
            _r_scalar(r),
            read_tensor(r),
            _r_object_ref(r),
        )
    if tag == 23:
        return ClaimRewards(r.raw(ADDRESS_LEN))
    if tag == 24:
        return ReportSubmission(r.raw(ADDRESS_LEN))
    if tag == 25:
        return UndoReportSubmission(r.raw(ADDRESS_LEN))
    if tag == 4:
        return RemoveValidator(r.var_bytes())
    if tag == 5:
        return ReportValidator(r.raw(ADDRESS_LEN))
    if tag == 6:
        return UndoReportValidator(r.raw(ADDRESS_LEN))
    if tag == 7:
        return UpdateValidatorMetadata(
            tuple(r.option(r.var_bytes) for _ in range(UPDATE_VALIDATOR_METADATA_FIELDS))
        )
    if tag == 8:
        return SetCommissionRate(r.u64())
    name = _TAG_NAMES.get(tag)
    raise BcsError(f"transaction kind {name or tag} is not supported")


def decode_transaction_data(data: bytes) -> TransactionData:
    r = Reader(data)
    if r.uleb() != 0:
        raise BcsError("unknown TransactionData version")
    kind = _r_kind(r)
    sender = r.raw(ADDRESS_LEN)
    gas = tuple(r.seq(lambda: _r_object_ref(r)))
    r.finish()
    return TransactionData(kind=kind, sender=sender, gas_payment=gas)
