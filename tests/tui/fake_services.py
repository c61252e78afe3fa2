"""TEST DOUBLE: an in-memory ConsoleServices for driving the console in tests.

It runs the made-up world (``tests.support.fake_world``: models, runs, commits) with no
background tasks at all: the chain "polls" only when a test calls :meth:`FakeServices.push_chain`,
the trainer speaks only when a test calls :meth:`FakeServices.emit`, and transactions finish at
once. Every call is recorded in ``calls``; failures can be scripted per method. Everything is
deterministic for a given clock.

The console tests take their services from the ``services`` fixture, so the same tests can be
pointed at the real services (a devnet, the journal, a trainer) by swapping that fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import ChainError
from soma_console.core.console_services import CheckpointInfo, ProgressCallback, RunInfo
from soma_console.core.journal import AuditEntry
from soma_console.core.reveal_queue import QueueEntry
from soma_console.errors import UserError
from soma_console.training.events import AnyRecord, Finished
from tests.support.fake_world import FakeWorld, FakeWorldServices


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeServices(FakeWorldServices):
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        models: int = 40,
        readonly: bool = False,
        epoch: int = 12,
        epoch_duration_s: float = 600.0,
        epoch_elapsed_s: float = 120.0,
        with_history: bool = True,
    ) -> None:
        world = FakeWorld(
            clock=clock,
            models=models,
            readonly=readonly,
            epoch=epoch,
            epoch_duration_s=epoch_duration_s,
            epoch_elapsed_s=epoch_elapsed_s,
            with_history=with_history,
        )
        super().__init__(world, tx_delay_s=0.0)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failures: dict[str, BaseException] = {}
        self.started = False
        self.stopped = False

    # -- scripting --------------------------------------------------------------------------------
    def fail(self, method: str, error: BaseException) -> None:
        """Make every later call of ``method`` raise ``error``."""
        self.failures[method] = error

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        error = self.failures.get(method)
        if error is not None:
            raise error

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    def push_chain(self, error: ChainError | None = None) -> None:
        """One poll: publish the world's snapshot (or an error with the last snapshot)."""
        self.world.advance()
        snap = self.world.snapshot()
        self._publish(snap, error)

    def emit(self, run: str, records: Sequence[AnyRecord]) -> None:
        """The trainer of ``run`` prints ``records`` (followers see them at once)."""
        self.world.append_records(run, records)

    # -- lifecycle: nothing runs by itself ----------------------------------------------------------
    async def start(self) -> None:
        self._call("start")
        self.started = True

    async def stop(self) -> None:
        self._call("stop")
        self.stopped = True

    # -- reads ------------------------------------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        self._call("runs")
        return super().runs()

    def checkpoints(self, run: str) -> list[CheckpointInfo]:
        self._call("checkpoints", run)
        return super().checkpoints(run)

    def queue(self, now: float) -> list[QueueEntry]:
        self._call("queue", now)
        return super().queue(now)

    def audit_log(self, since_id: int) -> list[AuditEntry]:
        self._call("audit_log", since_id)
        return super().audit_log(since_id)

    def autopilot_enabled(self) -> bool:
        self._call("autopilot_enabled")
        return super().autopilot_enabled()

    def set_autopilot(self, on: bool) -> None:
        self._call("set_autopilot", on)
        super().set_autopilot(on)

    # -- training ---------------------------------------------------------------------------------
    async def start_training(self, spec: dict[str, Any]) -> str:
        self._call("start_training", spec)
        return self.world.start_run(spec)  # no simulated trainer: tests emit the records

    async def follow_run(self, run: str) -> AsyncIterator[Sequence[AnyRecord]]:
        self._call("follow_run", run)
        async for batch in super().follow_run(run):
            yield batch

    async def stop_training(self, run: str) -> None:
        self._call("stop_training", run)
        if run not in self.world.runs:
            raise UserError(f"there is no run named {run!r}.")
        if self.world.runs[run].info.status != "running":  # as live: only a running run stops
            raise UserError(f"run {run!r} is not running.")
        self.world.set_run_status(run, "stopped")
        self.emit(run, [Finished(step=self.world.runs[run].info.step, final_path="stopped")])

    # -- actions ----------------------------------------------------------------------------------
    async def plan_commit(
        self,
        checkpoint_path: str,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ActionPlan:
        self._call("plan_commit", checkpoint_path, model_id, commission_bps, stake_soma)
        if progress is not None:
            progress("checking the header and layout")
        return await super().plan_commit(checkpoint_path, model_id, commission_bps, stake_soma)

    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        self._call("plan_reveal", model_id)
        return await super().plan_reveal(model_id)

    async def plan_stake(self, model_id: str, soma: float) -> ActionPlan:
        self._call("plan_stake", model_id, soma)
        return await super().plan_stake(model_id, soma)

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        self._call("plan_commission", model_id, bps)
        return await super().plan_commission(model_id, bps)

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        self._call("plan_deactivate", model_id)
        return await super().plan_deactivate(model_id)

    async def execute(self, plan: ActionPlan, progress: ProgressCallback) -> ActionResult:
        self._call("execute", plan)
        return await super().execute(plan, progress)
