"""LiveServices against the real devnet (through the real SDK), the journal and a real trainer."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from soma_console.core.console_services import ConsoleServices
from soma_console.core.live_services import LiveServices
from soma_console.core.reveal_queue import WAITING
from soma_console.errors import ReadOnlyError, UserError
from soma_console.secrets import Secret
from soma_console.training import events as ev
from tests.live.conftest import first_snapshot, live_ctx


def test_live_services_implement_the_interface(live: LiveServices) -> None:
    assert isinstance(live, ConsoleServices)
    assert live.chain_name == "devnet"
    assert live.training_presets[0] == "tiny"  # a devnet rehearses with the small model


async def test_status_and_models_come_from_the_devnet(
    live: LiveServices, shared_devnet: Any, owner: Any
) -> None:
    client = await shared_devnet.client()
    model_id = await client.create_model(owner, 250, 1.0)
    epoch = (await client.get_latest_system_state()).epoch

    snap = await first_snapshot(live, until=lambda s: any(m.model_id == model_id for m in s.models))

    assert snap.epoch == epoch
    assert live.latest_chain() is snap or live.latest_chain().epoch == epoch  # type: ignore[union-attr]
    row = next(m for m in snap.models if m.model_id == model_id)
    assert row.owner == owner.address() == live.address
    assert row.status == "created" and row.stake == 1_000_000_000
    assert snap.balance is not None and 0 < snap.balance < 20 * 10**9  # funded 20, staked 1, paid fees

    shared_devnet.advance()
    turned = await first_snapshot(live, until=lambda s: s.epoch == epoch + 1)
    assert turned.epoch == epoch + 1


async def test_queue_and_audit_show_what_the_journal_holds(live: LiveServices, owner: Any) -> None:
    snap = await first_snapshot(live)
    journal = live.journal
    intent = journal.begin_intent(
        chain="devnet", signer=owner.address(), kind="commit", model_id="0x" + "ab" * 32, params={}
    )
    journal.mark_confirmed(intent.id, digest="D1", commit_epoch=snap.epoch)
    journal.audit(chain="devnet", signer=owner.address(), kind="commit", status="success", digest="D1")
    journal.audit(chain="testnet", signer=owner.address(), kind="commit", status="success", digest="T1")

    entries = await asyncio.to_thread(live.queue, snap.taken_at)
    assert [(e.intent_id, e.model_id, e.state) for e in entries] == [(intent.id, "0x" + "ab" * 32, WAITING)]
    assert entries[0].seconds_to_open is not None and entries[0].seconds_to_open >= 0

    audit = await asyncio.to_thread(live.audit_log, 0)
    assert [a.digest for a in audit] == ["D1"]  # only this chain's transactions
    assert await asyncio.to_thread(live.audit_log, audit[-1].id) == []


@pytest.mark.slow
async def test_a_real_run_is_launched_followed_listed_and_its_checkpoints_get_a_status(
    live: LiveServices, owner: Any
) -> None:
    await live.start()
    name = await live.start_training(
        {"preset": "tiny", "steps": 3, "data": "builtin", "name": "live-r1", "backend": "local"}
    )
    assert name == "live-r1"
    assert any(r.name == "live-r1" for r in await asyncio.to_thread(live.runs))

    records: list[ev.AnyRecord] = []
    async with asyncio.timeout(120):
        async for batch in live.follow_run(name):
            assert batch  # never an empty batch
            records.extend(batch)
    kinds = [type(r) for r in records]
    assert kinds.count(ev.Started) == 1 and kinds.count(ev.Finished) == 1
    assert [r.step for r in records if isinstance(r, ev.Step)] == [1, 2, 3]
    assert kinds.index(ev.Started) < kinds.index(ev.Step) < kinds.index(ev.Finished)

    run = next(r for r in await asyncio.to_thread(live.runs) if r.name == name)
    assert (run.backend, run.status, run.step, run.total_steps) == ("local", "finished", 3, 3)
    assert run.last_loss is not None

    ckpts = await asyncio.to_thread(live.checkpoints, name)
    # One row: step 3 is also the final weights (model-final is the same file).
    assert [(c.step, c.final) for c in ckpts] == [(3, True)] and ckpts[0].status == ""
    final = ckpts[0]
    assert final.size == await asyncio.to_thread(os.path.getsize, final.path)

    # A commit of the final weights (under their model-final name) in the journal gives the
    # checkpoint's row its on-chain status.
    journal = live.journal
    art = journal.add_artifact(
        chain="devnet",
        source_path=str(Path(final.path).with_name("model-final.safetensors")),
        source_size=final.size or 0,
        source_digest="d",
        encrypted_path=None,
        size=1,
        commitment="c",
        key_commitment="k",
        decryption_key=Secret("key", label="decryption key"),
    )
    snap = await first_snapshot(live)
    intent = journal.begin_intent(
        chain="devnet", signer=owner.address(), kind="commit", model_id="0x" + "cd" * 32, artifact_id=art.id
    )
    journal.mark_confirmed(intent.id, commit_epoch=snap.epoch)
    status = {c.path: (c.status, c.model_id) for c in await asyncio.to_thread(live.checkpoints, name)}
    assert status[final.path] == ("committed", "0x" + "cd" * 32)

    # A second follow replays the finished run's history and ends.
    again = [r async for batch in live.follow_run(name) for r in batch]
    assert [type(r) for r in again] == kinds


@pytest.mark.slow
async def test_stop_training_stops_a_running_run_with_a_checkpoint(live: LiveServices) -> None:
    name = await live.start_training(
        {"preset": "tiny", "steps": 500, "data": "builtin", "name": "live-stop", "backend": "local"}
    )
    records: list[ev.AnyRecord] = []
    stopped = False
    async with asyncio.timeout(120):
        async for batch in live.follow_run(name):
            records.extend(batch)
            if not stopped and any(isinstance(r, ev.Step) for r in records):
                await live.stop_training(name)
                stopped = True
    errors = [r for r in records if isinstance(r, ev.Error)]
    assert errors and errors[-1].error == "interrupted"
    assert any(isinstance(r, ev.CheckpointSaved) for r in records)
    with pytest.raises(UserError, match="not running"):
        await live.stop_training(name)


async def test_bad_specs_are_refused_before_anything_starts(live: LiveServices, home: Path) -> None:
    with pytest.raises(UserError, match="unknown preset"):
        await live.start_training({"preset": "huge", "steps": 3, "data": "builtin", "backend": "local"})
    with pytest.raises(UserError, match="does not exist"):
        await live.start_training(
            {"preset": "tiny", "steps": 3, "data": str(home / "nope.txt"), "backend": "local"}
        )
    with pytest.raises(UserError, match="run name"):
        await live.start_training(
            {"preset": "tiny", "steps": 3, "data": "builtin", "name": "../x", "backend": "local"}
        )
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


async def test_modal_without_credentials_shows_nothing_and_says_why(live: LiveServices) -> None:
    await live.start()
    assert [r for r in await asyncio.to_thread(live.runs) if r.backend == "modal"] == []
    with pytest.raises(UserError, match="no Modal credentials"):
        await live.start_training(
            {"preset": "tiny", "steps": 3, "data": "builtin", "name": "m1", "backend": "modal"}
        )


async def test_autopilot_flag_persists_and_readonly_refuses(
    home: Path, shared_devnet: Any, owner: Any
) -> None:
    ctx = live_ctx(home, shared_devnet)
    first = LiveServices.open(ctx)
    assert await asyncio.to_thread(first.autopilot_enabled) is False
    await asyncio.to_thread(first.set_autopilot, True)
    await first.stop()
    saved = json.loads((home / "console" / "autopilot.json").read_text())
    assert saved == {"devnet": True}

    ro = LiveServices.open(live_ctx(home, shared_devnet, readonly=True))
    try:
        assert ro.readonly and await asyncio.to_thread(ro.autopilot_enabled) is True
        with pytest.raises(ReadOnlyError):
            ro.set_autopilot(True)
        ro.set_autopilot(False)  # turning it off is always allowed
        with pytest.raises(ReadOnlyError):
            await ro.plan_commit("/x.safetensors")
        with pytest.raises(ReadOnlyError):
            await ro.plan_reveal()
    finally:
        await ro.stop()


async def test_actions_without_a_wallet_say_how_to_make_one(
    home: Path, shared_devnet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOMA_SECRET_KEY", raising=False)
    services = LiveServices.open(live_ctx(home, shared_devnet))
    try:
        assert services.address is None
        for call in (services.plan_reveal(), services.plan_stake("0x" + "ab" * 32, 1.0)):
            with pytest.raises(UserError, match=r"no wallet is configured\. Run `soma-console wallet new`"):
                await call
        snap = await first_snapshot(services)  # reading the chain needs no wallet
        assert snap.address is None and snap.balance is None
    finally:
        await services.stop()


async def test_stop_is_quick_with_the_node_gone(
    home: Path, devnet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOMA_SECRET_KEY", raising=False)
    services = LiveServices.open(live_ctx(home, devnet))
    services.session.poll_interval = 0.2
    await first_snapshot(services)
    offline = asyncio.Event()
    loop = asyncio.get_running_loop()
    services.subscribe_chain(lambda snap, err: loop.call_soon_threadsafe(offline.set) if err else None)
    devnet.kill()
    async with asyncio.timeout(30):
        await offline.wait()
    assert services.latest_chain() is not None  # the last good snapshot stays
    started = loop.time()
    await services.stop()
    assert loop.time() - started < 4.0
