"""An independent scoring computation, written from the facts document (§3.2-3.3), for parity tests.

It shares no code with ``soma_console.scoring``: it tokenizes with ``soma_models``' tokenizer,
loads weights with ``soma_models``' own deserializer, takes the cross-entropy from
``torch.nn.functional.cross_entropy`` and SIGReg from ``soma_models``' ``SIGReg.compute`` with
the ``arrgen`` noise, and measures the distance in float64 with numpy.

``positions="absolute"`` and ``normalise="all"`` are the chain's recipe; the other values are
what ``soma_models.compute_loss`` does, so a test can show the recipes really differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import arrgen
import numpy as np
import torch
import torch.nn.functional as F
from soma_models.v1.configs import ModelConfig, SIGRegConfig
from soma_models.v1.tokenizer import tokenize
from soma_models.v1.torch import Model, SIGReg
from soma_models.v1.torch.serde import load_safetensor_into

from soma_console.training.spec import get_preset


def tiny_config() -> ModelConfig:
    p = get_preset("tiny")
    return ModelConfig(
        dropout_rate=0.0,
        embedding_dim=p.embedding_dim,
        num_layers=p.num_layers,
        num_heads=p.num_heads,
        pwff_hidden_dim=p.pwff_hidden_dim,
    )


def tiny_weights(seed: int) -> bytes:
    torch.manual_seed(seed)
    return Model(tiny_config()).save_bytes()


@dataclass
class RefResult:
    losses: list[float]
    embeddings: list[np.ndarray]
    winner: int
    distance: float


@torch.no_grad()
def reference_score(
    data: bytes,
    weights: list[bytes],
    target: list[float],
    seed: int,
    *,
    positions: str = "absolute",
    normalise: str = "all",
) -> RefResult:
    cfg = tiny_config()
    seqs = tokenize(data, 1024)
    batches = [seqs[i : i + 16] for i in range(0, len(seqs), 16)]
    sig = SIGReg(SIGRegConfig())
    losses: list[float] = []
    embeddings: list[np.ndarray] = []
    for plain in weights:
        model = Model(cfg)
        load_safetensor_into(model, plain)
        model.eval()
        mean_loss = None
        mean_emb = None
        for i, batch in enumerate(batches):
            tok = torch.tensor([s.token_ids for s in batch])
            tgt = torch.tensor([s.targets for s in batch])
            if positions == "absolute":
                pos = torch.tensor([s.pos_ids for s in batch])
            else:
                pos = torch.arange(tok.shape[1]).expand_as(tok)
            reps = model.encode(tok, pos)
            logits = model.predict(reps).reshape(-1, cfg.vocab_size)
            if normalise == "all":
                ce = F.cross_entropy(logits, tgt.reshape(-1), ignore_index=256, reduction="sum") / tgt.numel()
            else:
                ce = F.cross_entropy(logits, tgt.reshape(-1), ignore_index=256)
            drawn = arrgen.normal_array(seed + i, [cfg.embedding_dim, 256], 0.0, 1.0)
            noise = torch.from_numpy(np.asarray(drawn))
            loss = ce + sig.compute(reps, noise)
            emb = reps.mean(dim=1).mean(dim=0)
            k = i + 1
            mean_loss = loss if mean_loss is None else mean_loss + (loss - mean_loss) / k
            mean_emb = emb if mean_emb is None else mean_emb + (emb - mean_emb) / k
        losses.append(float(mean_loss))
        embeddings.append(mean_emb.numpy().copy())
    winner = min(range(len(losses)), key=lambda j: (losses[j], j))
    e = embeddings[winner].astype(np.float64)
    t = np.asarray(target, dtype=np.float64)
    distance = float(1.0 - e.dot(t) / (np.linalg.norm(e) * np.linalg.norm(t)))
    return RefResult(losses, embeddings, winner, distance)
