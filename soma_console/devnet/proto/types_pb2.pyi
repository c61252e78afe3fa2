from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignatureScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ED25519: _ClassVar[SignatureScheme]
    BLS12381: _ClassVar[SignatureScheme]
    MULTISIG: _ClassVar[SignatureScheme]
ED25519: SignatureScheme
BLS12381: SignatureScheme
MULTISIG: SignatureScheme

class ObjectReference(_message.Message):
    __slots__ = ("object_id", "version", "digest")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    version: int
    digest: str
    def __init__(self, object_id: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class Owner(_message.Message):
    __slots__ = ("kind", "address", "version")
    class OwnerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OWNER_KIND_UNKNOWN: _ClassVar[Owner.OwnerKind]
        ADDRESS: _ClassVar[Owner.OwnerKind]
        SHARED: _ClassVar[Owner.OwnerKind]
        IMMUTABLE: _ClassVar[Owner.OwnerKind]
    OWNER_KIND_UNKNOWN: Owner.OwnerKind
    ADDRESS: Owner.OwnerKind
    SHARED: Owner.OwnerKind
    IMMUTABLE: Owner.OwnerKind
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    kind: Owner.OwnerKind
    address: str
    version: int
    def __init__(self, kind: _Optional[_Union[Owner.OwnerKind, str]] = ..., address: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class Object(_message.Message):
    __slots__ = ("object_id", "version", "digest", "owner", "object_type", "contents", "previous_transaction")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    OBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENTS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    version: int
    digest: str
    owner: Owner
    object_type: str
    contents: bytes
    previous_transaction: str
    def __init__(self, object_id: _Optional[str] = ..., version: _Optional[int] = ..., digest: _Optional[str] = ..., owner: _Optional[_Union[Owner, _Mapping]] = ..., object_type: _Optional[str] = ..., contents: _Optional[bytes] = ..., previous_transaction: _Optional[str] = ...) -> None: ...

class ObjectSet(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[Object]
    def __init__(self, objects: _Optional[_Iterable[_Union[Object, _Mapping]]] = ...) -> None: ...

class BalanceChange(_message.Message):
    __slots__ = ("address", "amount")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    address: str
    amount: str
    def __init__(self, address: _Optional[str] = ..., amount: _Optional[str] = ...) -> None: ...

class TransactionFee(_message.Message):
    __slots__ = ("base_fee", "operation_fee", "value_fee", "total_fee")
    BASE_FEE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FEE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FEE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FEE_FIELD_NUMBER: _ClassVar[int]
    base_fee: int
    operation_fee: int
    value_fee: int
    total_fee: int
    def __init__(self, base_fee: _Optional[int] = ..., operation_fee: _Optional[int] = ..., value_fee: _Optional[int] = ..., total_fee: _Optional[int] = ...) -> None: ...

class ExecutionStatus(_message.Message):
    __slots__ = ("success", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error: ExecutionError
    def __init__(self, success: _Optional[bool] = ..., error: _Optional[_Union[ExecutionError, _Mapping]] = ...) -> None: ...

class ExecutionError(_message.Message):
    __slots__ = ("description", "kind", "object_id", "other_error")
    class ExecutionErrorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EXECUTION_ERROR_KIND_UNKNOWN: _ClassVar[ExecutionError.ExecutionErrorKind]
        INSUFFICIENT_GAS: _ClassVar[ExecutionError.ExecutionErrorKind]
        INVALID_OWNERSHIP: _ClassVar[ExecutionError.ExecutionErrorKind]
        OBJECT_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        INVALID_OBJECT_TYPE: _ClassVar[ExecutionError.ExecutionErrorKind]
        INVALID_TRANSACTION_TYPE: _ClassVar[ExecutionError.ExecutionErrorKind]
        INVALID_ARGUMENTS: _ClassVar[ExecutionError.ExecutionErrorKind]
        DUPLICATE_VALIDATOR: _ClassVar[ExecutionError.ExecutionErrorKind]
        NOT_A_VALIDATOR: _ClassVar[ExecutionError.ExecutionErrorKind]
        VALIDATOR_ALREADY_REMOVED: _ClassVar[ExecutionError.ExecutionErrorKind]
        ADVANCED_TO_WRONG_EPOCH: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        NOT_MODEL_OWNER: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_NOT_ACTIVE: _ClassVar[ExecutionError.ExecutionErrorKind]
        INSUFFICIENT_COIN_BALANCE: _ClassVar[ExecutionError.ExecutionErrorKind]
        COIN_BALANCE_OVERFLOW: _ClassVar[ExecutionError.ExecutionErrorKind]
        VALIDATOR_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        STAKING_POOL_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        CANNOT_REPORT_ONESELF: _ClassVar[ExecutionError.ExecutionErrorKind]
        REPORT_RECORD_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        INPUT_OBJECT_DELETED: _ClassVar[ExecutionError.ExecutionErrorKind]
        CERTIFICATE_DENIED: _ClassVar[ExecutionError.ExecutionErrorKind]
        SHARED_OBJECT_CONGESTION: _ClassVar[ExecutionError.ExecutionErrorKind]
        OTHER_ERROR: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_NOT_PENDING: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_ALREADY_INACTIVE: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_REVEAL_EPOCH_MISMATCH: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_EMBEDDING_COMMITMENT_MISMATCH: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_NO_PENDING_UPDATE: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_ARCHITECTURE_VERSION_MISMATCH: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_COMMISSION_RATE_TOO_HIGH: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_MIN_STAKE_NOT_MET: _ClassVar[ExecutionError.ExecutionErrorKind]
        NO_ACTIVE_MODELS: _ClassVar[ExecutionError.ExecutionErrorKind]
        TARGET_NOT_FOUND: _ClassVar[ExecutionError.ExecutionErrorKind]
        TARGET_NOT_OPEN: _ClassVar[ExecutionError.ExecutionErrorKind]
        TARGET_EXPIRED: _ClassVar[ExecutionError.ExecutionErrorKind]
        TARGET_NOT_FILLED: _ClassVar[ExecutionError.ExecutionErrorKind]
        CHALLENGE_WINDOW_OPEN: _ClassVar[ExecutionError.ExecutionErrorKind]
        TARGET_ALREADY_CLAIMED: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_NOT_IN_TARGET: _ClassVar[ExecutionError.ExecutionErrorKind]
        EMBEDDING_DIMENSION_MISMATCH: _ClassVar[ExecutionError.ExecutionErrorKind]
        DISTANCE_EXCEEDS_THRESHOLD: _ClassVar[ExecutionError.ExecutionErrorKind]
        INSUFFICIENT_BOND: _ClassVar[ExecutionError.ExecutionErrorKind]
        INSUFFICIENT_EMISSION_BALANCE: _ClassVar[ExecutionError.ExecutionErrorKind]
        CHALLENGE_WINDOW_CLOSED: _ClassVar[ExecutionError.ExecutionErrorKind]
        DATA_EXCEEDS_MAX_SIZE: _ClassVar[ExecutionError.ExecutionErrorKind]
        MODEL_DECRYPTION_KEY_COMMITMENT_MISMATCH: _ClassVar[ExecutionError.ExecutionErrorKind]
    EXECUTION_ERROR_KIND_UNKNOWN: ExecutionError.ExecutionErrorKind
    INSUFFICIENT_GAS: ExecutionError.ExecutionErrorKind
    INVALID_OWNERSHIP: ExecutionError.ExecutionErrorKind
    OBJECT_NOT_FOUND: ExecutionError.ExecutionErrorKind
    INVALID_OBJECT_TYPE: ExecutionError.ExecutionErrorKind
    INVALID_TRANSACTION_TYPE: ExecutionError.ExecutionErrorKind
    INVALID_ARGUMENTS: ExecutionError.ExecutionErrorKind
    DUPLICATE_VALIDATOR: ExecutionError.ExecutionErrorKind
    NOT_A_VALIDATOR: ExecutionError.ExecutionErrorKind
    VALIDATOR_ALREADY_REMOVED: ExecutionError.ExecutionErrorKind
    ADVANCED_TO_WRONG_EPOCH: ExecutionError.ExecutionErrorKind
    MODEL_NOT_FOUND: ExecutionError.ExecutionErrorKind
    NOT_MODEL_OWNER: ExecutionError.ExecutionErrorKind
    MODEL_NOT_ACTIVE: ExecutionError.ExecutionErrorKind
    INSUFFICIENT_COIN_BALANCE: ExecutionError.ExecutionErrorKind
    COIN_BALANCE_OVERFLOW: ExecutionError.ExecutionErrorKind
    VALIDATOR_NOT_FOUND: ExecutionError.ExecutionErrorKind
    STAKING_POOL_NOT_FOUND: ExecutionError.ExecutionErrorKind
    CANNOT_REPORT_ONESELF: ExecutionError.ExecutionErrorKind
    REPORT_RECORD_NOT_FOUND: ExecutionError.ExecutionErrorKind
    INPUT_OBJECT_DELETED: ExecutionError.ExecutionErrorKind
    CERTIFICATE_DENIED: ExecutionError.ExecutionErrorKind
    SHARED_OBJECT_CONGESTION: ExecutionError.ExecutionErrorKind
    OTHER_ERROR: ExecutionError.ExecutionErrorKind
    MODEL_NOT_PENDING: ExecutionError.ExecutionErrorKind
    MODEL_ALREADY_INACTIVE: ExecutionError.ExecutionErrorKind
    MODEL_REVEAL_EPOCH_MISMATCH: ExecutionError.ExecutionErrorKind
    MODEL_EMBEDDING_COMMITMENT_MISMATCH: ExecutionError.ExecutionErrorKind
    MODEL_NO_PENDING_UPDATE: ExecutionError.ExecutionErrorKind
    MODEL_ARCHITECTURE_VERSION_MISMATCH: ExecutionError.ExecutionErrorKind
    MODEL_COMMISSION_RATE_TOO_HIGH: ExecutionError.ExecutionErrorKind
    MODEL_MIN_STAKE_NOT_MET: ExecutionError.ExecutionErrorKind
    NO_ACTIVE_MODELS: ExecutionError.ExecutionErrorKind
    TARGET_NOT_FOUND: ExecutionError.ExecutionErrorKind
    TARGET_NOT_OPEN: ExecutionError.ExecutionErrorKind
    TARGET_EXPIRED: ExecutionError.ExecutionErrorKind
    TARGET_NOT_FILLED: ExecutionError.ExecutionErrorKind
    CHALLENGE_WINDOW_OPEN: ExecutionError.ExecutionErrorKind
    TARGET_ALREADY_CLAIMED: ExecutionError.ExecutionErrorKind
    MODEL_NOT_IN_TARGET: ExecutionError.ExecutionErrorKind
    EMBEDDING_DIMENSION_MISMATCH: ExecutionError.ExecutionErrorKind
    DISTANCE_EXCEEDS_THRESHOLD: ExecutionError.ExecutionErrorKind
    INSUFFICIENT_BOND: ExecutionError.ExecutionErrorKind
    INSUFFICIENT_EMISSION_BALANCE: ExecutionError.ExecutionErrorKind
    CHALLENGE_WINDOW_CLOSED: ExecutionError.ExecutionErrorKind
    DATA_EXCEEDS_MAX_SIZE: ExecutionError.ExecutionErrorKind
    MODEL_DECRYPTION_KEY_COMMITMENT_MISMATCH: ExecutionError.ExecutionErrorKind
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_ERROR_FIELD_NUMBER: _ClassVar[int]
    description: str
    kind: ExecutionError.ExecutionErrorKind
    object_id: str
    other_error: str
    def __init__(self, description: _Optional[str] = ..., kind: _Optional[_Union[ExecutionError.ExecutionErrorKind, str]] = ..., object_id: _Optional[str] = ..., other_error: _Optional[str] = ...) -> None: ...

class ChangedObject(_message.Message):
    __slots__ = ("object_id", "input_state", "input_version", "input_digest", "input_owner", "output_state", "output_version", "output_digest", "output_owner", "id_operation", "object_type")
    class InputObjectState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        INPUT_OBJECT_STATE_UNKNOWN: _ClassVar[ChangedObject.InputObjectState]
        INPUT_OBJECT_STATE_DOES_NOT_EXIST: _ClassVar[ChangedObject.InputObjectState]
        INPUT_OBJECT_STATE_EXISTS: _ClassVar[ChangedObject.InputObjectState]
    INPUT_OBJECT_STATE_UNKNOWN: ChangedObject.InputObjectState
    INPUT_OBJECT_STATE_DOES_NOT_EXIST: ChangedObject.InputObjectState
    INPUT_OBJECT_STATE_EXISTS: ChangedObject.InputObjectState
    class OutputObjectState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTPUT_OBJECT_STATE_UNKNOWN: _ClassVar[ChangedObject.OutputObjectState]
        OUTPUT_OBJECT_STATE_DOES_NOT_EXIST: _ClassVar[ChangedObject.OutputObjectState]
        OUTPUT_OBJECT_STATE_OBJECT_WRITE: _ClassVar[ChangedObject.OutputObjectState]
    OUTPUT_OBJECT_STATE_UNKNOWN: ChangedObject.OutputObjectState
    OUTPUT_OBJECT_STATE_DOES_NOT_EXIST: ChangedObject.OutputObjectState
    OUTPUT_OBJECT_STATE_OBJECT_WRITE: ChangedObject.OutputObjectState
    class IdOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ID_OPERATION_UNKNOWN: _ClassVar[ChangedObject.IdOperation]
        NONE: _ClassVar[ChangedObject.IdOperation]
        CREATED: _ClassVar[ChangedObject.IdOperation]
        DELETED: _ClassVar[ChangedObject.IdOperation]
    ID_OPERATION_UNKNOWN: ChangedObject.IdOperation
    NONE: ChangedObject.IdOperation
    CREATED: ChangedObject.IdOperation
    DELETED: ChangedObject.IdOperation
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    INPUT_OWNER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_STATE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_OWNER_FIELD_NUMBER: _ClassVar[int]
    ID_OPERATION_FIELD_NUMBER: _ClassVar[int]
    OBJECT_TYPE_FIELD_NUMBER: _ClassVar[int]
    object_id: str
    input_state: ChangedObject.InputObjectState
    input_version: int
    input_digest: str
    input_owner: Owner
    output_state: ChangedObject.OutputObjectState
    output_version: int
    output_digest: str
    output_owner: Owner
    id_operation: ChangedObject.IdOperation
    object_type: str
    def __init__(self, object_id: _Optional[str] = ..., input_state: _Optional[_Union[ChangedObject.InputObjectState, str]] = ..., input_version: _Optional[int] = ..., input_digest: _Optional[str] = ..., input_owner: _Optional[_Union[Owner, _Mapping]] = ..., output_state: _Optional[_Union[ChangedObject.OutputObjectState, str]] = ..., output_version: _Optional[int] = ..., output_digest: _Optional[str] = ..., output_owner: _Optional[_Union[Owner, _Mapping]] = ..., id_operation: _Optional[_Union[ChangedObject.IdOperation, str]] = ..., object_type: _Optional[str] = ...) -> None: ...

class TransactionEffects(_message.Message):
    __slots__ = ("status", "epoch", "fee", "transaction_digest", "gas_object_index", "dependencies", "lamport_version", "changed_objects")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_DIGEST_FIELD_NUMBER: _ClassVar[int]
    GAS_OBJECT_INDEX_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    LAMPORT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    status: ExecutionStatus
    epoch: int
    fee: TransactionFee
    transaction_digest: str
    gas_object_index: int
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    lamport_version: int
    changed_objects: _containers.RepeatedCompositeFieldContainer[ChangedObject]
    def __init__(self, status: _Optional[_Union[ExecutionStatus, _Mapping]] = ..., epoch: _Optional[int] = ..., fee: _Optional[_Union[TransactionFee, _Mapping]] = ..., transaction_digest: _Optional[str] = ..., gas_object_index: _Optional[int] = ..., dependencies: _Optional[_Iterable[str]] = ..., lamport_version: _Optional[int] = ..., changed_objects: _Optional[_Iterable[_Union[ChangedObject, _Mapping]]] = ...) -> None: ...

class SimpleSignature(_message.Message):
    __slots__ = ("scheme", "signature", "public_key")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    scheme: SignatureScheme
    signature: bytes
    public_key: bytes
    def __init__(self, scheme: _Optional[_Union[SignatureScheme, str]] = ..., signature: _Optional[bytes] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class UserSignature(_message.Message):
    __slots__ = ("scheme", "simple")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    SIMPLE_FIELD_NUMBER: _ClassVar[int]
    scheme: SignatureScheme
    simple: SimpleSignature
    def __init__(self, scheme: _Optional[_Union[SignatureScheme, str]] = ..., simple: _Optional[_Union[SimpleSignature, _Mapping]] = ...) -> None: ...

class ValidatorAggregatedSignature(_message.Message):
    __slots__ = ("epoch", "signature", "bitmap")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BITMAP_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    signature: bytes
    bitmap: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, epoch: _Optional[int] = ..., signature: _Optional[bytes] = ..., bitmap: _Optional[_Iterable[int]] = ...) -> None: ...
