"""The cron's rounds in the container: reveals never wait on training, two rounds never write the
journal at once (the lease is a real ``modal.Dict`` on the fake control plane), the chain step fails
loudly, alarms reach the webhook."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from soma_console.config import Home
from soma_console.core.autopilot import send_alert
from soma_console.core.onchain.cron_rounds import (
    ChainSteps,
    cron_entry,
    load_chain_steps,
    reveal_entry,
)
from soma_console.training import cron_journal
from soma_console.training.cron_lease import JournalLease, LeaseLost, MemoryLeaseStore, lease_dict_name
from soma_console.training.cron_plan import CronPlan
from soma_console.training.modal.container import WorkerFailed
from tests.fake_modal.server import FakeModal
from tests.modal.conftest import STANDIN_WORKER


def spec(run: str, **kw: Any) -> str:
    return json.dumps({"run": run, "preset": "tiny", "steps": 4, "checkpoint_every": 2, **kw})


class FakeChain:
    """Chain steps that write the journal the way the lifecycle does (SQLite in the round's home,
    persist after each write) and record when they were inside it."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.hold_s = hold_s
        self.intervals: list[tuple[float, float, str]] = []
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def _write(self, home: Home, what: str, persist: Any) -> None:
        con = sqlite3.connect(home.journal_path)
        try:
            con.execute("CREATE TABLE IF NOT EXISTS rows (what TEXT)")
            con.execute("INSERT INTO rows VALUES (?)", (what,))
            con.commit()
        finally:
            con.close()
        persist()

    async def reveal_round(self, home: Home, *, chain: str, persist: Any, **_: Any) -> dict[str, Any]:
        t0 = time.monotonic()
        self.calls.append("reveal")
        self._write(home, f"reveal-{t0}", persist)
        await asyncio.sleep(self.hold_s)
        self._write(home, f"reveal-end-{t0}", persist)
        with self.lock:
            self.intervals.append((t0, time.monotonic(), "reveal"))
        return {"revealed": [{"model_id": "0xdue"}], "pending": [], "said": []}

    async def commit_round(
        self,
        home: Home,
        checkpoint: Path,
        manifest: Path,
        *,
        chain: str,
        persist: Any,
        gate_targets: int | None = None,
    ) -> dict[str, Any]:
        t0 = time.monotonic()
        self.calls.append("commit")
        self._write(home, f"commit-{checkpoint.name}", persist)
        with self.lock:
            self.intervals.append((t0, time.monotonic(), "commit"))
        return {"revealed": [], "committed": {"model_id": "0xabc"}, "pending": [{"model_id": "0xabc"}]}

    def steps(self) -> ChainSteps:
        return ChainSteps(self.commit_round, self.reveal_round, send_alert)


def journal_rows(root: Path, app: str) -> list[str]:
    con = sqlite3.connect(root / "cron" / app / "home" / "journal.sqlite")
    try:
        return [r[0] for r in con.execute("SELECT what FROM rows")]
    finally:
        con.close()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alarm", got
    finally:
        server.shutdown()


def test_a_round_whose_training_fails_still_reveals_what_is_due_and_raises_the_alarm(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, posted = webhook
    chain = FakeChain()
    plan = CronPlan(app_name="cr-fail", spec_json=spec("fails", fail_at_step=1), steps=2, webhook=url)
    with pytest.raises(WorkerFailed, match="CUDA out of memory"):
        cron_entry(
            plan,
            volume_root=tmp_path,
            commit=lambda: None,
            reload=lambda: None,
            lease_store=MemoryLeaseStore(),
            out=io.StringIO(),
            err=io.StringIO(),
            worker_cmd=STANDIN_WORKER,
            chain_steps=chain.steps(),
            poll_s=0.2,
        )
    assert chain.calls == ["reveal"]  # revealed before training; no commit after the failure
    assert journal_rows(tmp_path, "cr-fail")[0].startswith("reveal-")
    entries = cron_journal.read_all(tmp_path / "cron/cr-fail")
    assert [e.event for e in entries] == ["round_started", "revealed", "round_failed", "alarm"]
    assert entries[1].data["result"]["revealed"] == [{"model_id": "0xdue"}]
    assert entries[2].data["stage"] == "train"
    assert "training round" in posted[0]["text"] and "CUDA out of memory" in posted[0]["text"]
    summary = cron_journal.summarize(entries)
    assert summary.rounds[-1]["state"] == "failed"
    assert summary.rounds[-1]["revealed"] == [{"model_id": "0xdue"}]


def test_a_training_round_reveals_trains_then_commits_the_newest_checkpoint(tmp_path: Path) -> None:
    chain = FakeChain()
    plan = CronPlan(app_name="cr-ok", spec_json=spec("ok"), steps=4)
    kw: dict[str, Any] = dict(
        volume_root=tmp_path,
        commit=lambda: None,
        reload=lambda: None,
        lease_store=MemoryLeaseStore(),
        out=io.StringIO(),
        err=io.StringIO(),
        worker_cmd=STANDIN_WORKER,
        chain_steps=chain.steps(),
        poll_s=0.2,
    )
    first = cron_entry(plan, **kw)
    second = cron_entry(plan, **kw)
    assert first["train"]["step"] == 4 and second["train"]["step"] == 8  # resumed, trained 4 more
    assert chain.calls == ["reveal", "commit"] * 2
    assert journal_rows(tmp_path, "cr-ok")[-1] == "commit-model-final.safetensors"
    entries = cron_journal.read_all(tmp_path / "cron/cr-ok")
    # each round has its own log file on the Volume
    assert len(list((tmp_path / "cron/cr-ok/rounds").glob("*.jsonl"))) == 2
    assert [e.event for e in entries] == [
        "round_started",
        "revealed",
        "trained",
        "chain",
        "round_finished",
    ] * 2
    summary = cron_journal.summarize(entries)
    assert [r["step"] for r in summary.rounds] == [4, 8]
    assert summary.pending == [{"model_id": "0xabc"}]


def test_the_real_chain_steps_load() -> None:
    from soma_console.core.autopilot import send_alert
    from soma_console.core.onchain.cron_steps import run_cron_round, run_reveal_round

    steps = load_chain_steps()
    assert steps.commit_round is run_cron_round
    assert steps.reveal_round is run_reveal_round
    assert steps.alert is send_alert


class NoLease:
    """No shared lease at all (each round sees only its own entry): the journal without one."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _data(self) -> dict[str, str]:
        if not hasattr(self._local, "data"):
            self._local.data = {}
        return self._local.data  # type: ignore[no-any-return]

    def put(self, key: str, value: str, *, skip_if_exists: bool = False) -> bool:
        self._data()[key] = value
        return True

    def get(self, key: str, default: Any = None) -> Any:
        return self._data().get(key, default)

    def pop(self, key: str, default: Any = None) -> Any:
        return self._data().pop(key, default)


def _overlapping_rounds(tmp_path: Path, store: Any, app: str) -> FakeChain:
    chain = FakeChain(hold_s=0.6)
    plan = CronPlan(app_name=app, spec_json=spec("x"), steps=1)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            reveal_entry(
                plan,
                volume_root=tmp_path,
                commit=lambda: None,
                reload=lambda: None,
                lease_store=store,
                err=io.StringIO(),
                chain_steps=chain.steps(),
                lease_wait_s=30,
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    return chain


def test_two_overlapping_rounds_never_both_write_the_journal(tmp_path: Path, fake: FakeModal) -> None:
    import modal

    store = modal.Dict.from_name(lease_dict_name("cr-overlap"), create_if_missing=True)
    chain = _overlapping_rounds(tmp_path, store, "cr-overlap")
    (_a0, a1, _), (b0, _b1, _) = sorted(chain.intervals)
    assert a1 <= b0  # the second round started its journal work only after the first ended
    # and it started from the first one's journal: no write was lost
    assert len(journal_rows(tmp_path, "cr-overlap")) == 4
    assert fake.dicts[lease_dict_name("cr-overlap")].data == {} or all(
        b"takeover" in k for k in fake.dicts[lease_dict_name("cr-overlap")].data
    )  # released
    # Without the lease the same two rounds overlap and one round's writes are lost.
    chain = _overlapping_rounds(tmp_path / "unleased", NoLease(), "cr-overlap")
    (_a0, a1, _), (b0, _b1, _) = sorted(chain.intervals)
    assert b0 < a1
    assert len(journal_rows(tmp_path / "unleased", "cr-overlap")) < 4


def test_a_reveal_round_that_cannot_get_the_lease_leaves_the_work_to_its_holder(tmp_path: Path) -> None:
    store = MemoryLeaseStore()
    chain = FakeChain()
    plan = CronPlan(app_name="cr-busy", spec_json=spec("x"), steps=1)
    with JournalLease(store, purpose="commit", holder="train-round-1"):
        result = reveal_entry(
            plan,
            volume_root=tmp_path,
            commit=lambda: None,
            reload=lambda: None,
            lease_store=store,
            err=io.StringIO(),
            chain_steps=chain.steps(),
            lease_wait_s=0.0,
        )
    assert result["reveal"] is None and chain.calls == []
    entries = cron_journal.read_all(tmp_path / "cron/cr-busy")
    skipped = [e for e in entries if e.event == "reveal_skipped"]
    assert "train-round-1" in skipped[0].data["reason"]


def test_an_expired_lease_is_taken_over_by_exactly_one_round_and_its_holder_stops_writing() -> None:
    now = [1000.0]
    store = MemoryLeaseStore()

    def lease(holder: str) -> JournalLease:
        return JournalLease(store, purpose="reveal", holder=holder, ttl_s=60, clock=lambda: now[0])

    stalled = lease("stalled")
    stalled.acquire()
    stalled._stop.set()  # its renewals stopped (the container froze)
    a, b = lease("a"), lease("b")
    assert a.try_acquire() is not None and b.try_acquire() is not None  # live: both wait
    now[0] += 61
    results = [a.try_acquire(), b.try_acquire()]
    assert results.count(None) == 1  # exactly one took it over
    winner = a if results[0] is None else b
    winner.check()
    with pytest.raises(LeaseLost):
        stalled.check()  # the stalled holder must not write any more
    stalled.release()  # and its release does not remove the winner's lease
    winner.check()
    winner.release()
    assert store.get("journal-lease") is None


def test_a_reveal_rounds_closing_window_alarm_is_in_its_log(tmp_path: Path) -> None:
    class Closing(FakeChain):
        async def reveal_round(self, home: Home, *, chain: str, persist: Any, **_: Any) -> dict[str, Any]:
            out = await super().reveal_round(home, chain=chain, persist=persist)
            msg = "reveal window for model 0xabc (epoch 8) closes in 00:09:00 and it is NOT revealed"
            return {
                **out,
                "revealed": [],
                "said": [{"level": "info", "message": "x"}, {"level": "alarm", "message": msg}],
            }

    plan = CronPlan(app_name="cr-alarm", spec_json=spec("x"), steps=1)
    reveal_entry(
        plan,
        volume_root=tmp_path,
        commit=lambda: None,
        reload=lambda: None,
        lease_store=MemoryLeaseStore(),
        err=io.StringIO(),
        chain_steps=Closing().steps(),
    )
    rounds = cron_journal.summarize(cron_journal.read_all(tmp_path / "cron/cr-alarm")).rounds
    assert rounds[-1]["kind"] == "reveal" and rounds[-1]["state"] == "nothing due"
    assert rounds[-1]["alarms"] == [
        "reveal window for model 0xabc (epoch 8) closes in 00:09:00 and it is NOT revealed"
    ]


def test_a_reveal_round_alarms_when_the_epochs_shrank_below_its_schedule(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, posted = webhook

    class Shorter(FakeChain):
        async def reveal_round(self, home: Home, *, chain: str, persist: Any, **_: Any) -> dict[str, Any]:
            out = await super().reveal_round(home, chain=chain, persist=persist)
            return {**out, "epoch_s": 1800.0}  # deployed for day-long epochs; now half an hour

    plan = CronPlan(app_name="cr-shrunk", spec_json=spec("x"), steps=1, webhook=url, reveal_gap_s=3600)
    reveal_entry(
        plan,
        volume_root=tmp_path,
        commit=lambda: None,
        reload=lambda: None,
        lease_store=MemoryLeaseStore(),
        err=io.StringIO(),
        chain_steps=Shorter().steps(),
    )
    assert "fewer than 6 tries per reveal window" in posted[0]["text"]
    rounds = cron_journal.summarize(cron_journal.read_all(tmp_path / "cron/cr-shrunk")).rounds
    assert "Deploy it again" in rounds[-1]["alarms"][0]
    # the same epochs under a fitting schedule say nothing
    plan = CronPlan(app_name="cr-fits", spec_json=spec("x"), steps=1, webhook=url, reveal_gap_s=300)
    reveal_entry(
        plan,
        volume_root=tmp_path,
        commit=lambda: None,
        reload=lambda: None,
        lease_store=MemoryLeaseStore(),
        err=io.StringIO(),
        chain_steps=Shorter().steps(),
    )
    assert len(posted) == 1
