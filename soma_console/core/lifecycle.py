"""The on-chain half of the owner's loop: commit, reveal, updates and model actions.

Every action is two-phase: ``plan_*`` reads the chain and the journal and returns an
:class:`~soma_console.core.actions.ActionPlan` that says exactly what will be sent; ``execute``
sends it, journaling first. The command line and the console both go through this class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from soma_console.context import AppContext
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain import ChainSession
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.journal import Journal
from soma_console.core.reveal_queue import QueueEntry
from soma_console.core.wallet import Signer

Progress = Callable[[str], None]


class Lifecycle:
    """Plans and sends model transactions for one signer on one chain."""

    def __init__(self, ctx: AppContext, session: ChainSession, journal: Journal, signer: Signer | None) -> None:
        self.ctx = ctx
        self.session = session
        self.journal = journal
        self.signer = signer

    async def plan_commit(
        self,
        checkpoint: str | Path,
        *,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        storage: str | None = None,
        progress: Progress | None = None,
    ) -> ActionPlan:
        """Check, encrypt, upload and verify the checkpoint; say what committing it would send."""
        raise NotImplementedError

    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        raise NotImplementedError

    async def plan_stake(self, model_id: str, soma: float) -> ActionPlan:
        raise NotImplementedError

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        raise NotImplementedError

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        raise NotImplementedError

    async def execute(self, plan: ActionPlan, progress: Progress | None = None) -> ActionResult:
        raise NotImplementedError

    def queue(self, snap: ChainSnapshot | None, now: float) -> list[QueueEntry]:
        raise NotImplementedError

    async def reconcile(self) -> list[str]:
        """Settle intents a crash left in flight, from the chain's own record; one line per change."""
        raise NotImplementedError
