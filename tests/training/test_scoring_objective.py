"""The trainer's scoring objective computes the chain's cross-entropy (all B*S positions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soma_console.scoring.compute import _cross_entropy
from soma_console.scoring.tokens import tokenize
from soma_console.training.fast import LossModule, cross_entropy
from tests.weights_helpers import tiny_model


@pytest.fixture
def batch():
    # two full sequences and a short third: EOS then PAD, so the normalisations differ
    seqs = tokenize(np.random.default_rng(3).integers(0, 256, 2 * 1024 + 100, dtype=np.uint8).tobytes())
    return (torch.from_numpy(a.astype(np.int64)) for a in (seqs.token_ids, seqs.targets, seqs.pos_ids))


def test_cross_entropy_over_all_positions_is_the_chains(batch):
    tok, tgt, pos = batch
    model = tiny_model(7).eval()
    with torch.no_grad():
        logits = model.predict(model.encode(tok, pos))
    chain = _cross_entropy(logits, tgt)
    ours = cross_entropy(logits, tgt, all_positions=True)
    stock = cross_entropy(logits, tgt)
    assert float(ours) == pytest.approx(float(chain), rel=1e-6)
    pads = int((tgt == 256).sum())
    assert pads > 0
    assert float(stock) == pytest.approx(float(chain) * tgt.numel() / (tgt.numel() - pads), rel=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_the_loss_module_uses_it_on_both_paths(batch, fast):
    from soma_models.v1.torch import SIGReg
    from soma_models.v1.torch.modules.sig_reg import SIGRegConfig

    tok, tgt, pos = batch
    model = tiny_model(7).eval()
    mod = LossModule(model, SIGReg(SIGRegConfig()), fast=fast, sdpa=True, amp_dtype=None, all_positions=True)
    with torch.no_grad():
        _, ce, _ = mod(tok, tgt, pos)
        chain = _cross_entropy(model.predict(model.encode(tok, pos)), tgt)
    assert float(ce) == pytest.approx(float(chain), rel=1e-5)
