"""SubmitData and ClaimRewards, checked and paid as the chain does (protocol version 3).

SubmitData checks, in the chain's order (the first failure decides the error): the target is
open; it is still its generation epoch; the model is one of the target's; the embedding has the
target's dimension; the claimed distance ≤ the threshold (f32); the declared size ≤ the maximum;
the bond coin exists, is the signer's, is a coin and holds size × bond_per_byte; the model is
Active. The chain does not check the score, the embedding's origin or the data itself.

ClaimRewards on a filled target (from fill epoch + 2): submitter 49.75 % plus the rounding
remainder, the winning model's owner (captured at fill) 49.75 %, the claimer 0.5 %, the bond back
to the submitter, each a new coin in that order. On an expired open target (from generation
epoch + 1): the claimer gets 0.5 %, the rest returns to the emission pool. The target object is
deleted either way. Report quorums cannot happen without validators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from soma_console.core.txkinds import ClaimRewards, SubmitData
from soma_console.devnet.engine import economy as econ
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.models import ACTIVE, Model
from soma_console.devnet.engine.objects import COIN, ObjectRecord, coin_contents, hex_id
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.targets import FILLED, OPEN, ActiveModels, Economy, Target


class Workspace(Protocol):
    digest: bytes
    economy: Economy
    creation_count: int

    def read(self, object_id: bytes) -> ObjectRecord | None: ...
    def write(self, rec: ObjectRecord) -> None: ...
    def delete(self, object_id: bytes) -> None: ...
    def new_id(self) -> bytes: ...
    def get_model(self, model_id: bytes) -> Model | None: ...
    def get_target(self, target_id: bytes) -> Target | None: ...
    def put_target(self, target: Target) -> None: ...
    def delete_target(self, target_id: bytes) -> None: ...
    def new_coin(self, owner: bytes, amount: int) -> None: ...


def bps(amount: int, rate: int) -> int:
    return amount * rate // BPS


def claim_value_fee(params: ChainParams, target: Target | None) -> int:
    """ClaimRewards pays half the value-fee rate on the target's reward."""
    if target is None:
        return 0
    return bps(target.reward_pool, params.value_fee_bps // 2)


def _load(ws: Workspace, target_id: bytes) -> Target:
    target = ws.get_target(target_id)
    if target is None:
        raise ExecutionFailure("TargetNotFound")
    return target.clone()


def submit_data(
    ws: Workspace,
    params: ChainParams,
    kind: SubmitData,
    *,
    signer: bytes,
    epoch: int,
    gas_id: bytes,
    active_models: Callable[[], ActiveModels],
) -> None:
    target = _load(ws, kind.target_id)
    if target.status != OPEN:
        raise ExecutionFailure("TargetNotOpen")
    if epoch > target.generation_epoch:
        raise ExecutionFailure(
            "TargetExpired", f"generation_epoch={target.generation_epoch}, current_epoch={epoch}"
        )
    if kind.model_id not in target.model_ids:
        raise ExecutionFailure(
            "ModelNotInTarget", f"model_id={hex_id(kind.model_id)}, target_id={hex_id(kind.target_id)}"
        )
    if len(kind.embedding) != len(target.embedding):
        raise ExecutionFailure(
            "EmbeddingDimensionMismatch", f"expected={len(target.embedding)}, actual={len(kind.embedding)}"
        )
    if np.float32(kind.distance_score) > np.float32(target.distance_threshold):
        raise ExecutionFailure(
            "DistanceExceedsThreshold",
            f"score={np.float32(kind.distance_score)}, threshold={np.float32(target.distance_threshold)}",
        )
    size = kind.manifest.size
    if size > params.max_submission_data_size:
        raise ExecutionFailure(
            "DataExceedsMaxSize", f"size={size}, max_size={params.max_submission_data_size}"
        )
    required = size * params.submission_bond_per_byte
    bond_id = kind.bond_coin.object_id
    coin = ws.read(bond_id)
    if coin is None:
        raise ExecutionFailure("ObjectNotFound", object_id=bond_id)
    if coin.owner != signer:
        raise ExecutionFailure("InvalidOwnership", object_id=bond_id)
    if coin.object_type != COIN:
        raise ExecutionFailure("InvalidObjectType", object_id=bond_id)
    if coin.balance < required:
        raise ExecutionFailure("InsufficientBond", f"required={required}, provided={coin.balance}")
    if coin.balance == required and bond_id != gas_id:
        ws.delete(bond_id)
    else:
        ws.write(coin.replace(contents=coin_contents(coin.balance - required)))
    model = ws.get_model(kind.model_id)
    if model is None or model.state != ACTIVE:
        raise ExecutionFailure("ModelNotActive")
    target.status = FILLED
    target.fill_epoch = epoch
    target.submitter = signer
    target.winning_model_id = kind.model_id
    target.winning_model_owner = model.owner
    target.bond_amount = required
    target.winning_manifest = kind.manifest
    target.winning_embedding = kind.embedding
    target.winning_distance = kind.distance_score
    target.winning_loss = kind.loss_score
    target.previous_transaction = ws.digest
    ws.put_target(target)
    economy = ws.economy
    economy.hits_this_epoch += 1
    ws.creation_count += 1  # the chain bumps its creation counter once before the spawn
    active = active_models()
    if active.can_draw(params.target_embedding_dim) and econ.can_generate(economy, params):
        seed_num = ws.creation_count
        ws.creation_count += 1
        new_id = ws.new_id()
        ws.put_target(
            econ.draw_target(
                economy,
                params,
                active,
                seed_digest=ws.digest,
                seed_num=seed_num,
                target_id=new_id,
                epoch=epoch,
                tx_digest=ws.digest,
            )
        )


def claim_rewards(
    ws: Workspace, params: ChainParams, kind: ClaimRewards, *, signer: bytes, epoch: int
) -> None:
    target = _load(ws, kind.target_id)
    economy = ws.economy
    reward = target.reward_pool
    if target.status == FILLED:
        fill_epoch = target.fill_epoch if target.fill_epoch is not None else target.generation_epoch
        if epoch <= fill_epoch + 1:
            raise ExecutionFailure("AuditWindowOpen", f"fill_epoch={fill_epoch}, current_epoch={epoch}")
        submitter = target.submitter
        if submitter is None:
            raise ExecutionFailure("TargetNotFilled")
        if reward > 0:
            submitter_share = bps(reward, params.target_submitter_reward_share_bps)
            model_share = bps(reward, params.target_model_reward_share_bps)
            claimer_share = bps(reward, params.target_claimer_incentive_bps)
            remainder = reward - submitter_share - model_share - claimer_share
            if submitter_share + remainder > 0:
                ws.new_coin(submitter, submitter_share + remainder)
            if model_share > 0 and target.winning_model_owner is not None:
                ws.new_coin(target.winning_model_owner, model_share)
            if claimer_share > 0:
                ws.new_coin(signer, claimer_share)
            paid = submitter_share + remainder + claimer_share
            paid += model_share if target.winning_model_owner is not None else 0
            economy.rewards_paid += paid
            economy.emission_balance += reward - paid
        if target.bond_amount > 0:
            ws.new_coin(submitter, target.bond_amount)
    elif target.status == OPEN:
        if epoch <= target.generation_epoch:
            raise ExecutionFailure("TargetNotFilled")
        if reward > 0:
            claimer_share = bps(reward, params.target_claimer_incentive_bps)
            economy.emission_balance += reward - claimer_share
            economy.rewards_paid += claimer_share
            if claimer_share > 0:
                ws.new_coin(signer, claimer_share)
    else:
        raise ExecutionFailure("TargetAlreadyClaimed")
    ws.delete_target(kind.target_id)
