"""The torch trainer's forward and loss: the stock computation, and the fast path.

The fast path runs the stock ``soma_models.v1.torch.Model``'s own parameters through a forward
written for speed, so the weights it produces have exactly the on-chain layout:

* bf16 autocast with fp32 master weights; RoPE, SIGReg and the cross-entropy stay in float32 (stock
  RoPE under autocast computes its angles in bf16, rounding positions 257 -> 256 and corrupting the
  encoding);
* ``F.scaled_dot_product_attention(is_causal=True)`` (flash/memory-efficient kernels) in place of
  the manual softmax attention with its per-call ``tril`` mask;
* SIGReg with its cos/sin computed once and reused in the backward pass;
* optional positions from the tokenizer's ``pos_ids`` (what on-chain scoring uses) instead of
  ``0..seq-1``.

:func:`reference_loss` is the stock computation (``Model.encode``/``predict`` + ``SIGReg``) split
into its cross-entropy and SIGReg parts; tests/training/test_fast_equivalence.py proves both equal
``soma_models.v1.torch.compute_loss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from soma_models.v1.configs import V1_PAD_TOKEN_ID
from torch import Tensor, nn

from soma_console.training.checkpoint import TensorEntry


@dataclass(frozen=True)
class LossParts:
    loss: Tensor
    ce: Tensor
    sigreg: Tensor
    embedding: Tensor


def arange_positions(token_ids: Tensor) -> Tensor:
    b, s = token_ids.shape
    return torch.arange(s, device=token_ids.device).unsqueeze(0).expand(b, -1)


def cross_entropy(logits: Tensor, targets: Tensor, *, all_positions: bool = False) -> Tensor:
    """CE ignoring PAD targets: the mean over the non-PAD ones (stock ``compute_loss``), or with
    ``all_positions`` their sum divided by every position, as the chain's scoring computes it."""
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1).long()
    if not all_positions:
        return F.cross_entropy(flat_logits, flat_targets, ignore_index=V1_PAD_TOKEN_ID)
    total = F.cross_entropy(flat_logits, flat_targets, ignore_index=V1_PAD_TOKEN_ID, reduction="sum")
    return total / flat_targets.numel()


def reference_loss(
    model: Any,
    sig_reg: Any,
    token_ids: Tensor,
    targets: Tensor,
    positions: Tensor | None = None,
    *,
    all_positions: bool = False,
) -> LossParts:
    """Stock ``compute_loss``, with its two terms kept apart for logging."""
    pos = arange_positions(token_ids) if positions is None else positions
    reps = model.encode(token_ids, pos)
    logits = model.predict(reps)
    sig = sig_reg(reps)
    ce = cross_entropy(logits, targets, all_positions=all_positions)
    return LossParts(ce + sig, ce, sig, reps.mean(dim=1).mean(dim=0))


# -- RoPE in full precision -----------------------------------------------------------------------


def rope_tables(
    positions: Tensor, head_dim: int, max_wavelength: float, scale_factor: float, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """cos/sin tables [batch, seq, 1, head_dim/2] in ``dtype`` (float32 or float64, never bf16).

    The same arithmetic as the stock ``apply_rope`` (so fp64/fp32 results match it bit for bit),
    computed once per forward instead of twice per layer, and with autocast off.
    """
    if scale_factor < 1.0:
        raise ValueError(f"scale_factor must be >= 1.0, got {scale_factor}")
    with torch.autocast(device_type=positions.device.type, enabled=False):
        fraction = 2 * torch.arange(0, head_dim // 2, dtype=dtype, device=positions.device) / head_dim
        timescale = max_wavelength**fraction
        angles = positions.unsqueeze(-1).to(dtype) / timescale.unsqueeze(0).unsqueeze(0)
        angles = angles.unsqueeze(-2) / scale_factor
        return torch.cos(angles), torch.sin(angles)


def apply_rope_tables(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` [batch, seq, heads, head_dim] in the tables' precision; returns that precision."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        xf = x.to(cos.dtype)
        first, second = xf.chunk(2, dim=-1)
        return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


# -- SIGReg with its trigonometry computed once ----------------------------------------------------


class _CharacteristicMeans(torch.autograd.Function):
    """mean over slices of cos(x·t) and sin(x·t), keeping cos and sin for the backward pass.

    Plain autograd recomputes sin for cos' gradient and cos for sin's: twice the trigonometry,
    which dominates a small model's step on a CPU.
    """

    @staticmethod
    def forward(ctx: Any, proj: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        x_t = proj.unsqueeze(-1) * t
        cos, sin = torch.cos(x_t), torch.sin(x_t)
        ctx.save_for_backward(cos, sin, t)
        return cos.mean(dim=-2), sin.mean(dim=-2)

    @staticmethod
    def backward(ctx: Any, grad_cos: Tensor, grad_sin: Tensor) -> tuple[Tensor, None]:
        cos, sin, t = ctx.saved_tensors
        n = cos.shape[-2]
        grad = (cos * grad_sin.unsqueeze(-2) - sin * grad_cos.unsqueeze(-2)) * t
        return grad.sum(dim=-1) / n, None


def sigreg_loss(sig_reg: Any, reps: Tensor) -> Tensor:
    """The stock ``SIGReg.forward`` (same noise draw from the global RNG, same arithmetic)."""
    cfg = sig_reg.config
    noise = torch.randn(reps.shape[-1], cfg.slices, dtype=reps.dtype, device=reps.device)
    a = noise / torch.norm(noise, dim=0)
    proj = reps @ a
    cos_mean, sin_mean = _CharacteristicMeans.apply(proj, sig_reg.t.to(reps.dtype))
    err = (cos_mean - sig_reg.phi.to(reps.dtype)) ** 2 + sin_mean**2
    integrated = torch.sum(err * sig_reg.weights.to(reps.dtype), dim=-1) * proj.shape[-1]
    return integrated.mean() * cfg.coefficient


# -- the fast forward -----------------------------------------------------------------------------


def _attention(attn: Any, h: Tensor, cos: Tensor, sin: Tensor, sdpa: bool, training: bool) -> Tensor:
    b, s, _ = h.shape
    heads, hd = attn.num_heads, attn.head_dim
    q = attn.query(h).reshape(b, s, heads, hd)
    k = attn.key(h).reshape(b, s, heads, hd)
    v = attn.value(h).reshape(b, s, heads, hd)
    q = apply_rope_tables(q, cos, sin).transpose(1, 2)
    k = apply_rope_tables(k, cos, sin).transpose(1, 2)
    v = v.transpose(1, 2)
    p = float(attn.dropout_rate) if training else 0.0
    if sdpa:
        if q.dtype != v.dtype:  # under autocast v is bf16 while q/k left RoPE in fp32
            q, k = q.to(v.dtype), k.to(v.dtype)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    else:
        q, k = q.to(v.dtype), k.to(v.dtype)
        weights = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
        mask = torch.ones(s, s, dtype=torch.bool, device=h.device).tril()
        weights = torch.where(mask, weights, torch.finfo(weights.dtype).min)
        weights = F.softmax(weights, dim=-1)
        if p > 0:
            weights = F.dropout(weights, p=p)
        out = torch.matmul(weights, v)
    out = out.transpose(1, 2).reshape(b, s, heads * hd)
    return attn.output(out)


def fast_encode(model: Any, token_ids: Tensor, positions: Tensor, *, sdpa: bool = True) -> Tensor:
    """``Model.encode`` with full-precision RoPE and (optionally) SDPA attention."""
    first = model.encoder.layers[0].attention
    rope_dtype = torch.float64 if model.embedding.weight.dtype == torch.float64 else torch.float32
    cos, sin = rope_tables(
        positions, first.head_dim, float(first.max_wavelength), float(first.scale_factor), rope_dtype
    )
    x = model.embedding(token_ids)
    training = model.training
    for layer in model.encoder.layers:
        r = layer.norm_1(x)
        r = _attention(layer.attention, r, cos, sin, sdpa, training)
        x = x + layer.dropout(r)
        r = layer.pwff(layer.norm_2(x))
        x = x + layer.dropout(r)
    return model.final_norm(x)


def fast_loss(
    model: Any,
    sig_reg: Any,
    token_ids: Tensor,
    targets: Tensor,
    positions: Tensor | None = None,
    *,
    sdpa: bool = True,
    amp_dtype: torch.dtype | None = None,
    all_positions: bool = False,
) -> LossParts:
    """Loss with the fast forward; ``amp_dtype`` (bf16) turns on autocast for the matmuls only."""
    pos = arange_positions(token_ids) if positions is None else positions
    device_type = token_ids.device.type
    with torch.autocast(
        device_type=device_type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
    ):
        reps = fast_encode(model, token_ids, pos, sdpa=sdpa)
        logits = model.predict(reps)
    master = model.embedding.weight.dtype
    with torch.autocast(device_type=device_type, enabled=False):
        reps = reps.to(master)
        sig = sigreg_loss(sig_reg, reps)
        ce = cross_entropy(logits.to(master), targets, all_positions=all_positions)
    return LossParts(ce + sig, ce, sig, reps.mean(dim=1).mean(dim=0).detach())


class LossModule(nn.Module):
    """Model + SIGReg behind one ``forward`` so DDP sees (and syncs) the whole step."""

    def __init__(
        self,
        model: Any,
        sig_reg: Any,
        *,
        fast: bool,
        sdpa: bool,
        amp_dtype: torch.dtype | None,
        all_positions: bool = False,
    ) -> None:
        super().__init__()
        self.all_positions = all_positions
        self.model = model
        self.sig_reg = sig_reg
        self.fast = fast
        self.sdpa = sdpa
        self.amp_dtype = amp_dtype

    def forward(
        self, token_ids: Tensor, targets: Tensor, positions: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        if self.fast:
            parts = fast_loss(
                self.model,
                self.sig_reg,
                token_ids,
                targets,
                positions,
                sdpa=self.sdpa,
                amp_dtype=self.amp_dtype,
                all_positions=self.all_positions,
            )
        else:
            parts = reference_loss(
                self.model, self.sig_reg, token_ids, targets, positions, all_positions=self.all_positions
            )
        return parts.loss, parts.ce.detach(), parts.sigreg.detach()


# -- evaluation and the embedding -----------------------------------------------------------------


class PendingEval:
    """An evaluation whose kernels are queued; :meth:`result` waits for them (from any thread).

    On CUDA the sums are copied to pinned host memory behind an event, so the training thread that
    queued the evaluation never waits for it; the checkpoint writer reads the result.
    """

    def __init__(self, per_batch: Tensor, counts: Tensor, emb_sum: Tensor, device: torch.device) -> None:
        self._event: Any = None
        if device.type == "cuda":
            self._per_batch = torch.empty(per_batch.shape, dtype=per_batch.dtype, pin_memory=True)
            self._counts = torch.empty(counts.shape, dtype=counts.dtype, pin_memory=True)
            self._emb = torch.empty(emb_sum.shape, dtype=emb_sum.dtype, pin_memory=True)
            self._per_batch.copy_(per_batch, non_blocking=True)
            self._counts.copy_(counts, non_blocking=True)
            self._emb.copy_(emb_sum, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record(torch.cuda.current_stream(device))
        else:
            self._per_batch, self._counts, self._emb = per_batch, counts, emb_sum

    def result(self) -> tuple[float, float, list[float]]:
        if self._event is not None:
            self._event.synchronize()
        rows = self._per_batch.tolist()  # [batches][loss, ce], summed in order as Python floats
        total_loss = total_ce = 0.0
        for loss, ce in rows:
            total_loss += loss
            total_ce += ce
        count = int(self._counts.sum().item())
        embedding = (self._emb / max(count, 1)).float().tolist()
        return total_loss / len(rows), total_ce / len(rows), embedding


@torch.no_grad()
def evaluate_launch(
    model: Any,
    sig_reg: Any,
    sequences: np.ndarray | Tensor,
    batch_size: int,
    device: torch.device,
    *,
    seed: int,
    sdpa: bool,
) -> PendingEval:
    """Queue the evaluation of held-out sequences [n, 3, seq]; read it with :meth:`PendingEval.result`.

    ``sequences`` may already be a tensor on the device (uploading a numpy array from pageable
    memory would make the host wait for the queued training work).

    As on-chain scoring: the tokenizer's pos_ids, model in eval mode, CE ignoring PAD plus SIGReg
    (its noise from a fixed seed, under a forked RNG so training's random stream is untouched).
    The embedding is the mean representation over non-PAD tokens. Everything in float32. Nothing
    here waits for the device, so training can be queued behind it at once.
    """
    if not len(sequences):
        raise ValueError("no held-out sequences to evaluate")
    was_training = model.training
    model.eval()
    devices = [device] if device.type == "cuda" else []
    # The embedding is published on-chain: full fp32 matmuls even where training uses TF32.
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    per_batch: list[Tensor] = []
    counts: list[Tensor] = []
    emb_sum: Tensor | None = None
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for start in range(0, len(sequences), batch_size):
                part_seqs = sequences[start : start + batch_size]
                if isinstance(part_seqs, Tensor):
                    chunk = part_seqs.to(device).long()
                else:
                    chunk = torch.from_numpy(np.ascontiguousarray(part_seqs)).to(device).long()
                ids, tgt, pos = chunk[:, 0], chunk[:, 1], chunk[:, 2]
                reps = fast_encode(model, ids, pos, sdpa=sdpa).float()
                logits = model.predict(reps).float()
                ce = F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=V1_PAD_TOKEN_ID
                )
                sig = sig_reg(reps)
                per_batch.append(torch.stack([ce + sig, ce]))
                mask = (ids != V1_PAD_TOKEN_ID).unsqueeze(-1).to(reps.dtype)
                part = (reps * mask).sum(dim=(0, 1)).double()
                emb_sum = part if emb_sum is None else emb_sum + part
                counts.append(mask.sum().long())
    finally:
        model.train(was_training)
        torch.backends.cuda.matmul.allow_tf32 = tf32
    assert emb_sum is not None
    return PendingEval(torch.stack(per_batch).double(), torch.stack(counts), emb_sum, device)


def evaluate(
    model: Any,
    sig_reg: Any,
    sequences: np.ndarray,
    batch_size: int,
    device: torch.device,
    *,
    seed: int,
    sdpa: bool,
) -> tuple[float, float, list[float]]:
    """Eval loss, eval cross-entropy and the embedding (see :func:`evaluate_launch`), waited for."""
    return evaluate_launch(model, sig_reg, sequences, batch_size, device, seed=seed, sdpa=sdpa).result()


# -- the on-chain weights layout --------------------------------------------------------------------


def canonical_layout(model: Any) -> list[tuple[str, Tensor, bool]]:
    """``(canonical name, tensor, transpose)`` for every tensor of the model's state dict.

    LayerNorm ``weight``/``bias`` become ``gamma``/``beta``; ``nn.Linear`` weights are stored
    (in, out), so they are transposed on the way out.
    """
    norms = {name for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    linears = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    out: list[tuple[str, Tensor, bool]] = []
    for name, tensor in model.state_dict().items():
        owner, _, leaf = name.rpartition(".")
        out_name = name
        transpose = False
        if owner in norms:
            out_name = f"{owner}.{'gamma' if leaf == 'weight' else 'beta'}"
        elif owner in linears and leaf == "weight":
            transpose = True
        out.append((out_name, tensor, transpose))
    return out


def canonical_entries(model: Any) -> list[TensorEntry]:
    """The model's tensors under soma-models' canonical safetensors names and layout.

    Each tensor is copied to the CPU only when the writer asks for it.
    """
    entries: list[TensorEntry] = []
    for out_name, tensor, transpose in canonical_layout(model):
        shape = tuple(tensor.shape[::-1]) if transpose else tuple(tensor.shape)
        entries.append(TensorEntry(out_name, shape, numpy_dtype(tensor.dtype), _fetcher(tensor, transpose)))
    return entries


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(str(dtype).removeprefix("torch."))


def _fetcher(tensor: Tensor, transpose: bool) -> Any:
    def fetch() -> np.ndarray:
        t = tensor.detach()
        if transpose:
            t = t.t()
        return t.to("cpu").contiguous().numpy()

    return fetch
