"""What a training run is asked to do: :class:`TrainSpec`, a frozen, JSON round-trippable value.

The console builds a spec, writes it to ``<run>/spec.json`` and starts the worker on it; the same
file drives a local subprocess and a Modal container. Presets fill in everything a user does not
say: ``v1`` is the on-chain architecture (``soma_models.v1.configs`` defaults), ``tiny`` a small
config for CPU rehearsal and tests whose weights are only good for a devnet.

Importing this module never imports torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from soma_console.errors import UsageError, UserError

FRAMEWORKS = ("torch", "flax")
BUILTIN_SOURCES = ("builtin", "fineweb")


def is_named_source(data: str) -> bool:
    """``builtin``, ``fineweb``, ``stack-v2`` or ``stack-v2:LANGUAGE``: not a local path."""
    return data in (*BUILTIN_SOURCES, "stack-v2") or data.startswith("stack-v2:")


FAST_MODES = ("auto", "on", "off")
PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Preset:
    """Architecture and training defaults of one preset."""

    name: str
    architecture: str  # "v1" (the on-chain shape) or "small" (devnet only)
    embedding_dim: int
    num_layers: int
    num_heads: int
    pwff_hidden_dim: int
    max_seq_len: int
    learning_rate: float
    dropout: float
    micro_batch: int
    grad_accum: int
    steps: int
    checkpoint_every: int
    eval_batch_size: int
    eval_batches: int


def _v1_preset() -> Preset:
    from soma_models.v1 import configs as c  # pure Python, no torch

    return Preset(
        name="v1",
        architecture="v1",
        embedding_dim=c.V1_EMBEDDING_DIM,
        num_layers=c.V1_NUM_LAYERS,
        num_heads=c.V1_NUM_HEADS,
        pwff_hidden_dim=c.V1_PWFF_HIDDEN_DIM,
        max_seq_len=c.V1_MAX_SEQ_LEN,
        learning_rate=1e-4,
        dropout=0.1,
        micro_batch=2,
        grad_accum=8,
        steps=10_000,
        checkpoint_every=500,
        eval_batch_size=c.V1_BATCH_SIZE,
        eval_batches=4,
    )


TINY = Preset(
    name="tiny",
    architecture="small",
    embedding_dim=64,
    num_layers=2,
    num_heads=2,
    pwff_hidden_dim=256,
    max_seq_len=256,
    learning_rate=2e-3,
    dropout=0.0,
    micro_batch=4,
    grad_accum=2,
    steps=200,
    checkpoint_every=50,
    eval_batch_size=16,
    eval_batches=1,
)


def presets() -> dict[str, Preset]:
    return {"v1": _v1_preset(), "tiny": TINY}


def get_preset(name: str) -> Preset:
    table = presets()
    if name not in table:
        raise UsageError(f"unknown preset {name!r}; use one of: {', '.join(sorted(table))}.")
    return table[name]


@dataclass(frozen=True)
class FastOptions:
    """The fast path of the torch trainer (see ``fast.py``, ``fast_defaults.py`` and docs/training.md).

    ``mode`` "auto" (and "on") use the fast forward; the GPU-only parts (bf16, fused Adam, TF32,
    pinned memory, the micro-batch probe) apply only on CUDA, so on a CPU it is SDPA attention and
    SIGReg's trigonometry computed once, in fp32. "off" runs the stock forward (``Model.encode``/
    ``predict`` + ``SIGReg``). ``compile`` and ``auto_micro_batch`` are "auto", "on" or "off"; "auto"
    lets :func:`soma_console.training.fast_defaults.choose` decide from the device and the run
    (JSON booleans from older specs read as "on"/"off").
    """

    mode: str = "auto"
    precision: str = "auto"  # auto: bf16 on CUDA, fp32 elsewhere
    sdpa: bool = True
    fused_adam: bool = True
    tf32: bool = True
    compile: str = "auto"  # auto: on CUDA when the run is long enough to repay the compilation
    prefetch: int = 4  # micro-batches prepared ahead by a background thread (0: inline)
    pin_memory: bool = True
    pos_ids: bool = False  # train with the tokenizer's pos_ids, as on-chain scoring does
    # The chain's scoring objective: pos_ids, and the cross-entropy summed over the non-PAD
    # targets divided by all B*S positions (burn's padded mean) instead of the non-PAD count.
    scoring_objective: bool = False
    log_every: int = 1  # host sync (loss to CPU) only every N optimizer steps
    auto_micro_batch: str = "auto"  # probe the largest micro-batch that fits (auto: on CUDA)

    def __post_init__(self) -> None:
        for name in ("compile", "auto_micro_batch"):
            value = getattr(self, name)
            if isinstance(value, bool):  # specs written before these became three-way
                object.__setattr__(self, name, "on" if value else "off")
            elif value not in SWITCHES:
                raise UserError(f"unknown {name.replace('_', ' ')} setting {value!r}; use auto, on or off.")


@dataclass(frozen=True)
class TrainSpec:
    """Everything the worker needs; see :func:`make_spec` for the preset-filled constructor."""

    run: str
    preset: str
    learning_rate: float
    dropout: float
    micro_batch: int
    grad_accum: int
    steps: int
    checkpoint_every: int
    eval_batch_size: int
    eval_batches: int
    seed: int
    data: str  # "builtin", "fineweb", or a local file/folder
    framework: str
    out_dir: str
    eval_every: int = 0  # 0: evaluate only with each checkpoint
    warmup_steps: int = 0
    shuffle_buffer: int = 256
    heldout_fraction: float = 0.02
    gpus: int = 1  # world size: processes (one per GPU; gloo on CPU) for DDP
    device: str = "auto"  # auto | cpu | cuda
    fast: FastOptions = field(default_factory=FastOptions)

    def __post_init__(self) -> None:
        if not RUN_NAME_RE.match(self.run):
            raise UserError(
                f"run name {self.run!r} is not usable; use letters, digits, '.', '_' or '-' (at most 64)."
            )
        get_preset(self.preset)
        if self.framework not in FRAMEWORKS:
            raise UserError(f"unknown framework {self.framework!r}; use torch or flax.")
        _positive_float("learning rate", self.learning_rate)
        if not (0.0 <= self.dropout < 1.0) or not math.isfinite(self.dropout):
            raise UserError(f"dropout must be at least 0 and below 1, not {self.dropout!r}.")
        for name, value, low in (
            ("micro-batch", self.micro_batch, 1),
            ("grad accumulation", self.grad_accum, 1),
            ("steps", self.steps, 1),
            ("checkpoint interval", self.checkpoint_every, 1),
            ("eval batch size", self.eval_batch_size, 1),
            ("eval batches", self.eval_batches, 1),
            ("eval interval", self.eval_every, 0),
            ("warmup steps", self.warmup_steps, 0),
            ("shuffle buffer", self.shuffle_buffer, 1),
            ("gpus", self.gpus, 1),
            ("seed", self.seed, 0),
            ("prefetch", self.fast.prefetch, 0),
            ("log interval", self.fast.log_every, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"{name} must be a whole number >= {low}, not {value!r}.")
        if not (0.0 < self.heldout_fraction < 0.5):
            raise UserError(f"held-out fraction must be between 0 and 0.5, not {self.heldout_fraction!r}.")
        if not self.data.strip():
            raise UserError("the data source is empty; use builtin, fineweb, or a path to local files.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"unknown device {self.device!r}; use auto, cpu or cuda.")
        if self.fast.mode not in FAST_MODES:
            raise UserError(f"unknown fast-path mode {self.fast.mode!r}; use auto, on or off.")
        if self.fast.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.fast.precision!r}; use auto, fp32 or bf16.")
        if self.framework == "flax" and self.gpus > 1:
            raise UserError("multi-GPU training is only implemented for the torch framework.")

    # -- derived values -------------------------------------------------------------------------

    @property
    def preset_info(self) -> Preset:
        return get_preset(self.preset)

    @property
    def architecture(self) -> str:
        return self.preset_info.architecture

    @property
    def max_seq_len(self) -> int:
        return self.preset_info.max_seq_len

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum * self.gpus

    @property
    def tokens_per_step(self) -> int:
        return self.effective_batch * self.max_seq_len

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.out_dir) / "checkpoints"

    def model_config(self) -> dict[str, Any]:
        """The full ``soma_models`` ModelConfig as plain data (recorded in every manifest)."""
        from soma_models.v1 import configs as c

        p = self.preset_info
        return {
            "dropout_rate": self.dropout,
            "embedding_dim": p.embedding_dim,
            "pwff_hidden_dim": p.pwff_hidden_dim,
            "num_layers": p.num_layers,
            "num_heads": p.num_heads,
            "vocab_size": c.V1_VOCAB_SIZE,
            "max_wavelength": c.V1_MAX_WAVELENGTH,
            "scale_factor": c.V1_SCALE_FACTOR,
        }

    # -- JSON -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainSpec:
        if not isinstance(raw, dict):
            raise UserError("the training spec must be a JSON object.")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in raw.items() if k in known}
        fast_raw = kwargs.pop("fast", None) or {}
        if not isinstance(fast_raw, dict):
            raise UserError("the training spec's 'fast' entry must be a JSON object.")
        fast_known = {f.name for f in fields(FastOptions)}
        fast = FastOptions(**{k: v for k, v in fast_raw.items() if k in fast_known})
        missing = sorted(known - {"fast"} - set(kwargs) - _DEFAULTED)
        if missing:
            raise UserError(f"the training spec lacks {', '.join(missing)}.")
        try:
            return cls(**kwargs, fast=fast)
        except TypeError as exc:
            raise UserError(f"the training spec is malformed ({exc}).") from None

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UserError(f"the training spec is not valid JSON ({exc}).") from None
        return cls.from_dict(raw)

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read the training spec {path}: {exc.strerror}.") from None
        return cls.from_json(text)

    def with_changes(self, **changes: Any) -> TrainSpec:
        return replace(self, **changes)


_DEFAULTED = {
    f.name for f in fields(TrainSpec) if f.default is not MISSING or f.default_factory is not MISSING
}


def _positive_float(name: str, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise UserError(f"{name} must be a positive number, not {value!r}.")


def make_spec(
    *,
    run: str,
    preset: str,
    out_dir: str | Path,
    data: str = "builtin",
    framework: str = "torch",
    seed: int = 0,
    fast: FastOptions | None = None,
    **overrides: Any,
) -> TrainSpec:
    """A spec with every value the caller leaves as ``None`` (or out) taken from the preset."""
    p = get_preset(preset)
    values: dict[str, Any] = {
        "learning_rate": p.learning_rate,
        "dropout": p.dropout,
        "micro_batch": p.micro_batch,
        "grad_accum": p.grad_accum,
        "steps": p.steps,
        "checkpoint_every": p.checkpoint_every,
        "eval_batch_size": p.eval_batch_size,
        "eval_batches": p.eval_batches,
    }
    known = {f.name for f in fields(TrainSpec)}
    for key, value in overrides.items():
        if key not in known:
            raise TypeError(f"make_spec() got an unknown field {key!r}")
        if value is not None:
            values[key] = value
    return TrainSpec(
        run=run,
        preset=preset,
        out_dir=str(out_dir),
        data=data,
        framework=framework,
        seed=seed,
        fast=fast or FastOptions(),
        **values,
    )
