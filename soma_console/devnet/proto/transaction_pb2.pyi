import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from soma_console.devnet.proto import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transaction(_message.Message):
    __slots__ = ("digest", "kind", "sender", "gas_payment")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    GAS_PAYMENT_FIELD_NUMBER: _ClassVar[int]
    digest: str
    kind: TransactionKind
    sender: str
    gas_payment: _containers.RepeatedCompositeFieldContainer[_types_pb2.ObjectReference]
    def __init__(self, digest: _Optional[str] = ..., kind: _Optional[_Union[TransactionKind, _Mapping]] = ..., sender: _Optional[str] = ..., gas_payment: _Optional[_Iterable[_Union[_types_pb2.ObjectReference, _Mapping]]] = ...) -> None: ...

class TransactionKind(_message.Message):
    __slots__ = ("remove_validator", "report_validator", "undo_report_validator", "update_validator_metadata", "set_commission_rate", "transfer_coin", "pay_coins", "transfer_objects", "add_stake", "withdraw_stake", "commit_model", "reveal_model", "add_stake_to_model", "set_model_commission_rate", "deactivate_model", "report_model", "undo_report_model", "create_model", "submit_data", "claim_rewards", "report_submission", "undo_report_submission")
    REMOVE_VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    REPORT_VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    UNDO_REPORT_VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_VALIDATOR_METADATA_FIELD_NUMBER: _ClassVar[int]
    SET_COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_COIN_FIELD_NUMBER: _ClassVar[int]
    PAY_COINS_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    ADD_STAKE_FIELD_NUMBER: _ClassVar[int]
    WITHDRAW_STAKE_FIELD_NUMBER: _ClassVar[int]
    COMMIT_MODEL_FIELD_NUMBER: _ClassVar[int]
    REVEAL_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADD_STAKE_TO_MODEL_FIELD_NUMBER: _ClassVar[int]
    SET_MODEL_COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATE_MODEL_FIELD_NUMBER: _ClassVar[int]
    REPORT_MODEL_FIELD_NUMBER: _ClassVar[int]
    UNDO_REPORT_MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_MODEL_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_DATA_FIELD_NUMBER: _ClassVar[int]
    CLAIM_REWARDS_FIELD_NUMBER: _ClassVar[int]
    REPORT_SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    UNDO_REPORT_SUBMISSION_FIELD_NUMBER: _ClassVar[int]
    remove_validator: RemoveValidator
    report_validator: ReportValidator
    undo_report_validator: UndoReportValidator
    update_validator_metadata: UpdateValidatorMetadata
    set_commission_rate: SetCommissionRate
    transfer_coin: TransferCoin
    pay_coins: PayCoins
    transfer_objects: TransferObjects
    add_stake: AddStake
    withdraw_stake: WithdrawStake
    commit_model: CommitModel
    reveal_model: RevealModel
    add_stake_to_model: AddStakeToModel
    set_model_commission_rate: SetModelCommissionRate
    deactivate_model: DeactivateModel
    report_model: ReportModel
    undo_report_model: UndoReportModel
    create_model: CreateModel
    submit_data: SubmitData
    claim_rewards: ClaimRewards
    report_submission: ReportSubmission
    undo_report_submission: UndoReportSubmission
    def __init__(self, remove_validator: _Optional[_Union[RemoveValidator, _Mapping]] = ..., report_validator: _Optional[_Union[ReportValidator, _Mapping]] = ..., undo_report_validator: _Optional[_Union[UndoReportValidator, _Mapping]] = ..., update_validator_metadata: _Optional[_Union[UpdateValidatorMetadata, _Mapping]] = ..., set_commission_rate: _Optional[_Union[SetCommissionRate, _Mapping]] = ..., transfer_coin: _Optional[_Union[TransferCoin, _Mapping]] = ..., pay_coins: _Optional[_Union[PayCoins, _Mapping]] = ..., transfer_objects: _Optional[_Union[TransferObjects, _Mapping]] = ..., add_stake: _Optional[_Union[AddStake, _Mapping]] = ..., withdraw_stake: _Optional[_Union[WithdrawStake, _Mapping]] = ..., commit_model: _Optional[_Union[CommitModel, _Mapping]] = ..., reveal_model: _Optional[_Union[RevealModel, _Mapping]] = ..., add_stake_to_model: _Optional[_Union[AddStakeToModel, _Mapping]] = ..., set_model_commission_rate: _Optional[_Union[SetModelCommissionRate, _Mapping]] = ..., deactivate_model: _Optional[_Union[DeactivateModel, _Mapping]] = ..., report_model: _Optional[_Union[ReportModel, _Mapping]] = ..., undo_report_model: _Optional[_Union[UndoReportModel, _Mapping]] = ..., create_model: _Optional[_Union[CreateModel, _Mapping]] = ..., submit_data: _Optional[_Union[SubmitData, _Mapping]] = ..., claim_rewards: _Optional[_Union[ClaimRewards, _Mapping]] = ..., report_submission: _Optional[_Union[ReportSubmission, _Mapping]] = ..., undo_report_submission: _Optional[_Union[UndoReportSubmission, _Mapping]] = ...) -> None: ...

class RemoveValidator(_message.Message):
    __slots__ = ("pubkey_bytes",)
    PUBKEY_BYTES_FIELD_NUMBER: _ClassVar[int]
    pubkey_bytes: bytes
    def __init__(self, pubkey_bytes: _Optional[bytes] = ...) -> None: ...

class ReportValidator(_message.Message):
    __slots__ = ("reportee",)
    REPORTEE_FIELD_NUMBER: _ClassVar[int]
    reportee: str
    def __init__(self, reportee: _Optional[str] = ...) -> None: ...

class UndoReportValidator(_message.Message):
    __slots__ = ("reportee",)
    REPORTEE_FIELD_NUMBER: _ClassVar[int]
    reportee: str
    def __init__(self, reportee: _Optional[str] = ...) -> None: ...

class UpdateValidatorMetadata(_message.Message):
    __slots__ = ("next_epoch_network_address", "next_epoch_p2p_address", "next_epoch_primary_address", "next_epoch_proxy_address", "next_epoch_protocol_pubkey", "next_epoch_worker_pubkey", "next_epoch_network_pubkey", "next_epoch_proof_of_possession")
    NEXT_EPOCH_NETWORK_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_P2P_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_PRIMARY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_PROXY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_PROTOCOL_PUBKEY_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_WORKER_PUBKEY_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_NETWORK_PUBKEY_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_PROOF_OF_POSSESSION_FIELD_NUMBER: _ClassVar[int]
    next_epoch_network_address: bytes
    next_epoch_p2p_address: bytes
    next_epoch_primary_address: bytes
    next_epoch_proxy_address: bytes
    next_epoch_protocol_pubkey: bytes
    next_epoch_worker_pubkey: bytes
    next_epoch_network_pubkey: bytes
    next_epoch_proof_of_possession: bytes
    def __init__(self, next_epoch_network_address: _Optional[bytes] = ..., next_epoch_p2p_address: _Optional[bytes] = ..., next_epoch_primary_address: _Optional[bytes] = ..., next_epoch_proxy_address: _Optional[bytes] = ..., next_epoch_protocol_pubkey: _Optional[bytes] = ..., next_epoch_worker_pubkey: _Optional[bytes] = ..., next_epoch_network_pubkey: _Optional[bytes] = ..., next_epoch_proof_of_possession: _Optional[bytes] = ...) -> None: ...

class SetCommissionRate(_message.Message):
    __slots__ = ("new_rate",)
    NEW_RATE_FIELD_NUMBER: _ClassVar[int]
    new_rate: int
    def __init__(self, new_rate: _Optional[int] = ...) -> None: ...

class SubmissionManifest(_message.Message):
    __slots__ = ("manifest",)
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    manifest: Manifest
    def __init__(self, manifest: _Optional[_Union[Manifest, _Mapping]] = ...) -> None: ...

class SubmitData(_message.Message):
    __slots__ = ("target_id", "data_manifest", "model_id", "embedding", "distance_score", "bond_coin", "loss_score")
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BOND_COIN_FIELD_NUMBER: _ClassVar[int]
    LOSS_SCORE_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    data_manifest: SubmissionManifest
    model_id: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    distance_score: float
    bond_coin: _types_pb2.ObjectReference
    loss_score: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, target_id: _Optional[str] = ..., data_manifest: _Optional[_Union[SubmissionManifest, _Mapping]] = ..., model_id: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., distance_score: _Optional[float] = ..., bond_coin: _Optional[_Union[_types_pb2.ObjectReference, _Mapping]] = ..., loss_score: _Optional[_Iterable[float]] = ...) -> None: ...

class ClaimRewards(_message.Message):
    __slots__ = ("target_id",)
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    def __init__(self, target_id: _Optional[str] = ...) -> None: ...

class ReportSubmission(_message.Message):
    __slots__ = ("target_id", "challenger")
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    challenger: str
    def __init__(self, target_id: _Optional[str] = ..., challenger: _Optional[str] = ...) -> None: ...

class UndoReportSubmission(_message.Message):
    __slots__ = ("target_id",)
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    def __init__(self, target_id: _Optional[str] = ...) -> None: ...

class TransferCoin(_message.Message):
    __slots__ = ("coin", "amount", "recipient")
    COIN_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    coin: _types_pb2.ObjectReference
    amount: int
    recipient: str
    def __init__(self, coin: _Optional[_Union[_types_pb2.ObjectReference, _Mapping]] = ..., amount: _Optional[int] = ..., recipient: _Optional[str] = ...) -> None: ...

class PayCoins(_message.Message):
    __slots__ = ("coins", "amounts", "recipients")
    COINS_FIELD_NUMBER: _ClassVar[int]
    AMOUNTS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    coins: _containers.RepeatedCompositeFieldContainer[_types_pb2.ObjectReference]
    amounts: _containers.RepeatedScalarFieldContainer[int]
    recipients: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, coins: _Optional[_Iterable[_Union[_types_pb2.ObjectReference, _Mapping]]] = ..., amounts: _Optional[_Iterable[int]] = ..., recipients: _Optional[_Iterable[str]] = ...) -> None: ...

class TransferObjects(_message.Message):
    __slots__ = ("objects", "recipient")
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[_types_pb2.ObjectReference]
    recipient: str
    def __init__(self, objects: _Optional[_Iterable[_Union[_types_pb2.ObjectReference, _Mapping]]] = ..., recipient: _Optional[str] = ...) -> None: ...

class AddStake(_message.Message):
    __slots__ = ("address", "coin_ref", "amount")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    COIN_REF_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    address: str
    coin_ref: _types_pb2.ObjectReference
    amount: int
    def __init__(self, address: _Optional[str] = ..., coin_ref: _Optional[_Union[_types_pb2.ObjectReference, _Mapping]] = ..., amount: _Optional[int] = ...) -> None: ...

class WithdrawStake(_message.Message):
    __slots__ = ("staked_soma",)
    STAKED_SOMA_FIELD_NUMBER: _ClassVar[int]
    staked_soma: _types_pb2.ObjectReference
    def __init__(self, staked_soma: _Optional[_Union[_types_pb2.ObjectReference, _Mapping]] = ...) -> None: ...

class MetadataV1(_message.Message):
    __slots__ = ("checksum", "size")
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    checksum: bytes
    size: int
    def __init__(self, checksum: _Optional[bytes] = ..., size: _Optional[int] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("v1",)
    V1_FIELD_NUMBER: _ClassVar[int]
    v1: MetadataV1
    def __init__(self, v1: _Optional[_Union[MetadataV1, _Mapping]] = ...) -> None: ...

class ManifestV1(_message.Message):
    __slots__ = ("url", "metadata")
    URL_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    url: str
    metadata: Metadata
    def __init__(self, url: _Optional[str] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("v1",)
    V1_FIELD_NUMBER: _ClassVar[int]
    v1: ManifestV1
    def __init__(self, v1: _Optional[_Union[ManifestV1, _Mapping]] = ...) -> None: ...

class CreateModel(_message.Message):
    __slots__ = ("stake_amount", "commission_rate", "architecture_version")
    STAKE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_VERSION_FIELD_NUMBER: _ClassVar[int]
    stake_amount: int
    commission_rate: int
    architecture_version: int
    def __init__(self, stake_amount: _Optional[int] = ..., commission_rate: _Optional[int] = ..., architecture_version: _Optional[int] = ...) -> None: ...

class CommitModel(_message.Message):
    __slots__ = ("model_id", "manifest", "weights_commitment", "embedding_commitment", "decryption_key_commitment")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_KEY_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    manifest: Manifest
    weights_commitment: bytes
    embedding_commitment: bytes
    decryption_key_commitment: bytes
    def __init__(self, model_id: _Optional[str] = ..., manifest: _Optional[_Union[Manifest, _Mapping]] = ..., weights_commitment: _Optional[bytes] = ..., embedding_commitment: _Optional[bytes] = ..., decryption_key_commitment: _Optional[bytes] = ...) -> None: ...

class RevealModel(_message.Message):
    __slots__ = ("model_id", "decryption_key", "embedding")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    decryption_key: bytes
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, model_id: _Optional[str] = ..., decryption_key: _Optional[bytes] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class AddStakeToModel(_message.Message):
    __slots__ = ("model_id", "coin_ref", "amount")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    COIN_REF_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    coin_ref: _types_pb2.ObjectReference
    amount: int
    def __init__(self, model_id: _Optional[str] = ..., coin_ref: _Optional[_Union[_types_pb2.ObjectReference, _Mapping]] = ..., amount: _Optional[int] = ...) -> None: ...

class SetModelCommissionRate(_message.Message):
    __slots__ = ("model_id", "new_rate")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_RATE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    new_rate: int
    def __init__(self, model_id: _Optional[str] = ..., new_rate: _Optional[int] = ...) -> None: ...

class DeactivateModel(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ReportModel(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class UndoReportModel(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class ExecutedTransaction(_message.Message):
    __slots__ = ("digest", "transaction", "signatures", "effects", "checkpoint", "timestamp", "balance_changes", "objects")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    BALANCE_CHANGES_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    digest: str
    transaction: Transaction
    signatures: _containers.RepeatedCompositeFieldContainer[_types_pb2.UserSignature]
    effects: _types_pb2.TransactionEffects
    checkpoint: int
    timestamp: _timestamp_pb2.Timestamp
    balance_changes: _containers.RepeatedCompositeFieldContainer[_types_pb2.BalanceChange]
    objects: _types_pb2.ObjectSet
    def __init__(self, digest: _Optional[str] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., signatures: _Optional[_Iterable[_Union[_types_pb2.UserSignature, _Mapping]]] = ..., effects: _Optional[_Union[_types_pb2.TransactionEffects, _Mapping]] = ..., checkpoint: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balance_changes: _Optional[_Iterable[_Union[_types_pb2.BalanceChange, _Mapping]]] = ..., objects: _Optional[_Union[_types_pb2.ObjectSet, _Mapping]] = ...) -> None: ...
