"""The emission pool, the per-epoch target budget, the difficulty controller and target drawing.

Protocol version 3 rules (the devnet's version):

* reward per target = floor(emission_per_epoch × allocation_bps / 10000) / target_hits_per_epoch,
  except at genesis, where it is that allocation / (2 × initial targets);
* at a boundary: hits EMA, then the z-step threshold update (skipped while the EMA is 0), then
  the epoch counters reset and the reward is recomputed;
* a new target needs an Active model, a pool holding at least one reward, and
  ``(generated + 1) × reward ≤ budget``. Its reward leaves the pool when it is created.
"""

from __future__ import annotations

import logging

import numpy as np

from soma_console.core.txdata import blake2b256, derive_object_id
from soma_console.devnet.engine.models import ACTIVE, Model
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.targets import (
    ActiveModels,
    Economy,
    Target,
    f32,
    target_embedding,
    target_seed,
)

EMBEDDING_DISTANCE_STD = np.float32(0.022)
MIN_Z_STEP_V3 = np.float32(0.1)
log = logging.getLogger("soma_console.devnet")


def epoch_budget(params: ChainParams, economy: Economy) -> int:
    return economy.emission_per_epoch * params.target_reward_allocation_bps // BPS


def steady_reward_per_target(params: ChainParams, economy: Economy) -> int:
    return epoch_budget(params, economy) // params.target_hits_per_epoch


def genesis_economy(params: ChainParams) -> Economy:
    economy = Economy(
        emission_balance=params.genesis_emission_pool,
        emission_per_epoch=params.emission_per_epoch,
        distance_threshold=f32(params.target_initial_distance_threshold),
    )
    economy.reward_per_target = epoch_budget(params, economy) // (2 * params.target_initial_targets_per_epoch)
    return economy


def next_threshold(threshold: float, ema: int, params: ChainParams) -> float:
    """The v3 z-step update, in f32 like the chain."""
    th = np.float32(threshold)
    z = (np.float32(1.0) - th) / EMBEDDING_DISTANCE_STD
    rate = np.float32(params.target_difficulty_adjustment_rate_bps) / np.float32(BPS)
    step = max(np.float32(abs(z) * rate), MIN_Z_STEP_V3)
    if ema > params.target_hits_per_epoch:
        z = np.float32(z + step)
    elif ema < params.target_hits_per_epoch:
        z = np.float32(z - step)
    z_max = (np.float32(1.0) - np.float32(params.target_min_distance_threshold)) / EMBEDDING_DISTANCE_STD
    z_min = (np.float32(1.0) - np.float32(params.target_max_distance_threshold)) / EMBEDDING_DISTANCE_STD
    z = np.float32(min(max(z, z_min), z_max))
    return float(np.float32(np.float32(1.0) - EMBEDDING_DISTANCE_STD * z))


def advance_targets(economy: Economy, params: ChainParams) -> None:
    """The boundary's target-state update (before the new epoch's targets are drawn)."""
    hits = economy.hits_this_epoch
    if economy.hits_ema == 0:
        economy.hits_ema = hits
    else:
        decay = params.target_hits_ema_decay_bps
        economy.hits_ema = (decay * economy.hits_ema + (BPS - decay) * hits) // BPS
    if economy.hits_ema != 0:
        economy.distance_threshold = next_threshold(economy.distance_threshold, economy.hits_ema, params)
    economy.targets_generated_this_epoch = 0
    economy.hits_this_epoch = 0
    economy.reward_per_target = steady_reward_per_target(params, economy)


def can_generate(economy: Economy, params: ChainParams) -> bool:
    reward = economy.reward_per_target
    if economy.emission_balance < reward:
        return False
    return (economy.targets_generated_this_epoch + 1) * reward <= epoch_budget(params, economy)


def draw_target(
    economy: Economy,
    params: ChainParams,
    active: ActiveModels,
    *,
    seed_digest: bytes,
    seed_num: int,
    target_id: bytes,
    epoch: int,
    tx_digest: bytes,
) -> Target:
    """Create one target and take its reward from the pool (the caller checked can_generate)."""
    embedding = target_embedding(target_seed(seed_digest, seed_num), params.target_embedding_dim)
    target = Target(
        target_id=target_id,
        embedding=embedding,
        model_ids=active.nearest(embedding, params.target_models_per_target),
        distance_threshold=economy.distance_threshold,
        reward_pool=economy.reward_per_target,
        generation_epoch=epoch,
        previous_transaction=tx_digest,
    )
    economy.emission_balance -= economy.reward_per_target
    economy.targets_generated_this_epoch += 1
    return target


def draw_epoch_targets(
    economy: Economy,
    params: ChainParams,
    active: ActiveModels,
    models: dict[bytes, Model],
    *,
    chain_id: bytes,
    new_epoch: int,
) -> tuple[list[Target], str]:
    """The new epoch's targets (drawn once the controller is updated) and a line for the node's log."""
    if not any(m.state == ACTIVE for m in models.values()):
        return [], "no targets drawn: no model is active"
    if active.dim == -1:
        return [], "no targets drawn: the active models' embeddings differ in size"
    if not active.can_draw(params.target_embedding_dim):
        # The chain would fail generating; the devnet draws nothing and says why.
        return [], (
            f"no targets drawn: the active models' embeddings have {active.dim} values, the "
            f"chain's targets {params.target_embedding_dim} (see --model-preset)"
        )
    # The devnet has no ChangeEpoch transaction; its digest is derived from the chain and epoch.
    digest = blake2b256(b"soma-console-devnet ChangeEpoch" + chain_id + new_epoch.to_bytes(8, "little"))
    out: list[Target] = []
    for creation_num in range(params.target_initial_targets_per_epoch):
        if not can_generate(economy, params):
            break
        try:
            target = draw_target(
                economy,
                params,
                active,
                seed_digest=digest,
                seed_num=creation_num,
                target_id=derive_object_id(digest, creation_num),
                epoch=new_epoch,
                tx_digest=digest,
            )
        except Exception:  # like the chain: the first generation error ends the drawing
            log.exception("devnet: drawing a target failed")
            break
        out.append(target)
    note = (
        f"{len(out)} targets drawn (reward {economy.reward_per_target:,} shannons each, "
        f"distance threshold {economy.distance_threshold:.4g})"
    )
    return out, note
