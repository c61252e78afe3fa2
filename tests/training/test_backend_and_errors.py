"""The LocalProcess backend as the console uses it, and how the worker reports running out of memory."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
import torch

from soma_console.training import events as ev
from soma_console.training import torch_trainer, worker
from soma_console.training.backends import LocalProcess
from soma_console.training.manifest import list_checkpoints
from soma_console.training.runs import read_run
from tests.training.conftest import tiny_spec

pytestmark = pytest.mark.slow


async def test_watch_then_stop_from_another_task(tmp_path: Path) -> None:
    """The TUI's shape: one task reads records while another stops the run."""
    run_dir = tmp_path / "run"
    tiny_spec(run_dir, steps=100_000, checkpoint_every=10_000)
    backend = LocalProcess(run_dir)
    await backend.start()
    seen: list[ev.AnyRecord] = []
    first_step = asyncio.Event()

    async def watch() -> None:
        async for rec in backend.records():
            seen.append(rec)
            if isinstance(rec, ev.Step):
                first_step.set()

    reader = asyncio.create_task(watch())
    await asyncio.wait_for(first_step.wait(), timeout=120)
    assert read_run(run_dir).status == "running"
    code = await backend.stop(grace=60)
    await asyncio.wait_for(reader, timeout=30)
    assert code == 143
    errors = [r for r in seen if isinstance(r, ev.Error)]
    assert [e.error for e in errors] == ["interrupted"]
    # The tee holds exactly what the reader saw.
    asm = ev.LineAssembler()
    teed = asm.feed((run_dir / "events.jsonl").read_bytes()) + asm.flush()
    assert teed == seen
    status = json.loads((run_dir / "run.json").read_text())
    assert (status["status"], status["exit_code"], status["backend"]) == ("stopped", 143, "local")
    assert read_run(run_dir).status == "stopped"
    assert list_checkpoints(run_dir)[0].step == errors[0].step


@pytest.mark.parametrize(
    "exc",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
        MemoryError(),
    ],
)
def test_out_of_memory_is_one_clear_resumable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    # A GPU running out of memory cannot be produced on this machine; the trainer is stubbed to fail
    # the way torch does, and everything around it (spec, data check, reporting) is real.
    spec = tiny_spec(tmp_path / "run", micro_batch=64)

    def boom(self: torch_trainer.Trainer) -> None:
        raise exc

    monkeypatch.setattr(torch_trainer.Trainer, "run", boom)
    out = io.StringIO()
    code = worker.run(
        Path(spec.out_dir) / "spec.json",
        resume=False,
        rank=0,
        world=1,
        init_method=None,
        out=worker._Out(out),
    )
    assert code == worker.EXIT_OOM
    (err,) = [r for r in ev.LineAssembler().feed(out.getvalue()) if isinstance(r, ev.Error)]
    assert err.error == "oom"
    assert err.resumable
    assert "lower --micro-batch" in err.summary
    assert "64" in err.summary


def test_other_failures_are_internal_errors_with_the_traceback_in_detail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec(tmp_path / "run")

    def boom(self: torch_trainer.Trainer) -> None:
        raise ValueError("something unexpected")

    monkeypatch.setattr(torch_trainer.Trainer, "run", boom)
    out = io.StringIO()
    code = worker.run(
        Path(spec.out_dir) / "spec.json",
        resume=False,
        rank=0,
        world=1,
        init_method=None,
        out=worker._Out(out),
    )
    assert code == worker.EXIT_INTERNAL
    (err,) = [r for r in ev.LineAssembler().feed(out.getvalue()) if isinstance(r, ev.Error)]
    assert err.error == "internal"
    assert "something unexpected" in err.summary
    assert err.detail is not None
    assert "Traceback" in err.detail
