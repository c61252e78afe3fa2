import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from soma_console.devnet.proto import transaction_pb2 as _transaction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReporterSet(_message.Message):
    __slots__ = ("reporters",)
    REPORTERS_FIELD_NUMBER: _ClassVar[int]
    reporters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, reporters: _Optional[_Iterable[str]] = ...) -> None: ...

class SystemParameters(_message.Message):
    __slots__ = ("epoch_duration_ms", "validator_reward_allocation_bps", "model_min_stake", "model_architecture_version", "model_reveal_slash_rate_bps", "model_tally_slash_rate_bps", "target_epoch_fee_collection", "base_fee", "write_object_fee", "value_fee_bps", "min_value_fee_bps", "max_value_fee_bps", "fee_adjustment_rate_bps", "target_models_per_target", "target_embedding_dim", "target_initial_distance_threshold", "target_reward_allocation_bps", "target_hits_per_epoch", "target_hits_ema_decay_bps", "target_difficulty_adjustment_rate_bps", "target_max_distance_threshold", "target_min_distance_threshold", "target_initial_targets_per_epoch", "target_submitter_reward_share_bps", "target_model_reward_share_bps", "target_claimer_incentive_bps", "submission_bond_per_byte", "challenger_bond_per_byte", "max_submission_data_size")
    EPOCH_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_REWARD_ALLOCATION_BPS_FIELD_NUMBER: _ClassVar[int]
    MODEL_MIN_STAKE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ARCHITECTURE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_REVEAL_SLASH_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    MODEL_TALLY_SLASH_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_EPOCH_FEE_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    BASE_FEE_FIELD_NUMBER: _ClassVar[int]
    WRITE_OBJECT_FEE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    MIN_VALUE_FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_FEE_BPS_FIELD_NUMBER: _ClassVar[int]
    FEE_ADJUSTMENT_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODELS_PER_TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    TARGET_INITIAL_DISTANCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGET_REWARD_ALLOCATION_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_HITS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TARGET_HITS_EMA_DECAY_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_DIFFICULTY_ADJUSTMENT_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_MAX_DISTANCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGET_MIN_DISTANCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGET_INITIAL_TARGETS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TARGET_SUBMITTER_REWARD_SHARE_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODEL_REWARD_SHARE_BPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_CLAIMER_INCENTIVE_BPS_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_BOND_PER_BYTE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_BOND_PER_BYTE_FIELD_NUMBER: _ClassVar[int]
    MAX_SUBMISSION_DATA_SIZE_FIELD_NUMBER: _ClassVar[int]
    epoch_duration_ms: int
    validator_reward_allocation_bps: int
    model_min_stake: int
    model_architecture_version: int
    model_reveal_slash_rate_bps: int
    model_tally_slash_rate_bps: int
    target_epoch_fee_collection: int
    base_fee: int
    write_object_fee: int
    value_fee_bps: int
    min_value_fee_bps: int
    max_value_fee_bps: int
    fee_adjustment_rate_bps: int
    target_models_per_target: int
    target_embedding_dim: int
    target_initial_distance_threshold: float
    target_reward_allocation_bps: int
    target_hits_per_epoch: int
    target_hits_ema_decay_bps: int
    target_difficulty_adjustment_rate_bps: int
    target_max_distance_threshold: float
    target_min_distance_threshold: float
    target_initial_targets_per_epoch: int
    target_submitter_reward_share_bps: int
    target_model_reward_share_bps: int
    target_claimer_incentive_bps: int
    submission_bond_per_byte: int
    challenger_bond_per_byte: int
    max_submission_data_size: int
    def __init__(self, epoch_duration_ms: _Optional[int] = ..., validator_reward_allocation_bps: _Optional[int] = ..., model_min_stake: _Optional[int] = ..., model_architecture_version: _Optional[int] = ..., model_reveal_slash_rate_bps: _Optional[int] = ..., model_tally_slash_rate_bps: _Optional[int] = ..., target_epoch_fee_collection: _Optional[int] = ..., base_fee: _Optional[int] = ..., write_object_fee: _Optional[int] = ..., value_fee_bps: _Optional[int] = ..., min_value_fee_bps: _Optional[int] = ..., max_value_fee_bps: _Optional[int] = ..., fee_adjustment_rate_bps: _Optional[int] = ..., target_models_per_target: _Optional[int] = ..., target_embedding_dim: _Optional[int] = ..., target_initial_distance_threshold: _Optional[float] = ..., target_reward_allocation_bps: _Optional[int] = ..., target_hits_per_epoch: _Optional[int] = ..., target_hits_ema_decay_bps: _Optional[int] = ..., target_difficulty_adjustment_rate_bps: _Optional[int] = ..., target_max_distance_threshold: _Optional[float] = ..., target_min_distance_threshold: _Optional[float] = ..., target_initial_targets_per_epoch: _Optional[int] = ..., target_submitter_reward_share_bps: _Optional[int] = ..., target_model_reward_share_bps: _Optional[int] = ..., target_claimer_incentive_bps: _Optional[int] = ..., submission_bond_per_byte: _Optional[int] = ..., challenger_bond_per_byte: _Optional[int] = ..., max_submission_data_size: _Optional[int] = ...) -> None: ...

class EmissionPool(_message.Message):
    __slots__ = ("balance", "emission_per_epoch")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    EMISSION_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    balance: int
    emission_per_epoch: int
    def __init__(self, balance: _Optional[int] = ..., emission_per_epoch: _Optional[int] = ...) -> None: ...

class PoolTokenExchangeRate(_message.Message):
    __slots__ = ("soma_amount", "pool_token_amount")
    SOMA_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    POOL_TOKEN_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    soma_amount: int
    pool_token_amount: int
    def __init__(self, soma_amount: _Optional[int] = ..., pool_token_amount: _Optional[int] = ...) -> None: ...

class StakingPool(_message.Message):
    __slots__ = ("id", "activation_epoch", "deactivation_epoch", "soma_balance", "rewards_pool", "pool_token_balance", "exchange_rates", "pending_stake", "pending_total_soma_withdraw", "pending_pool_token_withdraw")
    class ExchangeRatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: PoolTokenExchangeRate
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[PoolTokenExchangeRate, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_EPOCH_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATION_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SOMA_BALANCE_FIELD_NUMBER: _ClassVar[int]
    REWARDS_POOL_FIELD_NUMBER: _ClassVar[int]
    POOL_TOKEN_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_RATES_FIELD_NUMBER: _ClassVar[int]
    PENDING_STAKE_FIELD_NUMBER: _ClassVar[int]
    PENDING_TOTAL_SOMA_WITHDRAW_FIELD_NUMBER: _ClassVar[int]
    PENDING_POOL_TOKEN_WITHDRAW_FIELD_NUMBER: _ClassVar[int]
    id: str
    activation_epoch: int
    deactivation_epoch: int
    soma_balance: int
    rewards_pool: int
    pool_token_balance: int
    exchange_rates: _containers.MessageMap[int, PoolTokenExchangeRate]
    pending_stake: int
    pending_total_soma_withdraw: int
    pending_pool_token_withdraw: int
    def __init__(self, id: _Optional[str] = ..., activation_epoch: _Optional[int] = ..., deactivation_epoch: _Optional[int] = ..., soma_balance: _Optional[int] = ..., rewards_pool: _Optional[int] = ..., pool_token_balance: _Optional[int] = ..., exchange_rates: _Optional[_Mapping[int, PoolTokenExchangeRate]] = ..., pending_stake: _Optional[int] = ..., pending_total_soma_withdraw: _Optional[int] = ..., pending_pool_token_withdraw: _Optional[int] = ...) -> None: ...

class ValidatorSet(_message.Message):
    __slots__ = ("total_stake",)
    TOTAL_STAKE_FIELD_NUMBER: _ClassVar[int]
    total_stake: int
    def __init__(self, total_stake: _Optional[int] = ...) -> None: ...

class PendingModelUpdate(_message.Message):
    __slots__ = ("manifest", "weights_commitment", "embedding_commitment", "decryption_key_commitment", "commit_epoch")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_KEY_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    manifest: _transaction_pb2.Manifest
    weights_commitment: bytes
    embedding_commitment: bytes
    decryption_key_commitment: bytes
    commit_epoch: int
    def __init__(self, manifest: _Optional[_Union[_transaction_pb2.Manifest, _Mapping]] = ..., weights_commitment: _Optional[bytes] = ..., embedding_commitment: _Optional[bytes] = ..., decryption_key_commitment: _Optional[bytes] = ..., commit_epoch: _Optional[int] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("owner", "architecture_version", "manifest", "weights_commitment", "embedding_commitment", "decryption_key_commitment", "commit_epoch", "decryption_key", "embedding", "staking_pool", "commission_rate", "next_epoch_commission_rate", "pending_update", "state", "create_epoch")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_KEY_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    STAKING_POOL_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_EPOCH_COMMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    PENDING_UPDATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    owner: str
    architecture_version: int
    manifest: _transaction_pb2.Manifest
    weights_commitment: bytes
    embedding_commitment: bytes
    decryption_key_commitment: bytes
    commit_epoch: int
    decryption_key: bytes
    embedding: _containers.RepeatedScalarFieldContainer[float]
    staking_pool: StakingPool
    commission_rate: int
    next_epoch_commission_rate: int
    pending_update: PendingModelUpdate
    state: str
    create_epoch: int
    def __init__(self, owner: _Optional[str] = ..., architecture_version: _Optional[int] = ..., manifest: _Optional[_Union[_transaction_pb2.Manifest, _Mapping]] = ..., weights_commitment: _Optional[bytes] = ..., embedding_commitment: _Optional[bytes] = ..., decryption_key_commitment: _Optional[bytes] = ..., commit_epoch: _Optional[int] = ..., decryption_key: _Optional[bytes] = ..., embedding: _Optional[_Iterable[float]] = ..., staking_pool: _Optional[_Union[StakingPool, _Mapping]] = ..., commission_rate: _Optional[int] = ..., next_epoch_commission_rate: _Optional[int] = ..., pending_update: _Optional[_Union[PendingModelUpdate, _Mapping]] = ..., state: _Optional[str] = ..., create_epoch: _Optional[int] = ...) -> None: ...

class ModelRegistry(_message.Message):
    __slots__ = ("staking_pool_mappings", "total_model_stake", "model_report_records", "models")
    class StakingPoolMappingsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ModelReportRecordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ReporterSet
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ReporterSet, _Mapping]] = ...) -> None: ...
    class ModelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Model
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...
    STAKING_POOL_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MODEL_STAKE_FIELD_NUMBER: _ClassVar[int]
    MODEL_REPORT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    staking_pool_mappings: _containers.ScalarMap[str, str]
    total_model_stake: int
    model_report_records: _containers.MessageMap[str, ReporterSet]
    models: _containers.MessageMap[str, Model]
    def __init__(self, staking_pool_mappings: _Optional[_Mapping[str, str]] = ..., total_model_stake: _Optional[int] = ..., model_report_records: _Optional[_Mapping[str, ReporterSet]] = ..., models: _Optional[_Mapping[str, Model]] = ...) -> None: ...

class TargetState(_message.Message):
    __slots__ = ("distance_threshold", "targets_generated_this_epoch", "hits_this_epoch", "hits_ema", "reward_per_target")
    DISTANCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TARGETS_GENERATED_THIS_EPOCH_FIELD_NUMBER: _ClassVar[int]
    HITS_THIS_EPOCH_FIELD_NUMBER: _ClassVar[int]
    HITS_EMA_FIELD_NUMBER: _ClassVar[int]
    REWARD_PER_TARGET_FIELD_NUMBER: _ClassVar[int]
    distance_threshold: float
    targets_generated_this_epoch: int
    hits_this_epoch: int
    hits_ema: int
    reward_per_target: int
    def __init__(self, distance_threshold: _Optional[float] = ..., targets_generated_this_epoch: _Optional[int] = ..., hits_this_epoch: _Optional[int] = ..., hits_ema: _Optional[int] = ..., reward_per_target: _Optional[int] = ...) -> None: ...

class SystemState(_message.Message):
    __slots__ = ("epoch", "epoch_start_timestamp_ms", "protocol_version", "parameters", "validators", "validator_report_records", "emission_pool", "model_registry", "target_state", "safe_mode", "safe_mode_accumulated_fees", "safe_mode_accumulated_emissions")
    class ValidatorReportRecordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ReporterSet
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ReporterSet, _Mapping]] = ...) -> None: ...
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPOCH_START_TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_REPORT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    EMISSION_POOL_FIELD_NUMBER: _ClassVar[int]
    MODEL_REGISTRY_FIELD_NUMBER: _ClassVar[int]
    TARGET_STATE_FIELD_NUMBER: _ClassVar[int]
    SAFE_MODE_FIELD_NUMBER: _ClassVar[int]
    SAFE_MODE_ACCUMULATED_FEES_FIELD_NUMBER: _ClassVar[int]
    SAFE_MODE_ACCUMULATED_EMISSIONS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    epoch_start_timestamp_ms: int
    protocol_version: int
    parameters: SystemParameters
    validators: ValidatorSet
    validator_report_records: _containers.MessageMap[str, ReporterSet]
    emission_pool: EmissionPool
    model_registry: ModelRegistry
    target_state: TargetState
    safe_mode: bool
    safe_mode_accumulated_fees: int
    safe_mode_accumulated_emissions: int
    def __init__(self, epoch: _Optional[int] = ..., epoch_start_timestamp_ms: _Optional[int] = ..., protocol_version: _Optional[int] = ..., parameters: _Optional[_Union[SystemParameters, _Mapping]] = ..., validators: _Optional[_Union[ValidatorSet, _Mapping]] = ..., validator_report_records: _Optional[_Mapping[str, ReporterSet]] = ..., emission_pool: _Optional[_Union[EmissionPool, _Mapping]] = ..., model_registry: _Optional[_Union[ModelRegistry, _Mapping]] = ..., target_state: _Optional[_Union[TargetState, _Mapping]] = ..., safe_mode: _Optional[bool] = ..., safe_mode_accumulated_fees: _Optional[int] = ..., safe_mode_accumulated_emissions: _Optional[int] = ...) -> None: ...

class ProtocolConfig(_message.Message):
    __slots__ = ("protocol_version", "feature_flags", "attributes")
    class FeatureFlagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FLAGS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    feature_flags: _containers.ScalarMap[str, bool]
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, protocol_version: _Optional[int] = ..., feature_flags: _Optional[_Mapping[str, bool]] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Epoch(_message.Message):
    __slots__ = ("epoch", "system_state", "first_checkpoint", "last_checkpoint", "start", "end", "protocol_config")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_STATE_FIELD_NUMBER: _ClassVar[int]
    FIRST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    system_state: SystemState
    first_checkpoint: int
    last_checkpoint: int
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    protocol_config: ProtocolConfig
    def __init__(self, epoch: _Optional[int] = ..., system_state: _Optional[_Union[SystemState, _Mapping]] = ..., first_checkpoint: _Optional[int] = ..., last_checkpoint: _Optional[int] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., protocol_config: _Optional[_Union[ProtocolConfig, _Mapping]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("id", "embedding", "model_ids", "distance_threshold", "reward_pool", "generation_epoch", "status", "fill_epoch", "submitter", "winning_model_id", "winning_model_owner", "bond_amount", "data_url")
    ID_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    MODEL_IDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REWARD_POOL_FIELD_NUMBER: _ClassVar[int]
    GENERATION_EPOCH_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILL_EPOCH_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_FIELD_NUMBER: _ClassVar[int]
    WINNING_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WINNING_MODEL_OWNER_FIELD_NUMBER: _ClassVar[int]
    BOND_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    model_ids: _containers.RepeatedScalarFieldContainer[str]
    distance_threshold: float
    reward_pool: int
    generation_epoch: int
    status: str
    fill_epoch: int
    submitter: str
    winning_model_id: str
    winning_model_owner: str
    bond_amount: int
    data_url: str
    def __init__(self, id: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., model_ids: _Optional[_Iterable[str]] = ..., distance_threshold: _Optional[float] = ..., reward_pool: _Optional[int] = ..., generation_epoch: _Optional[int] = ..., status: _Optional[str] = ..., fill_epoch: _Optional[int] = ..., submitter: _Optional[str] = ..., winning_model_id: _Optional[str] = ..., winning_model_owner: _Optional[str] = ..., bond_amount: _Optional[int] = ..., data_url: _Optional[str] = ...) -> None: ...
