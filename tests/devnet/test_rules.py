"""Every model rule the chain enforces, and the error the SDK surfaces when it is broken."""

from __future__ import annotations

import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.core import txdata, txkinds
from tests.devnet.helpers import (
    BASE_FEE,
    SHANNONS,
    commit,
    failure_kind,
    fee,
    funded,
    make_weights,
    model_of,
    reveal,
)


async def _fails(coro: object) -> str:
    with pytest.raises(RuntimeError) as err:
        await coro  # type: ignore[misc]
    return failure_kind(err.value)


async def _active_model(client: SomaClient, devnet, kp: Keypair, stake: float = 1.0) -> str:
    model_id = await client.create_model(kp, 100, stake)
    w = make_weights(devnet.blob_url)
    await commit(client, kp, model_id, w)
    devnet.advance()
    await reveal(client, kp, model_id, w)
    return model_id


async def test_create_model_checks(devnet):
    client = await devnet.client()
    kp = await funded(devnet, soma=10)
    assert await _fails(client.create_model(kp, 500, 0.5)) == "ModelMinStakeNotMet"
    assert await _fails(client.create_model(kp, 10_001, 1.0)) == "ModelCommissionRateTooHigh"
    assert await _fails(client.create_model(kp, 0, 50.0)) == "InsufficientCoinBalance"
    model_id = await client.create_model(kp, 10_000, 1.0)  # exactly the limits is fine
    _, m = await model_of(client, model_id)
    assert m.commission_rate == 10_000


async def test_architecture_version_must_match(devnet):
    """The SDK always sends the chain's version, so this one goes out as signed BCS."""
    client = await devnet.client()
    kp = await funded(devnet, soma=5)
    coin = (await client.list_owned_objects(kp.address(), object_type="coin"))[0]
    ref = txkinds.ObjectRef(bytes.fromhex(coin.id[2:]), coin.version, _b58(coin.digest))
    tx = txdata.TransactionData(
        kind=txkinds.CreateModel(stake_amount=SHANNONS, commission_rate=0, architecture_version=2),
        sender=bytes.fromhex(kp.address()),
        gas_payment=(ref,),
    )
    effects = await client.execute_transaction(kp.sign(tx.to_bcs()))
    assert effects.V1.status.Failure.error == "ModelArchitectureVersionMismatch"
    assert effects.V1.transaction_fee.total_fee == BASE_FEE  # a failure costs the base fee only
    assert await client.get_balance(kp.address()) == (5 * SHANNONS - BASE_FEE) / SHANNONS


def _b58(text: str) -> bytes:
    from soma_console.encoding import b58decode

    return b58decode(text)


async def test_owner_checks_on_every_model_action(devnet):
    client = await devnet.client()
    owner = await funded(devnet)
    thief = await funded(devnet)
    created = await client.create_model(owner, 100, 1.0)
    w = make_weights(devnet.blob_url)
    assert await _fails(commit(client, thief, created, w)) == "NotModelOwner"
    await commit(client, owner, created, w)
    devnet.advance()
    assert await _fails(reveal(client, thief, created, w)) == "NotModelOwner"
    await reveal(client, owner, created, w)
    assert await _fails(commit(client, thief, created, make_weights())) == "NotModelOwner"
    assert await _fails(client.set_model_commission_rate(thief, created, 1)) == "NotModelOwner"
    assert await _fails(client.deactivate_model(thief, created)) == "NotModelOwner"
    await commit(client, owner, created, w)
    devnet.advance()
    assert await _fails(reveal(client, thief, created, w)) == "NotModelOwner"
    # anyone may stake
    assert (await client.add_stake_to_model(thief, created, 1.0)).V1.status == "Success"


async def test_reveal_checks(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await client.create_model(kp, 0, 1.0)
    w = make_weights(devnet.blob_url)
    failed = None
    try:
        await reveal(client, kp, model_id, w)
    except RuntimeError as exc:
        failed = exc
    assert failed is not None
    assert "Model in invalid state for this operation" in str(failed)  # created: nothing to reveal
    await commit(client, kp, model_id, w)
    assert await _fails(reveal(client, kp, model_id, w)) == "ModelRevealEpochMismatch"
    devnet.advance()
    wrong_key = SomaClient.encrypt_weights(b"x")[1]
    assert (
        await _fails(client.reveal_model(kp, model_id, wrong_key, w.embedding))
        == "ModelDecryptionKeyCommitmentMismatch"
    )
    assert (
        await _fails(client.reveal_model(kp, model_id, w.key, [*w.embedding, 0.0]))
        == "ModelEmbeddingCommitmentMismatch"
    )
    await reveal(client, kp, model_id, w)
    assert await _fails(reveal(client, kp, model_id, w)) == "ModelNoPendingUpdate"
    unknown = "0x" + "ab" * 32
    assert await _fails(client.reveal_model(kp, unknown, w.key, w.embedding)) == "ModelNotFound"


async def test_state_checks(devnet):
    client = await devnet.client()
    kp = await funded(devnet, soma=20)
    created = await client.create_model(kp, 0, 1.0)
    assert await _fails(client.set_model_commission_rate(kp, created, 10)) == "ModelNotActive"
    assert await _fails(client.deactivate_model(kp, created)) == "ModelNotActive"
    await commit(client, kp, created, make_weights())
    with pytest.raises(RuntimeError, match="Model in invalid state for this operation"):
        await commit(client, kp, created, make_weights())  # pending: no second commit
    assert await _fails(client.deactivate_model(kp, created)) == "ModelNotActive"
    active = await _active_model(client, devnet, kp)
    assert await _fails(client.set_model_commission_rate(kp, active, 10_001)) == "ModelCommissionRateTooHigh"
    await client.deactivate_model(kp, active)
    assert await _fails(client.deactivate_model(kp, active)) == "ModelNotActive"
    assert await _fails(client.add_stake_to_model(kp, active, 1.0)) == "ModelAlreadyInactive"
    with pytest.raises(RuntimeError, match="Model in invalid state for this operation"):
        await commit(client, kp, active, make_weights())
    assert await _fails(client.add_stake_to_model(kp, "0x" + "cd" * 32, 1.0)) == "ModelNotFound"


async def test_missed_first_reveal_is_slashed_at_commit_plus_two(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await client.create_model(kp, 0, 4.0)
    await commit(client, kp, model_id, make_weights())  # epoch 0
    devnet.advance()  # epoch 1: the reveal window; nothing happens yet
    state, m = await model_of(client, model_id)
    assert (state, m.staking_pool.soma_balance) == ("Pending", 4 * SHANNONS)
    devnet.advance()  # epoch 2: window closed
    state, m = await model_of(client, model_id)
    assert state == "Inactive"
    assert m.staking_pool.soma_balance == 2 * SHANNONS  # 5000 bps slashed
    assert m.staking_pool.deactivation_epoch == 2
    assert devnet.registry()["supply"]["slashed"] == 2 * SHANNONS


async def test_missed_update_reveal_is_dropped_without_slash(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await _active_model(client, devnet, kp, stake=2.0)  # active in epoch 1
    await commit(client, kp, model_id, make_weights())  # update committed in epoch 1
    devnet.advance()
    _, m = await model_of(client, model_id)
    assert m.pending_update is not None
    devnet.advance()  # epoch 3: update dropped
    state, m = await model_of(client, model_id)
    assert state == "Active"
    assert m.pending_update is None
    assert m.staking_pool.soma_balance == 2 * SHANNONS
    assert await _fails(reveal(client, kp, model_id, make_weights())) == "ModelNoPendingUpdate"


async def test_uncommitted_model_is_slashed_at_create_plus_two(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    model_id = await client.create_model(kp, 0, 2.0)
    devnet.advance()
    _, m = await model_of(client, model_id)
    assert m.staking_pool.soma_balance == 2 * SHANNONS
    devnet.advance()
    state, m = await model_of(client, model_id)
    assert state == "Created"  # the chain keeps it created, with a slashed, deactivated pool
    assert m.staking_pool.soma_balance == SHANNONS
    assert m.staking_pool.deactivation_epoch == 2
    assert await _fails(client.add_stake_to_model(kp, model_id, 1.0)) == "ModelAlreadyInactive"


async def test_failed_transactions_cost_the_base_fee_and_change_nothing(devnet):
    client = await devnet.client()
    kp = await funded(devnet, soma=3)
    model_id = await client.create_model(kp, 0, 1.0)
    before_balance = await client.get_balance(kp.address())
    before = await model_of(client, model_id)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await client.set_model_commission_rate(kp, model_id, 5)
    assert await model_of(client, model_id) == before
    assert await client.get_balance(kp.address()) == pytest.approx(before_balance - 3 * BASE_FEE / SHANNONS)


async def test_simulate_transaction_with_txdata_bytes(devnet):
    """The console estimates fees by simulating bytes built with soma_console.core.txdata."""
    client = await devnet.client()
    kp = await funded(devnet, soma=5)
    coin = (await client.list_owned_objects(kp.address(), object_type="coin"))[0]
    ref = txkinds.ObjectRef(bytes.fromhex(coin.id[2:]), coin.version, _b58(coin.digest))
    sender = bytes.fromhex(kp.address())
    tx = txdata.TransactionData(txkinds.CreateModel(2 * SHANNONS, 300, 1), sender, (ref,))
    sim = await client.simulate_transaction(tx.to_bcs())
    assert sim.V1.status == "Success"
    expected_fee = BASE_FEE + 3 * 300 + 2 * SHANNONS * 5 // 10_000
    assert sim.V1.transaction_fee.total_fee == expected_fee
    assert await client.get_balance(kp.address()) == 5.0  # nothing was executed
    # the simulated fee is what the real transaction then costs
    model_id = await client.create_model(kp, 300, 2.0)
    assert model_id.startswith("0x")
    assert await client.get_balance(kp.address()) == pytest.approx(
        (5 * SHANNONS - 2 * SHANNONS - expected_fee) / SHANNONS
    )
    # a simulated failure reports the chain's error without charging anyone
    bad = txdata.TransactionData(
        txkinds.SetModelCommissionRate(bytes.fromhex(model_id[2:]), 20_000), sender, (ref,)
    )
    with pytest.raises(RuntimeError, match="not available for consumption"):
        await client.simulate_transaction(bad.to_bcs())  # the gas coin moved on
    coin = (await client.list_owned_objects(kp.address(), object_type="coin"))[0]
    ref = txkinds.ObjectRef(bytes.fromhex(coin.id[2:]), coin.version, _b58(coin.digest))
    bad = txdata.TransactionData(
        txkinds.SetModelCommissionRate(bytes.fromhex(model_id[2:]), 20_000), sender, (ref,)
    )
    sim = await client.simulate_transaction(bad.to_bcs())
    assert sim.V1.status.Failure.error == "ModelCommissionRateTooHigh"
    assert fee(sim) == BASE_FEE
