import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from soma_console.devnet.proto import types_pb2 as _types_pb2
from soma_console.devnet.proto import transaction_pb2 as _transaction_pb2
from soma_console.devnet.proto import checkpoint_pb2 as _checkpoint_pb2
from soma_console.devnet.proto import state_pb2 as _state_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServiceInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServiceInfoResponse(_message.Message):
    __slots__ = ("chain_id", "chain", "epoch", "checkpoint_height", "timestamp", "lowest_available_checkpoint", "lowest_available_checkpoint_objects", "server")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LOWEST_AVAILABLE_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LOWEST_AVAILABLE_CHECKPOINT_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    chain: str
    epoch: int
    checkpoint_height: int
    timestamp: _timestamp_pb2.Timestamp
    lowest_available_checkpoint: int
    lowest_available_checkpoint_objects: int
    server: str
    def __init__(self, chain_id: _Optional[str] = ..., chain: _Optional[str] = ..., epoch: _Optional[int] = ..., checkpoint_height: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lowest_available_checkpoint: _Optional[int] = ..., lowest_available_checkpoint_objects: _Optional[int] = ..., server: _Optional[str] = ...) -> None: ...

class GetObjectRequest(_message.Message):
    __slots__ = ("object_id", "version", "read_mask")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    version: int
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, object_id: _Optional[str] = ..., version: _Optional[int] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetObjectResponse(_message.Message):
    __slots__ = ("object",)
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    object: _types_pb2.Object
    def __init__(self, object: _Optional[_Union[_types_pb2.Object, _Mapping]] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("digest", "read_mask")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    digest: str
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, digest: _Optional[str] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _transaction_pb2.ExecutedTransaction
    def __init__(self, transaction: _Optional[_Union[_transaction_pb2.ExecutedTransaction, _Mapping]] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("sequence_number", "digest", "read_mask")
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    sequence_number: int
    digest: str
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, sequence_number: _Optional[int] = ..., digest: _Optional[str] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: _checkpoint_pb2.Checkpoint
    def __init__(self, checkpoint: _Optional[_Union[_checkpoint_pb2.Checkpoint, _Mapping]] = ...) -> None: ...

class GetEpochRequest(_message.Message):
    __slots__ = ("epoch", "read_mask")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, epoch: _Optional[int] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetEpochResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: _state_pb2.Epoch
    def __init__(self, epoch: _Optional[_Union[_state_pb2.Epoch, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("owner",)
    OWNER_FIELD_NUMBER: _ClassVar[int]
    owner: str
    def __init__(self, owner: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: int
    def __init__(self, balance: _Optional[int] = ...) -> None: ...

class ListOwnedObjectsRequest(_message.Message):
    __slots__ = ("owner", "page_size", "page_token", "read_mask", "object_type")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    OBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    owner: str
    page_size: int
    page_token: bytes
    read_mask: _field_mask_pb2.FieldMask
    object_type: str
    def __init__(self, owner: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[bytes] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., object_type: _Optional[str] = ...) -> None: ...

class ListOwnedObjectsResponse(_message.Message):
    __slots__ = ("objects", "next_page_token")
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[_types_pb2.Object]
    next_page_token: bytes
    def __init__(self, objects: _Optional[_Iterable[_Union[_types_pb2.Object, _Mapping]]] = ..., next_page_token: _Optional[bytes] = ...) -> None: ...

class GetTargetRequest(_message.Message):
    __slots__ = ("target_id", "read_mask")
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    target_id: str
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, target_id: _Optional[str] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetTargetResponse(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _state_pb2.Target
    def __init__(self, target: _Optional[_Union[_state_pb2.Target, _Mapping]] = ...) -> None: ...

class ListTargetsRequest(_message.Message):
    __slots__ = ("status_filter", "epoch_filter", "page_size", "page_token", "read_mask", "submitter_filter")
    STATUS_FILTER_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_FILTER_FIELD_NUMBER: _ClassVar[int]
    status_filter: str
    epoch_filter: int
    page_size: int
    page_token: bytes
    read_mask: _field_mask_pb2.FieldMask
    submitter_filter: str
    def __init__(self, status_filter: _Optional[str] = ..., epoch_filter: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[bytes] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., submitter_filter: _Optional[str] = ...) -> None: ...

class ListTargetsResponse(_message.Message):
    __slots__ = ("targets", "next_page_token")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[_state_pb2.Target]
    next_page_token: bytes
    def __init__(self, targets: _Optional[_Iterable[_Union[_state_pb2.Target, _Mapping]]] = ..., next_page_token: _Optional[bytes] = ...) -> None: ...

class ExecuteTransactionRequest(_message.Message):
    __slots__ = ("transaction", "signatures", "read_mask")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    transaction: _transaction_pb2.Transaction
    signatures: _containers.RepeatedCompositeFieldContainer[_types_pb2.UserSignature]
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, transaction: _Optional[_Union[_transaction_pb2.Transaction, _Mapping]] = ..., signatures: _Optional[_Iterable[_Union[_types_pb2.UserSignature, _Mapping]]] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ExecuteTransactionResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _transaction_pb2.ExecutedTransaction
    def __init__(self, transaction: _Optional[_Union[_transaction_pb2.ExecutedTransaction, _Mapping]] = ...) -> None: ...

class SimulateTransactionRequest(_message.Message):
    __slots__ = ("transaction", "read_mask", "checks")
    class TransactionChecks(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENABLED: _ClassVar[SimulateTransactionRequest.TransactionChecks]
        DISABLED: _ClassVar[SimulateTransactionRequest.TransactionChecks]
    ENABLED: SimulateTransactionRequest.TransactionChecks
    DISABLED: SimulateTransactionRequest.TransactionChecks
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    transaction: _transaction_pb2.Transaction
    read_mask: _field_mask_pb2.FieldMask
    checks: SimulateTransactionRequest.TransactionChecks
    def __init__(self, transaction: _Optional[_Union[_transaction_pb2.Transaction, _Mapping]] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., checks: _Optional[_Union[SimulateTransactionRequest.TransactionChecks, str]] = ...) -> None: ...

class SimulateTransactionResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _transaction_pb2.ExecutedTransaction
    def __init__(self, transaction: _Optional[_Union[_transaction_pb2.ExecutedTransaction, _Mapping]] = ...) -> None: ...

class SubscribeCheckpointsRequest(_message.Message):
    __slots__ = ("read_mask",)
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class SubscribeCheckpointsResponse(_message.Message):
    __slots__ = ("cursor", "checkpoint")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    checkpoint: _checkpoint_pb2.Checkpoint
    def __init__(self, cursor: _Optional[int] = ..., checkpoint: _Optional[_Union[_checkpoint_pb2.Checkpoint, _Mapping]] = ...) -> None: ...
