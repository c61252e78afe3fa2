"""Actions on an existing model: add stake, set the commission, deactivate.

Each is one transaction with no journal intent (nothing to reveal or recover later); what was
sent, or failed, is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from soma_console.core import txkinds
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import SHANNONS_PER_SOMA, ChainError, soma
from soma_console.core.onchain.base import MAX_COMMISSION_BPS, OnChain, Progress, short_id, when_text
from soma_console.core.onchain.payloads import (
    CommissionPayload,
    DeactivatePayload,
    ModelPayload,
    StakePayload,
    payload_of,
)
from soma_console.core.txsend import (
    Coin,
    model_id_bytes,
)
from soma_console.errors import UsageError, UserError

_PAYLOADS: dict[str, type[ModelPayload]] = {
    "stake": StakePayload,
    "commission": CommissionPayload,
    "deactivate": DeactivatePayload,
}


class ModelActions(OnChain):
    """``plan_stake``, ``plan_commission``, ``plan_deactivate`` and their execution."""

    async def plan_stake(self, model_id: str, soma_amount: float) -> ActionPlan:
        self._writable("stake")
        if not soma_amount > 0:
            raise UsageError(
                f"a stake of {soma_amount:g} SOMA is not positive.", hint="Stake more than 0 SOMA."
            )
        amount = round(soma_amount * SHANNONS_PER_SOMA)
        snap = await self._fresh()
        row = self._model_row(snap, model_id)
        if row.status not in ("created", "pending", "active"):
            raise UserError(
                f"model {short_id(row.model_id)} is {row.status}; stake goes only to created, pending "
                "or active models."
            )
        if snap.balance is not None and amount > snap.balance:
            raise UserError(
                f"a stake of {soma(amount)} is more than the wallet's {soma(snap.balance)}.",
                hint="Fund the wallet or stake less.",
            )
        kind = self._stake_kind(row.model_id, amount)
        fee = await self._fee(kind, {"model_id": row.model_id})
        lines = (
            ("Model", f"{row.model_id} ({row.status})"),
            ("Add stake", soma(amount)),
            ("Stake now", soma(row.stake)),
            ("Takes effect", f"epoch {snap.epoch + 1} (stake counts from the next epoch)"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "stake",
            f"Add {soma(amount)} of stake to model {short_id(row.model_id)}",
            lines,
            (),
            False,
            "stake",
            StakePayload(row.model_id, amount),
        )

    def _stake_kind(self, model_id: str, amount: int) -> Callable[[list[Coin]], txkinds.Kind]:
        def build(coins: list[Coin]) -> txkinds.Kind:
            return txkinds.AddStakeToModel(
                model_id=model_id_bytes(model_id), coin=coins[0].ref, amount=amount
            )

        return build

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        self._writable("commission")
        if not 0 <= bps <= MAX_COMMISSION_BPS:
            raise UsageError(f"a commission of {bps} bps is outside 0..10000.", hint="100 bps = 1%.")
        snap = await self._fresh()
        row = self._owned_row(snap, model_id)
        if row.status != "active":
            raise UserError(
                f"model {short_id(row.model_id)} is {row.status}; "
                "only an active model's commission can change."
            )
        kind = txkinds.SetModelCommissionRate(model_id=model_id_bytes(row.model_id), new_rate=bps)
        fee = await self._fee(kind, {"model_id": row.model_id, "commission": bps})
        now = self.clock()
        lines = (
            ("Model", row.model_id),
            ("Commission now", f"{row.commission_rate} bps (this epoch, {snap.epoch})"),
            ("Next epoch's rate", f"{row.next_commission_rate} bps → {bps} bps"),
            ("Takes effect", f"epoch {snap.epoch + 1}, {when_text(snap.next_boundary_ms / 1000.0, now)}"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "commission",
            f"Set model {short_id(row.model_id)}'s commission to {bps} bps",
            lines,
            (),
            False,
            "commission",
            CommissionPayload(row.model_id, bps),
        )

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        self._writable("deactivate")
        snap = await self._fresh()
        row = self._owned_row(snap, model_id)
        if row.status != "active":
            raise UserError(
                f"model {short_id(row.model_id)} is {row.status}; only an active model can be deactivated."
            )
        kind = txkinds.DeactivateModel(model_id=model_id_bytes(row.model_id))
        fee = await self._fee(kind, {"model_id": row.model_id})
        warnings = ["the model stops competing at once and cannot be reactivated."]
        if row.has_pending_update:
            warnings.append("its unrevealed pending update is dropped.")
        lines = (
            ("Model", row.model_id),
            ("Stake", f"{soma(row.stake)} (not slashed)"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "deactivate",
            f"Deactivate model {short_id(row.model_id)}",
            lines,
            tuple(warnings),
            True,
            "deactivate",
            DeactivatePayload(row.model_id),
        )

    async def _execute_model_action(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable(plan.action)
        p = payload_of(plan, _PAYLOADS[plan.action])
        model_id = p.model_id
        kind: txkinds.Kind | Callable[[list[Coin]], txkinds.Kind]
        summary: dict[str, Any]
        if isinstance(p, StakePayload):
            kind = self._stake_kind(model_id, p.amount)
            summary = {"amount": p.amount}
        elif isinstance(p, CommissionPayload):
            kind = txkinds.SetModelCommissionRate(model_id=model_id_bytes(model_id), new_rate=p.bps)
            summary = {"bps": p.bps}
        else:
            kind = txkinds.DeactivateModel(model_id=model_id_bytes(model_id))
            summary = {}
        sent: list[str] = []
        progress(f"sending {plan.action}")
        ctx = {"model_id": model_id}
        try:
            prepared, result = await sender.send(kind, before_send=lambda pr: sent.append(pr.digest), ctx=ctx)
        except ChainError as exc:
            self._audit(
                plan.action,
                "unknown",
                model_id=model_id,
                digest=sent[-1] if sent else None,
                summary=summary,
                error=str(exc),
            )
            raise
        if not result.ok:
            err = self._failed(plan.action, prepared, result, ctx, model_id=model_id, summary=summary)
            raise err
        self._audit(plan.action, "success", model_id=model_id, digest=prepared.digest, summary=summary)
        self.session.wake()
        words = {
            "stake": "added stake to",
            "commission": "set the commission of",
            "deactivate": "deactivated",
        }
        return ActionResult(
            plan.action,
            True,
            f"{words[plan.action]} {short_id(model_id)}",
            digest=prepared.digest,
            model_id=model_id,
            epoch=result.executed_epoch,
            data={"model_id": model_id, "digest": prepared.digest, **summary},
        )
