"""The model registry's rules, as the chain applies them.

States: ``created`` → ``pending`` (committed) → ``active`` (revealed) → ``inactive``.

* create: architecture version must match, stake ≥ the minimum, commission ≤ 10000 bps.
* commit: created → pending (commit_epoch = now); on an active model it sets, or overwrites,
  the pending update. Any other state: ``ModelInvalidState``.
* reveal: only in commit_epoch + 1; the key's hash, then the embedding's hash must match the
  commitments. pending → active, or the pending update replaces the live weights.
* at each epoch boundary (``advance_epoch``): a created model not committed by
  create_epoch + 2 is slashed by the reveal slash rate (and, like on the chain, stays created,
  so it is slashed again at every later boundary until it commits); a pending model not
  revealed by commit_epoch + 2 is slashed and made inactive; an unrevealed update is dropped
  without a slash; commission rates staged with set_commission take effect; staking pools roll.
* set commission: ≤ 10000, active only, owner only. deactivate: active only, owner only, no
  slash, drops the pending update. add stake: anyone, any state but inactive, amount > 0.

The checks run in the chain's order, so the first failing rule decides the error a user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from soma_console.core.txdata import blake2b256, tensor_bcs
from soma_console.core.txkinds import Manifest
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.staking import StakingPool

CREATED, PENDING, ACTIVE, INACTIVE = "created", "pending", "active", "inactive"


@dataclass
class PendingUpdate:
    manifest: Manifest
    weights_commitment: bytes
    embedding_commitment: bytes
    decryption_key_commitment: bytes
    commit_epoch: int


@dataclass
class Model:
    owner: bytes
    architecture_version: int
    state: str
    staking_pool: StakingPool
    commission_rate: int
    next_epoch_commission_rate: int
    create_epoch: int | None = None
    manifest: Manifest | None = None
    weights_commitment: bytes | None = None
    embedding_commitment: bytes | None = None
    decryption_key_commitment: bytes | None = None
    commit_epoch: int | None = None
    decryption_key: bytes | None = None
    embedding: tuple[float, ...] | None = None
    pending_update: PendingUpdate | None = None

    def clone(self) -> Model:
        pool = replace(self.staking_pool, exchange_rates=dict(self.staking_pool.exchange_rates))
        return replace(self, staking_pool=pool)

    @property
    def stake(self) -> int:
        return self.staking_pool.soma_balance


@dataclass
class RegistryTotals:
    total_model_stake: int = 0
    staking_pool_mappings: dict[bytes, bytes] = field(default_factory=dict)


class Registry:
    """What the rules need from the engine's (transactional) storage."""

    get: Callable[[bytes], Model | None]
    put: Callable[[bytes, Model], None]
    totals: RegistryTotals

    def __init__(
        self,
        get: Callable[[bytes], Model | None],
        put: Callable[[bytes, Model], None],
        totals: RegistryTotals,
    ) -> None:
        self.get = get
        self.put = put
        self.totals = totals

    def require(self, model_id: bytes) -> Model:
        model = self.get(model_id)
        if model is None:
            raise ExecutionFailure("ModelNotFound")
        return model


def create_model(
    reg: Registry,
    *,
    owner: bytes,
    model_id: bytes,
    pool_id: bytes,
    architecture_version: int,
    stake: int,
    commission_rate: int,
    epoch: int,
) -> None:
    """Validation of version/stake/commission happens in the caller, before gas accounting."""
    pool = StakingPool(pool_id=pool_id)
    pool.add_stake(stake)
    pool.process_pending_stake()  # a pre-active pool takes stake at once
    reg.put(
        model_id,
        Model(
            owner=owner,
            architecture_version=architecture_version,
            state=CREATED,
            staking_pool=pool,
            commission_rate=commission_rate,
            next_epoch_commission_rate=commission_rate,
            create_epoch=epoch,
        ),
    )
    reg.totals.staking_pool_mappings[pool_id] = model_id


def check_create(params: ChainParams, *, architecture_version: int, stake: int, commission_rate: int) -> None:
    if architecture_version != params.model_architecture_version:
        raise ExecutionFailure("ModelArchitectureVersionMismatch")
    if stake < params.model_min_stake:
        raise ExecutionFailure("ModelMinStakeNotMet")
    if commission_rate > BPS:
        raise ExecutionFailure("ModelCommissionRateTooHigh")


def commit_model(
    reg: Registry,
    *,
    signer: bytes,
    model_id: bytes,
    manifest: Manifest,
    weights_commitment: bytes,
    embedding_commitment: bytes,
    decryption_key_commitment: bytes,
    epoch: int,
) -> None:
    model = reg.require(model_id).clone()
    if model.state == CREATED:
        if model.owner != signer:
            raise ExecutionFailure("NotModelOwner")
        model.state = PENDING
        model.create_epoch = None
        model.manifest = manifest
        model.weights_commitment = weights_commitment
        model.embedding_commitment = embedding_commitment
        model.decryption_key_commitment = decryption_key_commitment
        model.commit_epoch = epoch
    elif model.state == ACTIVE:
        if model.owner != signer:
            raise ExecutionFailure("NotModelOwner")
        model.pending_update = PendingUpdate(
            manifest, weights_commitment, embedding_commitment, decryption_key_commitment, epoch
        )
    else:
        raise ExecutionFailure("ModelInvalidState")
    reg.put(model_id, model)


def _check_reveal(
    key: bytes, embedding: tuple[float, ...], key_commitment: bytes | None, emb_commitment: bytes | None
) -> None:
    if blake2b256(key) != key_commitment:
        raise ExecutionFailure("ModelDecryptionKeyCommitmentMismatch")
    if blake2b256(tensor_bcs(embedding)) != emb_commitment:
        raise ExecutionFailure("ModelEmbeddingCommitmentMismatch")


def reveal_model(
    reg: Registry,
    *,
    signer: bytes,
    model_id: bytes,
    decryption_key: bytes,
    embedding: tuple[float, ...],
    epoch: int,
) -> bool:
    """Returns True for a first reveal (pending → active), False for an update."""
    model = reg.require(model_id).clone()
    if model.state == PENDING:
        if model.owner != signer:
            raise ExecutionFailure("NotModelOwner")
        if model.commit_epoch is None or epoch != model.commit_epoch + 1:
            raise ExecutionFailure("ModelRevealEpochMismatch")
        _check_reveal(decryption_key, embedding, model.decryption_key_commitment, model.embedding_commitment)
        pool = model.staking_pool
        pool.activation_epoch = epoch
        pool.exchange_rates[epoch] = (pool.soma_balance, pool.pool_token_balance)
        model.state = ACTIVE
        model.commit_epoch = None  # the chain keeps no commit epoch for active models
        model.decryption_key = decryption_key
        model.embedding = embedding
        model.pending_update = None
        reg.totals.total_model_stake += model.stake
        reg.put(model_id, model)
        return True
    if model.state == ACTIVE:
        if model.owner != signer:
            raise ExecutionFailure("NotModelOwner")
        update = model.pending_update
        if update is None:
            raise ExecutionFailure("ModelNoPendingUpdate")
        if epoch != update.commit_epoch + 1:
            raise ExecutionFailure("ModelRevealEpochMismatch")
        _check_reveal(
            decryption_key, embedding, update.decryption_key_commitment, update.embedding_commitment
        )
        model.manifest = update.manifest
        model.weights_commitment = update.weights_commitment
        model.embedding_commitment = update.embedding_commitment
        model.decryption_key_commitment = update.decryption_key_commitment
        model.decryption_key = decryption_key
        model.embedding = embedding
        model.pending_update = None
        reg.put(model_id, model)
        return False
    raise ExecutionFailure("ModelInvalidState")


def add_stake_to_model(reg: Registry, *, model_id: bytes, amount: int) -> tuple[bytes, int]:
    """Returns (pool id, activation epoch offset applied by the caller)."""
    if amount == 0:
        raise ExecutionFailure("InvalidArguments", "Stake amount cannot be 0!")
    model = reg.require(model_id).clone()
    if model.state == INACTIVE or model.staking_pool.is_inactive:  # incl. a slashed created model
        raise ExecutionFailure("ModelAlreadyInactive")
    pool = model.staking_pool
    pool.add_stake(amount)
    if pool.is_preactive:
        pool.process_pending_stake()
    if model.state == ACTIVE:
        reg.totals.total_model_stake += amount
    reg.totals.staking_pool_mappings[pool.pool_id] = model_id
    reg.put(model_id, model)
    return pool.pool_id, 1


def set_commission_rate(reg: Registry, *, signer: bytes, model_id: bytes, new_rate: int) -> None:
    if new_rate > BPS:
        raise ExecutionFailure("ModelCommissionRateTooHigh")
    model = reg.require(model_id).clone()
    if model.state != ACTIVE:
        raise ExecutionFailure("ModelNotActive")
    if model.owner != signer:
        raise ExecutionFailure("NotModelOwner")
    model.next_epoch_commission_rate = new_rate
    reg.put(model_id, model)


def deactivate_model(reg: Registry, *, signer: bytes, model_id: bytes, epoch: int) -> None:
    model = reg.require(model_id).clone()
    if model.state != ACTIVE:
        raise ExecutionFailure("ModelNotActive")
    if model.owner != signer:
        raise ExecutionFailure("NotModelOwner")
    reg.totals.total_model_stake = max(0, reg.totals.total_model_stake - model.stake)
    model.staking_pool.deactivation_epoch = epoch
    model.state = INACTIVE
    model.pending_update = None
    reg.put(model_id, model)


def withdraw_from_model_pool(
    reg: Registry, *, pool_id: bytes, principal: int, activation_epoch: int, epoch: int
) -> int:
    model_id = reg.totals.staking_pool_mappings.get(pool_id)
    model = reg.get(model_id) if model_id is not None else None
    if model_id is None or model is None:
        raise ExecutionFailure("StakingPoolNotFound")
    model = model.clone()
    was_active = model.state == ACTIVE
    amount = model.staking_pool.withdraw(principal, activation_epoch, epoch)
    if was_active:
        reg.totals.total_model_stake = max(0, reg.totals.total_model_stake - amount)
    reg.put(model_id, model)
    return amount


@dataclass(frozen=True)
class EpochEvent:
    """Something the boundary did to a model, for the node's log."""

    model_id: bytes
    what: str  # "slashed_unrevealed" | "slashed_uncommitted" | "update_dropped"
    amount: int = 0


def advance_epoch(
    reg: Registry, model_ids: Iterable[bytes], *, new_epoch: int, params: ChainParams
) -> list[EpochEvent]:
    """Apply the boundary into ``new_epoch`` to every model (the chain's steps 2 to 6)."""
    prev_epoch = new_epoch - 1
    rate = params.model_reveal_slash_rate_bps
    events: list[EpochEvent] = []
    total_active = 0
    for model_id in model_ids:
        model = reg.require(model_id).clone()
        if model.state == CREATED and model.create_epoch is not None and model.create_epoch + 1 < new_epoch:
            amount = model.staking_pool.slash(rate, new_epoch)
            events.append(EpochEvent(model_id, "slashed_uncommitted", amount))
        elif model.state == PENDING and model.commit_epoch is not None and model.commit_epoch < prev_epoch:
            amount = model.staking_pool.slash(rate, new_epoch)
            model.state = INACTIVE
            model.decryption_key = bytes(32)
            model.embedding = ()
            model.commit_epoch = None
            events.append(EpochEvent(model_id, "slashed_unrevealed", amount))
        if model.state == ACTIVE:
            if model.pending_update is not None and model.pending_update.commit_epoch < prev_epoch:
                model.pending_update = None
                events.append(EpochEvent(model_id, "update_dropped"))
            model.commission_rate = model.next_epoch_commission_rate
            model.staking_pool.roll_epoch(new_epoch)
            total_active += model.stake
        elif model.state in (PENDING, CREATED):
            model.staking_pool.process_pending_withdraw()
            model.staking_pool.process_pending_stake()
        reg.put(model_id, model)
    reg.totals.total_model_stake = total_active
    return events
