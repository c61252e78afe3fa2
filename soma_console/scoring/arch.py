"""Model shapes the scorer can evaluate and the constants of the chain's data contract."""

from __future__ import annotations

from dataclasses import dataclass

from soma_console.errors import UserError

# The V1 data contract (models/src/v1 upstream; soma_models.v1.configs mirrors it).
SEQ_LEN = 1024
BATCH_SIZE = 16
PAD_TOKEN = 256
EOS_TOKEN = 257
VOCAB_SIZE = 256 + 8

# SIGReg, the regulariser added to the cross-entropy.
SIG_T_MAX = 3.0
SIG_POINTS = 17
SIG_SLICES = 256
SIG_COEFFICIENT = 0.02


@dataclass(frozen=True)
class Arch:
    """The shape of the models being scored; every model in one request must have it."""

    name: str
    embedding_dim: int
    num_layers: int
    num_heads: int
    pwff_hidden_dim: int
    vocab_size: int = VOCAB_SIZE
    max_wavelength: float = 10_000.0
    scale_factor: float = 1.0

    def model_config_kwargs(self) -> dict[str, float | int]:
        """Keyword arguments for ``soma_models.v1.configs.ModelConfig`` (dropout off: evaluation)."""
        return {
            "dropout_rate": 0.0,
            "embedding_dim": self.embedding_dim,
            "pwff_hidden_dim": self.pwff_hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "vocab_size": self.vocab_size,
            "max_wavelength": self.max_wavelength,
            "scale_factor": self.scale_factor,
        }


def arch_for_preset(name: str) -> Arch:
    """The scoring shape of a training preset (``v1`` or ``tiny``; see ``training.spec``)."""
    from soma_console.training.spec import get_preset

    try:
        p = get_preset(name)
    except UserError:
        raise UserError(f"unknown model preset {name!r}; use v1 or tiny.") from None
    return Arch(
        name=p.name,
        embedding_dim=p.embedding_dim,
        num_layers=p.num_layers,
        num_heads=p.num_heads,
        pwff_hidden_dim=p.pwff_hidden_dim,
    )
