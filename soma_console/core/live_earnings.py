"""The live console's use of the local target index: the epoch's sync, the Earnings view, wins and claims.

:class:`LiveEarnings` opens ``<data dir>/targets.sqlite`` for each use. After the first good chain
poll of an epoch it syncs the index in the background (with autopilot on and a wallet that may
send, :class:`~soma_console.core.autoclaim.AutoClaim` also claims what is due); its reads run in
worker threads; claiming goes through :class:`~soma_console.core.claims.Claimer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from soma_console.context import AppContext
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.autoclaim import AutoClaim
from soma_console.core.chain import ChainSession
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.claims import Claimer
from soma_console.core.claims import soma as soma_text
from soma_console.core.console_services import ProgressCallback
from soma_console.core.earnings import EarningsView, build_view, model_wins, sync_targets
from soma_console.core.live_autopilot import AutopilotFlag
from soma_console.core.targets_index import TargetIndex
from soma_console.core.wallet import Signer
from soma_console.errors import UserError

log = logging.getLogger(__name__)


class LiveEarnings:
    """The target index as the live console uses it."""

    def __init__(
        self,
        ctx: AppContext,
        session: ChainSession,
        signer: Signer | None,
        autopilot: AutopilotFlag,
        problem: Callable[[str | None], None],
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.signer = signer
        self.autopilot = autopilot
        self._problem = problem
        self.task: asyncio.Task[None] | None = None
        self._epoch: int | None = None
        self._wins: tuple[tuple[int, ...], dict[str, tuple[int, int]]] | None = None

    @property
    def path(self) -> Path:
        return self.ctx.home.data_dir / "targets.sqlite"

    # -- reads (worker threads) -------------------------------------------------------------------
    def earnings_view(self) -> EarningsView | None:
        """The Earnings screen's data from the local target index (call it from a worker thread)."""
        snap = self.session.latest
        path = self.path
        if snap is None or self.signer is None or not self.signer.address or not path.exists():
            return None
        return build_view(path, self.ctx.chain.name, snap.epoch, [m.model_id for m in snap.mine()])

    def model_wins(self) -> dict[str, tuple[int, int]] | None:
        """Every model's (wins, owner's share) over the last epochs, for the Models pane; read from
        the target index in a worker thread. The index changes about once an epoch, so the answer
        is kept until the epoch or the index file (or its WAL) changes."""
        snap = self.session.latest
        path = self.path
        if snap is None:
            return None
        try:
            wal = path.with_name(path.name + "-wal")
            stamp = (snap.epoch, path.stat().st_mtime_ns, wal.stat().st_mtime_ns if wal.exists() else 0)
        except FileNotFoundError:
            return None
        if self._wins is not None and self._wins[0] == stamp:
            return self._wins[1]
        wins = model_wins(path, self.ctx.chain.name, snap.epoch)
        self._wins = (stamp, wins)
        return wins

    # -- the sync (event loop) --------------------------------------------------------------------
    def kick(self, snap: ChainSnapshot, loop: asyncio.AbstractEventLoop) -> None:
        """Once per epoch: sync the target index; with autopilot on, also claim what is due."""
        if self._epoch == snap.epoch:
            return
        if self.task is not None and not self.task.done():
            return
        self.task = loop.create_task(self._round(snap.epoch), name="target-index")

    async def _round(self, epoch: int) -> None:
        try:
            index = await asyncio.to_thread(TargetIndex.open, self.path)
        except Exception:
            log.info("cannot open the target index", exc_info=True)
            return
        try:
            if self.autopilot.cached and self.signer is not None and not self.ctx.readonly:
                await AutoClaim(self.session, index, self.signer).round(lambda level, msg: log.info(msg))
            else:
                await sync_targets(self.session, index)
            self._epoch = epoch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("target index round failed", exc_info=True)
            self._problem(f"earnings: {exc}")
        finally:
            await asyncio.to_thread(index.close)

    # -- claims -----------------------------------------------------------------------------------
    async def plan_claim(self) -> ActionPlan:
        """Sync the target index, settle unsettled claims, and plan claiming every claimable win."""
        assert self.signer is not None
        index = TargetIndex.open(self.path)
        try:
            claimer = Claimer(self.session, index, self.signer, self.ctx.chain.name)
            await claimer.settle_pending()
            await sync_targets(self.session, index)
            snap = self.session.latest or await self.session.snapshot()
            due = await claimer.candidates(None, [m.model_id.lower() for m in snap.mine()])
            if not due:
                raise UserError("none of your models has a claimable win now.")
            return await claimer.plan(due, {m.model_id.lower(): m.owner for m in snap.models})
        finally:
            index.close()

    async def execute_claim(self, plan: ActionPlan, progress: ProgressCallback) -> ActionResult:
        assert self.signer is not None
        index = TargetIndex.open(self.path)
        try:
            claimer = Claimer(self.session, index, self.signer, self.ctx.chain.name)
            out = await claimer.execute(plan, progress)
        finally:
            index.close()
        n = len(out["claimed"])
        share = sum(c["owner_share_shannons"] for c in out["claimed"])
        return ActionResult(
            action="claim",
            ok=n == len(plan.payload),
            summary=f"claimed {n} of {len(plan.payload)} wins ({soma_text(share)} to the owners)",
            digest=out["claimed"][-1]["digest"] if out["claimed"] else None,
            data=out,
        )
