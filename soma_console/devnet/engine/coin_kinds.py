"""The coin-moving transaction kinds: TransferCoin, PayCoins and TransferObjects.

When the coin being moved is also the gas coin, what stays on it must still cover the fees the
transaction has yet to pay (the value fee and the written objects), as on the chain.
"""

from __future__ import annotations

from soma_console.core.txkinds import PayCoins, TransferCoin, TransferObjects
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.objects import coin_contents
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.working_set import WorkingSet, check_owner


def transfer_coin(
    ws: WorkingSet, params: ChainParams, kind: TransferCoin, sender: bytes, gas_id: bytes, value_fee: int
) -> None:
    coin = ws.owned_coin(kind.coin.object_id, sender)
    balance = coin.balance
    is_gas = kind.coin.object_id == gas_id
    write_fee = params.write_object_fee
    if kind.amount is not None:
        amount = kind.amount
        if is_gas:
            if balance < amount + value_fee + 2 * write_fee:
                raise ExecutionFailure("InsufficientCoinBalance")
        else:
            if balance < amount:
                raise ExecutionFailure("InsufficientCoinBalance")
            if amount == balance:
                ws.write(coin.replace(owner=kind.recipient))
                return
        ws.new_coin(kind.recipient, amount)
        ws.set_balance(coin.object_id, balance - amount)
    elif is_gas:
        reserve = value_fee + 2 * write_fee
        if balance <= reserve:
            raise ExecutionFailure("InsufficientCoinBalance")
        ws.new_coin(kind.recipient, balance - reserve)
        ws.set_balance(coin.object_id, reserve)
    else:
        ws.write(coin.replace(owner=kind.recipient))


def pay_coins(
    ws: WorkingSet, params: ChainParams, kind: PayCoins, sender: bytes, gas_id: bytes, value_fee: int
) -> None:
    if not kind.coins:
        raise ExecutionFailure("InvalidArguments", "Must provide at least one coin")
    if not kind.recipients:
        raise ExecutionFailure("InvalidArguments", "Must provide at least one recipient")
    write_fee = params.write_object_fee
    coins = [ws.owned_coin(ref.object_id, sender) for ref in kind.coins]
    available = sum(c.balance for c in coins)
    keep = next((c for c in coins if c.object_id == gas_id), coins[0])
    if kind.amounts is not None:
        if len(kind.amounts) != len(kind.recipients):
            raise ExecutionFailure(
                "InvalidArguments",
                f"Amounts and recipients must match. Got {len(kind.amounts)} amounts and "
                f"{len(kind.recipients)} recipients",
            )
        total = sum(kind.amounts)
        if available < total + value_fee + (1 + len(kind.recipients)) * write_fee:
            raise ExecutionFailure("InsufficientCoinBalance")
        for amount, recipient in zip(kind.amounts, kind.recipients, strict=True):
            ws.new_coin(recipient, amount)
        for c in coins:
            if c.object_id != keep.object_id:
                ws.delete(c.object_id)
        ws.set_balance(keep.object_id, available - total)
        return
    if len(kind.recipients) != 1:
        raise ExecutionFailure("InvalidArguments", "Pay-all operation only supports a single recipient")
    recipient = kind.recipients[0]
    if any(c.object_id == gas_id for c in coins):
        reserve = value_fee + 2 * write_fee
        if available <= reserve:
            raise ExecutionFailure("InsufficientCoinBalance")
        ws.new_coin(recipient, available - reserve)
        for c in coins:
            if c.object_id != gas_id:
                ws.delete(c.object_id)
        ws.set_balance(gas_id, reserve)
    else:
        for c in coins[1:]:
            ws.delete(c.object_id)
        ws.write(keep.replace(owner=recipient, contents=coin_contents(available)))


def transfer_objects(ws: WorkingSet, kind: TransferObjects, sender: bytes) -> None:
    if not kind.objects:
        raise ExecutionFailure("InvalidArguments", "Must provide at least one object to transfer")
    for ref in kind.objects:
        obj = ws.read(ref.object_id)
        if obj is None:
            raise ExecutionFailure("ObjectNotFound", object_id=ref.object_id)
        check_owner(obj, sender)
        ws.write(obj.replace(owner=kind.recipient))
