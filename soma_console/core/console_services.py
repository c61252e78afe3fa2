"""Everything the console shows and does, as one small interface.

The Textual app (``soma_console.tui``) talks to the rest of soma-console only through
:class:`ConsoleServices`. The live implementation wires the ChainSession, the journal, the
lifecycle and the trainer backends together; tests/support holds an in-memory one. Keeping
the surface this small is what lets the UI be tested without a chain, and lets the chain code be
tested without a terminal.

Threading contract (every implementation must honour it; each method repeats its part):

* **UI-loop calls** (properties, :meth:`ConsoleServices.latest_chain`,
  :meth:`ConsoleServices.subscribe_chain`): called on the app's event loop; must return at once,
  no I/O.
* **Blocking reads** (``runs``, ``checkpoints``, ``queue``, ``audit_log``, ``autopilot_enabled``,
  ``set_autopilot``): called from worker threads, possibly several at once; must be thread-safe and
  must not touch the event loop. They may take a while (SQLite, files).
* **Async calls** (``start``, ``stop``, ``start_training``, ``stop_training``, ``plan_*``,
  ``execute``, iterating ``follow_run``): awaited on the app's event loop (always the same loop,
  on which ``start`` ran first); they must never block it (run blocking work in a thread).
* **Callbacks the UI hands in** (the chain listener, ``progress``) may be invoked from any thread;
  the UI makes them cheap and thread-safe.

Errors: anything the user can act on is raised as a :class:`~soma_console.errors.UserError`
(one sentence; the UI shows it as a notification). Any other exception is treated as an
internal failure: shown, logged, never fatal to the console.

No ``textual`` import here: an import-linter contract keeps ``soma_console.core`` free of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.journal import AuditEntry
from soma_console.core.reveal_queue import QueueEntry
from soma_console.core.score_verdicts import Verdict
from soma_console.training.events import AnyRecord
from soma_console.training.run_info import (
    BACKENDS,
    CHECKPOINT_STATUSES,
    RUN_STATUSES,
    CheckpointInfo,
    RunInfo,
)

ChainListener = Callable[[ChainSnapshot | None, ChainError | None], None]
"""Receives each poll's result: ``(snapshot, None)`` or ``(last good snapshot or None, error)``."""

ProgressCallback = Callable[[str], None]
"""Receives one short line per step of a transaction ("uploading 40%", "waiting for checkpoint")."""

__all__ = [
    "BACKENDS",
    "CHECKPOINT_STATUSES",
    "RUN_STATUSES",
    "ChainListener",
    "CheckpointInfo",
    "ConsoleServices",
    "ProgressCallback",
    "RunInfo",
    "train_spec",
]

# The keys of the dict handed to ConsoleServices.start_training.
TRAIN_SPEC_KEYS = ("preset", "steps", "data", "name", "backend")


def train_spec(
    *, preset: str, steps: int, data: str, backend: str, name: str | None = None
) -> dict[str, Any]:
    """The dict :meth:`ConsoleServices.start_training` takes (``name`` None: pick one)."""
    return {"preset": preset, "steps": steps, "data": data, "name": name, "backend": backend}


@runtime_checkable
class ConsoleServices(Protocol):
    """What the console needs from the rest of soma-console. See the module docstring."""

    # -- identity (UI loop, instant) --------------------------------------------------------------
    @property
    def chain_name(self) -> str:
        """The chain profile's name (``devnet``, ``testnet``, a URL)."""
        ...

    @property
    def readonly(self) -> bool:
        """True under ``--readonly``: every ``plan_*`` and ``execute`` and ``set_autopilot(True)``
        raises :class:`~soma_console.errors.ReadOnlyError` (the UI refuses before calling, too)."""
        ...

    @property
    def address(self) -> str | None:
        """The signer's address (64 hex chars), or None when no wallet is configured."""
        ...

    @property
    def training_presets(self) -> Sequence[str]:
        """Preset names the training dialog offers, the default first."""
        ...

    # -- lifecycle (async, UI loop) ---------------------------------------------------------------
    async def start(self) -> None:
        """Begin polling the chain and whatever else runs in the background. Called once, on the
        app's loop, after the first frame; must not wait for the network (failures are reported
        through the chain listener, not raised)."""
        ...

    async def stop(self) -> None:
        """Stop background work and release connections. Called once when the console exits
        (also after a hang-up); must finish within a few seconds and never raise."""
        ...

    # -- chain (UI loop, instant) -----------------------------------------------------------------
    def latest_chain(self) -> ChainSnapshot | None:
        """The newest snapshot already in memory, or None before the first successful poll."""
        ...

    def subscribe_chain(self, listener: ChainListener) -> Callable[[], None]:
        """Call ``listener`` after every poll (from any thread); returns an unsubscribe function.
        The listener is quick and never raises."""
        ...

    # -- blocking reads (worker threads) ----------------------------------------------------------
    def runs(self) -> list[RunInfo]:
        """Every training run the journal knows, newest first. Worker thread; thread-safe."""
        ...

    def checkpoints(self, run: str) -> list[CheckpointInfo]:
        """The run's checkpoints, highest step first, each with its on-chain status. Worker thread."""
        ...

    def score_checkpoint(self, checkpoint_path: str) -> Verdict:
        """Score the checkpoint against the chain's last filled targets (``soma-console score``,
        in a child process: no torch here) and return the verdict it saved. Worker thread; slow."""
        ...

    def queue(self, now: float) -> list[QueueEntry]:
        """Every pending commit's reveal window as of ``now`` (unix seconds), most urgent first
        (``reveal_queue.build_queue``). Worker thread."""
        ...

    def audit_log(self, since_id: int) -> list[AuditEntry]:
        """Transactions sent, oldest first: those with ``id > since_id`` (``0``: the latest ones,
        at most a few hundred). Worker thread."""
        ...

    def autopilot_enabled(self) -> bool:
        """Whether autopilot reveals pending commits by itself. Worker thread."""
        ...

    def set_autopilot(self, on: bool) -> None:
        """Turn autopilot on or off (persisted). Raises ReadOnlyError for ``on`` in read-only mode.
        Worker thread."""
        ...

    # -- training (async, UI loop) ----------------------------------------------------------------
    async def start_training(self, spec: dict[str, Any]) -> str:
        """Launch a run from ``spec`` (keys: TRAIN_SPEC_KEYS; see :func:`train_spec`) and return
        its name as soon as it is launched (not when it finishes). Bad specs raise UserError."""
        ...

    def follow_run(self, run: str) -> AsyncIterator[Sequence[AnyRecord]]:
        """The run's records in order: its history first, then live ones as they come, in
        non-empty batches (whatever arrived together). Ends when the run has finished and its
        history is exhausted. The UI cancels the iteration when another run is selected; the
        iterator must release its resources then. Iterated on the UI loop. What waits for the UI
        must be bounded: if the UI falls behind, drop the oldest plain lines (never events) and
        say how many in a LogLine, rather than queue without limit."""
        ...

    async def stop_training(self, run: str) -> None:
        """Ask the run to stop (it saves a checkpoint if it can). UserError if it is not running."""
        ...

    # -- actions: plan, then execute (async, UI loop) ---------------------------------------------
    async def plan_commit(
        self,
        checkpoint_path: str,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ActionPlan:
        """What committing this checkpoint would send. ``model_id`` None: a new model (with the
        configured default commission and stake unless given), else an update of that model.
        Preparing it (check, encrypt, upload, verify) reports each phase, with its bytes/s, to
        ``progress``, possibly from a worker thread."""
        ...

    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        """What revealing would send; ``model_id`` None: the most urgent open window."""
        ...

    async def plan_stake(self, model_id: str, soma: float) -> ActionPlan:
        """What adding ``soma`` SOMA of stake to the model would send."""
        ...

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        """What setting the model's commission to ``bps`` (0..10000) would send."""
        ...

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        """What deactivating the model would send (irreversible)."""
        ...

    async def execute(self, plan: ActionPlan, progress: ProgressCallback) -> ActionResult:
        """Send what ``plan`` describes (journal first), reporting steps through ``progress``.
        Failures the user can act on raise UserError (ChainError); the audit log records every
        transaction sent either way."""
        ...
