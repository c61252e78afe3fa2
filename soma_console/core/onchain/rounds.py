"""One autopilot round: settle the journal, reveal every open window, settle again.

Every automatic reveal goes through :func:`reveal_round`:

* the ``autopilot`` command (:meth:`soma_console.core.autopilot.Autopilot.round`, which adds the
  alarms for a closing or missed window, and with it the Modal cron's reveal round);
* the console's tick after each chain poll (:meth:`soma_console.core.lifecycle.Lifecycle.autopilot_tick`);
* the Modal cron's training round before its commit
  (:func:`soma_console.core.onchain.cron_steps.run_cron_round`).

The on/off switch. The console's autopilot flag (``<data dir>/console/autopilot.json``, one per
chain) decides whether the *console* ticks: :class:`~soma_console.core.live_services.LiveServices`
calls the tick only while it is on. The ``autopilot`` command is itself the switch (it reveals
while it runs), and the Modal cron's switch is its deployment (``cron deploy`` / ``cron stop``):
neither reads the console's flag, because turning the console's loop off must never silently stop
reveals that were started on purpose elsewhere (the cron even runs on another machine).

The round reads only the small system state before revealing: the model list (as big as the
network) must never hold up a reveal. A reveal that fails is handed back in
:attr:`RevealRound.failure` after the second settle, so a caller can still raise its alarms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from soma_console.core.actions import ActionResult
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.reveal_queue import QueueEntry
from soma_console.errors import UserError

if TYPE_CHECKING:
    from soma_console.core.lifecycle import Lifecycle

Settled = Callable[[str], Awaitable[None]]
Revealed = Callable[[ActionResult], Awaitable[None]]


@dataclass
class RevealRound:
    """What one round did."""

    results: list[ActionResult] = field(default_factory=list)
    # The queue the round ended on (re-read after a reveal when ``settle_models``), for the alarms.
    queue: list[QueueEntry] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # what the journal settled, one line each
    failure: ChainError | UserError | None = None  # the reveal that failed, if one did

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    @property
    def revealed(self) -> list[dict[str, object]]:
        return [r for res in self.results for r in res.data.get("revealed", [])]


async def _nothing(_: str) -> None:
    return None


async def _nothing_sent(_: ActionResult) -> None:
    return None


async def reveal_round(
    lc: Lifecycle,
    snap: ChainSnapshot | None = None,
    *,
    clock: Callable[[], float] | None = None,
    settle_models: bool = True,
    on_settled: Settled = _nothing,
    on_revealed: Revealed = _nothing_sent,
) -> RevealRound:
    """Settle, reveal what is due, and (``settle_models``) settle what the reveal path skipped.

    ``snap``: a small read the caller just made (else one is read here); ``clock``: the caller's
    clock (else ``lc.clock``). ``on_settled`` is awaited with each line the journal settled, and
    ``on_revealed`` with the reveal sent, each as it happens. With ``settle_models`` False (the
    console, whose poller reads the model list on its own schedule) the round ends after the reveal
    and leaves ``queue`` as it was before it.
    """
    out = RevealRound()

    async def settle(at: ChainSnapshot, *, read_models: bool) -> None:
        lines = await lc.reconcile(at, read_models=read_models)
        if lines:
            lc.persist()
        for line in lines:
            out.settled.append(line)
            await on_settled(line)

    now = clock or lc.clock
    snap = snap or await lc.session.head()
    await settle(snap, read_models=False)
    out.queue = lc.queue(snap, now())
    if any(e.actionable for e in out.queue):
        try:
            result = await lc.execute(await lc.plan_reveal())
        except (ChainError, UserError) as exc:
            out.failure = exc
        else:
            out.results.append(result)
            await on_revealed(result)
            if settle_models:
                out.queue = lc.queue(await lc.session.head(), now())
    if settle_models:
        # Now that nothing is due, settle what the reveal path skipped (revealed elsewhere, missed)
        # from the model list, or from the epochs when the list cannot be read.
        await settle(await lc.session.head(), read_models=True)
    return out
