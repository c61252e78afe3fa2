"""Which fast-path features a torch run uses: one pure function of the machine, the run and the flags.

The trainer asks :func:`choose` once it knows its device, how many steps are left and how big the
model is; the answer (with a reason for every choice that depends on the run) goes into the
``started`` event, so a log says why a run compiled or not. Importing this module never imports
torch, so the decision is tested without a GPU.

On CUDA the defaults are the configuration the GPU ladder measured fastest and the equivalence tests
prove equal to the stock computation: bf16 autocast with fp32 master weights, SDPA attention, fused
Adam, TF32, pinned prefetch, the largest micro-batch that fits (probed), loss statistics read one
step late instead of a host sync per step, and ``torch.compile`` when the run is long enough to repay
the compilation. On a CPU (rehearsal) the fast forward runs in fp32 and compilation is opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from soma_console.training.spec import FastOptions

# What compiling costs and gains, from the GPU ladder on one H200 (V1, 16 x 1024 tokens per step):
# probe + compile took about 55 s in the worker; compiling raised 54.6k to 66.9k tokens/s.
COMPILE_SECONDS = 60.0
COMPILE_GAIN = 0.18
# An eager bf16 step's sustained training FLOP/s, taken on the high side (about 40% of an H100/H200's
# dense bf16 peak): a faster assumed GPU means shorter steps, so compiling must wait for longer runs.
EAGER_FLOPS = 4.0e14


@dataclass(frozen=True)
class FastChoice:
    """The fast-path features in effect, and why for those that depend on the run."""

    fast: bool
    precision: str  # "bf16" or "fp32"
    sdpa: bool
    fused_adam: bool
    tf32: bool
    compile: bool
    pin_memory: bool
    probe_micro_batch: bool
    deferred_stats: bool  # read each step's loss once the GPU is past it, not with a host sync
    reasons: dict[str, str] = field(default_factory=dict)


def estimated_step_seconds(params: int, tokens_per_rank_step: int) -> float:
    """A lower bound on an eager step's time on a fast GPU (6 FLOPs per parameter and token)."""
    return 6.0 * params * tokens_per_rank_step / EAGER_FLOPS


def compile_saving_seconds(steps_left: int, params: int, tokens_per_rank_step: int) -> float:
    """The time compiling is expected to save over ``steps_left`` steps (before its own cost)."""
    return steps_left * estimated_step_seconds(params, tokens_per_rank_step) * COMPILE_GAIN


def choose(
    device: str,
    fast: FastOptions,
    *,
    steps_left: int,
    params: int,
    tokens_per_step: int,
    world: int = 1,
    per_rank_batch: int = 1,
    micro_batch: int = 1,
) -> FastChoice:
    """The features for a run on ``device`` ("cuda" or "cpu").

    ``tokens_per_step`` is the whole job's (all ranks); ``per_rank_batch`` is micro-batch x
    accumulation on one rank, what a probe may regroup; ``micro_batch`` is the spec's.
    """
    cuda = device == "cuda"
    on = fast.mode in ("on", "auto")
    reasons: dict[str, str] = {}
    precision = fast.precision if fast.precision != "auto" else ("bf16" if (on and cuda) else "fp32")
    if not on:
        precision = "fp32"

    if not on:
        do_compile = False
        reasons["compile"] = "off: the fast path is off (--fast off)"
    elif fast.compile == "on":
        do_compile = True
        reasons["compile"] = "on: asked for (--compile)"
    elif fast.compile == "off":
        do_compile = False
        reasons["compile"] = "off: asked for (--no-compile)"
    elif not cuda:
        do_compile = False
        reasons["compile"] = "off: on a CPU compiling is opt-in (--compile; it needs a C++ compiler)"
    else:
        per_rank_tokens = max(1, tokens_per_step // max(1, world))
        saving = compile_saving_seconds(steps_left, params, per_rank_tokens)
        do_compile = saving >= COMPILE_SECONDS
        verdict = "repays" if do_compile else "would not repay"
        reasons["compile"] = (
            f"{'on' if do_compile else 'off'}: {steps_left:,} steps left save an estimated "
            f"{saving:,.0f} s, which {verdict} about {COMPILE_SECONDS:.0f} s of compilation"
        )

    if not on:
        probe = False
        reasons["micro_batch"] = "as given: the fast path is off"
    elif not cuda:
        probe = False
        reasons["micro_batch"] = "as given: a CPU has no device memory to probe"
    elif fast.auto_micro_batch == "off":
        probe = False
        reasons["micro_batch"] = "as given (--no-auto-micro-batch or an explicit --micro-batch)"
    elif per_rank_batch <= micro_batch and fast.auto_micro_batch == "auto":
        probe = False
        reasons["micro_batch"] = "as given: no gradient accumulation to fold into larger micro-batches"
    else:
        probe = True
        reasons["micro_batch"] = "probed: the largest that fits, accumulation keeps the effective batch"

    return FastChoice(
        fast=on,
        precision=precision,
        sdpa=on and fast.sdpa,
        fused_adam=on and fast.fused_adam and cuda,
        tf32=on and fast.tf32 and cuda,
        compile=do_compile,
        pin_memory=on and fast.pin_memory and cuda,
        probe_micro_batch=probe,
        deferred_stats=on and cuda,
        reasons=reasons,
    )
