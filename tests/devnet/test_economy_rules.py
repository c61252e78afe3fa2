"""Unit checks of the economy's arithmetic against the figures in the chain's source."""

from __future__ import annotations

import numpy as np

from soma_console.devnet.engine import economy as econ
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.targets import ActiveModels, Candidate, target_seed


def test_rewards_and_budget_match_the_chains_figures():
    p = ChainParams()
    e = econ.genesis_economy(p)
    assert e.reward_per_target == 27_400_000_000  # alloc / (2 * 20) at genesis
    assert econ.epoch_budget(p, e) == 1_096_000_000_000
    econ.advance_targets(e, p)
    assert e.reward_per_target == 12_685_185
    assert econ.epoch_budget(p, e) // e.reward_per_target == 86_400
    e.targets_generated_this_epoch = 86_399
    assert econ.can_generate(e, p)
    e.targets_generated_this_epoch = 86_400
    assert not econ.can_generate(e, p)
    e.targets_generated_this_epoch = 0
    e.emission_balance = e.reward_per_target - 1
    assert not econ.can_generate(e, p)


def test_threshold_controller_v3():
    p = ChainParams()
    f = np.float32
    # z = (1 - 0.978) / 0.022 = 1; step = max(1 * 2 %, 0.1) = 0.1
    easier = econ.next_threshold(0.978, 1, p)
    assert easier == float(f(1) - f(0.022) * f(f((f(1) - f(0.978)) / f(0.022)) - f(0.1)))
    assert 0.980 < easier < 0.981
    harder = econ.next_threshold(0.978, 100_000, p)
    assert 0.975 < harder < 0.976
    assert econ.next_threshold(0.951, 100_000, p) == float(f(0.95))  # the floor
    assert econ.next_threshold(1.999, 1, p) == 2.0  # the cap
    # bootstrap: no hits leaves the threshold alone
    e = econ.genesis_economy(p)
    econ.advance_targets(e, p)
    assert e.distance_threshold == float(f(0.978)) and e.hits_ema == 0
    e.hits_this_epoch = 10
    econ.advance_targets(e, p)
    assert e.hits_ema == 10 and e.distance_threshold > float(f(0.978))
    e.hits_this_epoch = 0
    econ.advance_targets(e, p)
    assert e.hits_ema == 9  # (9000 * 10 + 1000 * 0) / 10000


def test_seed_is_the_first_eight_bytes_of_blake2b_little_endian():
    import hashlib

    digest = bytes(range(32))
    h = hashlib.blake2b(digest + (5).to_bytes(8, "little"), digest_size=32).digest()
    assert target_seed(digest, 5) == int.from_bytes(h[:8], "little")


def test_stake_weighting_prefers_heavy_models_at_equal_distance():
    light = Candidate(b"\x01" * 32, (1.0, 0.0), 1)
    heavy = Candidate(b"\x02" * 32, (1.0, 0.0), 100)
    far = Candidate(b"\x03" * 32, (-1.0, 0.0), 10_000)
    active = ActiveModels([light, heavy, far])
    assert active.nearest((1.0, 0.1), 2) == (heavy.model_id, light.model_id)
    zero = ActiveModels([Candidate(b"\x01" * 32, (0.0, 1.0), 0), Candidate(b"\x02" * 32, (1.0, 0.0), 0)])
    assert zero.nearest((1.0, 0.0), 1) == (b"\x02" * 32,)  # all stakes 0: equal weights


def test_the_tiny_preset_is_the_consoles_tiny_training_preset():
    from soma_console.devnet.engine.params import MODEL_PRESETS
    from soma_console.training.spec import TINY

    tiny = MODEL_PRESETS["tiny"]
    assert (tiny.embedding_dim, tiny.num_layers, tiny.num_heads, tiny.pwff_hidden_dim) == (
        TINY.embedding_dim,
        TINY.num_layers,
        TINY.num_heads,
        TINY.pwff_hidden_dim,
    )
    assert MODEL_PRESETS["small"].embedding_dim == 16  # upstream's --small-model override


def test_a_mixed_registry_draws_nothing_instead_of_failing():
    mixed = ActiveModels(
        [Candidate(b"\x01" * 32, (1.0, 0.0), 1), Candidate(b"\x02" * 32, (1.0, 0.0, 0.0), 1)]
    )
    assert mixed.dim == -1 and not mixed.can_draw(2) and not mixed.can_draw(3)
    assert ActiveModels([Candidate(b"\x01" * 32, (1.0, 0.0), 1)]).can_draw(2)
