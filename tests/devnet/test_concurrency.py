"""Many users at once: twenty independent clients, and one signer sending in parallel."""

from __future__ import annotations

import asyncio

from soma_sdk import Keypair

from tests.devnet.helpers import commit, funded, make_weights, registry_entry


async def test_twenty_concurrent_clients(devnet):
    users = [await funded(devnet, soma=5) for _ in range(20)]

    async def one_user(kp: Keypair) -> str:
        client = await devnet.client()  # each user has its own connection
        model_id = await client.create_model(kp, 100, 1.0)
        await commit(client, kp, model_id, make_weights(devnet.blob_url))
        await client.transfer_coin(kp, Keypair.generate().address(), 0.5)
        return model_id

    model_ids = await asyncio.gather(*(one_user(kp) for kp in users))
    assert len(set(model_ids)) == 20
    state = await (await devnet.client()).get_latest_system_state()
    for kp, model_id in zip(users, model_ids, strict=True):
        variant, m = registry_entry(state, model_id)
        assert (variant, m.owner) == ("Pending", kp.address())
    assert devnet.registry()["supply"]["consistent"]


async def test_one_signer_in_parallel_uses_distinct_coins(devnet):
    client = await devnet.client()
    kp = Keypair.generate()
    for _ in range(3):
        devnet.fund(kp.address(), soma=3)
    model_ids = await asyncio.gather(*(client.create_model(kp, rate, 1.0) for rate in (1, 2, 3)))
    assert len(set(model_ids)) == 3


async def test_identical_concurrent_transactions_both_complete(devnet):
    """Two clients of one signer with one coin may build the very same transaction; like the
    chain, the devnet executes it once, and both callers get its effects without waiting out
    the SDK's 30 s checkpoint timeout."""
    kp = await funded(devnet, soma=5)
    clients = [await devnet.client(), await devnet.client()]
    results = await asyncio.wait_for(
        asyncio.gather(*(c.create_model(kp, 0, 1.0) for c in clients), return_exceptions=True), 20
    )
    ids = [r for r in results if isinstance(r, str)]
    assert ids, results
    state = await clients[0].get_latest_system_state()
    assert set(ids) <= set(vars(state.model_registry.models))
    for r in results:  # the only acceptable failure is the coin having moved on
        if isinstance(r, BaseException):
            assert "No available gas coin" in str(r) or "not available for consumption" in str(r), r
