"""The one run registry: the runs list, checkpoints, follow and stop that the CLI and the console
share, on real run directories and real Modal run records (no network: states are given)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soma_console.config import Home
from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.checkpoint import publish_final, save_checkpoint
from soma_console.training.event_text import format_record
from soma_console.training.modal.backend import ModalRunRecord, ModalRunRegistry
from soma_console.training.run_follow import read_events, trim_plain
from soma_console.training.run_registry import (
    all_runs,
    follow_local,
    has_local_run,
    local_checkpoints,
    modal_run_info,
    stop_local,
)
from soma_console.training.runs import write_status
from tests.training.conftest import tiny_spec
from tests.training.test_manifest import _entries
from tests.training.test_manifest import _record as _ckpt


def _events(run_dir: Path, *records: ev.Event) -> None:
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(rec.to_line() + "\n")


def _record(run: str, launched_at: float, **spec: object) -> ModalRunRecord:
    return ModalRunRecord(
        run=run,
        call_id=f"fc-{run}",
        app_name="soma-console",
        volume_name="vol",
        gpu="H100",
        gpus=2,
        launched_at=launched_at,
        spec={"preset": "v1", "steps": 900, **spec},
    )


def test_local_and_modal_runs_are_one_list_newest_first(tmp_path: Path) -> None:
    home = Home(tmp_path, tmp_path)
    done = home.runs_dir / "done"
    tiny_spec(done, run="done", steps=4)
    write_status(done, status="finished", backend="local", started=1000.0)
    _events(done, ev.Step(step=4, total_steps=4, loss=1.25, ce=1.0, sigreg=0.1, lr=1e-3, tokens_per_s=10.0))
    fresh = home.runs_dir / "fresh"
    tiny_spec(fresh, run="fresh", steps=7)  # the launcher has not reported yet
    registry = ModalRunRegistry(home)
    registry.save(_record("remote", 2000.0))
    registry.save(_record("done", 3000.0))  # a name clash: the local run directory wins

    runs = all_runs(home, states={"remote": "running"})
    assert [(r.name, r.backend, r.status) for r in runs] == [
        ("fresh", "local", "created"),
        ("remote", "modal", "running"),
        ("done", "local", "finished"),
    ]
    done_info = runs[2]
    assert (done_info.step, done_info.total_steps, done_info.last_loss) == (4, 4, 1.25)
    assert done_info.row()["loss"] == 1.25 and done_info.row()["path"] == str(done)
    remote = runs[1].row()
    assert remote == {
        "run": "remote",
        "status": "running",
        "backend": "modal",
        "call_id": "fc-remote",
        "gpu": "H100 x2",
        "preset": "v1",
        "framework": "torch",
        "total_steps": 900,
        "launched_at": 2000.0,
    }
    # Unread Modal states are said as such, not guessed.
    assert modal_run_info(_record("x", 1.0)).status == "launched"
    assert has_local_run(home.runs_dir, "done") and not has_local_run(home.runs_dir, "remote")
    assert not has_local_run(home.runs_dir, "../etc")


def test_local_checkpoints_are_one_per_step_with_their_on_chain_status(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "r"
    tiny_spec(run_dir, run="r")
    cdir = run_dir / "checkpoints"
    for step in (5, 10):
        save_checkpoint(cdir, _ckpt(step), _entries(step), None)
    manifest, _ = save_checkpoint(cdir, _ckpt(15), _entries(15), None)
    publish_final(cdir, manifest)
    final_name = str(cdir / "model-final.safetensors")
    committed = {
        str(cdir / "checkpoint-00000005.safetensors"): ("revealed", "0xaa"),
        final_name: ("committed", "0xbb"),
    }

    found = local_checkpoints(runs_dir, "r", lambda path: committed.get(path, ("", None)))
    assert [(c.step, c.final, c.status, c.model_id) for c in found] == [
        (15, True, "committed", "0xbb"),  # committed under its model-final name
        (10, False, "", None),
        (5, False, "revealed", "0xaa"),
    ]
    assert found[0].path == str(cdir / "checkpoint-00000015.safetensors")
    assert found[0].size == manifest.size and found[0].loss == 1.5


def test_logs_lines_are_the_consoles_lines_with_a_time(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    step = ev.Step(step=2, total_steps=9, loss=0.5, ce=0.4, sigreg=0.1, lr=2e-3, tokens_per_s=1234.0, t=0.0)
    _events(run_dir, step)
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write("a plain line\n")
    (records,) = list(read_events(run_dir / "events.jsonl"))
    stamp = time.strftime("%H:%M:%S", time.localtime(0.0))
    assert format_record(records[0], stamp=True) == f"{stamp} {format_record(step)}"
    assert format_record(records[1], stamp=True) == "a plain line"
    assert list(read_events(run_dir / "missing.jsonl")) == []


def test_trim_keeps_events_and_says_what_it_dropped() -> None:
    records: list[ev.AnyRecord] = [ev.LogLine(f"l{n}") for n in range(5)]
    records.insert(2, ev.Eval(step=1, eval_loss=1.0))
    out = trim_plain(records, 2)
    assert [format_record(r) for r in out] == [
        "… 3 older log lines skipped",
        "eval at step 1: loss 1.0000",
        "l3",
        "l4",
    ]
    assert trim_plain(records, None) == records


async def test_follow_reads_the_history_then_the_tail_until_the_run_ends(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "live"
    tiny_spec(run_dir, run="live")
    write_status(run_dir, status="running", backend="local", pid=os.getpid())
    _events(run_dir, ev.Eval(step=1, eval_loss=2.0))
    seen: list[ev.AnyRecord] = []

    async def follow() -> None:
        async for batch in follow_local(runs_dir, "live"):
            seen.extend(batch)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.6)
    assert [type(r).__name__ for r in seen] == ["Eval"]
    _events(run_dir, ev.Finished(step=4, final_path="x", elapsed_s=1.0))
    write_status(run_dir, status="finished")
    await asyncio.wait_for(task, timeout=10)
    assert [type(r).__name__ for r in seen] == ["Eval", "Finished"]
    with pytest.raises(UserError, match="no run 'ghost'"):
        async for _ in follow_local(runs_dir, "ghost"):
            pass


def test_stop_sends_sigterm_to_the_worker_group_and_refuses_a_stopped_run(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "s"
    tiny_spec(run_dir, run="s")
    with pytest.raises(UserError, match="not running"):
        stop_local(runs_dir, "s")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write_status(run_dir, status="running", backend="local", pid=proc.pid)
        stop_local(runs_dir, "s")
        assert proc.wait(timeout=10) == -15
    finally:
        proc.kill()
    assert json.loads((run_dir / "run.json").read_text())["pid"] == proc.pid
