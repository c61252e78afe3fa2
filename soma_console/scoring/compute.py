"""One model over one piece of data, as the chain's scoring runtime evaluates it (torch, fp32).

For each batch ``i`` of 16 sequences (see :mod:`.tokens`):

* ``reps = encode(token_ids, pos_ids)`` with the absolute positions, ``logits = predict(reps)``;
* cross-entropy summed over the non-PAD targets and divided by **all** ``B·S`` positions;
* SIGReg with the noise ``arrgen.normal_array(seed + i, [D, 256], 0, 1)``: the columns are
  normalised, ``x = reps @ A``, and the empirical characteristic function at 17 points in
  ``[0, 3]`` is compared with the standard normal's, trapezoid-weighted, times 256, averaged over
  the positions, times 0.02;
* ``loss = ce + sig`` and ``embedding = reps.mean(seq).mean(batch)`` (PAD included).

Loss and embedding are running means over batches, each batch weighing the same. The winner is
the first model with the lowest loss; its distance to the target is ``1 - cos``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soma_console.scoring.arch import (
    PAD_TOKEN,
    SIG_COEFFICIENT,
    SIG_POINTS,
    SIG_SLICES,
    SIG_T_MAX,
    Arch,
)
from soma_console.scoring.tokens import Sequences

U64 = 1 << 64


class WeightsError(Exception):
    """Weights that do not load into the model shape (one sentence)."""


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when present, else CPU. Matmuls stay in full fp32."""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return torch.device("cuda")
    return torch.device("cpu")


def load_model(arch: Arch, path: Path, device: torch.device) -> Any:
    """Build the V1 model from a plaintext safetensors file, straight onto ``device``.

    The module is created without memory (meta device) and the file's tensors are assigned to
    it, so a V1 checkpoint is read once and never initialised at random first.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from soma_models.v1.configs import ModelConfig
    from soma_models.v1.torch.modules.model import Model
    from soma_models.v1.torch.serde import Serde

    with torch.device("meta"):
        model = Model(ModelConfig(**arch.model_config_kwargs()))
    names = Serde(model)
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise WeightsError(f"the weights are not a readable safetensors file ({exc})") from None
    state: dict[str, torch.Tensor] = {}
    for key, t in tensors.items():
        name = names.map_to_torch.get(key, key)
        if name in names.linear_weight_keys and t.ndim == 2:
            t = t.t()
        state[name] = t.to(torch.float32).contiguous()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise WeightsError(f"the weights do not fit the {arch.name} model shape: {detail[:400]}") from None
    model.eval()
    return model


class NoiseTable:
    """The SIGReg noise of ``(seed, dim)``, drawn once and reused (every model, every request).

    Bounded to ``max_bytes``; the least recently used draws go first.
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._table: OrderedDict[tuple[int, int, str], torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, seed: int, dim: int, device: torch.device) -> torch.Tensor:
        import arrgen

        key = (seed % U64, dim, str(device))
        with self._lock:
            hit = self._table.get(key)
            if hit is not None:
                self._table.move_to_end(key)
                return hit
        raw = np.asarray(arrgen.normal_array(key[0], [dim, SIG_SLICES], 0.0, 1.0), dtype=np.float32)
        t = torch.from_numpy(raw).to(device)
        with self._lock:
            self._table[key] = t
            self._bytes += t.numel() * 4
            while self._bytes > self.max_bytes and len(self._table) > 1:
                _, old = self._table.popitem(last=False)
                self._bytes -= old.numel() * 4
        return t


class _SigRegConstants:
    def __init__(self, device: torch.device) -> None:
        t = torch.linspace(0.0, SIG_T_MAX, SIG_POINTS, dtype=torch.float32, device=device)
        dt = SIG_T_MAX / (SIG_POINTS - 1)
        w = torch.full((SIG_POINTS,), 2 * dt, dtype=torch.float32, device=device)
        w[0] = dt
        w[-1] = dt
        self.t = t
        self.phi = torch.exp(-0.5 * t * t)
        self.weights = w * self.phi


def _sig_reg(reps: torch.Tensor, noise: torch.Tensor, c: _SigRegConstants) -> torch.Tensor:
    proj = noise / torch.linalg.vector_norm(noise, dim=0)
    x = reps @ proj  # [B, S, slices]
    xt = x.unsqueeze(-1) * c.t  # [B, S, slices, points]
    cos_mean = torch.cos(xt).mean(dim=-2)
    sin_mean = torch.sin(xt).mean(dim=-2)
    err = (cos_mean - c.phi) ** 2 + sin_mean**2
    per_position = (err * c.weights).sum(dim=-1) * x.shape[-1]
    return per_position.mean() * SIG_COEFFICIENT


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    picked = torch.where(targets == PAD_TOKEN, torch.zeros_like(picked), picked)
    return -picked.sum() / targets.numel()


class Evaluation:
    """One model's result: ``loss`` (float32) and ``embedding`` (float32 ``[D]``)."""

    __slots__ = ("embedding", "loss")

    def __init__(self, loss: float, embedding: np.ndarray) -> None:
        self.loss = loss
        self.embedding = embedding


@torch.inference_mode()
def evaluate(
    model: Any,
    seqs: Sequences,
    seed: int,
    device: torch.device,
    noise: NoiseTable,
    dim: int,
) -> Evaluation:
    """Run ``model`` over every batch of ``seqs``; see the module docstring."""
    if len(seqs) == 0:
        raise ValueError("the data is empty: there is nothing to score")
    consts = _SigRegConstants(device)
    loss_mean: torch.Tensor | None = None
    emb_mean: torch.Tensor | None = None
    for k, (tok, tgt, pos) in enumerate(seqs.batches(), start=1):
        tokens = torch.from_numpy(tok).to(device)
        targets = torch.from_numpy(tgt).to(device)
        positions = torch.from_numpy(pos).to(device)
        reps = model.encode(tokens, positions)
        logits = model.predict(reps)
        loss = _cross_entropy(logits, targets) + _sig_reg(reps, noise.get(seed + k - 1, dim, device), consts)
        emb = reps.mean(dim=1).mean(dim=0)
        if loss_mean is None or emb_mean is None:
            loss_mean, emb_mean = loss, emb
        else:
            loss_mean = loss_mean + (loss - loss_mean) / k
            emb_mean = emb_mean + (emb - emb_mean) / k
    assert loss_mean is not None and emb_mean is not None
    return Evaluation(float(loss_mean.item()), emb_mean.detach().cpu().numpy().astype(np.float32))


def pick_winner(losses: list[float]) -> int:
    """The first index with the lowest loss; a NaN loss never wins (unless all are NaN)."""
    best = 0
    best_loss = float("inf")
    for i, x in enumerate(losses):
        if x == x and x < best_loss:  # x == x is False for NaN
            best, best_loss = i, x
    return best


def cosine_distance(embedding: np.ndarray, target: np.ndarray) -> float:
    """``1 - dot(e/‖e‖, t/‖t‖)`` in float32 (NaN for a zero vector, as upstream)."""
    e = torch.from_numpy(np.asarray(embedding, dtype=np.float32))
    t = torch.from_numpy(np.asarray(target, dtype=np.float32))
    with np.errstate(all="ignore"):
        value = 1.0 - torch.dot(e / torch.linalg.vector_norm(e), t / torch.linalg.vector_norm(t))
    return float(value.item())
