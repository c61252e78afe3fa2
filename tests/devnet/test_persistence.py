"""The devnet's state survives restarts and crashes, and a crash never leaves half a transaction."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from soma_sdk import Keypair

from soma_console.devnet.engine.store import COMMIT_DELAY_ENV
from tests.devnet.helpers import commit, failure_kind, funded, make_weights, model_of, reveal


async def test_restart_in_the_middle_of_a_lifecycle(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await client.create_model(kp, 250, 1.0)
    w = make_weights(devnet.blob_url)
    await commit(client, kp, model_id, w)
    balance = await client.get_balance(kp.address())
    checkpoint = (await client.get_latest_checkpoint()).data.sequence_number

    devnet.restart()

    # the same client keeps working once the node is back
    assert await client.get_balance(kp.address()) == balance
    assert (await client.get_latest_checkpoint()).data.sequence_number == checkpoint
    state, m = await model_of(client, model_id)
    assert (state, m.commit_epoch, m.manifest.V1.url) == ("Pending", 0, w.url)
    with pytest.raises(RuntimeError) as err:
        await reveal(client, kp, model_id, w)
    assert failure_kind(err.value) == "ModelRevealEpochMismatch"
    devnet.advance()
    devnet.restart()
    await reveal(client, kp, model_id, w)
    state, _ = await model_of(client, model_id)
    assert state == "Active"
    devnet.restart()
    assert (await model_of(client, model_id))[0] == "Active"
    assert (await client.get_latest_system_state()).epoch == 1
    assert devnet.registry()["supply"]["consistent"]


async def test_sigkill_inside_a_transaction_loses_it_whole(devnet, monkeypatch):
    client = await devnet.client()
    kp = await funded(devnet, soma=5)
    model_id = await client.create_model(kp, 0, 1.0)
    before_balance = await client.get_balance(kp.address())
    before_model = await model_of(client, model_id)
    before_cp = (await client.get_latest_checkpoint()).data.sequence_number

    # Restart with every write held open for 30 s before COMMIT, send a transaction, and kill
    # the node while that transaction is written but not committed.
    devnet.stop()
    monkeypatch.setenv(COMMIT_DELAY_ENV, "30")
    devnet.start()
    monkeypatch.delenv(COMMIT_DELAY_ENV)
    pending = asyncio.ensure_future(client.set_model_commission_rate(kp, model_id, 1))
    await asyncio.sleep(1.0)
    assert not pending.done()
    devnet.kill()
    with pytest.raises(RuntimeError):
        await pending
    devnet.start()

    assert await client.get_balance(kp.address()) == before_balance
    assert await model_of(client, model_id) == before_model
    assert (await client.get_latest_checkpoint()).data.sequence_number == before_cp
    assert devnet.registry()["supply"]["consistent"]
    # and the chain goes on
    result = await client.transfer_coin(kp, Keypair.generate().address(), 0.1)
    assert result.V1.status == "Success"


async def test_sigkill_under_load_keeps_the_ledger_consistent(devnet):
    client = await devnet.client()
    senders = [await funded(devnet, soma=20) for _ in range(4)]
    receiver = Keypair.generate().address()
    confirmed: list[str] = []
    rng = random.Random(7)

    async def hammer(kp: Keypair) -> None:
        while True:
            try:
                if rng.random() < 0.5:
                    r = await client.transfer_coin(kp, receiver, 0.01)
                    confirmed.append(r.V1.transaction_digest)
                else:
                    await client.create_model(kp, 0, 1.0)
            except RuntimeError:
                await asyncio.sleep(0.05)  # node down or coin moved: a client would retry

    for _round in range(3):
        tasks = [asyncio.ensure_future(hammer(kp)) for kp in senders]
        await asyncio.sleep(0.6 + rng.random() * 0.6)
        devnet.kill()
        await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        devnet.start()
        registry = devnet.registry()
        assert registry["supply"]["consistent"], registry["supply"]
        for digest in confirmed:  # every transaction a client saw succeed is on the chain
            assert (await client.get_transaction(digest)).V1.status == "Success"
    assert len(confirmed) > 5
    # every sender can still transact with whatever coins it has left
    for kp in senders:
        assert (await client.transfer_coin(kp, receiver, 0.01)).V1.status == "Success"


async def test_epoch_timer_persists_the_epoch_start(tmp_path):
    """With --epoch-seconds the node advances on its own, and a restart keeps the schedule."""
    from tests.devnet_fixture import Devnet

    node = Devnet(state_dir=tmp_path / "timed", epoch_seconds=1.0)
    node.start()
    try:
        client = await node.client()
        deadline = time.monotonic() + 15
        while (await client.get_latest_system_state()).epoch < 2:
            assert time.monotonic() < deadline, "the epoch timer did not advance"
            await asyncio.sleep(0.1)
        state = await client.get_latest_system_state()
        assert state.parameters.epoch_duration_ms == 1000
        nxt = await client.get_next_epoch_timestamp()
        assert nxt == state.epoch_start_timestamp_ms + 1000
        node.restart()
        assert (await client.get_latest_system_state()).epoch >= 2
    finally:
        node.kill()
