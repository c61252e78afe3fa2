"""Issue 8: the fast path computes what the stock soma-models code computes.

Tiny config, dropout 0, fixed RNG. SIGReg draws its noise from the global RNG, so each side is
seeded identically right before its forward.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from soma_models.v1.tokenizer import tokenize
from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig, compute_loss
from soma_models.v1.torch.modules.attention import apply_rope

from soma_console.training.checkpoint import write_safetensors
from soma_console.training.fast import (
    apply_rope_tables,
    canonical_entries,
    fast_loss,
    reference_loss,
    rope_tables,
)

CFG = {"dropout_rate": 0.0, "embedding_dim": 64, "pwff_hidden_dim": 256, "num_layers": 2, "num_heads": 2}


def _setup(
    dtype: torch.dtype, seq: int = 128
) -> tuple[Model, SIGReg, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = Model(ModelConfig(**CFG)).to(dtype)
    sig = SIGReg(SIGRegConfig()).to(dtype)
    data = b"The quick brown fox jumps over the lazy dog. " * 20
    seqs = tokenize(data, max_seq_len=seq)[:3]
    ids = torch.tensor([s.token_ids for s in seqs])
    tgt = torch.tensor([s.targets for s in seqs])
    pos = torch.tensor([s.pos_ids for s in seqs])
    return model, sig, ids, tgt, pos


def _loss_and_grads(model: Model, fn) -> tuple[torch.Tensor, list[torch.Tensor]]:  # type: ignore[no-untyped-def]
    model.zero_grad()
    torch.manual_seed(123)
    loss = fn()
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad()
    return loss.detach(), grads


@pytest.mark.parametrize(
    ("dtype", "loss_tol", "grad_tol"), [(torch.float64, 1e-10, 1e-10), (torch.float32, 1e-5, 1e-4)]
)
def test_sdpa_path_equals_stock_compute_loss(dtype: torch.dtype, loss_tol: float, grad_tol: float) -> None:
    model, sig, ids, tgt, _ = _setup(dtype)
    ref_loss, ref_grads = _loss_and_grads(model, lambda: compute_loss(model, sig, ids, tgt)[0])
    fast, fast_grads = _loss_and_grads(model, lambda: fast_loss(model, sig, ids, tgt, sdpa=True).loss)
    assert abs(float(ref_loss - fast)) <= loss_tol
    worst = max(float((a - b).abs().max()) for a, b in zip(ref_grads, fast_grads, strict=True))
    assert worst <= grad_tol, worst
    # The stock path split into its two terms is still the stock loss.
    split, _ = _loss_and_grads(model, lambda: reference_loss(model, sig, ids, tgt).loss)
    assert abs(float(ref_loss - split)) <= loss_tol


def test_bf16_autocast_with_fp32_rope_stays_close_to_fp32() -> None:
    model, sig, ids, tgt, _ = _setup(torch.float32)
    ref_loss, ref_grads = _loss_and_grads(model, lambda: compute_loss(model, sig, ids, tgt)[0])
    amp_loss, amp_grads = _loss_and_grads(
        model, lambda: fast_loss(model, sig, ids, tgt, amp_dtype=torch.bfloat16).loss
    )
    assert abs(float(ref_loss - amp_loss)) <= 2e-2
    worst = max(float((a - b).abs().max()) for a, b in zip(ref_grads, amp_grads, strict=True))
    assert worst <= 5e-2, worst
    # Master weights and their gradients stay fp32.
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(g.dtype == torch.float32 for g in amp_grads)


def _rope_error(encode: torch.Tensor, reference: torch.Tensor) -> float:
    return float((encode - reference).norm() / reference.norm())


def test_rope_runs_in_fp32_under_autocast_and_would_fail_in_bf16() -> None:
    """Regression: positions near 1024 must not be rounded (bf16 has 8 bits of mantissa)."""
    torch.manual_seed(0)
    x = torch.randn(1, 1024, 2, 32)
    positions = torch.arange(1024).unsqueeze(0)
    exact = apply_rope(x.double(), positions, head_dim=32).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cos, sin = rope_tables(positions, 32, 10_000.0, 1.0, torch.float32)
        ours = apply_rope_tables(x.to(torch.bfloat16), cos, sin)
    assert cos.dtype == torch.float32
    assert ours.dtype == torch.float32
    # What we compute is limited only by the bf16 rounding of the input itself...
    assert _rope_error(ours, exact) < 1e-2
    # ...while RoPE evaluated in bf16 (what stock apply_rope does under autocast) is far off,
    # so this test fails if anyone lets autocast reach the RoPE angles again.
    stock_bf16 = apply_rope(x.to(torch.bfloat16), positions, head_dim=32).float()
    assert _rope_error(stock_bf16, exact) > 0.05
    assert float(positions.to(torch.bfloat16)[0, 257]) == 256.0  # the rounding itself


def test_cross_entropy_with_pos_ids_equals_the_arange_version() -> None:
    """RoPE is relative: shifting every position of a chunk by its byte offset changes no logit."""
    model, sig, _, _, _ = _setup(torch.float64, seq=64)
    data = bytes(range(32, 127)) * 9
    seqs = tokenize(data, max_seq_len=64)
    # Full chunks only (pos_ids = offset + arange there); padded ones clamp PAD positions.
    full = [s for s in seqs if 256 not in s.token_ids][1:4]
    ids = torch.tensor([s.token_ids for s in full])
    tgt = torch.tensor([s.targets for s in full])
    pos = torch.tensor([s.pos_ids for s in full])
    assert int(pos[0, 0]) > 0
    torch.manual_seed(1)
    with_pos = fast_loss(model, sig, ids, tgt, pos)
    torch.manual_seed(1)
    with_arange = fast_loss(model, sig, ids, tgt)
    assert abs(float((with_pos.ce - with_arange.ce).detach())) < 1e-9


def test_saved_weights_have_the_stock_names_shapes_and_dtypes(tmp_path: Path) -> None:
    model, _, _, _, _ = _setup(torch.float32)
    model.save(str(tmp_path / "stock.safetensors"))
    write_safetensors(tmp_path / "ours.safetensors", canonical_entries(model))

    def layout(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
        with safe_open(str(path), "np") as f:
            return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}  # noqa: SIM118

    assert layout(tmp_path / "ours.safetensors") == layout(tmp_path / "stock.safetensors")
    # In fact byte-identical, and loadable by the stock loader.
    assert (tmp_path / "ours.safetensors").read_bytes() == (tmp_path / "stock.safetensors").read_bytes()
    back = Model.load(str(tmp_path / "ours.safetensors"), ModelConfig(**CFG))
    for a, b in zip(back.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(back.embedding.weight.detach().numpy(), model.embedding.weight.detach().numpy())
