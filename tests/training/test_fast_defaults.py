"""The fast path's defaults: which features a run gets, decided from the device, the run and the flags."""

from __future__ import annotations

import pytest

from soma_console.training.fast_defaults import (
    COMPILE_SECONDS,
    FastChoice,
    choose,
    compile_saving_seconds,
)
from soma_console.training.spec import FastOptions, get_preset

V1_PARAMS = 1_210_000_000  # what the v1 preset builds (docs/training.md)
V1_TOKENS = 16 * 1024


def _v1(device: str, steps_left: int, fast: FastOptions | None = None, **kw: int) -> FastChoice:
    return choose(
        device,
        fast or FastOptions(),
        steps_left=steps_left,
        params=V1_PARAMS,
        tokens_per_step=V1_TOKENS,
        per_rank_batch=kw.get("per_rank_batch", 16),
        micro_batch=kw.get("micro_batch", 2),
        world=kw.get("world", 1),
    )


def test_a_v1_run_on_cuda_gets_everything_the_ladder_measured_fastest() -> None:
    preset = get_preset("v1")
    c = _v1("cuda", preset.steps)
    assert (c.fast, c.precision, c.sdpa, c.fused_adam, c.tf32, c.pin_memory) == (
        True,
        "bf16",
        True,
        True,
        True,
        True,
    )
    assert c.compile and c.probe_micro_batch and c.deferred_stats
    assert c.reasons["compile"].startswith("on: 10,000 steps left save an estimated")
    assert "repays" in c.reasons["compile"]


def test_compiling_waits_for_a_run_long_enough_to_repay_it() -> None:
    # The break-even point follows from the estimate: below it off, at or above it on.
    per_step = compile_saving_seconds(1, V1_PARAMS, V1_TOKENS)
    break_even = int(COMPILE_SECONDS / per_step) + 1
    assert 200 < break_even < 5_000  # minutes of V1 training, not seconds, not days
    assert not _v1("cuda", break_even - 2).compile
    assert "would not repay" in _v1("cuda", break_even - 2).reasons["compile"]
    assert _v1("cuda", break_even).compile
    # A tiny model never repays a compilation, however long the run.
    tiny = choose("cuda", FastOptions(), steps_left=1_000_000, params=134_000, tokens_per_step=2048)
    assert not tiny.compile
    # With more GPUs each rank's step is shorter: the same run needs more steps to repay.
    assert _v1("cuda", break_even).compile and not _v1("cuda", break_even, world=8).compile


def test_a_cpu_keeps_the_fp32_fast_forward_without_gpu_only_parts() -> None:
    c = _v1("cpu", 10_000)
    assert (c.fast, c.precision, c.sdpa) == (True, "fp32", True)
    gpu_only = (c.fused_adam, c.tf32, c.pin_memory, c.compile, c.probe_micro_batch, c.deferred_stats)
    assert not any(gpu_only)
    assert "opt-in" in c.reasons["compile"]
    assert _v1("cpu", 10, FastOptions(compile="on")).compile  # --compile still works on a CPU


@pytest.mark.parametrize(
    ("fast", "compile_", "probe"),
    [
        (FastOptions(compile="off"), False, True),
        (FastOptions(compile="on"), True, True),
        (FastOptions(auto_micro_batch="off"), False, False),
        (FastOptions(mode="off"), False, False),
        (FastOptions(mode="off", compile="on"), False, False),  # --fast off is the stock loop, whole
    ],
)
def test_switches_override_the_defaults_for_debugging(fast: FastOptions, compile_: bool, probe: bool) -> None:
    c = _v1("cuda", 50, fast)  # 50 steps: auto would not compile
    assert (c.compile, c.probe_micro_batch) == (compile_, probe)


def test_fast_off_is_fp32_with_the_stock_forward_even_on_cuda() -> None:
    c = _v1("cuda", 10_000, FastOptions(mode="off", precision="bf16"))
    assert (c.fast, c.precision, c.sdpa, c.fused_adam, c.tf32, c.deferred_stats) == (
        False,
        "fp32",
        False,
        False,
        False,
        False,
    )


def test_the_micro_batch_is_probed_only_where_there_is_accumulation_to_fold() -> None:
    assert not _v1("cuda", 10_000, per_rank_batch=2, micro_batch=2).probe_micro_batch
    assert _v1("cuda", 10_000, FastOptions(auto_micro_batch="on"), per_rank_batch=2).probe_micro_batch
    assert _v1("cuda", 10_000, per_rank_batch=16, micro_batch=2).probe_micro_batch
