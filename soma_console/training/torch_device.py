"""Where and how a torch run computes: the device, the fast-path features on it, the micro-batch that fits.

:func:`resolve` applies :func:`~soma_console.training.fast_defaults.choose` to this machine;
:func:`probe_micro_batch` finds the largest micro-batch the GPU holds; the thread helpers keep
several CPU ranks from oversubscribing one machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from soma_console.training.fast_defaults import choose
from soma_console.training.spec import TrainSpec


@dataclass(frozen=True)
class Resolved:
    """The fast-path options as they apply on this machine and this run (see ``fast_defaults``)."""

    device: torch.device
    fast: bool
    amp_dtype: torch.dtype | None
    sdpa: bool
    fused_adam: bool
    tf32: bool
    compile: bool
    prefetch: int
    pin_memory: bool
    pos_ids: bool
    log_every: int
    probe_micro_batch: bool = False
    deferred_stats: bool = False
    reasons: dict[str, str] = field(default_factory=dict)
    scoring_objective: bool = False

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["device"] = str(self.device)
        d["amp_dtype"] = str(self.amp_dtype).removeprefix("torch.") if self.amp_dtype else "fp32"
        return d


def pick_device(spec: TrainSpec, rank: int = 0) -> torch.device:
    want = spec.device
    if want == "cuda" and not torch.cuda.is_available():
        from soma_console.errors import UserError

        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if torch.cuda.is_available() and want != "cpu":
        return torch.device(f"cuda:{rank % max(1, torch.cuda.device_count())}")
    return torch.device("cpu")


def resolve(
    spec: TrainSpec,
    rank: int = 0,
    *,
    steps_left: int | None = None,
    params: int = 0,
    world: int = 1,
) -> Resolved:
    """The features this run uses: :func:`fast_defaults.choose` on this machine's device."""
    device = pick_device(spec, rank)
    f = spec.fast
    choice = choose(
        device.type,
        f,
        steps_left=spec.steps if steps_left is None else steps_left,
        params=params,
        tokens_per_step=spec.tokens_per_step,
        world=world,
        per_rank_batch=spec.micro_batch * spec.grad_accum,
        micro_batch=spec.micro_batch,
    )
    return Resolved(
        device=device,
        fast=choice.fast,
        amp_dtype=torch.bfloat16 if (choice.fast and choice.precision == "bf16") else None,
        sdpa=choice.sdpa,
        fused_adam=choice.fused_adam,
        tf32=choice.tf32,
        compile=choice.compile,
        prefetch=f.prefetch,
        pin_memory=choice.pin_memory,
        pos_ids=f.pos_ids or f.scoring_objective,
        log_every=f.log_every,
        probe_micro_batch=choice.probe_micro_batch,
        deferred_stats=choice.deferred_stats,
        reasons=choice.reasons,
        scoring_objective=f.scoring_objective,
    )


# The probe keeps this share of the GPU's memory free for what it does not exercise (allocator
# fragmentation, the checkpoint's evaluation, the snapshot's transposes).
PROBE_HEADROOM = 0.08


def probe_micro_batch(loss_mod: nn.Module, spec: TrainSpec, res: Resolved, per_rank_batch: int) -> int:
    """The largest micro-batch dividing the per-rank batch that survives a forward+backward.

    Adam's two moment buffers do not exist yet when the probe runs, so memory for them is held
    aside during it; a candidate that fits only within the last ``PROBE_HEADROOM`` of the GPU's
    memory is refused too.
    """
    candidates = [m for m in range(per_rank_batch, 0, -1) if per_rank_batch % m == 0]
    seq = spec.max_seq_len
    params = [p for p in loss_mod.parameters() if p.requires_grad]
    cuda = res.device.type == "cuda"
    total = torch.cuda.get_device_properties(res.device).total_memory if cuda else 0
    for m in candidates:
        reserve: list[torch.Tensor] = []
        try:
            reserve = [torch.empty_like(p) for p in params for _ in range(2)]
            if cuda:
                torch.cuda.reset_peak_memory_stats(res.device)
            with torch.random.fork_rng(devices=[res.device] if cuda else []):
                ids = torch.randint(0, 256, (m, seq), device=res.device)
                loss, _, _ = loss_mod(ids, ids)
                loss.backward()
            if cuda and torch.cuda.max_memory_allocated(res.device) > (1 - PROBE_HEADROOM) * total:
                continue
            return m
        except torch.OutOfMemoryError:
            continue
        finally:
            del reserve
            for p in params:
                p.grad = None
            if cuda:
                torch.cuda.empty_cache()
    return 1


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@contextlib.contextmanager
def quiet_threads(n: int | None) -> Iterator[None]:
    """Limit intra-op threads (several ranks on one CPU would otherwise oversubscribe it)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_threads(world: int) -> int | None:
    if world <= 1 or torch.cuda.is_available():
        return None
    return max(1, (os.cpu_count() or 1) // world)
