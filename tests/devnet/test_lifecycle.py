"""The whole life of a model on the devnet, driven only through soma_sdk as a user would."""

from __future__ import annotations

import hashlib

import pytest
from soma_sdk import Keypair

from tests.devnet.helpers import (
    BASE_FEE,
    SHANNONS,
    WRITE_FEE,
    commit,
    failure_kind,
    fee,
    funded,
    make_weights,
    model_of,
    reveal,
)


async def test_full_lifecycle(devnet):
    client = await devnet.client()
    kp = await funded(devnet, soma=10)

    # create: the stake leaves the gas coin; fees are base + 3 writes + 5 bps of the stake
    model_id = await client.create_model(kp, 500, 2.0)
    stake_fee = 2 * SHANNONS * 5 // 10_000
    assert await client.get_balance(kp.address()) == pytest.approx(
        (10 * SHANNONS - 2 * SHANNONS - BASE_FEE - 3 * WRITE_FEE - stake_fee) / SHANNONS
    )
    state, m = await model_of(client, model_id)
    assert state == "Created"
    assert (m.owner, m.commission_rate, m.create_epoch) == (kp.address(), 500, 0)
    assert m.staking_pool.soma_balance == 2 * SHANNONS

    # commit in epoch 0
    w1 = make_weights(devnet.blob_url)
    result = await commit(client, kp, model_id, w1)
    assert result.V1.status == "Success"
    assert fee(result) == BASE_FEE + 2 * WRITE_FEE
    state, m = await model_of(client, model_id)
    assert state == "Pending"
    assert m.commit_epoch == 0
    assert m.manifest.V1.url == w1.url
    assert m.manifest.V1.metadata.V1.size == len(w1.encrypted)
    assert m.weights_commitment == client.commitment(w1.encrypted)

    # reveal only in epoch 1
    with pytest.raises(RuntimeError) as err:
        await reveal(client, kp, model_id, w1)
    assert failure_kind(err.value) == "ModelRevealEpochMismatch"
    assert devnet.advance() == 1
    await reveal(client, kp, model_id, w1)
    state, m = await model_of(client, model_id)
    assert state == "Active"
    assert m.staking_pool.activation_epoch == 1
    assert m.decryption_key == w1.key
    assert m.pending_update is None
    actives = await client.get_active_models()
    assert [a.model_id for a in actives] == [model_id]
    assert actives[0].commit_epoch == 0  # the SDK never reports a commit epoch for active models
    manifests = await client.get_model_manifests([model_id])
    assert manifests[0].decryption_key == w1.key

    # update: commit in epoch 1 (overwriting a first update), reveal in epoch 2
    await commit(client, kp, model_id, make_weights(devnet.blob_url))
    w2 = make_weights(devnet.blob_url, embedding=[9.0, 8.0])
    await commit(client, kp, model_id, w2)
    state, m = await model_of(client, model_id)
    assert state == "Active"
    assert m.pending_update.commit_epoch == 1
    assert m.pending_update.manifest.V1.url == w2.url
    assert m.manifest.V1.url == w1.url  # live weights unchanged until the reveal
    assert devnet.advance() == 2
    await reveal(client, kp, model_id, w2)
    _, m = await model_of(client, model_id)
    assert m.manifest.V1.url == w2.url
    assert m.pending_update is None
    assert [round(x, 3) for x in (await client.get_active_models())[0].embedding] == [9.0, 8.0]

    # commission: staged now, effective at the next epoch
    await client.set_model_commission_rate(kp, model_id, 1200)
    _, m = await model_of(client, model_id)
    assert (m.commission_rate, m.next_epoch_commission_rate) == (500, 1200)
    devnet.advance()
    _, m = await model_of(client, model_id)
    assert (m.commission_rate, m.next_epoch_commission_rate) == (1200, 1200)

    # stake from anyone: pending until the next epoch on an active model
    backer = await funded(devnet, soma=5)
    await client.add_stake_to_model(backer, model_id, 1.5)
    _, m = await model_of(client, model_id)
    assert m.staking_pool.pending_stake == 1.5 * SHANNONS
    receipts = await client.list_owned_objects(backer.address(), object_type="staked_soma")
    assert len(receipts) == 1
    devnet.advance()
    _, m = await model_of(client, model_id)
    assert m.staking_pool.soma_balance == 3.5 * SHANNONS
    assert m.staking_pool.pending_stake == 0

    # deactivate: owner only, no slash, stake stays for withdrawal
    with pytest.raises(RuntimeError) as err:
        await client.deactivate_model(backer, model_id)
    assert failure_kind(err.value) == "NotModelOwner"
    await client.deactivate_model(kp, model_id)
    state, m = await model_of(client, model_id)
    assert state == "Inactive"
    assert m.staking_pool.soma_balance == 3.5 * SHANNONS
    assert await client.get_active_models() == []

    # the backer takes the stake back
    before = await client.get_balance(backer.address())
    await client.withdraw_stake(backer, receipts[0].id)
    after = await client.get_balance(backer.address())
    assert after > before + 1.49

    # the devnet's ledger still adds up
    assert devnet.registry()["supply"]["consistent"]


async def test_model_id_is_derived_from_the_create_digest(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await client.create_model(kp, 0)
    objects = await client.list_owned_objects(kp.address())
    digest_b58 = next(o.previous_transaction for o in objects if o.data.object_type == "StakedSoma")
    from soma_console.encoding import b58decode

    derived = hashlib.blake2b(b58decode(digest_b58) + (0).to_bytes(8, "little"), digest_size=32).hexdigest()
    assert model_id == "0x" + derived


async def test_transfer_and_pay(devnet):
    client = await devnet.client()
    alice = await funded(devnet, soma=4)
    bob = Keypair.generate()
    result = await client.transfer_coin(alice, bob.address(), 1.25)
    assert result.V1.status == "Success"
    assert await client.get_balance(bob.address()) == 1.25
    # 10 bps of the amount, base fee, two written objects
    assert fee(result) == BASE_FEE + 2 * WRITE_FEE + 1_250_000_000 * 10 // 10_000
    carol = Keypair.generate()
    await client.pay_coins(alice, [bob.address(), carol.address()], [0.5, 0.25])
    assert await client.get_balance(bob.address()) == 1.75
    assert await client.get_balance(carol.address()) == 0.25


async def test_node_output_never_holds_an_unrevealed_key(devnet, remember_secret):
    """The devnet only ever sees commitments before a reveal; its logs are audited at session end."""
    client = await devnet.client()
    kp = await funded(devnet)
    remember_secret(kp.to_secret_key())
    model_id = await client.create_model(kp, 0, 1.0)
    w = make_weights(devnet.blob_url)
    remember_secret(w.key)
    await commit(client, kp, model_id, w)
    devnet.advance()
    devnet.advance()  # never revealed: slashed, and the key stays secret
    assert (await model_of(client, model_id))[0] == "Inactive"
    assert w.key not in devnet.log_text
    assert w.key not in str(devnet.registry())
