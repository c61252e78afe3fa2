"""The transaction kinds that stake on a model's pool: AddStakeToModel and WithdrawStake.

Staking mints a ``StakedSoma`` receipt for the new stake; withdrawing burns the receipt and pays
what the pool returns as a new coin.
"""

from __future__ import annotations

from soma_console.core.txkinds import AddStakeToModel, WithdrawStake
from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.objects import STAKED_SOMA, StakedSoma
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.working_set import WorkingSet, check_owner


def add_stake_to_model(
    ws: WorkingSet,
    params: ChainParams,
    kind: AddStakeToModel,
    *,
    sender: bytes,
    epoch: int,
    gas_id: bytes,
    value_fee: int,
) -> None:
    write_fee = params.write_object_fee
    coin = ws.owned_coin(kind.coin.object_id, sender)
    balance = coin.balance
    is_gas = kind.coin.object_id == gas_id
    if kind.amount is not None:
        amount = kind.amount
        need = amount + (value_fee + 2 * write_fee if is_gas else 0)
        if balance < need:
            raise ExecutionFailure("InsufficientCoinBalance")
    else:
        # staking a whole gas coin leaves exactly the fees still to pay: the gas coin,
        # the receipt and the system state are the three written objects
        reserve = value_fee + 3 * write_fee if is_gas else 0
        if is_gas and balance <= reserve:
            raise ExecutionFailure("InsufficientCoinBalance")
        amount = balance - reserve
    pool_id, _ = rules.add_stake_to_model(ws.registry(), model_id=kind.model_id, amount=amount)
    ws.new_receipt(sender, StakedSoma(pool_id, epoch + 1, amount))
    remaining = balance - amount
    if remaining == 0 and not is_gas:
        ws.delete(kind.coin.object_id)
    elif kind.amount is None:
        # the whole coin went in (less the fees still to pay when it is also the gas)
        if is_gas:
            ws.set_balance(gas_id, remaining)
        else:
            ws.delete(kind.coin.object_id)
    else:
        ws.set_balance(kind.coin.object_id, remaining)


def withdraw_stake(ws: WorkingSet, kind: WithdrawStake, *, sender: bytes, epoch: int) -> None:
    rec = ws.read(kind.staked_soma.object_id)
    if rec is None:
        raise ExecutionFailure("ObjectNotFound", object_id=kind.staked_soma.object_id)
    check_owner(rec, sender)
    if rec.object_type != STAKED_SOMA:
        raise ExecutionFailure("InvalidObjectType", object_id=rec.object_id)
    staked = rec.staked()
    amount = rules.withdraw_from_model_pool(
        ws.registry(),
        pool_id=staked.pool_id,
        principal=staked.principal,
        activation_epoch=staked.stake_activation_epoch,
        epoch=epoch,
    )
    ws.delete(rec.object_id)
    ws.new_coin(sender, amount)
