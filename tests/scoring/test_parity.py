"""The scorer against an independent computation of the chain's recipe (tests/scoring/reference.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from soma_console.scoring.arch import arch_for_preset
from soma_console.scoring.scorer import ScoreError, Scorer
from tests.scoring.reference import reference_score

REL = 2e-6


@pytest.fixture
def weight_files(tmp_path, score_inputs):
    paths = []
    for i, plain in enumerate(score_inputs["weights"]):
        p = tmp_path / f"model{i}.safetensors"
        p.write_bytes(plain)
        paths.append(p)
    return paths


@pytest.fixture
def scorer(tmp_path):
    s = Scorer(arch_for_preset("tiny"), tmp_path / "cache", device="cpu")
    yield s
    s.close()


def test_scorer_equals_the_independent_computation(scorer, weight_files, score_inputs, reference):
    i = score_inputs
    out = scorer.score_files(i["data"], weight_files, i["target"], seed=i["seed"])
    assert len(out.losses) == 3
    for ours, ref in zip(out.losses, reference.losses, strict=True):
        assert math.isclose(ours, ref, rel_tol=REL), (out.losses, reference.losses)
    assert out.winner == reference.winner
    for ours_emb, ref_emb in zip(out.embeddings, reference.embeddings, strict=True):
        np.testing.assert_allclose(ours_emb, ref_emb, rtol=1e-5, atol=1e-6)
    assert out.embedding is out.embeddings[reference.winner]
    assert math.isclose(out.distance, reference.distance, abs_tol=1e-5)
    assert out.tokens == 17 * 1024
    # the three random models really differ, so the winner is a real choice
    assert len({round(x, 6) for x in out.losses}) == 3


def test_the_recipe_details_matter(score_inputs, reference):
    """Relative positions or the non-PAD mean (soma_models.compute_loss) give another loss.

    Both differences are far outside the parity tolerance, so the parity test would catch them
    (random weights barely use positions, hence the small but clear first margin).
    """
    i = score_inputs
    one = i["weights"][:1]
    relative = reference_score(i["data"], one, i["target"], i["seed"], positions="relative")
    non_pad = reference_score(i["data"], one, i["target"], i["seed"], normalise="non_pad")
    tolerance = REL * reference.losses[0]
    assert abs(relative.losses[0] - reference.losses[0]) > 10 * tolerance
    assert abs(non_pad.losses[0] - reference.losses[0]) > 0.1


def test_the_seed_draws_the_noise(scorer, weight_files, score_inputs, reference):
    i = score_inputs
    other = scorer.score_files(i["data"], weight_files[:1], i["target"], seed=i["seed"] + 1)
    assert other.losses[0] != reference.losses[0]
    assert math.isclose(other.losses[0], reference.losses[0], rel_tol=0.05)  # noise only moves SIGReg


def test_weights_of_another_shape_are_refused(scorer, tmp_path, score_inputs):
    from soma_console.scoring.compute import load_model  # noqa: F401 (torch present)

    v1_target = [0.0] * 2048
    with pytest.raises(ScoreError, match="Invalid target embedding: it has 2048 values"):
        scorer.score_files(score_inputs["data"], [tmp_path / "x"], v1_target)
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(ScoreError, match="model 0: the weights are not a readable safetensors file"):
        scorer.score_files(b"abc", [bogus], score_inputs["target"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_scores_like_the_cpu_reference(tmp_path, weight_files, score_inputs, reference):
    i = score_inputs
    gpu = Scorer(arch_for_preset("tiny"), tmp_path / "gpu-cache")  # picks CUDA, TF32 off
    try:
        out = gpu.score_files(i["data"], weight_files, i["target"], seed=i["seed"])
    finally:
        gpu.close()
    for ours, ref in zip(out.losses, reference.losses, strict=True):
        assert math.isclose(ours, ref, rel_tol=1e-5), (out.losses, reference.losses)
    assert out.winner == reference.winner
    assert math.isclose(out.distance, reference.distance, abs_tol=1e-4)


def test_requests_are_checked_before_anything_is_downloaded(scorer, score_inputs):
    from soma_console.scoring.wire import ModelManifest, ScoreRequest
    from soma_console.secrets import Secret

    good_sum = "11111111111111111111111111111111"  # Base58 of 32 zero bytes
    model = ModelManifest("http://127.0.0.1:9/m", good_sum, 10)

    def req(**changes):
        base = {
            "data_url": "http://127.0.0.1:9/d",
            "data_checksum": good_sum,
            "data_size": 10,
            "models": (model,),
            "target_embedding": tuple(score_inputs["target"]),
        }
        return ScoreRequest(**{**base, **changes})

    cases = [
        (req(models=()), "At least one model manifest is required"),
        (req(models=(model,) * 33), "model_manifests must be at most 32 models"),
        (req(target_embedding=()), "Target embedding must not be empty"),
        (req(data_size=0), "data_size must be positive"),
        (req(data_size=1 << 40), "data_size must be at most"),
        (req(data_checksum="xyz"), "Invalid checksum for the data"),
        (req(models=(ModelManifest("u", "bad", 1),)), "Invalid checksum for model 0"),
        (
            req(models=(ModelManifest("u", good_sum, 1, Secret("not-a-key", label="decryption key")),)),
            "Invalid decryption key for model 0",
        ),
    ]
    for request, message in cases:
        with pytest.raises(ScoreError, match=message):
            scorer.score(request)
    assert scorer.cache.downloads == 0
