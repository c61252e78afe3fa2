"""One transaction, start to finish, on a private working set.

Gas follows the chain: the base fee is charged first (and kept even if the transaction then
fails), then each written object costs ``write_object_fee`` and value-moving transactions pay
``value_fee_bps`` of the amount (half that for staking).

Input checks (rejections cost nothing), gas smashing and the base fee, the transaction kind
itself, the operation and value fees, and the effects. Nothing here touches storage: the
engine writes the working set only if it decides to keep the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from soma_console.core.txdata import (
    VALIDATOR_ONLY_KINDS,
    AddStake,
    AddStakeToModel,
    ClaimRewards,
    CommitModel,
    CreateModel,
    DeactivateModel,
    ObjectRef,
    PayCoins,
    ReportModel,
    RevealModel,
    SetModelCommissionRate,
    SubmitData,
    TransactionData,
    TransferCoin,
    TransferObjects,
    UndoReportModel,
    WithdrawStake,
    blake2b256,
    derive_object_id,
)
from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine import rewards
from soma_console.devnet.engine.errors import ExecutionFailure, TxRejected
from soma_console.devnet.engine.models import Model, Registry, RegistryTotals
from soma_console.devnet.engine.objects import (
    COIN,
    STAKED_SOMA,
    SYSTEM_STATE,
    SYSTEM_STATE_ID,
    ObjectRecord,
    StakedSoma,
    coin_contents,
    hex_id,
)
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.targets import ActiveModels, Economy, Target
from soma_console.devnet.engine.values import ChainMeta, Effects, ObjectChange
from soma_console.encoding import b58encode

GENESIS_DIGEST = bytes(32)


@dataclass
class _WorkingSet:
    committed_objects: Mapping[bytes, ObjectRecord]
    committed_models: Mapping[bytes, Model]
    digest: bytes
    objects: dict[bytes, ObjectRecord | None] = field(default_factory=dict)
    models: dict[bytes, Model] = field(default_factory=dict)
    created_ids: list[bytes] = field(default_factory=list)
    creation_count: int = 0
    totals: RegistryTotals = field(default_factory=RegistryTotals)
    touched_system_state: bool = False
    committed_targets: Mapping[bytes, Target] = field(default_factory=dict)
    targets: dict[bytes, Target | None] = field(default_factory=dict)
    economy: Economy = field(default_factory=Economy)

    def read(self, object_id: bytes) -> ObjectRecord | None:
        if object_id in self.objects:
            return self.objects[object_id]
        return self.committed_objects.get(object_id)

    def write(self, rec: ObjectRecord) -> None:
        self.objects[rec.object_id] = rec

    def delete(self, object_id: bytes) -> None:
        self.objects[object_id] = None

    def new_id(self) -> bytes:
        oid = derive_object_id(self.digest, self.creation_count)
        self.creation_count += 1
        self.created_ids.append(oid)
        return oid

    def get_model(self, model_id: bytes) -> Model | None:
        if model_id in self.models:
            return self.models[model_id]
        return self.committed_models.get(model_id)

    def put_model(self, model_id: bytes, model: Model) -> None:
        self.touched_system_state = True
        self.models[model_id] = model

    def registry(self) -> Registry:
        return Registry(self.get_model, self.put_model, self.totals)

    def get_target(self, target_id: bytes) -> Target | None:
        if target_id in self.targets:
            return self.targets[target_id]
        return self.committed_targets.get(target_id)

    def put_target(self, target: Target) -> None:
        self.targets[target.target_id] = target

    def delete_target(self, target_id: bytes) -> None:
        self.targets[target_id] = None

    def new_coin(self, owner: bytes, amount: int) -> None:
        oid = self.new_id()
        self.write(ObjectRecord(oid, COIN, owner, 0, coin_contents(amount), self.digest))

    def checkpoint_state(self) -> tuple[Any, ...]:
        return (
            dict(self.objects),
            dict(self.models),
            list(self.created_ids),
            self.creation_count,
            self.totals.total_model_stake,
            dict(self.totals.staking_pool_mappings),
            self.touched_system_state,
            dict(self.targets),
            self.economy.copy(),
        )

    def restore(self, saved: tuple[Any, ...]) -> None:
        (
            self.objects,
            self.models,
            self.created_ids,
            self.creation_count,
            self.totals.total_model_stake,
            self.totals.staking_pool_mappings,
            self.touched_system_state,
            self.targets,
            self.economy,
        ) = saved


class Executor:
    """Runs transactions against a read-only view of the committed state."""

    def __init__(
        self,
        params: ChainParams,
        objects: Mapping[bytes, ObjectRecord],
        models: Mapping[bytes, Model],
        totals: RegistryTotals,
        targets: Mapping[bytes, Target] | None = None,
        economy: Economy | None = None,
        active_models: Callable[[], ActiveModels] | None = None,
    ) -> None:
        self.params = params
        self._objects = objects
        self._models = models
        self._totals = totals
        self._targets: Mapping[bytes, Target] = targets if targets is not None else {}
        self._economy = economy or Economy()
        self._active_models = active_models or (lambda: ActiveModels([]))

    def run(
        self, tx: TransactionData, digest: bytes, meta: ChainMeta, ts: int
    ) -> tuple[_WorkingSet, Effects]:
        inputs = self._check_inputs(tx)
        ws = _WorkingSet(
            committed_objects=self._objects,
            committed_models=self._models,
            digest=digest,
            totals=RegistryTotals(self._totals.total_model_stake, dict(self._totals.staking_pool_mappings)),
            committed_targets=self._targets,
            economy=self._economy.copy(),
        )
        gas_id = tx.gas_payment[0].object_id
        kind_name = type(tx.kind).__name__
        base_fee = op_fee = value_fee = 0
        failure: ExecutionFailure | None = None

        # Phase 1: smash the gas coins into the first and take the base fee.
        gas = ws.read(gas_id)
        assert gas is not None
        total = gas.balance
        for ref in tx.gas_payment[1:]:
            extra = ws.read(ref.object_id)
            assert extra is not None
            total += extra.balance
            ws.delete(ref.object_id)
        if total < self.params.base_fee:
            base_fee = total
            failure = ExecutionFailure("InsufficientGas")
            _set_balance(ws, gas_id, 0)
        else:
            # Like the chain, the value fee is computed on the inputs as they were, before the
            # base fee leaves the gas coin.
            _set_balance(ws, gas_id, total)
            value_fee = self._value_fee(tx, ws)
            base_fee = self.params.base_fee
            _set_balance(ws, gas_id, total - base_fee)
            saved = ws.checkpoint_state()
            try:
                self._execute_kind(tx, ws, meta, gas_id, value_fee)
                op_fee = self._operation_fee(ws)
                remaining = op_fee + value_fee
                balance = _balance(ws, gas_id)
                if balance < remaining:
                    raise ExecutionFailure("InsufficientGas")
                _set_balance(ws, gas_id, balance - remaining)
            except ExecutionFailure as exc:
                ws.restore(saved)
                failure = exc
                op_fee = value_fee = 0
        if _balance(ws, gas_id) == 0 and ws.read(gas_id) is not None:
            ws.delete(gas_id)

        # Like the chain, every owned input advances its version, even when unchanged.
        for oid, rec in inputs.items():
            if oid not in ws.objects:
                ws.write(rec)
        if isinstance(
            tx.kind,
            (
                CreateModel,
                CommitModel,
                RevealModel,
                AddStakeToModel,
                SetModelCommissionRate,
                DeactivateModel,
                ReportModel,
                UndoReportModel,
                WithdrawStake,
                AddStake,
                SubmitData,
                ClaimRewards,
                *VALIDATOR_ONLY_KINDS,
            ),
        ):
            ws.touched_system_state = True

        effects = self._effects(
            tx, digest, kind_name, ws, inputs, meta, ts, failure, base_fee, op_fee, value_fee, gas_id
        )
        return ws, effects

    def _check_inputs(self, tx: TransactionData) -> dict[bytes, ObjectRecord]:
        """Pre-execution checks; a failure rejects the transaction before any fee is charged."""
        if not tx.gas_payment:
            raise TxRejected("the transaction has no gas payment")
        kind_refs = _kind_object_refs(tx)
        seen: set[bytes] = set()
        for ref in kind_refs:
            if ref.object_id in seen:
                raise TxRejected(f"object {hex_id(ref.object_id)} is used twice in one transaction")
            seen.add(ref.object_id)
        refs = list(kind_refs)
        gas_ids: set[bytes] = set()
        for ref in tx.gas_payment:
            if ref.object_id in gas_ids:
                raise TxRejected(f"gas coin {hex_id(ref.object_id)} is listed twice")
            gas_ids.add(ref.object_id)
            if ref.object_id not in seen:
                refs.append(ref)
        inputs: dict[bytes, ObjectRecord] = {}
        for ref in refs:
            current = self._objects.get(ref.object_id)
            if current is None:
                raise TxRejected(
                    f"Could not find the referenced object {hex_id(ref.object_id)} at version "
                    f"{ref.version}; it does not exist or was deleted.",
                    code="NOT_FOUND",
                )
            if current.version != ref.version or current.digest() != ref.digest:
                raise TxRejected(
                    f"Object ({hex_id(ref.object_id)}, SequenceNumber({ref.version}), "
                    f"o#{b58encode(ref.digest)}) is not available for consumption, its current version: "
                    f"SequenceNumber({current.version})",
                    code="FAILED_PRECONDITION",
                )
            inputs[ref.object_id] = current
        for ref in tx.gas_payment:
            gas = inputs[ref.object_id]
            if gas.object_type != COIN:
                raise TxRejected(f"gas object {hex_id(ref.object_id)} is not a coin")
            if gas.owner != tx.sender:
                raise TxRejected(
                    f"gas coin {hex_id(ref.object_id)} is owned by 0x{gas.owner.hex()}, not by the sender"
                )
        return inputs

    def _value_fee(self, tx: TransactionData, ws: _WorkingSet) -> int:
        kind = tx.kind
        bps = self.params.value_fee_bps

        def coin_value(ref: ObjectRef) -> int:
            rec = ws.read(ref.object_id)
            return rec.balance if rec is not None and rec.object_type == COIN else 0

        if isinstance(kind, CreateModel):
            return kind.stake_amount * (bps // 2) // BPS
        if isinstance(kind, (AddStakeToModel, AddStake)):
            amount = kind.amount if kind.amount is not None else coin_value(kind.coin)
            return amount * (bps // 2) // BPS
        if isinstance(kind, TransferCoin):
            amount = kind.amount if kind.amount is not None else coin_value(kind.coin)
            return amount * bps // BPS
        if isinstance(kind, PayCoins):
            amount = sum(kind.amounts) if kind.amounts is not None else sum(coin_value(c) for c in kind.coins)
            return amount * bps // BPS
        if isinstance(kind, WithdrawStake):
            rec = ws.read(kind.staked_soma.object_id)
            if rec is not None and rec.object_type == STAKED_SOMA:
                return rec.staked().principal * (bps // 2) // BPS
            return self.params.base_fee
        if isinstance(kind, ClaimRewards):
            return rewards.claim_value_fee(self.params, ws.get_target(kind.target_id))
        return 0

    def _operation_fee(self, ws: _WorkingSet) -> int:
        written = sum(1 for o in ws.objects.values() if o is not None)
        written += sum(1 for t in ws.targets.values() if t is not None)
        if ws.touched_system_state:
            written += 1
        return written * self.params.write_object_fee

    # -- the transaction kinds -------------------------------------------------------------

    def _execute_kind(
        self, tx: TransactionData, ws: _WorkingSet, meta: ChainMeta, gas_id: bytes, value_fee: int
    ) -> None:
        kind = tx.kind
        sender = tx.sender
        epoch = meta.epoch
        reg = ws.registry()
        write_fee = self.params.write_object_fee
        if isinstance(kind, CreateModel):
            rules.check_create(
                self.params,
                architecture_version=kind.architecture_version,
                stake=kind.stake_amount,
                commission_rate=kind.commission_rate,
            )
            ws.touched_system_state = True
            if _balance(ws, gas_id) < kind.stake_amount + value_fee + 3 * write_fee:
                raise ExecutionFailure("InsufficientCoinBalance")
            model_id, pool_id = ws.new_id(), ws.new_id()
            rules.create_model(
                reg,
                owner=sender,
                model_id=model_id,
                pool_id=pool_id,
                architecture_version=kind.architecture_version,
                stake=kind.stake_amount,
                commission_rate=kind.commission_rate,
                epoch=epoch,
            )
            self._new_receipt(ws, sender, StakedSoma(pool_id, epoch + 1, kind.stake_amount))
            _set_balance(ws, gas_id, _balance(ws, gas_id) - kind.stake_amount)
        elif isinstance(kind, CommitModel):
            rules.commit_model(
                reg,
                signer=sender,
                model_id=kind.model_id,
                manifest=kind.manifest,
                weights_commitment=kind.weights_commitment,
                embedding_commitment=kind.embedding_commitment,
                decryption_key_commitment=kind.decryption_key_commitment,
                epoch=epoch,
            )
        elif isinstance(kind, RevealModel):
            _check_embedding_dim(kind.model_id, kind.embedding, ws)
            rules.reveal_model(
                reg,
                signer=sender,
                model_id=kind.model_id,
                decryption_key=kind.decryption_key,
                embedding=kind.embedding,
                epoch=epoch,
            )
        elif isinstance(kind, AddStakeToModel):
            coin = self._owned_coin(ws, kind.coin.object_id, sender)
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
            pool_id, _ = rules.add_stake_to_model(reg, model_id=kind.model_id, amount=amount)
            self._new_receipt(ws, sender, StakedSoma(pool_id, epoch + 1, amount))
            remaining = balance - amount
            if remaining == 0 and not is_gas:
                ws.delete(kind.coin.object_id)
            elif kind.amount is None:
                # the whole coin went in (less the fees still to pay when it is also the gas)
                if is_gas:
                    _set_balance(ws, gas_id, remaining)
                else:
                    ws.delete(kind.coin.object_id)
            else:
                _set_balance(ws, kind.coin.object_id, remaining)
        elif isinstance(kind, SetModelCommissionRate):
            rules.set_commission_rate(reg, signer=sender, model_id=kind.model_id, new_rate=kind.new_rate)
        elif isinstance(kind, DeactivateModel):
            rules.deactivate_model(reg, signer=sender, model_id=kind.model_id, epoch=epoch)
        elif isinstance(kind, (ReportModel, UndoReportModel, *VALIDATOR_ONLY_KINDS)):
            raise ExecutionFailure("NotAValidator")  # the devnet has no validators
        elif isinstance(kind, SubmitData):
            rewards.submit_data(
                ws,
                self.params,
                kind,
                signer=sender,
                epoch=epoch,
                gas_id=gas_id,
                active_models=self._active_models,
            )
        elif isinstance(kind, ClaimRewards):
            rewards.claim_rewards(ws, self.params, kind, signer=sender, epoch=epoch)
        elif isinstance(kind, AddStake):
            raise ExecutionFailure("ValidatorNotFound")
        elif isinstance(kind, WithdrawStake):
            rec = ws.read(kind.staked_soma.object_id)
            if rec is None:
                raise ExecutionFailure("ObjectNotFound", object_id=kind.staked_soma.object_id)
            _check_owner(rec, sender)
            if rec.object_type != STAKED_SOMA:
                raise ExecutionFailure("InvalidObjectType", object_id=rec.object_id)
            staked = rec.staked()
            amount = rules.withdraw_from_model_pool(
                reg,
                pool_id=staked.pool_id,
                principal=staked.principal,
                activation_epoch=staked.stake_activation_epoch,
                epoch=epoch,
            )
            ws.delete(rec.object_id)
            self._new_coin(ws, sender, amount)
        elif isinstance(kind, TransferCoin):
            self._transfer_coin(ws, kind, sender, gas_id, value_fee)
        elif isinstance(kind, PayCoins):
            self._pay_coins(ws, kind, sender, gas_id, value_fee)
        elif isinstance(kind, TransferObjects):
            if not kind.objects:
                raise ExecutionFailure("InvalidArguments", "Must provide at least one object to transfer")
            for ref in kind.objects:
                obj = ws.read(ref.object_id)
                if obj is None:
                    raise ExecutionFailure("ObjectNotFound", object_id=ref.object_id)
                _check_owner(obj, sender)
                ws.write(obj.replace(owner=kind.recipient))
        else:  # pragma: no cover - decode refuses other kinds
            raise ExecutionFailure("InvalidTransactionType")

    def _owned_coin(self, ws: _WorkingSet, coin_id: bytes, sender: bytes) -> ObjectRecord:
        coin = ws.read(coin_id)
        if coin is None:
            raise ExecutionFailure("ObjectNotFound", object_id=coin_id)
        _check_owner(coin, sender)
        if coin.object_type != COIN:
            raise ExecutionFailure("InvalidObjectType", object_id=coin_id)
        return coin

    def _new_coin(self, ws: _WorkingSet, owner: bytes, amount: int) -> None:
        oid = ws.new_id()
        ws.write(ObjectRecord(oid, COIN, owner, 0, coin_contents(amount), ws.digest))

    def _new_receipt(self, ws: _WorkingSet, owner: bytes, staked: StakedSoma) -> None:
        oid = ws.new_id()
        ws.write(ObjectRecord(oid, STAKED_SOMA, owner, 0, staked.to_bcs(), ws.digest))

    def _transfer_coin(
        self, ws: _WorkingSet, kind: TransferCoin, sender: bytes, gas_id: bytes, value_fee: int
    ) -> None:
        coin = self._owned_coin(ws, kind.coin.object_id, sender)
        balance = coin.balance
        is_gas = kind.coin.object_id == gas_id
        write_fee = self.params.write_object_fee
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
            self._new_coin(ws, kind.recipient, amount)
            _set_balance(ws, coin.object_id, balance - amount)
        elif is_gas:
            reserve = value_fee + 2 * write_fee
            if balance <= reserve:
                raise ExecutionFailure("InsufficientCoinBalance")
            self._new_coin(ws, kind.recipient, balance - reserve)
            _set_balance(ws, coin.object_id, reserve)
        else:
            ws.write(coin.replace(owner=kind.recipient))

    def _pay_coins(
        self, ws: _WorkingSet, kind: PayCoins, sender: bytes, gas_id: bytes, value_fee: int
    ) -> None:
        if not kind.coins:
            raise ExecutionFailure("InvalidArguments", "Must provide at least one coin")
        if not kind.recipients:
            raise ExecutionFailure("InvalidArguments", "Must provide at least one recipient")
        write_fee = self.params.write_object_fee
        coins = [self._owned_coin(ws, ref.object_id, sender) for ref in kind.coins]
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
                self._new_coin(ws, recipient, amount)
            for c in coins:
                if c.object_id != keep.object_id:
                    ws.delete(c.object_id)
            _set_balance(ws, keep.object_id, available - total)
            return
        if len(kind.recipients) != 1:
            raise ExecutionFailure("InvalidArguments", "Pay-all operation only supports a single recipient")
        recipient = kind.recipients[0]
        if any(c.object_id == gas_id for c in coins):
            reserve = value_fee + 2 * write_fee
            if available <= reserve:
                raise ExecutionFailure("InsufficientCoinBalance")
            self._new_coin(ws, recipient, available - reserve)
            for c in coins:
                if c.object_id != gas_id:
                    ws.delete(c.object_id)
            _set_balance(ws, gas_id, reserve)
        else:
            for c in coins[1:]:
                ws.delete(c.object_id)
            ws.write(keep.replace(owner=recipient, contents=coin_contents(available)))

    # -- effects ---------------------------------------------------------------------------

    def _effects(
        self,
        tx: TransactionData,
        digest: bytes,
        kind_name: str,
        ws: _WorkingSet,
        inputs: dict[bytes, ObjectRecord],
        meta: ChainMeta,
        ts: int,
        failure: ExecutionFailure | None,
        base_fee: int,
        op_fee: int,
        value_fee: int,
        gas_id: bytes,
    ) -> Effects:
        in_versions = [r.version for r in inputs.values()]
        if ws.touched_system_state:
            in_versions.append(meta.system_state_version)
        for tid in ws.targets:
            old = self._targets.get(tid)
            if old is not None:
                in_versions.append(old.version)
        lamport = max(in_versions, default=0) + 1
        changes: list[ObjectChange] = []
        created: list[ObjectRecord] = []
        for oid in sorted(ws.objects):
            rec = ws.objects[oid]
            before = inputs.get(oid) or self._objects.get(oid)
            if rec is not None:
                rec = rec.replace(version=lamport, previous_transaction=digest)
                ws.objects[oid] = rec
            in_side = None if before is None else (before.version, before.digest(), before.owner)
            out_side = None if rec is None else (lamport, rec.digest(), rec.owner)
            if before is None and rec is None:
                continue  # created and deleted within the transaction
            op = "created" if before is None else ("deleted" if rec is None else "none")
            obj_type = (rec or before).object_type  # type: ignore[union-attr]
            changes.append(ObjectChange(oid, obj_type, in_side, out_side, op))
            if op == "created" and rec is not None:
                created.append(rec)
        for tid in sorted(ws.targets):
            new = ws.targets[tid]
            old = self._targets.get(tid)
            if new is not None:
                new = replace(new, version=lamport, previous_transaction=digest)
                ws.targets[tid] = new
            if old is None and new is None:
                continue
            changes.append(
                ObjectChange(
                    tid,
                    "Target",
                    None if old is None else (old.version, old.digest(), None),
                    None if new is None else (new.version, new.digest(), None),
                    "created" if old is None else ("deleted" if new is None else "none"),
                )
            )
        if ws.touched_system_state:
            changes.append(_system_state_change(meta.system_state_version, lamport))
        changes.sort(key=lambda c: c.object_id)
        gas_index = next(
            (i for i, c in enumerate(changes) if c.object_id == gas_id and c.output is not None), None
        )
        deps = sorted({r.previous_transaction for r in inputs.values()} - {GENESIS_DIGEST})
        return Effects(
            digest=digest,
            sender=tx.sender,
            kind=kind_name,
            success=failure is None,
            error_kind=None if failure is None else failure.kind,
            error_detail=None if failure is None else failure.detail,
            error_object=None if failure is None else failure.object_id,
            epoch=meta.epoch,
            base_fee=base_fee,
            operation_fee=op_fee,
            value_fee=value_fee,
            lamport_version=lamport,
            changes=tuple(changes),
            gas_index=gas_index,
            dependencies=tuple(deps),
            balance_changes=_balance_changes(inputs, ws),
            timestamp_ms=ts,
            checkpoint=None,
            created_objects=tuple(created),
        )


def _check_embedding_dim(model_id: bytes, embedding: tuple[float, ...], ws: _WorkingSet) -> None:
    """Refuse a reveal that would mix embedding sizes in the registry.

    The chain accepts it, and then its target generation fails for good on the mixed registry;
    the devnet refuses the reveal instead (nothing is charged) and says why.
    """
    for mid, model in ws.committed_models.items():
        if mid == model_id or model.state != rules.ACTIVE or not model.embedding:
            continue
        if len(model.embedding) != len(embedding):
            raise TxRejected(
                f"the embedding has {len(embedding)} values but the active models' have "
                f"{len(model.embedding)}; a registry of mixed sizes breaks target generation, "
                "so the devnet refuses it. Reveal an embedding of the chain's size."
            )


def _balance(ws: _WorkingSet, coin_id: bytes) -> int:
    rec = ws.read(coin_id)
    return 0 if rec is None else rec.balance


def _set_balance(ws: _WorkingSet, coin_id: bytes, amount: int) -> None:
    rec = ws.read(coin_id)
    assert rec is not None
    ws.write(rec.replace(contents=coin_contents(amount)))


def _check_owner(obj: ObjectRecord, sender: bytes) -> None:
    if obj.owner != sender:
        raise ExecutionFailure("InvalidOwnership", object_id=obj.object_id)


def _kind_object_refs(tx: TransactionData) -> list[ObjectRef]:
    kind = tx.kind
    if isinstance(kind, (TransferCoin, AddStakeToModel, AddStake)):
        return [kind.coin]
    if isinstance(kind, PayCoins):
        return list(kind.coins)
    if isinstance(kind, TransferObjects):
        return list(kind.objects)
    if isinstance(kind, WithdrawStake):
        return [kind.staked_soma]
    if isinstance(kind, SubmitData):
        return [kind.bond_coin]
    return []


def _balance_changes(inputs: dict[bytes, ObjectRecord], ws: _WorkingSet) -> tuple[tuple[bytes, int], ...]:
    delta: dict[bytes, int] = {}
    for rec in inputs.values():
        if rec.object_type == COIN:
            delta[rec.owner] = delta.get(rec.owner, 0) - rec.balance
    for out in ws.objects.values():
        if out is not None and out.object_type == COIN:
            delta[out.owner] = delta.get(out.owner, 0) + out.balance
    return tuple(sorted((a, n) for a, n in delta.items() if n != 0))


def _system_state_change(version: int, lamport: int) -> ObjectChange:
    def digest(v: int) -> bytes:
        return blake2b256(b"soma-console-devnet system state" + v.to_bytes(8, "little"))

    return ObjectChange(
        SYSTEM_STATE_ID,
        SYSTEM_STATE,
        (version, digest(version), None),
        (lamport, digest(lamport), None),
        "none",
    )
