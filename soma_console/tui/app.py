"""The console: one screen with Training, Checkpoints, Reveal queue and Models side by side.

Data flows one way. The services (``ConsoleServices``) are the only source: chain snapshots arrive
through the chain listener, everything else is read in worker threads or awaited in async
workers, and every result comes back to the screen as a message. The event loop never waits on
I/O, and one ``Worker.StateChanged`` handler turns any failure into a notification: a service
error never takes the console down.

Time is injected (``ConsoleOptions.clock``) and the 1 Hz countdown tick and the log flush run
from timers only when ``ConsoleOptions.timers`` is on; tests drive ``tick()`` and ``flush_logs()``
themselves, so nothing depends on wall-clock time. The screen and its keys live in
``main_screen``, the action flows in ``flows``, the command palette in ``commands``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, ClassVar

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from soma_console.config import Settings
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.console_services import ConsoleServices
from soma_console.core.reveal_queue import QueueEntry, format_countdown
from soma_console.core.score_verdicts import load_verdict
from soma_console.errors import ReadOnlyError, UserError
from soma_console.secrets import redact
from soma_console.training.events import Finished
from soma_console.tui.action_log import ActionLog
from soma_console.tui.checkpoints_pane import CheckpointsPane
from soma_console.tui.commands import context_commands
from soma_console.tui.dialogs import QuitWarningScreen
from soma_console.tui.flows import ConsoleFlows
from soma_console.tui.hangup import HangupAwareApp
from soma_console.tui.keymap import APP_KEYS, bindings, bound_keys, keymap_from_settings
from soma_console.tui.main_screen import MainScreen
from soma_console.tui.messages import (
    ActionProgress,
    AuditLoaded,
    AutopilotLoaded,
    ChainUpdate,
    CheckpointsLoaded,
    QueueLoaded,
    RunsLoaded,
    VerdictsLoaded,
    while_open,
)
from soma_console.tui.models_pane import ModelsPane
from soma_console.tui.options import ConsoleOptions
from soma_console.tui.queue_pane import QueuePane, live_state
from soma_console.tui.status_bar import StatusBar, StatusView, short_id
from soma_console.tui.training_pane import TrainingPane

log = logging.getLogger(__name__)


class ConsoleApp(HangupAwareApp):
    """The soma-console operator console. See :func:`run_console`."""

    CSS_PATH = "console.tcss"
    TITLE = "soma-console"
    BINDINGS: ClassVar[list[Any]] = bindings(APP_KEYS)
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        services: ConsoleServices,
        *,
        settings: Settings | None = None,
        options: ConsoleOptions | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.settings = settings
        self.options = options or ConsoleOptions()
        self.clock = self.options.clock
        self.flows = ConsoleFlows(self)  # what the action keys and the palette start
        self.snapshot: ChainSnapshot | None = None
        self.chain_error: ChainError | None = None
        self.queue_entries: list[QueueEntry] = []
        self.autopilot: bool | None = None
        self.executing: str | None = None
        self.errors: list[str] = []  # every error shown, for tests and the log
        self._unsubscribe: Callable[[], None] | None = None
        self._select_run: str | None = None
        self._ended_runs: set[str] = set()  # finished while followed: select their newest checkpoint
        self._alarm = False
        self._main_ready = False
        self._exiting = False
        self._wins_loading = False

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        # Messages carry run names, paths and error text: never parse them as markup.
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def exit(self, result: int | None = None, return_code: int = 0, message: Any = None) -> None:
        self._exiting = True
        super().exit(result, return_code, message)

    @property
    def is_open(self) -> bool:
        """The main screen is up and the console is not on its way out."""
        # is_running turns False as Textual starts shutting down, before it removes widgets.
        return self._main_ready and not self._exiting and self.is_running

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(log_lines=self.options.log_lines)

    # -- panes -----------------------------------------------------------------------------------
    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    @property
    def training(self) -> TrainingPane:
        return self.main.query_one(TrainingPane)

    @property
    def checkpoints_pane(self) -> CheckpointsPane:
        return self.main.query_one(CheckpointsPane)

    @property
    def queue_pane(self) -> QueuePane:
        return self.main.query_one(QueuePane)

    @property
    def models(self) -> ModelsPane:
        return self.main.query_one(ModelsPane)

    @property
    def action_log(self) -> ActionLog:
        return self.main.query_one(ActionLog)

    # -- start and stop --------------------------------------------------------------------------
    def begin(self) -> None:
        """Called once the main screen and its panes exist."""
        self._main_ready = True
        keymap, warnings = keymap_from_settings(self.settings)
        if keymap:
            self.set_keymap(keymap)
        for warning in warnings:
            self.notify(warning, title="config.toml", severity="warning", timeout=10)
        if self.options.watch_hangup:
            self.install_hangup_guard()
        self._unsubscribe = self.services.subscribe_chain(self._on_chain)
        first = self.services.latest_chain()
        if first is not None:
            self.post_message(ChainUpdate(first, None))
        else:
            self.refresh_status()
        self.run_worker(
            _work(self.services.start),
            group="lifecycle",
            exit_on_error=False,
            description="start the services",
        )
        self.load_runs()
        self.load_queue()
        self.load_audit()
        self.load_autopilot()
        if self.options.timers:
            self.set_interval(1.0, self.tick, name="countdown")
            self.set_interval(1.0 / self.options.flush_hz, self.flush_logs, name="log-flush")
            self.set_interval(5.0, self.load_runs, name="runs-refresh")

    async def on_unmount(self) -> None:
        self.uninstall_hangup_guard()
        if self._unsubscribe is not None:
            self._unsubscribe()
        try:
            await asyncio.wait_for(self.services.stop(), 5.0)
        except Exception:
            log.exception("stopping the services failed")

    # -- chain -----------------------------------------------------------------------------------
    def load_model_wins(self) -> None:
        """Every model's wins and earnings for the Models pane, read from the target index in a
        worker thread (one read at a time; the services keep the answer until the index changes)."""
        load = getattr(self.services, "model_wins", None)
        if load is None or self._wins_loading:
            return
        self._wins_loading = True

        async def job() -> None:
            try:
                wins = await asyncio.to_thread(load)
                if wins is not None:
                    self.models.show_wins(wins)
            except Exception:  # the index is an aid: a failed read leaves the columns as they were
                log.info("reading the models' wins from the target index", exc_info=True)
            finally:
                self._wins_loading = False

        self.run_worker(_work(job), group="model-wins", exit_on_error=False, description="models' wins")

    def _on_chain(self, snapshot: ChainSnapshot | None, error: ChainError | None) -> None:
        # Called by the services from any thread; post_message is thread-safe.
        self.post_message(ChainUpdate(snapshot, error))

    @while_open
    def on_chain_update(self, message: ChainUpdate) -> None:
        was_offline = self.chain_error is not None
        if message.snapshot is not None:
            first = self.snapshot is None
            self.snapshot = message.snapshot
            self.models.show(message.snapshot)
            self.load_model_wins()
            if first and self.options.freeze_gc:
                # Everything built so far (Textual, the widget tree, the first table) lives as
                # long as the console: move it out of the collector's sight. A full collection
                # over it took ~100 ms at a time under a 50,000 lines/s log; a key press waited.
                gc.collect()
                gc.freeze()
        if message.error is not None and not was_offline:
            self.report(message.error, "reach the chain")
        elif message.error is None and was_offline:
            self.notify("The chain answers again.", timeout=4)
        self.chain_error = message.error
        self.refresh_status()
        self.load_queue()
        self.load_audit()
        if self.training.followed:
            self.load_checkpoints(self.training.followed)

    @while_open
    def refresh_status(self) -> None:
        self.main.query_one(StatusBar).show(
            StatusView(
                chain=self.services.chain_name,
                snapshot=self.snapshot,
                error=self.chain_error,
                now=self.clock(),
                address=self.services.address,
                readonly=self.services.readonly,
                alarm=self._alarm,
            )
        )

    # -- periodic --------------------------------------------------------------------------------
    @while_open
    def tick(self) -> None:
        """Once a second: re-time the countdowns, raise the alarm for windows running out."""
        now = self.clock()
        newly = self.queue_pane.tick(now)
        self._alarm = bool(self.queue_pane.alarming)
        self.refresh_status()
        for entry in newly:
            self.sound_alarm(entry, now)

    def sound_alarm(self, entry: QueueEntry, now: float) -> None:
        _, _, left, _ = live_state(entry, now)
        self.bell()
        self.notify(
            f"The reveal window of {short_id(entry.model_id)} closes in {format_countdown(left)}. "
            f"Press {self.key_for('reveal')} to reveal it now.",
            title="!! Reveal now",
            severity="error",
            timeout=60,
        )

    @while_open
    def flush_logs(self) -> None:
        self.training.flush()

    # -- reads (worker threads) ------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="read-runs", exit_on_error=False, description="read the runs")
    def load_runs(self) -> None:
        runs = self.services.runs()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsLoaded(runs))

    @work(
        thread=True,
        exclusive=True,
        group="read-checkpoints",
        exit_on_error=False,
        description="read checkpoints",
    )
    def load_checkpoints(self, run: str) -> None:
        checkpoints = self.services.checkpoints(run)
        if not get_current_worker().is_cancelled:
            self.post_message(CheckpointsLoaded(run, checkpoints))
            verdicts = {c.path: v.short for c in checkpoints if (v := load_verdict(c.path)) is not None}
            if verdicts:
                self.post_message(VerdictsLoaded(verdicts))

    @work(thread=True, exclusive=True, group="score", exit_on_error=False, description="score a checkpoint")
    def score_checkpoint(self, path: str) -> None:
        # The scoring runs in a child process (torch never enters the console); this thread waits.
        try:
            verdict = self.services.score_checkpoint(path)
        except Exception as exc:  # shown as one line, like every other failed action
            self.call_from_thread(self.report, exc, "score")
            return
        self.post_message(VerdictsLoaded({path: verdict.short}))
        self.call_from_thread(self.notify, f"Score: {verdict.summary}.", timeout=10)

    @work(thread=True, exclusive=True, group="read-queue", exit_on_error=False, description="read the queue")
    def load_queue(self) -> None:
        entries = self.services.queue(self.clock())
        if not get_current_worker().is_cancelled:
            self.post_message(QueueLoaded(entries))

    @work(
        thread=True, exclusive=True, group="read-audit", exit_on_error=False, description="read the audit log"
    )
    def load_audit(self) -> None:
        entries = self.services.audit_log(self.action_log.last_id)
        if not get_current_worker().is_cancelled:
            self.post_message(AuditLoaded(entries))

    @work(thread=True, exclusive=True, group="autopilot", exit_on_error=False, description="read autopilot")
    def load_autopilot(self) -> None:
        self.post_message(AutopilotLoaded(self.services.autopilot_enabled()))

    @while_open
    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.training.show_runs(message.runs)
        if self._select_run is not None and self._select_run in self.training.runs:
            self.training.select_run(self._select_run)
            self._select_run = None

    @while_open
    def on_checkpoints_loaded(self, message: CheckpointsLoaded) -> None:
        if message.run == self.training.followed:
            newest = message.run in self._ended_runs
            self._ended_runs.discard(message.run)
            self.checkpoints_pane.show(message.run, message.checkpoints, newest=newest)

    @while_open
    def on_verdicts_loaded(self, message: VerdictsLoaded) -> None:
        self.checkpoints_pane.set_verdicts(message.verdicts)

    @while_open
    def on_checkpoints_pane_score_requested(self, message: CheckpointsPane.ScoreRequested) -> None:
        if message.checkpoint is None:
            self.notify("Select a checkpoint in the Checkpoints pane first (2 jumps there).", timeout=5)
            return
        self.notify("Scoring the checkpoint against the last filled targets…", timeout=4)
        self.score_checkpoint(message.checkpoint.path)

    @while_open
    def on_queue_loaded(self, message: QueueLoaded) -> None:
        self.queue_entries = message.entries
        now = self.clock()
        newly = self.queue_pane.show(message.entries, now)
        self._alarm = bool(self.queue_pane.alarming)
        self.refresh_status()
        for entry in newly:
            self.sound_alarm(entry, now)

    @while_open
    def on_audit_loaded(self, message: AuditLoaded) -> None:
        self.action_log.add_audit(message.entries)

    @while_open
    def on_autopilot_loaded(self, message: AutopilotLoaded) -> None:
        self.autopilot = message.on
        self.queue_pane.show_autopilot(message.on, readonly=self.services.readonly)

    @while_open
    def on_action_progress(self, message: ActionProgress) -> None:
        self.action_log.border_subtitle = message.text

    # -- the training log ------------------------------------------------------------------------
    def follow(self, run: str) -> None:
        if run == self.training.followed:
            return
        self.training.start_follow(run)
        self.load_checkpoints(run)
        self.run_worker(
            _work(partial(self._follow, run)),
            group="follow",
            exclusive=True,
            exit_on_error=False,
            description=f"follow {run}",
        )

    async def _follow(self, run: str) -> None:
        pane = self.training
        async for batch in self.services.follow_run(run):
            if pane.followed != run:
                return
            if pane.ingest(batch):
                if any(isinstance(r, Finished) for r in batch):
                    # The run is done: its newest checkpoint is the one to commit.
                    self._ended_runs.add(run)
                self.load_runs()
                self.load_checkpoints(run)
            await asyncio.sleep(0)  # let keys and repaints in between big batches

    # -- errors ----------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "flow" and event.worker.is_finished:
            self.main.refresh_bindings()
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report(event.worker.error, event.worker.description or event.worker.name)

    def report(self, error: BaseException, doing: str) -> None:
        """Show a failure as a notification; never raise, never exit."""
        if isinstance(error, UserError):
            message = redact(str(error))
            title = f"Could not {doing}" if not isinstance(error, ReadOnlyError) else "Read-only"
        else:
            log.error("%s failed", doing, exc_info=error)
            message = redact(
                f"{type(error).__name__}: {error}. The console keeps running; this looks like a bug, "
                "please report it."
            )
            title = f"{doing} failed unexpectedly"
        self.errors.append(message)
        self.notify(message, title=title, severity="error", timeout=12)

    # -- actions ---------------------------------------------------------------------------------
    def key_for(self, binding_id: str) -> str:
        """How the key bound to ``binding_id`` is written on screen (after any remapping)."""
        keys = bound_keys(self._keymap, binding_id)
        return self.get_key_display(Binding(keys.split(",")[0], "")) if keys else binding_id

    # -- autopilot --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="autopilot", exit_on_error=False, description="switch autopilot")
    def switch_autopilot(self, on: bool) -> None:
        self.services.set_autopilot(on)
        self.post_message(AutopilotLoaded(self.services.autopilot_enabled()))
        self.call_from_thread(self.notify, f"Autopilot is {'on' if on else 'off'}.", timeout=4)

    # -- quit ------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        now = self.clock()
        open_windows = self.queue_pane.actionable(now)
        if not open_windows or isinstance(self.screen, QuitWarningScreen):
            self.exit(0)
            return
        quit_key = self.key_for("quit")
        quit_keys = [key for key, active in self.main.active_bindings.items() if active.binding.id == "quit"]

        def done(really: bool | None) -> None:
            if really:
                self.exit(0)
            else:
                self.notify("Not quitting. Press r to reveal.", timeout=4)

        self.push_screen(QuitWarningScreen(open_windows, now, quit_key, quit_keys), done)

    # -- command palette -------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from context_commands(self)
        yield from super().get_system_commands(screen)


def _work(fn: Callable[[], Awaitable[None]]) -> Any:
    """An async callable for ``run_worker``: the coroutine is created only if the worker starts
    (an exclusive worker replaced before it ran would otherwise leave a never-awaited one)."""
    return fn


__all__ = ["ConsoleApp", "ConsoleOptions", "MainScreen"]
