"""The console's real services: the chain, the journal, the lifecycle and the trainers, wired.

:class:`LiveServices` implements :class:`~soma_console.core.console_services.ConsoleServices`
(read its module docstring: the threading contract is binding) over

* one :class:`~soma_console.core.chain.ChainSession` shared by everything (the status bar, the
  models pane, the queue's windows and every transaction);
* the :class:`~soma_console.core.journal.Journal` (queue, audit log, checkpoint statuses); its one
  connection is guarded by the journal's own lock, so worker threads may read it concurrently;
* the trainer's run directories and Modal runs (``live_runs``);
* :class:`~soma_console.core.lifecycle.Lifecycle` for every transaction: planning and sending are
  its job, this class only enforces read-only mode and the need for a wallet first;
* the local target index (``live_earnings``): synced once an epoch, read for the Earnings screen
  and the Models pane's wins, and used to claim;
* autopilot (``live_autopilot``): a persisted on/off flag; while on, every chain poll is followed
  by one ``lifecycle.autopilot_tick`` (never two at once), whose failures reach the UI through the
  chain listener and never stop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from soma_console.context import AppContext
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError, ModelListUnavailable
from soma_console.core.chain_identity import adopt_chain_identity
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.console_services import (
    ChainListener,
    CheckpointInfo,
    ProgressCallback,
    RunInfo,
)
from soma_console.core.earnings import EarningsView
from soma_console.core.journal import AuditEntry, Intent, Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.live_autopilot import AUTOPILOT_FILE, AutopilotFlag, AutopilotRounds
from soma_console.core.live_earnings import LiveEarnings
from soma_console.core.live_runs import LocalRuns, ModalRuns, check_train_spec, merge_runs
from soma_console.core.onchain.base import require_signer
from soma_console.core.onchain.payloads import StakePayload, payload_of
from soma_console.core.reveal_queue import (
    CLOSING,
    MISSED,
    OPEN,
    REVEALED,
    QueueEntry,
    build_queue,
    entry_for,
)
from soma_console.core.score_verdicts import Verdict, score_in_child
from soma_console.core.wallet import Signer, load_signer
from soma_console.errors import ReadOnlyError, UserError
from soma_console.training.events import AnyRecord
from soma_console.training.spec import make_spec

log = logging.getLogger(__name__)

OPEN_INTENT_STATES = ("intent", "submitted", "confirmed")
QUEUE_HISTORY = 20  # revealed / missed commits kept in the queue for reference
STOP_TIMEOUT_S = 3.0


def _checkpoint_status(intent: Intent, snap: ChainSnapshot | None, now: float) -> str:
    state = entry_for(intent, snap, now).state
    if state in (OPEN, CLOSING):
        return "pending reveal"
    if state == REVEALED:
        return "revealed"
    if state == MISSED:
        return "missed"
    return "committed"


class LiveServices:
    """ConsoleServices over the real chain, journal, lifecycle and trainers."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        journal: Journal,
        signer: Signer | None,
        session: ChainSession | None = None,
        presets: Sequence[str] | None = None,
        clock: Callable[[], float] = time.time,
        modal_refresh_s: float = 30.0,
    ) -> None:
        self.ctx = ctx
        self.journal = journal
        self.signer = signer
        self.clock = clock
        self.session = session or ChainSession(
            ctx.chain,
            address=signer.address if signer else None,
            timeout=ctx.settings.rpc_timeout,
            poll_interval=ctx.settings.poll_seconds,
            clock=clock,
            max_state_bytes=ctx.settings.max_state_bytes,
        )
        self.lifecycle = Lifecycle(ctx, self.session, journal, signer)
        default = "tiny" if ctx.chain.is_devnet else "v1"
        self._presets = tuple(presets) if presets else (default, *(p for p in ("v1", "tiny") if p != default))
        self.autopilot = AutopilotFlag(ctx.home.data_dir / "console" / AUTOPILOT_FILE, ctx.chain.name)
        self._autopilot_rounds = AutopilotRounds(self.lifecycle, self.session, clock, self._publish)
        self._earnings = LiveEarnings(
            ctx, self.session, signer, self.autopilot, self._autopilot_rounds.problem
        )
        home_env = (
            {"SOMA_CONSOLE_HOME": str(ctx.home.data_dir)} if ctx.home.config_dir == ctx.home.data_dir else {}
        )
        self.local = LocalRuns(ctx.home.runs_dir, home_env=home_env)
        self._home_env = home_env
        self.modal = ModalRuns(ctx.home, ctx.settings, refresh_s=modal_refresh_s)
        self._listeners: list[ChainListener] = []
        self._listeners_lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._identity_task: asyncio.Task[None] | None = None

    @classmethod
    def open(
        cls, ctx: AppContext, *, presets: Sequence[str] | None = None, signer: Signer | None = None
    ) -> LiveServices:
        """Load the wallet (none is fine) and open the journal."""
        signer = signer if signer is not None else load_signer(ctx.home, required=False)
        journal = Journal.open(ctx.home.journal_path)
        return cls(ctx, journal=journal, signer=signer, presets=presets)

    def __repr__(self) -> str:
        return f"LiveServices({self.ctx.chain.name!r}, address={self.address!r})"

    # -- identity ---------------------------------------------------------------------------------
    @property
    def chain_name(self) -> str:
        return self.ctx.chain.name

    @property
    def readonly(self) -> bool:
        return self.ctx.readonly

    @property
    def address(self) -> str | None:
        return self.signer.address if self.signer else None

    @property
    def training_presets(self) -> Sequence[str]:
        return self._presets

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.session.subscribe(self._on_poll)
        # The SDK's import is not free; do it off the loop before the first poll needs it.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(importlib.import_module, "soma_sdk")
        await asyncio.to_thread(self.autopilot.get)
        # The journal is scoped to this network before the first poll (and autopilot) reads it.
        self._identity_task = asyncio.get_running_loop().create_task(self._adopt_then_poll())
        self.modal.start()

    async def _adopt_then_poll(self) -> None:
        try:
            await adopt_chain_identity(self.session, self.journal)
        finally:
            self.session.start_polling()

    async def stop(self) -> None:
        try:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            task, self._autopilot_rounds.task = self._autopilot_rounds.task, None
            jobs: list[Any] = [self.session.close(), self.modal.stop()]
            for t in (task, self._earnings.task):
                if t is not None:
                    t.cancel()
                    jobs.append(t)
            await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), STOP_TIMEOUT_S)
        except BaseException:  # never raise out of stop: the console is on its way out
            log.exception("stopping the live services")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.journal.close)

    # -- chain ------------------------------------------------------------------------------------
    def latest_chain(self) -> ChainSnapshot | None:
        return self.session.latest

    def earnings_view(self) -> EarningsView | None:
        """The Earnings screen's data from the local target index (call it from a worker thread)."""
        return self._earnings.earnings_view()

    def model_wins(self) -> dict[str, tuple[int, int]] | None:
        """Every model's (wins, owner's share) over the last epochs, for the Models pane (call it
        from a worker thread; the answer is kept until the epoch or the index changes)."""
        return self._earnings.model_wins()

    def subscribe_chain(self, listener: ChainListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _publish(self, snap: ChainSnapshot | None, err: ChainError | None) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(snap, err)
            except Exception:
                log.exception("chain listener failed")

    def _on_poll(self, snap: ChainSnapshot | None, err: ChainError | None) -> None:
        self._publish(snap, err)
        # A model list that cannot be read must not hold up a reveal: the clock is what counts.
        clock_ok = err is None or isinstance(err, ModelListUnavailable)
        if clock_ok and snap is not None and self.autopilot.cached:
            self._kick_autopilot(snap)
        if err is None and snap is not None and self._loop is not None:
            self._earnings.kick(snap, self._loop)  # once an epoch: sync the index (and autoclaim)

    # -- autopilot --------------------------------------------------------------------------------
    def _kick_autopilot(self, snap: ChainSnapshot) -> None:
        if self.readonly or self.signer is None or self._loop is None:
            return
        self._autopilot_rounds.kick(snap, self._loop)

    def autopilot_enabled(self) -> bool:
        return self.autopilot.get()

    def set_autopilot(self, on: bool) -> None:
        if on:
            self.ctx.require_writable("turn autopilot on")
        self.autopilot.set(on)
        if on and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.session.wake)

    # -- blocking reads ---------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        return merge_runs(self.local.runs(), self.modal.runs())

    def _status_index(self) -> Callable[[str], tuple[str, str | None]]:
        chain = self.chain_name
        by_path: dict[str, list[int]] = {}
        for art in self.journal.artifacts(chain=chain):
            by_path.setdefault(art.source_path, []).append(art.id)
        commits: dict[int, Intent] = {}
        for intent in self.journal.intents(chain=chain, kinds=["commit"]):
            if intent.artifact_id is not None and intent.state != "failed":
                commits.setdefault(intent.artifact_id, intent)  # newest first
        snap, now = self.session.latest, self.clock()

        def status_of(path: str) -> tuple[str, str | None]:
            keys = {path}
            if "://" not in path:
                with contextlib.suppress(OSError):
                    keys.add(str(Path(path).resolve()))
            best: Intent | None = None
            for key in keys:
                for art_id in by_path.get(key, []):
                    intent = commits.get(art_id)
                    if intent is not None and (best is None or intent.id > best.id):
                        best = intent
            if best is None:
                return "", None
            return _checkpoint_status(best, snap, now), best.model_id

        return status_of

    def checkpoints(self, run: str) -> list[CheckpointInfo]:
        status_of = self._status_index()
        if self.local.has(run):
            return self.local.checkpoints(run, status_of)
        if self.modal.has(run):
            return self.modal.checkpoints(run, status_of)
        return []

    def score_checkpoint(self, checkpoint_path: str) -> Verdict:
        return score_in_child(checkpoint_path, self.ctx.chain.rpc_url, self._home_env)

    def queue(self, now: float) -> list[QueueEntry]:
        chain = self.chain_name
        intents = self.journal.intents(chain=chain, kinds=["commit"], states=OPEN_INTENT_STATES)
        intents += self.journal.intents(
            chain=chain, kinds=["commit"], states=["revealed", "missed"], limit=QUEUE_HISTORY
        )
        return build_queue(intents, self.session.latest, now)

    def audit_log(self, since_id: int) -> list[AuditEntry]:
        return self.journal.audit_log(chain=self.chain_name, since_id=since_id)

    # -- training ---------------------------------------------------------------------------------
    async def start_training(self, spec: dict[str, Any]) -> str:
        preset, steps, data, name, backend = check_train_spec(spec)
        if backend == "local":
            return await self.local.start(preset=preset, steps=steps, data=data, name=name)
        if self.local.has(name):
            raise UserError(f"run {name!r} already exists here.", hint="Pick another run name.")
        train_spec = make_spec(run=name, preset=preset, out_dir=f"runs/{name}", data=data, steps=steps)
        return await self.modal.start_run(json.loads(train_spec.to_json()))

    async def follow_run(self, run: str) -> AsyncIterator[Sequence[AnyRecord]]:
        if self.local.has(run):
            source = self.local.follow(run)
        elif self.modal.has(run):
            source = self.modal.follow(run)
        else:
            raise UserError(f"there is no run named {run!r}.")
        try:
            async for batch in source:
                if batch:
                    yield batch
        finally:
            await source.aclose()

    async def stop_training(self, run: str) -> None:
        if await asyncio.to_thread(self.local.has, run):
            await self.local.stop(run)
        elif self.modal.has(run):
            await self.modal.stop_run(run)
        else:
            raise UserError(f"there is no run named {run!r}.")

    # -- actions ----------------------------------------------------------------------------------
    def _ready(self, action: str) -> None:
        require_signer(self.ctx, self.signer, action)

    async def plan_commit(
        self,
        checkpoint_path: str,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ActionPlan:
        self._ready("commit")
        if self._identity_task is not None:
            await asyncio.shield(self._identity_task)
        return await self.lifecycle.plan_commit(
            checkpoint_path,
            model_id=model_id,
            commission_bps=commission_bps,
            stake_soma=stake_soma,
            progress=progress,
        )

    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        self._ready("reveal")
        return await self.lifecycle.plan_reveal(model_id)

    async def plan_stake(self, model_id: str, soma: float) -> ActionPlan:
        self._ready("add stake")
        plan = await self.lifecycle.plan_stake(model_id, soma)
        from soma_console.core.stake_whatif import stake_plan_whatif  # numpy: only when asked

        extra = payload_of(plan, StakePayload).amount
        lines = await stake_plan_whatif(self.session, model_id, extra)
        return dataclasses.replace(plan, lines=(*plan.lines, *lines))

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        self._ready("set the commission")
        return await self.lifecycle.plan_commission(model_id, bps)

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        self._ready("deactivate")
        return await self.lifecycle.plan_deactivate(model_id)

    async def plan_claim(self) -> ActionPlan:
        """Sync the target index, settle unsettled claims, and plan claiming every claimable win."""
        self._ready("claim")
        return await self._earnings.plan_claim()

    async def execute(self, plan: ActionPlan, progress: ProgressCallback) -> ActionResult:
        self._ready(plan.action)
        if plan.action == "claim":
            return await self._earnings.execute_claim(plan, progress)
        return await self.lifecycle.execute(plan, progress)


__all__ = ["LiveServices", "ReadOnlyError"]
