import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from soma_console.devnet.proto import types_pb2 as _types_pb2
from soma_console.devnet.proto import transaction_pb2 as _transaction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckpointSummary(_message.Message):
    __slots__ = ("digest", "epoch", "sequence_number", "total_network_transactions", "content_digest", "previous_digest", "epoch_rolling_transaction_fees", "timestamp")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TOTAL_NETWORK_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EPOCH_ROLLING_TRANSACTION_FEES_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    digest: str
    epoch: int
    sequence_number: int
    total_network_transactions: int
    content_digest: str
    previous_digest: str
    epoch_rolling_transaction_fees: _types_pb2.TransactionFee
    timestamp: _timestamp_pb2.Timestamp
    def __init__(self, digest: _Optional[str] = ..., epoch: _Optional[int] = ..., sequence_number: _Optional[int] = ..., total_network_transactions: _Optional[int] = ..., content_digest: _Optional[str] = ..., previous_digest: _Optional[str] = ..., epoch_rolling_transaction_fees: _Optional[_Union[_types_pb2.TransactionFee, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckpointedTransactionInfo(_message.Message):
    __slots__ = ("transaction", "effects", "signatures")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    transaction: str
    effects: str
    signatures: _containers.RepeatedCompositeFieldContainer[_types_pb2.UserSignature]
    def __init__(self, transaction: _Optional[str] = ..., effects: _Optional[str] = ..., signatures: _Optional[_Iterable[_Union[_types_pb2.UserSignature, _Mapping]]] = ...) -> None: ...

class CheckpointContents(_message.Message):
    __slots__ = ("digest", "version", "transactions")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    digest: str
    version: int
    transactions: _containers.RepeatedCompositeFieldContainer[CheckpointedTransactionInfo]
    def __init__(self, digest: _Optional[str] = ..., version: _Optional[int] = ..., transactions: _Optional[_Iterable[_Union[CheckpointedTransactionInfo, _Mapping]]] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("sequence_number", "digest", "summary", "signature", "contents", "transactions")
    SEQUENCE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    sequence_number: int
    digest: str
    summary: CheckpointSummary
    signature: _types_pb2.ValidatorAggregatedSignature
    contents: CheckpointContents
    transactions: _containers.RepeatedCompositeFieldContainer[_transaction_pb2.ExecutedTransaction]
    def __init__(self, sequence_number: _Optional[int] = ..., digest: _Optional[str] = ..., summary: _Optional[_Union[CheckpointSummary, _Mapping]] = ..., signature: _Optional[_Union[_types_pb2.ValidatorAggregatedSignature, _Mapping]] = ..., contents: _Optional[_Union[CheckpointContents, _Mapping]] = ..., transactions: _Optional[_Iterable[_Union[_transaction_pb2.ExecutedTransaction, _Mapping]]] = ...) -> None: ...
