"""The devnet's chain parameters: the real protocol's defaults (protocol version 3).

Values a client can see (GetEpoch's system parameters and protocol-config attributes) come
from here, so rehearsing on the devnet costs what the chain costs: a 1 SOMA minimum model stake,
a 1000-shannon base fee, 300 shannons per written object, a value fee of 10 bps (halved for
staking) and a 50% slash for a missed first reveal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

SHANNONS_PER_SOMA = 1_000_000_000
BPS = 10_000
DEFAULT_EPOCH_DURATION_MS = 86_400_000
# Not protocol-config attributes: the system state's emission pool at genesis (the devnet's
# choice) and its configured emission per epoch (the chain's genesis default, 1,370 SOMA).
_NOT_ATTRIBUTES = {"faucet_amount", "genesis_emission_pool", "emission_per_epoch"}


@dataclass(frozen=True)
class ModelPreset:
    """The chain's embedding size and the scoring service's model configuration."""

    name: str
    embedding_dim: int
    num_layers: int
    num_heads: int
    pwff_hidden_dim: int
    vocab_size: int = 264


# "v1": the network's model. "tiny": the console's own tiny training preset (training.spec.TINY),
# so models trained by `soma-console train --preset tiny` (and the demo's) get targets and are
# scored on a CPU in seconds. "small": upstream's small-model localnet (`soma start localnet
# --small-model`: genesis overrides the target embedding dimension to 16), for upstream examples.
MODEL_PRESETS = {
    "v1": ModelPreset("v1", embedding_dim=2048, num_layers=24, num_heads=8, pwff_hidden_dim=8192),
    "tiny": ModelPreset("tiny", embedding_dim=64, num_layers=2, num_heads=2, pwff_hidden_dim=256),
    "small": ModelPreset("small", embedding_dim=16, num_layers=2, num_heads=4, pwff_hidden_dim=32),
}


@dataclass(frozen=True)
class ChainParams:
    protocol_version: int = 3
    # What a chain with manually advanced epochs reports (a real localnet's default).
    epoch_duration_ms: int = DEFAULT_EPOCH_DURATION_MS
    validator_reward_allocation_bps: int = 7000
    model_min_stake: int = SHANNONS_PER_SOMA
    model_architecture_version: int = 1
    model_reveal_slash_rate_bps: int = 5000
    model_tally_slash_rate_bps: int = 9500
    target_epoch_fee_collection: int = SHANNONS_PER_SOMA
    base_fee: int = 1000
    write_object_fee: int = 300
    value_fee_bps: int = 10
    min_value_fee_bps: int = 1
    max_value_fee_bps: int = 50
    fee_adjustment_rate_bps: int = 1250
    target_models_per_target: int = 3
    target_embedding_dim: int = 2048
    target_initial_distance_threshold: float = 0.978
    target_reward_allocation_bps: int = 8000
    target_hits_per_epoch: int = 86_400
    target_hits_ema_decay_bps: int = 9000
    target_difficulty_adjustment_rate_bps: int = 200
    target_max_distance_threshold: float = 2.0
    target_min_distance_threshold: float = 0.95
    target_initial_targets_per_epoch: int = 20
    target_submitter_reward_share_bps: int = 4975
    target_model_reward_share_bps: int = 4975
    target_claimer_incentive_bps: int = 50
    submission_bond_per_byte: int = 65
    challenger_bond_per_byte: int = 65
    max_submission_data_size: int = 1_048_576
    # The faucet's gift, as the real local faucet: one coin of 2 SOMA per request.
    faucet_amount: int = 2 * SHANNONS_PER_SOMA
    emission_per_epoch: int = 1_370 * SHANNONS_PER_SOMA
    genesis_emission_pool: int = 1_000_000 * SHANNONS_PER_SOMA

    def attributes(self) -> dict[str, str]:
        """Protocol-config attributes as GetEpoch reports them (strings, like the chain)."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name not in _NOT_ATTRIBUTES}
        out["initial_value_fee_bps"] = str(self.value_fee_bps)
        return out
