"""The container side on its own: the supervised worker (a real subprocess), its environment, Volume
commits, stop, preemption restarts."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from soma_console.training import cron_journal
from soma_console.training.events import LineAssembler, Started, Step
from soma_console.training.modal.container import (
    WorkerFailed,
    newest_checkpoint,
    package_root,
    train_entry,
)
from tests.modal.conftest import STANDIN_WORKER


class Commits:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.snapshots: list[set[str]] = []

    def __call__(self) -> None:
        self.snapshots.append({str(p.relative_to(self.root)) for p in self.root.rglob("*.json")})


def spec(run: str, **kw: Any) -> str:
    return json.dumps({"run": run, "preset": "tiny", "steps": 6, "checkpoint_every": 2, **kw})


def records(text: str) -> list[Any]:
    a = LineAssembler()
    return a.feed(text) + a.flush()


def run_train(root: Path, spec_json: str, **kw: Any) -> tuple[dict[str, Any], str, str, Commits]:
    out, err, commits = io.StringIO(), io.StringIO(), Commits(root)
    summary = train_entry(
        spec_json,
        resume=kw.pop("resume", False),
        gpus=kw.pop("gpus", 1),
        volume_root=root,
        commit=commits,
        out=out,
        err=err,
        worker_cmd=STANDIN_WORKER,
        poll_s=0.2,
        **kw,
    )
    return summary, out.getvalue(), err.getvalue(), commits


def test_worker_output_is_copied_and_every_manifest_is_committed(tmp_path: Path) -> None:
    summary, out, err, commits = run_train(tmp_path, spec("c1", noise=True))
    assert summary["finished"] is True
    assert summary["step"] == 6
    recs = records(out)
    assert [r.step for r in recs if isinstance(r, Step)] == [1, 2, 3, 4, 5, 6]
    assert "warning on stderr at step 2" in err
    # each checkpoint's manifest was in a committed snapshot
    committed = set().union(*commits.snapshots)
    for step in (2, 4):
        assert f"runs/c1/checkpoints/checkpoint-{step:08d}.json" in committed
    assert "runs/c1/model-final.json" in committed
    # the spec the container ran is on the Volume, pointing at it
    ran = json.loads((tmp_path / "runs/c1/spec.json").read_text())
    assert ran["out_dir"] == str(tmp_path / "runs/c1")
    assert ran["gpus"] == 1


def test_a_failed_worker_raises_its_own_error_summary(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match=r"^CUDA out of memory at step 5\.$"):
        run_train(tmp_path, spec("c2", fail_at_step=5))
    # what was saved before the failure is durable and listed as newest
    newest = newest_checkpoint(tmp_path / "runs/c2")
    assert newest is not None
    assert newest.step == 4


def test_stop_ends_the_worker_and_commits_on_the_way_out(tmp_path: Path) -> None:
    stop = threading.Event()
    out, err, commits = io.StringIO(), io.StringIO(), Commits(tmp_path)
    result: dict[str, Any] = {}

    def go() -> None:
        try:
            train_entry(
                spec("c3", steps=500, sleep_s=0.05),
                resume=False,
                gpus=1,
                volume_root=tmp_path,
                commit=commits,
                out=out,
                err=err,
                stop=stop,
                worker_cmd=STANDIN_WORKER,
                poll_s=0.2,
            )
        except WorkerFailed as exc:
            result["error"] = str(exc)

    t = threading.Thread(target=go)
    t.start()
    deadline = time.monotonic() + 20
    while "checkpoint" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = next(r for r in records(out.getvalue()) if isinstance(r, Started))
    assert started.run == "c3"
    stop.set()
    t.join(timeout=40)
    assert not t.is_alive()
    assert result["error"] == "the run was stopped."
    assert '"error":"interrupted"' in out.getvalue().replace(" ", "")
    assert commits.snapshots  # the final commit ran on the way out


def test_a_restarted_call_continues_from_its_checkpoints_instead_of_overwriting(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed):
        run_train(tmp_path, spec("c4", fail_at_step=5))
    first = (tmp_path / "runs/c4/checkpoints/checkpoint-00000002.safetensors").read_bytes()
    _, out, _, _ = run_train(tmp_path, spec("c4"))  # Modal retried the input: resume is False
    started = next(r for r in records(out) if isinstance(r, Started))
    assert started.start_step == 4
    assert (tmp_path / "runs/c4/checkpoints/checkpoint-00000002.safetensors").read_bytes() == first


def test_gpus_reach_the_spec(tmp_path: Path) -> None:
    _, out, _, _ = run_train(tmp_path, spec("c5"), gpus=4)
    started = next(r for r in records(out) if isinstance(r, Started))
    assert started.spec["gpus"] == 4


def test_a_torn_journal_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    cron_journal.append(path, "round_started", "r1")
    cron_journal.append(path, "trained", "r1", step=5, checkpoint="runs/x/model-final.safetensors")
    with path.open("a") as fh:
        fh.write('{"event": "round_fin')  # the container died mid-write
    entries = cron_journal.read(path)
    assert [e.event for e in entries] == ["round_started", "trained"]
    assert os.stat(path).st_size > 0


def test_the_worker_sees_no_secret_and_finds_the_package_by_its_own_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = {
        "SOMA_SECRET_KEY": "suiprivkey-planted-signer",
        "SOMA_STORAGE": "s3://bucket/prefix",
        "AWS_ACCESS_KEY_ID": "AKIAPLANTED",
        "AWS_SECRET_ACCESS_KEY": "planted-aws-secret",
        "MODAL_TOKEN_SECRET": "as-planted",
        "SOMA_ALERT_WEBHOOK": "https://hooks.example/planted",
        "SOME_API_KEY": "planted-api-key",
    }
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HF_TOKEN", "hf-allowed")  # the trainer's own credential passes
    monkeypatch.setenv("SOMA_HARMLESS", "kept")
    monkeypatch.delenv("PYTHONPATH", raising=False)  # only the container's explicit path may find the package
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    dump = tmp_path / "env.json"
    summary, _, _, _ = run_train(tmp_path / "vol", spec("c6", dump_env=str(dump)))
    assert summary["finished"] is True
    seen = json.loads(dump.read_text())
    for k, v in planted.items():
        assert k not in seen["env"]
        assert v not in json.dumps(seen)
    assert seen["env"]["HF_TOKEN"] == "hf-allowed"
    assert seen["env"]["SOMA_HARMLESS"] == "kept"
    assert seen["env"]["PYTHONPATH"] == package_root()
    assert seen["cwd"] == str((tmp_path / "vol/runs/c6").resolve())


def test_a_failed_reload_refuses_to_train_on_a_stale_view(tmp_path: Path) -> None:
    def reload() -> None:
        raise RuntimeError("there are open files preventing the operation")

    with pytest.raises(WorkerFailed, match=r"could not reload the Volume .*open files"):
        run_train(tmp_path, spec("c7"), reload=reload)
    assert not (tmp_path / "runs/c7").exists()  # nothing was read or written
