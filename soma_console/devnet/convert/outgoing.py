"""Outgoing protobuf messages built from engine values: objects, effects, checkpoints, state.

What the SDK decodes is shaped as the chain shapes it: the same fields set (and left unset) for
a model's state, error kinds under the chain's enum names, a well-formed placeholder signature on
checkpoints the devnet has no committee to sign.
"""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from soma_console.core.txkinds import Manifest
from soma_console.devnet.engine.models import Model, PendingUpdate
from soma_console.devnet.engine.objects import ObjectRecord, hex_id
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.staking import StakingPool
from soma_console.devnet.engine.targets import Target
from soma_console.devnet.engine.values import Checkpoint, Effects, ObjectChange
from soma_console.devnet.proto import (
    checkpoint_pb2,
    state_pb2,
    transaction_pb2,
    types_pb2,
)
from soma_console.encoding import b58encode

# A valid compressed BLS12-381 G1 point (the group generator). The devnet has no committee,
# but the SDK insists on decoding a checkpoint's aggregate signature, so it gets a well-formed one.
PLACEHOLDER_QUORUM_SIGNATURE = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def owner_msg(owner: bytes | None) -> types_pb2.Owner:
    if owner is None:  # the system state is the only shared object
        return types_pb2.Owner(kind=types_pb2.Owner.SHARED, version=1)
    return types_pb2.Owner(kind=types_pb2.Owner.ADDRESS, address=hex_id(owner))


def object_msg(obj: ObjectRecord) -> types_pb2.Object:
    return types_pb2.Object(
        object_id=hex_id(obj.object_id),
        version=obj.version,
        digest=b58encode(obj.digest()),
        owner=owner_msg(obj.owner),
        object_type=obj.object_type,
        contents=obj.contents,
        previous_transaction=b58encode(obj.previous_transaction),
    )


def target_object_msg(target: Target) -> types_pb2.Object:
    """A target as GetObject shows it: a shared object whose contents are ``TargetV1`` BCS."""
    return types_pb2.Object(
        object_id=hex_id(target.target_id),
        version=target.version,
        digest=b58encode(target.digest()),
        owner=owner_msg(None),
        object_type="Target",
        contents=target.to_bcs(),
        previous_transaction=b58encode(target.previous_transaction),
    )


def _error_kind_value(kind: str) -> tuple[int, str | None]:
    """Map the chain's error name to the protocol enum; unknown names travel as OTHER_ERROR."""
    # The chain's audit-window errors travel under their older challenge names.
    kind = {"AuditWindowOpen": "ChallengeWindowOpen", "AuditWindowClosed": "ChallengeWindowClosed"}.get(
        kind, kind
    )
    snake = "".join("_" + c if c.isupper() else c for c in kind).lstrip("_").upper()
    enum = types_pb2.ExecutionError.ExecutionErrorKind
    try:
        return enum.Value(snake), None
    except ValueError:
        pass
    # The chain itself sends these as OTHER_ERROR with a fixed text.
    text = {
        "ModelInvalidState": "Model in invalid state for this operation",
        "ArithmeticOverflow": "Arithmetic overflow in execution",
    }.get(kind, kind)
    return enum.Value("OTHER_ERROR"), text


def status_msg(effects: Effects) -> types_pb2.ExecutionStatus:
    if effects.success:
        return types_pb2.ExecutionStatus(success=True)
    assert effects.error_kind is not None
    kind_value, other = _error_kind_value(effects.error_kind)
    err = types_pb2.ExecutionError(kind=kind_value, description=effects.error_kind)  # type: ignore[arg-type]
    if effects.error_object is not None:
        err.object_id = hex_id(effects.error_object)
    elif other is not None:
        err.other_error = other
    elif effects.error_detail is not None:
        err.other_error = effects.error_detail
    return types_pb2.ExecutionStatus(success=False, error=err)


def _change_msg(c: ObjectChange) -> types_pb2.ChangedObject:
    m = types_pb2.ChangedObject(object_id=hex_id(c.object_id), object_type=c.object_type)
    if c.input is None:
        m.input_state = types_pb2.ChangedObject.INPUT_OBJECT_STATE_DOES_NOT_EXIST
    else:
        m.input_state = types_pb2.ChangedObject.INPUT_OBJECT_STATE_EXISTS
        m.input_version, m.input_digest = c.input[0], b58encode(c.input[1])
        m.input_owner.CopyFrom(owner_msg(c.input[2]))
    if c.output is None:
        m.output_state = types_pb2.ChangedObject.OUTPUT_OBJECT_STATE_DOES_NOT_EXIST
    else:
        m.output_state = types_pb2.ChangedObject.OUTPUT_OBJECT_STATE_OBJECT_WRITE
        m.output_version, m.output_digest = c.output[0], b58encode(c.output[1])
        m.output_owner.CopyFrom(owner_msg(c.output[2]))
    m.id_operation = {
        "none": types_pb2.ChangedObject.NONE,
        "created": types_pb2.ChangedObject.CREATED,
        "deleted": types_pb2.ChangedObject.DELETED,
    }[c.operation]
    return m


def effects_msg(effects: Effects) -> types_pb2.TransactionEffects:
    m = types_pb2.TransactionEffects(
        status=status_msg(effects),
        epoch=effects.epoch,
        fee=types_pb2.TransactionFee(
            base_fee=effects.base_fee,
            operation_fee=effects.operation_fee,
            value_fee=effects.value_fee,
            total_fee=effects.total_fee,
        ),
        transaction_digest=b58encode(effects.digest),
        dependencies=[b58encode(d) for d in effects.dependencies],
        lamport_version=effects.lamport_version,
        changed_objects=[_change_msg(c) for c in effects.changes],
    )
    if effects.gas_index is not None:
        m.gas_object_index = effects.gas_index
    return m


def executed_msg(
    effects: Effects, tx: transaction_pb2.Transaction | None = None
) -> transaction_pb2.ExecutedTransaction:
    m = transaction_pb2.ExecutedTransaction(
        digest=b58encode(effects.digest),
        effects=effects_msg(effects),
        timestamp=timestamp(effects.timestamp_ms),
        balance_changes=[
            types_pb2.BalanceChange(address=hex_id(a), amount=str(n)) for a, n in effects.balance_changes
        ],
        objects=types_pb2.ObjectSet(objects=[object_msg(o) for o in effects.created_objects]),
    )
    if effects.checkpoint is not None:
        m.checkpoint = effects.checkpoint
    if tx is not None:
        m.transaction.CopyFrom(tx)
    return m


def checkpoint_msg(cp: Checkpoint, *, full: bool) -> checkpoint_pb2.Checkpoint:
    """``full=False`` is the subscription form: sequence number and transaction digests only."""
    m = checkpoint_pb2.Checkpoint(
        sequence_number=cp.sequence_number,
        transactions=[transaction_pb2.ExecutedTransaction(digest=b58encode(d)) for d in cp.transactions],
    )
    if not full:
        return m
    content_digest = b58encode(cp.digest[::-1])  # stands in for the (absent) contents digest
    m.digest = b58encode(cp.digest)
    m.summary.CopyFrom(
        checkpoint_pb2.CheckpointSummary(
            digest=b58encode(cp.digest),
            epoch=cp.epoch,
            sequence_number=cp.sequence_number,
            total_network_transactions=cp.total_transactions,
            content_digest=content_digest,
            epoch_rolling_transaction_fees=types_pb2.TransactionFee(
                base_fee=0, operation_fee=0, value_fee=0, total_fee=0
            ),
            timestamp=timestamp(cp.timestamp_ms),
        )
    )
    if cp.previous_digest is not None:
        m.summary.previous_digest = b58encode(cp.previous_digest)
    m.signature.CopyFrom(
        types_pb2.ValidatorAggregatedSignature(epoch=cp.epoch, signature=PLACEHOLDER_QUORUM_SIGNATURE)
    )
    m.contents.CopyFrom(
        checkpoint_pb2.CheckpointContents(
            digest=content_digest,
            version=1,
            transactions=[
                checkpoint_pb2.CheckpointedTransactionInfo(transaction=b58encode(d)) for d in cp.transactions
            ],
        )
    )
    return m


# -- the system state -----------------------------------------------------------------------


def parameters_msg(p: ChainParams, epoch_duration_ms: int) -> state_pb2.SystemParameters:
    return state_pb2.SystemParameters(
        epoch_duration_ms=epoch_duration_ms,
        validator_reward_allocation_bps=p.validator_reward_allocation_bps,
        model_min_stake=p.model_min_stake,
        model_architecture_version=p.model_architecture_version,
        model_reveal_slash_rate_bps=p.model_reveal_slash_rate_bps,
        model_tally_slash_rate_bps=p.model_tally_slash_rate_bps,
        target_epoch_fee_collection=p.target_epoch_fee_collection,
        base_fee=p.base_fee,
        write_object_fee=p.write_object_fee,
        value_fee_bps=p.value_fee_bps,
        min_value_fee_bps=p.min_value_fee_bps,
        max_value_fee_bps=p.max_value_fee_bps,
        fee_adjustment_rate_bps=p.fee_adjustment_rate_bps,
        target_models_per_target=p.target_models_per_target,
        target_embedding_dim=p.target_embedding_dim,
        target_initial_distance_threshold=p.target_initial_distance_threshold,
        target_reward_allocation_bps=p.target_reward_allocation_bps,
        target_hits_per_epoch=p.target_hits_per_epoch,
        target_hits_ema_decay_bps=p.target_hits_ema_decay_bps,
        target_difficulty_adjustment_rate_bps=p.target_difficulty_adjustment_rate_bps,
        target_max_distance_threshold=p.target_max_distance_threshold,
        target_min_distance_threshold=p.target_min_distance_threshold,
        target_initial_targets_per_epoch=p.target_initial_targets_per_epoch,
        target_submitter_reward_share_bps=p.target_submitter_reward_share_bps,
        target_model_reward_share_bps=p.target_model_reward_share_bps,
        target_claimer_incentive_bps=p.target_claimer_incentive_bps,
        submission_bond_per_byte=p.submission_bond_per_byte,
        challenger_bond_per_byte=p.challenger_bond_per_byte,
        max_submission_data_size=p.max_submission_data_size,
    )


def _manifest_msg(m: Manifest) -> transaction_pb2.Manifest:
    return transaction_pb2.Manifest(
        v1=transaction_pb2.ManifestV1(
            url=m.url,
            metadata=transaction_pb2.Metadata(
                v1=transaction_pb2.MetadataV1(checksum=m.checksum, size=m.size)
            ),
        )
    )


def _pool_msg(p: StakingPool) -> state_pb2.StakingPool:
    m = state_pb2.StakingPool(
        id=hex_id(p.pool_id),
        soma_balance=p.soma_balance,
        rewards_pool=p.rewards_pool,
        pool_token_balance=p.pool_token_balance,
        pending_stake=p.pending_stake,
        pending_total_soma_withdraw=p.pending_total_soma_withdraw,
        pending_pool_token_withdraw=p.pending_pool_token_withdraw,
    )
    if p.activation_epoch is not None:
        m.activation_epoch = p.activation_epoch
    if p.deactivation_epoch is not None:
        m.deactivation_epoch = p.deactivation_epoch
    for epoch, (soma, tokens) in p.exchange_rates.items():
        m.exchange_rates[epoch].CopyFrom(
            state_pb2.PoolTokenExchangeRate(soma_amount=soma, pool_token_amount=tokens)
        )
    return m


def _pending_update_msg(u: PendingUpdate) -> state_pb2.PendingModelUpdate:
    return state_pb2.PendingModelUpdate(
        manifest=_manifest_msg(u.manifest),
        weights_commitment=u.weights_commitment,
        embedding_commitment=u.embedding_commitment,
        decryption_key_commitment=u.decryption_key_commitment,
        commit_epoch=u.commit_epoch,
    )


def model_msg(model: Model) -> state_pb2.Model:
    """One registry entry, with exactly the fields the chain sends for the model's state."""
    m = state_pb2.Model(
        state=model.state,
        owner=hex_id(model.owner),
        architecture_version=model.architecture_version,
        staking_pool=_pool_msg(model.staking_pool),
        commission_rate=model.commission_rate,
        next_epoch_commission_rate=model.next_epoch_commission_rate,
    )
    if model.state == "created":
        m.create_epoch = model.create_epoch or 0
        return m
    if model.manifest is not None:
        m.manifest.CopyFrom(_manifest_msg(model.manifest))
    for name in ("weights_commitment", "embedding_commitment", "decryption_key_commitment"):
        value = getattr(model, name)
        if value is not None:
            setattr(m, name, value)
    if model.state == "pending":
        m.commit_epoch = model.commit_epoch or 0
        return m
    m.decryption_key = model.decryption_key or bytes(32)
    m.embedding.extend(model.embedding or ())
    if model.state == "active" and model.pending_update is not None:
        m.pending_update.CopyFrom(_pending_update_msg(model.pending_update))
    return m
