"""The flax trainer (the [flax] extra): same protocol, and weights interchangeable with torch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from soma_models.v1.tokenizer import tokenize
from soma_models.v1.torch import Model as TorchModel
from soma_models.v1.torch import ModelConfig

from soma_console.training import events as ev
from soma_console.training.manifest import list_checkpoints, read_manifest
from tests.training.conftest import run_worker, tiny_spec

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")
flax_model = pytest.importorskip("soma_models.v1.flax")

pytestmark = [pytest.mark.flax, pytest.mark.slow]


def _batch() -> tuple[np.ndarray, np.ndarray]:
    seqs = tokenize(b"Weights trained in one framework load in the other. " * 12, max_seq_len=128)[:2]
    return np.array([s.token_ids for s in seqs]), np.array([s.pos_ids for s in seqs])


def _torch_logits(path: Path, cfg: dict) -> np.ndarray:  # type: ignore[type-arg]
    model = TorchModel.load(str(path), ModelConfig(**cfg)).eval()
    ids, pos = _batch()
    with torch.no_grad():
        return model(torch.tensor(ids), torch.tensor(pos)).numpy()


def _flax_logits(path: Path, cfg: dict) -> np.ndarray:  # type: ignore[type-arg]
    from soma_models.v1.flax.serde import Serde

    model = flax_model.Model(flax_model.ModelConfig(**cfg), nnx.Rngs(0))
    Serde(model).deserialize_from_file(str(path))
    model.eval()
    ids, pos = _batch()
    return np.asarray(model(jax.numpy.asarray(ids), jax.numpy.asarray(pos)))


def test_flax_trains_resumes_and_its_weights_load_in_torch(tmp_path: Path) -> None:
    spec = tiny_spec(
        tmp_path / "fx", run="fx", framework="flax", steps=4, checkpoint_every=2, micro_batch=4, grad_accum=2
    )
    r = run_worker(spec)
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Started)[0].framework == "flax"
    steps = r.of(ev.Step)
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert steps[-1].loss < steps[0].loss
    final = read_manifest(tmp_path / "fx" / "checkpoints" / "model-final.json")
    assert final.framework == "flax"
    assert len(final.embedding) == final.embedding_dim == 64
    # Trained in flax, loaded in torch: the same function.
    path = tmp_path / "fx" / "checkpoints" / final.weights
    np.testing.assert_allclose(
        _torch_logits(path, final.config), _flax_logits(path, final.config), atol=2e-4, rtol=1e-4
    )

    # Resume: a flax run stopped at step 2 and continued matches the straight one.
    part = tiny_spec(
        tmp_path / "fy", run="fy", framework="flax", steps=2, checkpoint_every=2, micro_batch=4, grad_accum=2
    )
    assert run_worker(part).code == 0
    more = tiny_spec(
        tmp_path / "fy", run="fy", framework="flax", steps=4, checkpoint_every=2, micro_batch=4, grad_accum=2
    )
    r2 = run_worker(more, "--resume")
    assert r2.code == 0, r2.stderr[-3000:]
    assert r2.of(ev.Started)[0].start_step == 2
    a = list_checkpoints(tmp_path / "fx", include_final=False)[0]
    b = list_checkpoints(tmp_path / "fy", include_final=False)[0]
    assert (a.step, b.step) == (4, 4)
    np.testing.assert_allclose(
        _torch_logits(a.path, a.manifest.config), _torch_logits(b.path, b.manifest.config), atol=1e-5
    )


def test_torch_weights_load_in_flax(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path / "tx", run="tx", steps=2, checkpoint_every=2)
    assert run_worker(spec).code == 0
    m = read_manifest(tmp_path / "tx" / "checkpoints" / "model-final.json")
    path = tmp_path / "tx" / "checkpoints" / m.weights
    np.testing.assert_allclose(
        _flax_logits(path, m.config), _torch_logits(path, m.config), atol=2e-4, rtol=1e-4
    )


def test_flax_cross_entropy_over_all_positions_is_the_chains() -> None:
    from soma_console.scoring.compute import _cross_entropy
    from soma_console.scoring.tokens import tokenize as chain_tokenize
    from soma_console.training.flax_trainer import _ce

    # Two full sequences and a short third (EOS, then PAD), so the two normalisations differ.
    seqs = chain_tokenize(np.random.default_rng(3).integers(0, 256, 2 * 1024 + 100, dtype=np.uint8).tobytes())
    tgt = seqs.targets.astype(np.int64)
    logits = np.random.default_rng(4).standard_normal((*tgt.shape, 264)).astype(np.float32)
    chain = float(_cross_entropy(torch.from_numpy(logits), torch.from_numpy(tgt)))
    ours = float(_ce(jax.numpy.asarray(logits), jax.numpy.asarray(tgt), True))
    stock = float(_ce(jax.numpy.asarray(logits), jax.numpy.asarray(tgt)))
    assert ours == pytest.approx(chain, rel=1e-5)
    pads = int((tgt == 256).sum())
    assert pads > 0
    assert stock == pytest.approx(chain * tgt.size / (tgt.size - pads), rel=1e-5)


def test_flax_trains_on_the_scoring_objective(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path / "fs", run="fs", framework="flax", steps=3, checkpoint_every=3, micro_batch=4)
    spec = replace(spec, fast=replace(spec.fast, scoring_objective=True))
    (tmp_path / "fs" / "spec.json").write_text(spec.to_json())
    r = run_worker(spec)
    assert r.code == 0, r.stderr[-3000:]
    assert r.of(ev.Started)[0].spec["fast"]["scoring_objective"] is True
    steps = r.of(ev.Step)
    assert [s.step for s in steps] == [1, 2, 3]
    assert all(np.isfinite(s.loss) for s in steps)
