"""One transaction, start to finish, on a private working set.

Gas follows the chain: the base fee is charged first (and kept even if the transaction then
fails), then each written object costs ``write_object_fee`` and value-moving transactions pay
``value_fee_bps`` of the amount (half that for staking).

Input checks (rejections cost nothing), gas smashing and the base fee, the transaction kind
itself, the operation and value fees, and the effects. Nothing here touches storage: the
engine writes the working set only if it decides to keep the result. The kinds themselves are
in ``coin_kinds``, ``model_kinds``, ``stake_kinds`` and ``rewards``; the effects in ``tx_effects``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from soma_console.core.txdata import TransactionData
from soma_console.core.txkinds import (
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
    TransferCoin,
    TransferObjects,
    UndoReportModel,
    WithdrawStake,
)
from soma_console.devnet.engine import coin_kinds, model_kinds, rewards, stake_kinds
from soma_console.devnet.engine.errors import ExecutionFailure, TxRejected
from soma_console.devnet.engine.models import Model, RegistryTotals
from soma_console.devnet.engine.objects import COIN, STAKED_SOMA, ObjectRecord, hex_id
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.targets import ActiveModels, Economy, Target
from soma_console.devnet.engine.tx_effects import Charged, build_effects
from soma_console.devnet.engine.values import ChainMeta, Effects
from soma_console.devnet.engine.working_set import WorkingSet
from soma_console.encoding import b58encode


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

    def run(self, tx: TransactionData, digest: bytes, meta: ChainMeta, ts: int) -> tuple[WorkingSet, Effects]:
        inputs = self._check_inputs(tx)
        ws = WorkingSet(
            committed_objects=self._objects,
            committed_models=self._models,
            digest=digest,
            totals=RegistryTotals(self._totals.total_model_stake, dict(self._totals.staking_pool_mappings)),
            committed_targets=self._targets,
            economy=self._economy.copy(),
        )
        gas_id = tx.gas_payment[0].object_id
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
            ws.set_balance(gas_id, 0)
        else:
            # Like the chain, the value fee is computed on the inputs as they were, before the
            # base fee leaves the gas coin.
            ws.set_balance(gas_id, total)
            value_fee = self._value_fee(tx, ws)
            base_fee = self.params.base_fee
            ws.set_balance(gas_id, total - base_fee)
            saved = ws.checkpoint_state()
            try:
                self._execute_kind(tx, ws, meta, gas_id, value_fee)
                op_fee = self._operation_fee(ws)
                remaining = op_fee + value_fee
                balance = ws.balance(gas_id)
                if balance < remaining:
                    raise ExecutionFailure("InsufficientGas")
                ws.set_balance(gas_id, balance - remaining)
            except ExecutionFailure as exc:
                ws.restore(saved)
                failure = exc
                op_fee = value_fee = 0
        if ws.balance(gas_id) == 0 and ws.read(gas_id) is not None:
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

        effects = build_effects(
            tx,
            digest,
            ws,
            inputs,
            meta,
            ts,
            Charged(failure, base_fee, op_fee, value_fee),
            gas_id,
            committed_objects=self._objects,
            committed_targets=self._targets,
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

    def _value_fee(self, tx: TransactionData, ws: WorkingSet) -> int:
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

    def _operation_fee(self, ws: WorkingSet) -> int:
        written = sum(1 for o in ws.objects.values() if o is not None)
        written += sum(1 for t in ws.targets.values() if t is not None)
        if ws.touched_system_state:
            written += 1
        return written * self.params.write_object_fee

    def _execute_kind(
        self, tx: TransactionData, ws: WorkingSet, meta: ChainMeta, gas_id: bytes, value_fee: int
    ) -> None:
        kind = tx.kind
        sender = tx.sender
        epoch = meta.epoch
        params = self.params
        if isinstance(kind, CreateModel):
            model_kinds.create_model(
                ws, params, kind, sender=sender, epoch=epoch, gas_id=gas_id, value_fee=value_fee
            )
        elif isinstance(kind, CommitModel):
            model_kinds.commit_model(ws, kind, sender=sender, epoch=epoch)
        elif isinstance(kind, RevealModel):
            model_kinds.reveal_model(ws, kind, sender=sender, epoch=epoch)
        elif isinstance(kind, AddStakeToModel):
            stake_kinds.add_stake_to_model(
                ws, params, kind, sender=sender, epoch=epoch, gas_id=gas_id, value_fee=value_fee
            )
        elif isinstance(kind, SetModelCommissionRate):
            model_kinds.set_commission_rate(ws, kind, sender=sender)
        elif isinstance(kind, DeactivateModel):
            model_kinds.deactivate_model(ws, kind, sender=sender, epoch=epoch)
        elif isinstance(kind, (ReportModel, UndoReportModel, *VALIDATOR_ONLY_KINDS)):
            raise ExecutionFailure("NotAValidator")  # the devnet has no validators
        elif isinstance(kind, SubmitData):
            rewards.submit_data(
                ws,
                params,
                kind,
                signer=sender,
                epoch=epoch,
                gas_id=gas_id,
                active_models=self._active_models,
            )
        elif isinstance(kind, ClaimRewards):
            rewards.claim_rewards(ws, params, kind, signer=sender, epoch=epoch)
        elif isinstance(kind, AddStake):
            raise ExecutionFailure("ValidatorNotFound")
        elif isinstance(kind, WithdrawStake):
            stake_kinds.withdraw_stake(ws, kind, sender=sender, epoch=epoch)
        elif isinstance(kind, TransferCoin):
            coin_kinds.transfer_coin(ws, params, kind, sender, gas_id, value_fee)
        elif isinstance(kind, PayCoins):
            coin_kinds.pay_coins(ws, params, kind, sender, gas_id, value_fee)
        elif isinstance(kind, TransferObjects):
            coin_kinds.transfer_objects(ws, kind, sender)
        else:  # pragma: no cover - decode refuses other kinds
            raise ExecutionFailure("InvalidTransactionType")


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
