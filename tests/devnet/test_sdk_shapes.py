"""The recorded SDK shapes in tests/data/sdk_shapes still match what soma_sdk returns.

The scenario below drives a devnet through every state a model can be in and calls each SDK
method the console relies on. Each return value is compared, by type skeleton, with the
recorded file; ``SOMA_RECORD_SDK_SHAPES=1`` rewrites the files instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from soma_sdk import Keypair

from soma_console.core import txdata, txkinds
from soma_console.encoding import b58decode
from tests.devnet.helpers import commit, funded, make_weights, reveal
from tests.devnet.sdk_shapes import SHAPES_DIR, load_shape, save_shape, shape_of

RECORD = os.environ.get("SOMA_RECORD_SDK_SHAPES") == "1"


async def _scenario(devnet: Any) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    client = await devnet.client()

    async def call(name: str, label: str, awaitable: Any) -> Any:
        value = await awaitable
        out[name] = (label, value)
        return value

    def model(name: str, state: Any, model_id: str) -> None:
        out[name] = (
            f"vars(get_latest_system_state().model_registry.models)[{name.removeprefix('model_')!r} id]",
            vars(state.model_registry.models)[model_id],
        )

    await call("system_state_genesis", "get_latest_system_state()", client.get_latest_system_state())
    await call("get_epoch", "get_epoch()", client.get_epoch())
    await call(
        "request_faucet", "request_faucet(address)", client.request_faucet(Keypair.generate().address())
    )
    owner = await funded(devnet, soma=30)  # one coin: create_model takes its stake from the gas coin
    await call("get_balance", "get_balance(address)", client.get_balance(owner.address()))
    await call(
        "list_owned_objects_coin",
        "list_owned_objects(address, object_type='coin')",
        client.list_owned_objects(owner.address(), object_type="coin"),
    )
    for fn in (
        "get_chain_identifier",
        "get_server_version",
        "get_protocol_version",
        "get_architecture_version",
        "get_model_min_stake",
        "get_embedding_dim",
        "get_next_epoch_timestamp",
        "get_latest_checkpoint",
    ):
        await call(fn, f"{fn}()", getattr(client, fn)())

    active = await call(
        "create_model",
        "create_model(signer, commission_rate, stake_amount)",
        client.create_model(owner, 500, 3.0),
    )
    w = make_weights(devnet.blob_url)
    await call("commit_model", "commit_model(...)", commit(client, owner, active, w))
    pending_state = await client.get_latest_system_state()
    model("model_pending", pending_state, active)
    created = await client.create_model(owner, 100, 1.0)
    model("model_created", await client.get_latest_system_state(), created)
    to_slash = await client.create_model(owner, 100, 2.0)
    await commit(client, owner, to_slash, make_weights())
    await call("advance_epoch", "advance_epoch()", client.advance_epoch())
    await call("reveal_model", "reveal_model(...)", reveal(client, owner, active, w))
    model("model_active", await client.get_latest_system_state(), active)
    await commit(client, owner, active, make_weights(devnet.blob_url))
    model("model_active_with_pending_update", await client.get_latest_system_state(), active)
    await call(
        "set_model_commission_rate",
        "set_model_commission_rate(...)",
        client.set_model_commission_rate(owner, active, 900),
    )
    backer = await funded(devnet, soma=5)
    await call(
        "add_stake_to_model",
        "add_stake_to_model(signer, model_id, amount)",
        client.add_stake_to_model(backer, active, 1.0),
    )
    await call(
        "list_owned_objects_staked",
        "list_owned_objects(address, object_type='staked_soma')",
        client.list_owned_objects(backer.address(), object_type="staked_soma"),
    )
    await call("get_active_models", "get_active_models()", client.get_active_models())
    await call("get_model_manifests", "get_model_manifests([model_id])", client.get_model_manifests([active]))
    devnet.advance()  # epoch 2: to_slash missed its reveal; created was never committed
    state = await client.get_latest_system_state()
    model("model_inactive_slashed", state, to_slash)
    model("model_created_slashed", state, created)
    second = await client.create_model(owner, 0, 1.0)
    w2 = make_weights(devnet.blob_url)
    await commit(client, owner, second, w2)
    devnet.advance()
    await reveal(client, owner, second, w2)
    await call(
        "deactivate_model", "deactivate_model(signer, model_id)", client.deactivate_model(owner, second)
    )
    model("model_inactive_deactivated", await client.get_latest_system_state(), second)
    result = await call(
        "transfer_coin",
        "transfer_coin(signer, recipient, amount)",
        client.transfer_coin(owner, Keypair.generate().address(), 0.5),
    )
    await call(
        "get_transaction", "get_transaction(digest)", client.get_transaction(result.V1.transaction_digest)
    )
    staked = (await client.list_owned_objects(backer.address(), object_type="staked_soma"))[0]
    await call("get_object_staked_soma", "get_object(staked_soma_id)", client.get_object(staked.id))
    await call(
        "withdraw_stake", "withdraw_stake(signer, staked_soma_id)", client.withdraw_stake(backer, staked.id)
    )
    coin = (await client.list_owned_objects(owner.address(), object_type="coin"))[0]
    ref = txkinds.ObjectRef(bytes.fromhex(coin.id[2:]), coin.version, b58decode(coin.digest))
    bad = txdata.TransactionData(
        txkinds.SetModelCommissionRate(bytes.fromhex(active[2:]), 20_000),
        bytes.fromhex(owner.address()),
        (ref,),
    )
    await call(
        "simulate_transaction_failure",
        "simulate_transaction(tx_data_bytes) of a failing transaction",
        client.simulate_transaction(bad.to_bcs()),
    )
    await call(
        "execute_transaction_failure",
        "execute_transaction(signed_tx_bytes) of a failing transaction",
        client.execute_transaction(owner.sign(bad.to_bcs())),
    )
    await call("get_epoch_later", "get_epoch() after epochs ended", client.get_epoch(1))
    await commit(client, owner, await client.create_model(owner, 0, 1.0), make_weights())  # one pending
    await call(
        "system_state",
        "get_latest_system_state() with models in every state",
        client.get_latest_system_state(),
    )

    errors: dict[str, str] = {}
    for label, coro in [
        ("no_pending_update", client.reveal_model(owner, active, w.key, w.embedding)),
        ("reveal_epoch_mismatch", _commit_then_reveal(client, owner, active)),
        ("invalid_state", commit(client, owner, to_slash, make_weights())),
        ("not_owner", client.deactivate_model(backer, active)),
        ("no_gas", client.create_model(Keypair.generate(), 0)),
    ]:
        try:
            await coro
        except RuntimeError as exc:
            errors[label] = str(exc)
    out["errors"] = ("RuntimeError messages: str(exc) for failures", errors)
    return out


async def _commit_then_reveal(client: Any, kp: Keypair, model_id: str) -> Any:
    w = make_weights()
    await commit(client, kp, model_id, w)
    return await reveal(client, kp, model_id, w)


async def test_recorded_shapes_match_the_sdk(devnet):
    observed = await _scenario(devnet)
    if RECORD:
        for name, (call, value) in observed.items():
            save_shape(name, call, value)
        pytest.skip(f"recorded {len(observed)} shapes into {SHAPES_DIR}")
    recorded = {p.stem for p in SHAPES_DIR.glob("*.json")}
    assert recorded == set(observed), "re-record with SOMA_RECORD_SDK_SHAPES=1"
    for name, (_call, value) in observed.items():
        if name == "errors":
            assert set(value) == set(load_shape(name)), name
            continue
        assert shape_of(value) == shape_of(load_shape(name)), name
    # the files load back into the very objects the SDK returns
    state = load_shape("system_state")
    variants = {next(iter(vars(m.V1))) for m in vars(state.model_registry.models).values()}
    assert variants == {"Created", "Pending", "Active", "Inactive"}
