"""``check_weights``: is this safetensors file a model the chain can evaluate?

The expected tensors are derived from the dimensions alone, following what soma_models' V1
``Model`` saves (``Model.save``: canonical names, LayerNorm ``gamma``/``beta``, linear weights
stored ``(in, out)``, float32), so a 4.8 GB V1 checkpoint is checked from its ~30 KB header plus
one streamed pass over the values for NaN/Inf, never by building a 1.2 B-parameter model.
``tests/core/test_weights.py`` holds this table against a real ``soma_models`` model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from soma_console.core.weights.safetensors import Header, HeaderError, TensorInfo, read_header, validate

_LAYER_RE = re.compile(r"^encoder\.layers\.(\d+)\.")
_SCAN_CHUNK = 4 << 20
_LIST_AT_MOST = 5
# Bits that are all ones exactly when a float is NaN or +-Inf, per dtype (as unsigned ints).
_EXPONENT_MASKS: dict[str, tuple[str, int]] = {
    "F64": ("<u8", 0x7FF0_0000_0000_0000),
    "F32": ("<u4", 0x7F80_0000),
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
}


def v1_dims() -> dict[str, int]:
    """The on-chain V1 dimensions, from soma_models' own constants."""
    from soma_models.v1 import configs as c  # pure Python; no torch

    return {
        "embedding_dim": c.V1_EMBEDDING_DIM,
        "num_layers": c.V1_NUM_LAYERS,
        "ffn": c.V1_PWFF_HIDDEN_DIM,
        "vocab": c.V1_VOCAB_SIZE,
    }


Layout = dict[str, tuple[int, ...]]


def expected_layout(*, embedding_dim: int, num_layers: int, ffn: int, vocab: int) -> Layout:
    """Every tensor name and shape a V1-family model of these dimensions saves (all float32)."""
    d = embedding_dim
    out: Layout = {"embedding.weight": (vocab, d)}
    for i in range(num_layers):
        p = f"encoder.layers.{i}."
        for proj in ("query", "key", "value", "output"):
            out[f"{p}attention.{proj}.weight"] = (d, d)
            out[f"{p}attention.{proj}.bias"] = (d,)
        for norm in ("norm_1", "norm_2"):
            out[f"{p}{norm}.gamma"] = (d,)
            out[f"{p}{norm}.beta"] = (d,)
        out[f"{p}pwff.linear_inner.weight"] = (d, ffn)
        out[f"{p}pwff.linear_inner.bias"] = (ffn,)
        out[f"{p}pwff.linear_outer.weight"] = (ffn, d)
        out[f"{p}pwff.linear_outer.bias"] = (d,)
    out["final_norm.gamma"] = (d,)
    out["final_norm.beta"] = (d,)
    out["predictor.weight"] = (d, vocab)
    out["predictor.bias"] = (vocab,)
    return out


def infer_dims(tensors: dict[str, TensorInfo]) -> dict[str, int] | None:
    """The V1-family dimensions a set of tensors implies, or None if it is not that family.

    The number of heads is not recorded anywhere in the weights (every projection is d x d), so
    it cannot be inferred.
    """
    emb = tensors.get("embedding.weight")
    inner = tensors.get("encoder.layers.0.pwff.linear_inner.weight")
    if emb is None or len(emb.shape) != 2 or inner is None or len(inner.shape) != 2:
        return None
    layers = {int(m.group(1)) for name in tensors if (m := _LAYER_RE.match(name))}
    return {
        "embedding_dim": emb.shape[1],
        "num_layers": max(layers) + 1,
        "ffn": inner.shape[1],
        "vocab": emb.shape[0],
    }


def _names(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:_LIST_AT_MOST])
    more = len(names) - _LIST_AT_MOST
    return shown + (f" and {more} more" if more > 0 else "")


def layout_problems(tensors: dict[str, TensorInfo], dims: dict[str, int]) -> list[str]:
    """How ``tensors`` differ from the V1 layout at ``dims``; empty when they match exactly."""
    problems: list[str] = []
    want = expected_layout(**dims)
    missing = [n for n in want if n not in tensors]
    extra = [n for n in tensors if n not in want]
    if missing:
        problems.append(f"{len(missing)} tensor(s) the V1 model needs are missing: {_names(missing)}")
    if extra:
        problems.append(f"{len(extra)} tensor(s) are not part of the V1 model: {_names(extra)}")
    for name, shape in want.items():
        t = tensors.get(name)
        if t is None:
            continue
        if t.shape != shape:
            problems.append(f"{name} has shape {list(t.shape)}, the V1 layout needs {list(shape)}")
        if t.dtype != "F32":
            problems.append(f"{name} is {t.dtype}, the V1 layout needs F32")
    vocab = v1_dims()["vocab"]
    if dims["vocab"] != vocab:
        problems.append(f"the vocabulary has {dims['vocab']} entries; the V1 tokenizer needs {vocab}")
    return problems


def nonfinite_counts(path: Path, header: Header, tensors: dict[str, TensorInfo]) -> dict[str, int]:
    """NaN/Inf count per float tensor, reading the data section once in bounded chunks."""
    import numpy as np

    found: dict[str, int] = {}
    buf = bytearray(_SCAN_CHUNK)
    with open(path, "rb", buffering=0) as fh:
        for t in sorted(tensors.values(), key=lambda t: t.begin):
            spec = _EXPONENT_MASKS.get(t.dtype)
            if spec is None or t.end == t.begin:
                continue
            dtype, mask = spec
            item = np.dtype(dtype).itemsize
            step = _SCAN_CHUNK - _SCAN_CHUNK % item
            fh.seek(header.data_start + t.begin)
            left, bad = t.end - t.begin, 0
            while left:
                n = fh.readinto(memoryview(buf)[: min(step, left)])
                if not n:
                    break  # the header check already proved the file is long enough
                values = np.frombuffer(buf, dtype=dtype, count=n // item)
                bad += int(np.count_nonzero((values & mask) == mask))
                left -= n
            if bad:
                found[t.name] = bad
    return found


@dataclass(frozen=True)
class WeightsReport:
    path: Path
    size: int
    architecture: str | None  # "v1", "small" (V1 family, other dims) or None (layout does not match)
    config: dict[str, int]
    tensors: int
    problems: tuple[str, ...]
    parameters: int = 0
    dtypes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "architecture": self.architecture,
            "config": dict(self.config),
            "tensors": self.tensors,
            "parameters": self.parameters,
            "dtypes": list(self.dtypes),
            "ok": self.ok,
            "problems": list(self.problems),
        }


def check_weights(path: Path, *, scan_values: bool = True) -> WeightsReport:
    """Validate a safetensors file against the V1 layout without loading it.

    A file that is not safetensors at all (unreadable, too short, no JSON header) raises
    :class:`~soma_console.errors.UserError`. Everything else (bad offsets, truncation, missing or
    extra tensors, wrong shapes or dtypes, NaN/Inf values) is reported in ``problems``.
    """
    report, header, tensors = inspect_layout(path)
    if not scan_values or header is None:
        return report
    return with_nonfinite(report, nonfinite_counts(Path(path), header, tensors))


def inspect_layout(path: Path) -> tuple[WeightsReport, Header | None, dict[str, TensorInfo]]:
    """The header and layout half of :func:`check_weights` (no value is read), plus the parsed
    header and tensors (``None`` and empty when the header does not describe a loadable file),
    for a caller that scans the values in a pass of its own."""
    path = Path(path)
    header = read_header(path)
    report: dict[str, Any] = {"path": path, "size": header.file_size}
    try:
        tensors = validate(header.raw, header.data_len)
    except HeaderError as exc:
        count = sum(1 for k in header.raw if k != "__metadata__")
        bad = WeightsReport(
            architecture=None, config={}, tensors=count, problems=(f"not loadable: {exc}",), **report
        )
        return bad, None, {}
    report["tensors"] = len(tensors)
    report["parameters"] = sum(t.count for t in tensors.values())
    report["dtypes"] = tuple(sorted({t.dtype for t in tensors.values()}))
    dims = infer_dims(tensors)
    problems: list[str] = []
    architecture: str | None = None
    if dims is None:
        problems.append(
            "not a V1-family model: it has no embedding.weight or encoder.layers.0.pwff.linear_inner.weight"
        )
    else:
        problems += layout_problems(tensors, dims)
        if not problems:
            architecture = "v1" if dims == v1_dims() else "small"
    final = WeightsReport(architecture=architecture, config=dims or {}, problems=tuple(problems), **report)
    return final, header, tensors


def with_nonfinite(report: WeightsReport, bad: dict[str, int]) -> WeightsReport:
    """``report`` plus the problem of the NaN/Inf values counted per tensor in ``bad``."""
    if not bad:
        return report
    listed = [f"{name} ({n})" for name, n in sorted(bad.items())]
    problem = f"{len(bad)} tensor(s) hold NaN or Inf values: {_names(listed)}"
    return replace(report, problems=(*report.problems, problem))
