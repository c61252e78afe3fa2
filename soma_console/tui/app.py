"""The console: one screen with Training, Checkpoints, Reveal queue and Models side by side.

Data flows one way. The services (``ConsoleServices``) are the only source: chain snapshots arrive
through the chain listener, everything else is read in worker threads or awaited in async
workers, and every result comes back to the screen as a message. The event loop never waits on
I/O, and one ``Worker.StateChanged`` handler turns any failure into a notification: a service
error never takes the console down.

Time is injected (``clock``) and the 1 Hz countdown tick and the log flush run from timers only
when ``timers=True``; tests drive ``tick()`` and ``flush_logs()`` themselves, so nothing depends
on wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import partial, wraps
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Tab, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from soma_console.config import Settings
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.console_services import CheckpointInfo, ConsoleServices, RunInfo
from soma_console.core.journal import AuditEntry
from soma_console.core.reveal_queue import QueueEntry, format_countdown
from soma_console.core.score_verdicts import load_verdict
from soma_console.errors import ReadOnlyError, UserError
from soma_console.secrets import redact
from soma_console.training.events import Finished
from soma_console.tui.dialogs import (
    ConfirmPlanScreen,
    HelpScreen,
    QuitWarningScreen,
    TrainDialog,
    ValueDialog,
    parse_bps,
    parse_soma,
)
from soma_console.tui.hangup import HangupGuard
from soma_console.tui.key_hints import KeyHints
from soma_console.tui.keymap import ALL_KEYS, APP_KEYS, MAIN_KEYS, bindings, keymap_from_settings
from soma_console.tui.panes import (
    MODEL_COLUMNS,
    ActionLog,
    CheckpointsPane,
    ModelsPane,
    Pane,
    QueuePane,
    TrainingPane,
)
from soma_console.tui.status_bar import StatusBar, StatusView, short_id

log = logging.getLogger(__name__)

NARROW_BELOW = 120  # columns: below this the panes become tabs
PANES = ("training", "checkpoints", "queue", "models")
PANE_TITLES = {
    "training": "Training",
    "checkpoints": "Checkpoints",
    "queue": "Reveal queue",
    "models": "Models",
}
# Where tab goes next, in order: (pane, widget id). The action log is last.
FOCUS_STOPS = (
    ("training", "runs"),
    ("training", "run-log"),
    ("checkpoints", "checkpoint-table"),
    ("queue", "queue-table"),
    ("models", "model-table"),
    (None, "action-log"),
)


# -- messages from listeners and workers -----------------------------------------------------------
class ChainUpdate(Message):
    def __init__(self, snapshot: ChainSnapshot | None, error: ChainError | None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.error = error


class RunsLoaded(Message):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class CheckpointsLoaded(Message):
    def __init__(self, run: str, checkpoints: list[CheckpointInfo]) -> None:
        super().__init__()
        self.run = run
        self.checkpoints = checkpoints


class VerdictsLoaded(Message):
    def __init__(self, verdicts: dict[str, str]) -> None:
        super().__init__()
        self.verdicts = verdicts


class QueueLoaded(Message):
    def __init__(self, entries: list[QueueEntry]) -> None:
        super().__init__()
        self.entries = entries


class AuditLoaded(Message):
    def __init__(self, entries: list[AuditEntry]) -> None:
        super().__init__()
        self.entries = entries


class AutopilotLoaded(Message):
    def __init__(self, on: bool) -> None:
        super().__init__()
        self.on = on


class ActionProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def while_open(method: Callable[..., None]) -> Callable[..., None]:
    """For timer callbacks and message handlers that draw: do nothing once the console is on its
    way out. Textual takes the widgets down before it stops the timers and the message queue, so
    a late tick or a worker's late result would otherwise find no panes and end in a traceback."""

    @wraps(method)
    def guarded(self: ConsoleApp, *args: Any) -> None:
        if not self.is_open:
            return
        try:
            method(self, *args)
        except NoMatches:
            if self.is_open:
                raise

    return guarded


class PaneTabs(Tabs, can_focus=False):
    """The tab bar shown instead of side-by-side panes on narrow terminals."""


class MainScreen(Screen[None]):
    """The one screen. Its bindings are inactive while a dialog is open."""

    BINDINGS: ClassVar[list[Any]] = bindings(MAIN_KEYS)

    # Textual repaints the whole screen whenever the focus moves; the widgets that gain and
    # lose focus repaint themselves anyway. At 160x48 the full repaint was most of a pane
    # switch's cost (about 100 ms on a 2-core machine).
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def __init__(self, *, log_lines: int) -> None:
        super().__init__(id="main")
        self.log_lines = log_lines
        self.current_pane = "training"

    @property
    def console(self) -> ConsoleApp:
        app = self.app
        assert isinstance(app, ConsoleApp)
        return app

    def compose(self) -> ComposeResult:
        yield StatusBar("", id="status")
        yield PaneTabs(*(Tab(PANE_TITLES[p], id=f"tab-{p}") for p in PANES), id="pane-tabs")
        with Horizontal(id="panes"):
            yield TrainingPane(log_lines=self.log_lines)
            yield CheckpointsPane()
            yield QueuePane()
            yield ModelsPane()
        yield ActionLog()
        yield KeyHints()

    def on_mount(self) -> None:
        self._apply_width(self.app.size.width)
        self.query_one("#runs").focus()
        self.console.begin()

    # -- layout: side by side, or tabs below NARROW_BELOW columns --------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        narrow = width < self.console.narrow_below
        self.set_class(narrow, "narrow")
        self._show_pane(self.current_pane)

    @property
    def narrow(self) -> bool:
        return self.has_class("narrow")

    def _show_pane(self, pane: str) -> None:
        self.current_pane = pane
        narrow = self.narrow
        for name in PANES:
            widget = self.query_one(f"#{name}", Pane)
            current = name == pane
            if widget.display != (not narrow or current):
                widget.display = not narrow or current
            # Mark the focused pane with its title (▶, reversed) rather than a CSS class or
            # :focus-within: those restyle and repaint the pane's whole subtree (every table in
            # it) and, for a border, re-run the layout; under a busy log that doubled the time
            # from a key press to the screen showing it. The mark reads without colour too.
            title = ("▶ " if current else "") + widget.TITLE
            if widget.border_title != title:
                widget.border_title = title
                widget.styles.border_title_style = "bold reverse" if current else "bold"
        if narrow:  # the tab bar is hidden (and not worth updating) when the panes are side by side
            tabs = self.query_one(PaneTabs)
            if tabs.active != f"tab-{pane}":
                tabs.active = f"tab-{pane}"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        pane = event.tab.id.removeprefix("tab-")
        if pane != self.current_pane:
            self.focus_pane(pane)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        pane = self._pane_of(event.widget)
        if pane is not None and pane != self.current_pane:
            self._show_pane(pane)

    @staticmethod
    def _pane_of(widget: Widget) -> str | None:
        for node in widget.ancestors_with_self:
            if isinstance(node, Pane) and node.id in PANES:
                return node.id
        return None

    def focus_pane(self, pane: str, widget_id: str | None = None) -> None:
        target = self.query_one(f"#{widget_id}") if widget_id else self.query_one(f"#{pane}", Pane).primary
        self._show_pane(pane)
        # Focus now, not after a refresh: keys typed right behind this one (a paste, or a
        # laggy SSH link delivering several at once) must reach the new pane.
        self.set_focus(target)

    def _stop_index(self) -> int:
        focused = self.focused
        for i, (_, wid) in enumerate(FOCUS_STOPS):
            if focused is not None and focused.id == wid:
                return i
        for i, (pane, _) in enumerate(FOCUS_STOPS):
            if pane == self.current_pane:
                return i
        return 0

    def _move(self, step: int) -> None:
        i = (self._stop_index() + step) % len(FOCUS_STOPS)
        pane, wid = FOCUS_STOPS[i]
        if pane is None:
            self.query_one(f"#{wid}").focus()
        else:
            self.focus_pane(pane, wid)

    def action_next_pane(self) -> None:
        self._move(1)

    def action_previous_pane(self) -> None:
        self._move(-1)

    def action_pane(self, pane: str) -> None:
        self.focus_pane(pane)

    # -- actions (the app does the work) ---------------------------------------------------------
    FLOW_ACTIONS: ClassVar[frozenset[str]] = frozenset(
        {"train", "commit", "reveal", "stake", "commission", "deactivate", "autopilot"}
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While an action is being planned (before its dialog is up) the keys typed ahead, say
        # the confirmation word, must not start other actions: those keys are disabled.
        if action in self.FLOW_ACTIONS and self.console.flow_running:
            return None
        # Digits typed into the models filter are part of a model id, not pane keys.
        return not (action == "pane" and isinstance(self.focused, Input))

    def action_train(self) -> None:
        self.console.start_train_flow()

    def action_commit(self) -> None:
        self.console.commit_selected()

    def action_reveal(self) -> None:
        self.console.reveal_selected()

    def action_stake(self) -> None:
        self.console.stake_selected()

    def action_commission(self) -> None:
        self.console.commission_selected()

    def action_deactivate(self) -> None:
        self.console.deactivate_selected()

    def action_autopilot(self) -> None:
        self.console.toggle_autopilot()

    def action_help(self) -> None:
        self.console.show_help()

    def action_earnings(self) -> None:
        from soma_console.tui.earnings_pane import EarningsScreen

        load = getattr(self.console.services, "earnings_view", None)
        self.console.push_screen(EarningsScreen(load if load is not None else lambda: None))

    def on_training_pane_run_selected(self, event: TrainingPane.RunSelected) -> None:
        self.console.follow(event.run)

    def on_training_pane_stop_requested(self, event: TrainingPane.StopRequested) -> None:
        self.console.stop_run_flow(event.run)


class ConsoleApp(App[int]):
    """The soma-console operator console. See :func:`run_console`."""

    CSS_PATH = "console.tcss"
    TITLE = "soma-console"
    BINDINGS: ClassVar[list[Any]] = bindings(APP_KEYS)
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        services: ConsoleServices,
        *,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
        timers: bool = True,
        log_lines: int = 5000,
        flush_hz: float = 15.0,
        narrow_below: int = NARROW_BELOW,
        cursor_blink: bool = True,
        watch_hangup: bool = False,
        freeze_gc: bool = False,
    ) -> None:
        super().__init__()
        self.services = services
        self.clock = clock
        self.settings = settings
        self.timers = timers
        self.log_lines = log_lines
        self.flush_hz = flush_hz
        self.narrow_below = narrow_below
        self.cursor_blink = cursor_blink
        self.watch_hangup = watch_hangup
        self.freeze_gc = freeze_gc
        self.snapshot: ChainSnapshot | None = None
        self.chain_error: ChainError | None = None
        self.queue_entries: list[QueueEntry] = []
        self.autopilot: bool | None = None
        self.executing: str | None = None
        self.hung_up = False
        self.errors: list[str] = []  # every error shown, for tests and the log
        self._unsubscribe: Callable[[], None] | None = None
        self._select_run: str | None = None
        self._ended_runs: set[str] = set()  # finished while followed: select their newest checkpoint
        self._alarm = False
        self._hangup_guard: HangupGuard | None = None
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
        return MainScreen(log_lines=self.log_lines)

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
        if self.watch_hangup:
            self._install_hangup_handler()
        self._unsubscribe = self.services.subscribe_chain(self._on_chain)
        first = self.services.latest_chain()
        if first is not None:
            self.post_message(ChainUpdate(first, None))
        else:
            self.refresh_status()
        self.run_worker(
            _work(self._start_services),
            group="lifecycle",
            exit_on_error=False,
            description="start the services",
        )
        self.load_runs()
        self.load_queue()
        self.load_audit()
        self.load_autopilot()
        if self.timers:
            self.set_interval(1.0, self.tick, name="countdown")
            self.set_interval(1.0 / self.flush_hz, self.flush_logs, name="log-flush")
            self.set_interval(5.0, self.load_runs, name="runs-refresh")

    async def _start_services(self) -> None:
        await self.services.start()

    async def on_unmount(self) -> None:
        if self._hangup_guard is not None:
            self._hangup_guard.uninstall()
        if self._unsubscribe is not None:
            self._unsubscribe()
        try:
            await asyncio.wait_for(self.services.stop(), 5.0)
        except Exception:
            log.exception("stopping the services failed")

    def _install_hangup_handler(self) -> None:
        self._hangup_guard = HangupGuard(self.hang_up)
        self._hangup_guard.install()

    def hang_up(self) -> None:
        """The terminal went away (SIGHUP): leave quietly, with no warning dialog and no traceback."""
        self.hung_up = True
        self.exit(129)

    def panic(self, *renderables: Any) -> None:
        # After a hang-up the driver's reads and writes fail; that is expected, not an error to
        # print on a terminal that no longer exists.
        if self.hung_up:
            self.exit(129)
            return
        super().panic(*renderables)

    def _fatal_error(self) -> None:
        if self.hung_up:
            self.exit(129)
            return
        super()._fatal_error()

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
            if first and self.freeze_gc:
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
        from soma_console.tui.panes import live_state

        _, _, left, _ = live_state(entry, now)
        self.bell()
        self.notify(
            f"The reveal window of {short_id(entry.model_id)} closes in {format_countdown(left)}. "
            f"Press {self._key_for('reveal')} to reveal it now.",
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
    def _key_for(self, binding_id: str) -> str:
        """How the key bound to ``binding_id`` is written on screen (after any remapping)."""
        keys = self._keymap.get(binding_id)
        if not keys:
            keys = next((spec.key for spec in ALL_KEYS if spec.id == binding_id), "")
        if not keys:
            return binding_id
        return self.get_key_display(Binding(keys.split(",")[0], ""))

    def refuse_readonly(self, what: str) -> bool:
        """True (and a notification, nothing sent) when read-only mode forbids ``what``."""
        if not self.services.readonly:
            return False
        self.report(ReadOnlyError(what), what)
        return True

    def _busy(self) -> bool:
        if self.executing is None:
            return False
        self.notify(
            f"A {self.executing} transaction is being sent; wait for it to finish.",
            severity="warning",
            timeout=5,
        )
        return True

    @property
    def flow_running(self) -> bool:
        """An action flow (plan, dialog, execute) is under way."""
        return any(w.group == "flow" and not w.is_finished for w in self.workers)

    def _run_flow(self, flow: Callable[[], Awaitable[None]], description: str) -> None:
        self.call_after_refresh(self.main.refresh_bindings)
        self.run_worker(
            _work(flow), group="flow", exclusive=True, exit_on_error=False, description=description
        )

    async def _confirm_and_execute(self, plan: ActionPlan) -> ActionResult | None:
        confirmed = await self.push_screen_wait(ConfirmPlanScreen(plan))
        if not confirmed:
            self.notify(f"Cancelled; nothing was sent ({plan.action}).", timeout=4)
            return None
        return await self._execute(plan)

    async def _execute(self, plan: ActionPlan) -> ActionResult:
        self.executing = plan.action
        self.action_log.border_subtitle = f"{plan.action}: starting"
        try:
            result = await self.services.execute(plan, self._progress)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.action_log.note(f"✗ {plan.action} failed: {redact(str(exc))}", self.clock())
            raise
        finally:
            self.executing = None
            self.action_log.border_subtitle = ""
        mark = "✓" if result.ok else "✗"
        self.notify(f"{mark} {result.summary}", title=plan.action, timeout=6)
        if result.digest is None:
            self.action_log.note(f"{mark} {result.summary}", self.clock())
        self.load_audit()
        self.load_queue()
        if self.training.followed:
            self.load_checkpoints(self.training.followed)
        return result

    def _progress(self, text: str) -> None:
        # The services may report from any thread; post_message is thread-safe.
        self.post_message(ActionProgress(text))

    def _plan_then_confirm(self, what: str, planner: Callable[[], Awaitable[ActionPlan]]) -> None:
        if self.refuse_readonly(what) or self._busy():
            return

        async def flow() -> None:
            plan = await planner()
            await self._confirm_and_execute(plan)

        self._run_flow(flow, what)

    def commit_selected(self, model_id: str | None = None) -> None:
        checkpoint = self.checkpoints_pane.selected()
        if self.refuse_readonly("commit"):
            return
        if checkpoint is None:
            self.notify("Select a checkpoint in the Checkpoints pane first (2 jumps there).", timeout=5)
            return
        path = checkpoint.path
        self._plan_then_confirm(
            "commit", lambda: self.services.plan_commit(path, model_id, None, None, self._progress)
        )

    def claim_wins(self) -> None:
        """Plan claiming every claimable win of the wallet's models; a typed word confirms."""
        planner = getattr(self.services, "plan_claim", None)
        if planner is None:
            self.notify("Claiming is not available here; use `soma-console claim`.", timeout=5)
            return
        self._plan_then_confirm("claim", planner)

    def reveal_selected(self, model_id: str | None = None) -> None:
        if model_id is None:
            entry = self.queue_pane.selected()
            if entry is not None and entry in self.queue_pane.actionable(self.clock()):
                model_id = entry.model_id
        self._plan_then_confirm("reveal", lambda: self.services.plan_reveal(model_id))

    def _selected_model(self, what: str) -> str | None:
        model = self.models.selected()
        if model is None:
            self.notify(f"Select a model in the Models pane to {what} (4 jumps there).", timeout=5)
            return None
        return model.model_id

    def _refuse_status(self, allowed: tuple[str, ...], what: str) -> bool:
        """Say at once that the selected model cannot take ``what`` (before asking for a value)."""
        model = self.models.selected()
        if model is None or model.status in allowed:
            return False
        self.notify(
            f"Model {short_id(model.model_id)} is {model.status}; {what}.",
            title="Not possible",
            severity="warning",
            timeout=6,
        )
        return True

    def stake_selected(self) -> None:
        if self.refuse_readonly("add stake") or self._busy():
            return
        model_id = self._selected_model("add stake")
        if model_id is None:
            return
        if self._refuse_status(
            ("created", "pending", "active"), "stake goes only to created, pending or active models"
        ):
            return

        async def flow() -> None:
            amount = await self.push_screen_wait(
                ValueDialog(f"Add stake to {short_id(model_id)}", "Amount of SOMA to add", parse_soma)
            )
            if amount is None:
                return
            assert isinstance(amount, float)
            plan = await self.services.plan_stake(model_id, amount)
            await self._confirm_and_execute(plan)

        self._run_flow(flow, "add stake")

    def commission_selected(self) -> None:
        if self.refuse_readonly("set commission") or self._busy():
            return
        model_id = self._selected_model("set its commission")
        if model_id is None:
            return
        if self._refuse_status(("active",), "only an active model's commission can change"):
            return
        model = self.models.selected()
        current = "" if model is None or model.commission_rate is None else str(model.commission_rate)

        async def flow() -> None:
            bps = await self.push_screen_wait(
                ValueDialog(
                    f"Commission of {short_id(model_id)}",
                    "New commission in basis points (250) or percent (2.5%)",
                    parse_bps,
                    value=current,
                )
            )
            if bps is None:
                return
            assert isinstance(bps, int)
            plan = await self.services.plan_commission(model_id, bps)
            await self._confirm_and_execute(plan)

        self._run_flow(flow, "set commission")

    def deactivate_selected(self) -> None:
        if self.refuse_readonly("deactivate"):
            return
        model_id = self._selected_model("deactivate")
        if model_id is None:
            return
        self._plan_then_confirm("deactivate", lambda: self.services.plan_deactivate(model_id))

    def toggle_autopilot(self) -> None:
        turn_on = not bool(self.autopilot)
        if turn_on and self.refuse_readonly("turn autopilot on"):
            return
        self._set_autopilot(turn_on)

    @work(thread=True, exclusive=True, group="autopilot", exit_on_error=False, description="switch autopilot")
    def _set_autopilot(self, on: bool) -> None:
        self.services.set_autopilot(on)
        self.post_message(AutopilotLoaded(self.services.autopilot_enabled()))
        self.call_from_thread(self.notify, f"Autopilot is {'on' if on else 'off'}.", timeout=4)

    def start_train_flow(self) -> None:
        async def flow() -> None:
            spec = await self.push_screen_wait(
                TrainDialog(self.services.training_presets, default_steps=self._default_steps())
            )
            if spec is None:
                return
            assert isinstance(spec, dict)
            name = await self.services.start_training(spec)
            self.notify(f"Started run {name}.", timeout=5)
            self._select_run = name
            self.load_runs()

        self._run_flow(flow, "start training")

    def _default_steps(self) -> int:
        """The training dialog's steps (``[console] train_steps`` in config.toml, else 200)."""
        value = self.settings.get("console.train_steps", 200) if self.settings is not None else 200
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.notify(
                f"[console] train_steps must be a whole number above 0, not {value!r}; using 200.",
                title="config.toml",
                severity="warning",
                timeout=8,
            )
            return 200
        return value

    def stop_run_flow(self, run: str | None) -> None:
        if run is None:
            self.notify("Select a run in the Training pane first.", timeout=4)
            return
        info = self.training.runs.get(run)
        if info is not None and info.status != "running":
            self.notify(f"Run {run} is not running ({info.status}).", timeout=4)
            return

        async def flow() -> None:
            plan = ActionPlan(
                action="stop",
                title=f"Stop training run {run}",
                lines=(("Run", run), ("Effect", "the trainer saves a checkpoint if it can, then exits")),
                confirm_word="stop",
            )
            if not await self.push_screen_wait(ConfirmPlanScreen(plan)):
                return
            await self.services.stop_training(run)
            self.notify(f"Asked run {run} to stop.", timeout=5)
            self.load_runs()

        self._run_flow(flow, "stop training")

    def show_help(self) -> None:
        main = self.main
        pane_name = PANE_TITLES.get(main.current_pane, "")
        here: list[tuple[str, str, str]] = []
        everywhere: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for active in main.active_bindings.values():
            binding = active.binding
            if not binding.id or binding.id in seen:  # Textual's own widget keys are summarised below
                continue
            seen.add(binding.id)
            row = (self.get_key_display(binding), binding.description, binding.id)
            (everywhere if isinstance(active.node, App | Screen) else here).append(row)
        for spec in MAIN_KEYS:  # keys not active right now (disabled) still belong in the list
            if spec.id not in seen:
                everywhere.append((self._key_for(spec.id), spec.description, spec.id))
        here.append(("↑ ↓ pgup pgdn home end", "Move in the list or log", "-"))
        sections = [(f"This pane: {pane_name}", here), ("Everywhere", everywhere)]
        self.push_screen(HelpScreen(f"Keys · {pane_name}", sections))

    # -- quit ------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        now = self.clock()
        open_windows = self.queue_pane.actionable(now)
        if not open_windows or isinstance(self.screen, QuitWarningScreen):
            self.exit(0)
            return
        quit_key = self._key_for("quit")
        quit_keys = [key for key, active in self.main.active_bindings.items() if active.binding.id == "quit"]

        def done(really: bool | None) -> None:
            if really:
                self.exit(0)
            else:
                self.notify("Not quitting. Press r to reveal.", timeout=4)

        self.push_screen(QuitWarningScreen(open_windows, now, quit_key, quit_keys), done)

    # -- command palette -------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from self._context_commands()
        yield from super().get_system_commands(screen)

    def _context_commands(self) -> Iterable[SystemCommand]:
        if not isinstance(self.screen_stack[0], MainScreen):
            return
        yield SystemCommand("Train a new model…", "Open the training dialog (t)", self.start_train_flow)
        checkpoint = self.checkpoints_pane.selected()
        if checkpoint is not None:
            yield SystemCommand(
                f"Commit checkpoint step {checkpoint.step} of {checkpoint.run} as a new model",
                "Show what will be sent, then ask for confirmation (c)",
                self.commit_selected,
            )
            if self.snapshot is not None:
                for model in self.snapshot.mine():
                    if model.status == "active":
                        yield SystemCommand(
                            f"Commit step {checkpoint.step} as an update of {short_id(model.model_id)}",
                            "Update an active model of yours with this checkpoint",
                            _bind(self.commit_selected, model.model_id),
                        )
        now = self.clock()
        for entry in self.queue_pane.actionable(now):
            yield SystemCommand(
                f"Reveal {short_id(entry.model_id)} (window open)",
                f"Committed in epoch {entry.commit_epoch}; reveal it before the boundary (r)",
                _bind(self.reveal_selected, entry.model_id),
            )
        yield SystemCommand(
            "Autopilot: turn " + ("off" if self.autopilot else "on"),
            "Reveal pending commits automatically (a)",
            self.toggle_autopilot,
        )
        selected = self.models.selected()
        if selected is not None:
            sid = short_id(selected.model_id)
            yield SystemCommand(
                f"Add stake to {sid}", "Ask for an amount, then confirm (s)", self.stake_selected
            )
            if selected.is_owned_by(self.services.address):
                yield SystemCommand(
                    f"Set commission of {sid}", "Effective next epoch (m)", self.commission_selected
                )
                yield SystemCommand(
                    f"Deactivate {sid}", "Irreversible; typed confirmation (d)", self.deactivate_selected
                )
        yield SystemCommand(
            "Models: show only mine", "Filter the Models pane to your models", self._filter_mine
        )
        for column in MODEL_COLUMNS:
            yield SystemCommand(
                f"Models: sort by {column}", "Sort the Models pane", _bind(self.models.sort_by, column)
            )
        run = self.training.selected_run()
        if run is not None:
            yield SystemCommand(
                "Follow the training log",
                "Jump to the newest line and keep up (f)",
                self.training.action_follow,
            )
            info = self.training.runs.get(run)
            if info is not None and info.status == "running":
                yield SystemCommand(
                    f"Stop run {run}", "Ask the trainer to stop (x)", _bind(self.stop_run_flow, run)
                )
        for pane in PANES:
            yield SystemCommand(
                f"Go to {PANE_TITLES[pane]}", "Focus that pane", _bind(self.main.focus_pane, pane)
            )
        yield SystemCommand("Show keys", "List the keys of the focused pane (?)", self.show_help)

    def _filter_mine(self) -> None:
        self.main.focus_pane("models")
        self.models.action_filter()
        box = self.models.query_one("#model-filter")
        box.value = "mine"  # type: ignore[attr-defined]


def _work(fn: Callable[[], Awaitable[None]]) -> Any:
    """An async callable for ``run_worker``: the coroutine is created only if the worker starts
    (an exclusive worker replaced before it ran would otherwise leave a never-awaited one)."""
    return fn


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def call() -> Any:
        return fn(*args)

    return call


@contextlib.contextmanager
def _terminal_on_stdout() -> Iterator[None]:
    """Textual draws on stderr but reads the terminal's size from stdout. With stdout piped
    (``make demo | tee log``) it would draw at 80x24 whatever the terminal's size, and never
    see a resize: while the console runs, stdout is the terminal stderr is (nothing else is
    written to stdout meanwhile; logging goes to its file)."""
    if os.isatty(1) or not os.isatty(2):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_console(
    services: ConsoleServices,
    *,
    clock: Callable[[], float] = time.time,
    settings: Settings | None = None,
    mouse: bool = True,
) -> int:
    """Run the console on ``services`` until the user quits; return the exit status.

    The services are started after the first frame and stopped when the console exits (also
    when the terminal goes away: SIGHUP restores what it can and exits with 129, quietly).
    """
    app = ConsoleApp(services, clock=clock, settings=settings, watch_hangup=True, freeze_gc=True)
    with _terminal_on_stdout():
        result = app.run(mouse=mouse)
    if app.hung_up:
        return 129
    return int(result or 0) if app.return_code in (0, None) else int(app.return_code or 1)


__all__ = ["ConsoleApp", "MainScreen", "run_console"]
