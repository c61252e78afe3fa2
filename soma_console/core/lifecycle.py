"""The on-chain half of the owner's loop, behind one object: commit, reveal, model actions, recovery.

Every action is two-phase: ``plan_*`` reads the chain and the journal and returns an
:class:`~soma_console.core.actions.ActionPlan` that says exactly what will be sent (with a typed
payload, :mod:`soma_console.core.onchain.payloads`); ``execute`` sends it, journaling first. The
command line, the autopilot, the console and the Modal cron all go through here.

:class:`Lifecycle` is a thin facade over the actions in :mod:`soma_console.core.onchain`, one module
each: :mod:`~soma_console.core.onchain.commit`, :mod:`~soma_console.core.onchain.reveal`,
:mod:`~soma_console.core.onchain.model_actions` (stake, commission, deactivate) and
:mod:`~soma_console.core.onchain.reconcile`, all sharing the guards and audit trail of
:mod:`~soma_console.core.onchain.base`.

Crash safety, step by step (``core.faults`` names the points the tests kill the process at):

1. the artifact (encrypted file, its key) is journaled before anything is uploaded or sent;
2. a commit intent is journaled before the first transaction;
3. each transaction's digest is journaled before it leaves (``TxSender.send``);
4. :meth:`Lifecycle.reconcile`, run before every plan, settles whatever a crash left in flight from
   the chain's own record (the transaction by digest, then the model's state).
"""

from __future__ import annotations

from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.onchain.base import Progress, quiet, same_commitment
from soma_console.core.onchain.commit import CommitActions
from soma_console.core.onchain.model_actions import ModelActions
from soma_console.core.onchain.reveal import RevealActions
from soma_console.core.onchain.rounds import reveal_round
from soma_console.errors import UserError

__all__ = ["Lifecycle", "same_commitment"]


class Lifecycle(CommitActions, RevealActions, ModelActions):
    """Plans and sends model transactions for one signer on one chain."""

    async def execute(self, plan: ActionPlan, progress: Progress | None = None) -> ActionResult:
        progress = progress or quiet
        if plan.action == "commit":
            return await self._execute_commit(plan, progress)
        if plan.action == "reveal":
            return await self._execute_reveal(plan, progress)
        if plan.action in ("stake", "commission", "deactivate"):
            return await self._execute_model_action(plan, progress)
        raise UserError(f"there is no action called {plan.action!r}.")

    async def autopilot_tick(self, snapshot: ChainSnapshot | None, now: float) -> list[ActionResult]:
        """The console's autopilot round (:func:`~soma_console.core.onchain.rounds.reveal_round`
        without the model-list settle, which the console's poller does): reveal every open window
        now. Returns what was sent; a failed reveal raises."""
        snap = snapshot or self.session.latest or await self.session.head()
        done = await reveal_round(self, snap, clock=lambda: now, settle_models=False)
        done.raise_failure()
        return done.results
