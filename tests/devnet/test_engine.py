"""Engine-level checks that need to reach inside: atomic writes and the txdata encoding."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from soma_sdk import Keypair

from soma_console.core import txdata, txkinds
from soma_console.devnet.engine import store as store_mod
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.errors import StateError


def _coin_ref(engine: Engine, owner: bytes) -> txkinds.ObjectRef:
    coin = engine.owned_objects(owner, "Coin")[0]
    return txkinds.ObjectRef(coin.object_id, coin.version, coin.digest())


def test_a_write_that_fails_halfway_changes_nothing(tmp_path, monkeypatch):
    engine = Engine(tmp_path)
    owner = os.urandom(32)
    engine.faucet(owner, 5 * 10**9)
    tx = txdata.TransactionData(txkinds.CreateModel(10**9, 0, 1), owner, (_coin_ref(engine, owner),))
    before = (engine.balance(owner), engine.owned_objects(owner), engine.checkpoint(), engine.supply())

    def broken(_model: object) -> str:  # the models are written after the objects
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "model_to_json", broken)
    with pytest.raises(OSError):
        engine.execute(tx, tx.digest())
    monkeypatch.undo()
    assert (
        engine.balance(owner),
        engine.owned_objects(owner),
        engine.checkpoint(),
        engine.supply(),
    ) == before
    assert engine.snapshot().models == {}
    engine.close()
    reopened = Engine(tmp_path)
    assert (reopened.balance(owner), reopened.owned_objects(owner), reopened.checkpoint()) == before[:3]
    # and the same transaction then goes through
    effects = reopened.execute(tx, tx.digest())
    assert effects.success
    assert reopened.supply()["consistent"]
    reopened.close()


def test_one_node_per_state_dir(tmp_path):
    first = Engine(tmp_path)
    with pytest.raises(StateError, match="another devnet"):
        Engine(tmp_path)
    first.close()
    Engine(tmp_path).close()


refs = st.builds(
    txkinds.ObjectRef,
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
ids = st.binary(min_size=32, max_size=32)
u64 = st.integers(0, 2**64 - 1)
floats = st.floats(width=32, allow_nan=False, allow_infinity=False)
kinds = st.one_of(
    st.builds(txkinds.CreateModel, u64, u64, u64),
    st.builds(
        txkinds.CommitModel,
        ids,
        st.builds(
            txkinds.Manifest,
            st.text(min_size=1, max_size=40).map(lambda s: "https://x.test/" + s.encode().hex()),
            st.binary(min_size=32, max_size=32),
            u64,
        ),
        ids,
        ids,
        ids,
    ),
    st.builds(txkinds.RevealModel, ids, ids, st.lists(floats, min_size=1, max_size=16).map(tuple)),
    st.builds(txkinds.AddStakeToModel, ids, refs, st.none() | u64),
    st.builds(txkinds.SetModelCommissionRate, ids, u64),
    st.builds(txkinds.DeactivateModel, ids),
    st.builds(txkinds.TransferCoin, refs, st.none() | u64, ids),
    st.builds(
        txkinds.PayCoins,
        st.lists(refs, max_size=3).map(tuple),
        st.none() | st.lists(u64, max_size=3).map(tuple),
        st.lists(ids, max_size=3).map(tuple),
    ),
    st.builds(txkinds.WithdrawStake, refs),
)
KEY = Keypair.generate()


@settings(max_examples=150, deadline=None)
@given(kind=kinds, gas=st.lists(refs, min_size=1, max_size=3))
def test_txdata_matches_the_sdk_encoding(kind, gas):
    tx = txdata.TransactionData(kind=kind, sender=bytes.fromhex(KEY.address()), gas_payment=tuple(gas))
    raw = tx.to_bcs()
    assert txdata.decode_transaction_data(raw) == tx
    # the SDK decodes our bytes into its own TransactionData and re-encodes it inside the
    # signed transaction: finding them unchanged proves the layouts agree
    signed = KEY.sign(raw)
    assert signed[4 : 4 + len(raw)] == raw


def test_withdrawing_a_receipt_before_it_activates_keeps_the_books(tmp_path):
    engine = Engine(tmp_path)
    owner = os.urandom(32)
    engine.faucet(owner, 5 * 10**9)
    create = txdata.TransactionData(txkinds.CreateModel(2 * 10**9, 0, 1), owner, (_coin_ref(engine, owner),))
    assert engine.execute(create, create.digest()).success
    receipt = engine.owned_objects(owner, "StakedSoma")[0]
    withdraw = txdata.TransactionData(
        txkinds.WithdrawStake(txkinds.ObjectRef(receipt.object_id, receipt.version, receipt.digest())),
        owner,
        (_coin_ref(engine, owner),),
    )
    assert engine.execute(withdraw, withdraw.digest()).success
    (model,) = engine.snapshot().models.values()
    assert model.staking_pool.soma_balance == 0
    assert model.staking_pool.pending_stake == 0
    assert engine.supply()["consistent"]
    engine.close()
