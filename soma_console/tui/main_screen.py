"""The console's one main screen: the four panes side by side, or as tabs on a narrow terminal.

Its keys start the console's actions (``app.flows``); focus moves between the panes' lists in a
fixed order (``FOCUS_STOPS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Tab, Tabs

from soma_console.tui.action_log import ActionLog
from soma_console.tui.checkpoints_pane import CheckpointsPane
from soma_console.tui.key_hints import KeyHints
from soma_console.tui.keymap import MAIN_KEYS, bindings
from soma_console.tui.models_pane import ModelsPane
from soma_console.tui.pane import Pane
from soma_console.tui.queue_pane import QueuePane
from soma_console.tui.status_bar import StatusBar
from soma_console.tui.training_pane import TrainingPane

if TYPE_CHECKING:
    from soma_console.tui.app import ConsoleApp

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
        return cast("ConsoleApp", self.app)

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
        narrow = width < self.console.options.narrow_below
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
        if action in self.FLOW_ACTIONS and self.console.flows.running:
            return None
        # Digits typed into the models filter are part of a model id, not pane keys.
        return not (action == "pane" and isinstance(self.focused, Input))

    def action_train(self) -> None:
        self.console.flows.start_train_flow()

    def action_commit(self) -> None:
        self.console.flows.commit_selected()

    def action_reveal(self) -> None:
        self.console.flows.reveal_selected()

    def action_stake(self) -> None:
        self.console.flows.stake_selected()

    def action_commission(self) -> None:
        self.console.flows.commission_selected()

    def action_deactivate(self) -> None:
        self.console.flows.deactivate_selected()

    def action_autopilot(self) -> None:
        self.console.flows.toggle_autopilot()

    def action_help(self) -> None:
        from soma_console.tui.commands import show_keys  # the keys screen needs the app

        show_keys(self.console)

    def action_earnings(self) -> None:
        from soma_console.tui.earnings_pane import EarningsScreen

        load = getattr(self.console.services, "earnings_view", None)
        self.console.push_screen(EarningsScreen(load if load is not None else lambda: None))

    def on_training_pane_run_selected(self, event: TrainingPane.RunSelected) -> None:
        self.console.follow(event.run)

    def on_training_pane_stop_requested(self, event: TrainingPane.StopRequested) -> None:
        self.console.flows.stop_run_flow(event.run)
