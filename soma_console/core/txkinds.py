"""The transaction kinds the console builds and the devnet executes, as plain value types.

Each class mirrors one variant of the chain's ``TransactionKind`` enum (field order is BCS order);
``KIND_TAGS`` gives each variant's position in that enum, its BCS tag. ``core.txdata`` turns them
into ``TransactionData`` bytes and back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectRef:
    object_id: bytes  # 32
    version: int
    digest: bytes  # 32


@dataclass(frozen=True)
class Manifest:
    url: str
    checksum: bytes  # 32: Blake2b-256 of the (encrypted) file
    size: int


@dataclass(frozen=True)
class CreateModel:
    stake_amount: int
    commission_rate: int
    architecture_version: int


@dataclass(frozen=True)
class CommitModel:
    model_id: bytes
    manifest: Manifest
    weights_commitment: bytes
    embedding_commitment: bytes
    decryption_key_commitment: bytes


@dataclass(frozen=True)
class RevealModel:
    model_id: bytes
    decryption_key: bytes
    embedding: tuple[float, ...]


@dataclass(frozen=True)
class AddStakeToModel:
    model_id: bytes
    coin: ObjectRef
    amount: int | None


@dataclass(frozen=True)
class SetModelCommissionRate:
    model_id: bytes
    new_rate: int


@dataclass(frozen=True)
class DeactivateModel:
    model_id: bytes


@dataclass(frozen=True)
class ReportModel:
    model_id: bytes


@dataclass(frozen=True)
class UndoReportModel:
    model_id: bytes


@dataclass(frozen=True)
class TransferCoin:
    coin: ObjectRef
    amount: int | None
    recipient: bytes


@dataclass(frozen=True)
class PayCoins:
    coins: tuple[ObjectRef, ...]
    amounts: tuple[int, ...] | None
    recipients: tuple[bytes, ...]


@dataclass(frozen=True)
class TransferObjects:
    objects: tuple[ObjectRef, ...]
    recipient: bytes


@dataclass(frozen=True)
class AddStake:
    address: bytes
    coin: ObjectRef
    amount: int | None


@dataclass(frozen=True)
class WithdrawStake:
    staked_soma: ObjectRef


@dataclass(frozen=True)
class SubmitData:
    target_id: bytes
    manifest: Manifest
    model_id: bytes
    embedding: tuple[float, ...]
    distance_score: float
    loss_score: tuple[float, ...]
    bond_coin: ObjectRef


@dataclass(frozen=True)
class ClaimRewards:
    target_id: bytes


@dataclass(frozen=True)
class ReportSubmission:
    target_id: bytes


@dataclass(frozen=True)
class UndoReportSubmission:
    target_id: bytes


@dataclass(frozen=True)
class RemoveValidator:
    pubkey_bytes: bytes


@dataclass(frozen=True)
class ReportValidator:
    reportee: bytes


@dataclass(frozen=True)
class UndoReportValidator:
    reportee: bytes


@dataclass(frozen=True)
class UpdateValidatorMetadata:
    """Eight optional byte strings, in the chain's field order."""

    fields: tuple[bytes | None, ...]


@dataclass(frozen=True)
class SetCommissionRate:
    new_rate: int


Kind = (
    CreateModel
    | CommitModel
    | RevealModel
    | AddStakeToModel
    | SetModelCommissionRate
    | DeactivateModel
    | ReportModel
    | UndoReportModel
    | TransferCoin
    | PayCoins
    | TransferObjects
    | AddStake
    | WithdrawStake
    | SubmitData
    | ClaimRewards
    | ReportSubmission
    | UndoReportSubmission
    | RemoveValidator
    | ReportValidator
    | UndoReportValidator
    | UpdateValidatorMetadata
    | SetCommissionRate
)

# Kinds only a validator may send; the devnet has none, so they fail with NotAValidator.
VALIDATOR_ONLY_KINDS: tuple[type, ...] = (
    ReportSubmission,
    UndoReportSubmission,
    RemoveValidator,
    ReportValidator,
    UndoReportValidator,
    UpdateValidatorMetadata,
    SetCommissionRate,
)
UPDATE_VALIDATOR_METADATA_FIELDS = 8

# Position of each variant in the chain's TransactionKind enum (its BCS tag).
KIND_TAGS: dict[type, int] = {
    TransferCoin: 9,
    PayCoins: 10,
    TransferObjects: 11,
    AddStake: 12,
    WithdrawStake: 13,
    CreateModel: 14,
    CommitModel: 15,
    RevealModel: 16,
    AddStakeToModel: 17,
    SetModelCommissionRate: 18,
    DeactivateModel: 19,
    ReportModel: 20,
    UndoReportModel: 21,
    RemoveValidator: 4,
    ReportValidator: 5,
    UndoReportValidator: 6,
    UpdateValidatorMetadata: 7,
    SetCommissionRate: 8,
    SubmitData: 22,
    ClaimRewards: 23,
    ReportSubmission: 24,
    UndoReportSubmission: 25,
}
