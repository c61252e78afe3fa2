"""A tiny V1-family checkpoint, written by the trainer's own save code (shared by weights tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from soma_console.training.spec import TINY

TINY_DIMS = {
    "embedding_dim": TINY.embedding_dim,
    "num_layers": TINY.num_layers,
    "ffn": TINY.pwff_hidden_dim,
    "vocab": 264,
}


def tiny_model(seed: int = 0) -> Any:
    """soma_models' torch V1 model at the ``tiny`` preset's dimensions."""
    import torch
    from soma_models.v1.configs import ModelConfig
    from soma_models.v1.torch import Model

    torch.manual_seed(seed)
    return Model(
        ModelConfig(
            dropout_rate=0.0,
            embedding_dim=TINY.embedding_dim,
            num_layers=TINY.num_layers,
            num_heads=TINY.num_heads,
            pwff_hidden_dim=TINY.pwff_hidden_dim,
        )
    )


def write_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    from soma_console.training.checkpoint import write_safetensors
    from soma_console.training.fast import canonical_entries

    write_safetensors(path, canonical_entries(tiny_model(seed)))
    return path
