"""The command palette's commands (ctrl+p) and the keys screen (?).

Besides Textual's own commands the palette offers the console's actions for what is selected now
(commit this checkpoint, reveal that model, stake on the highlighted model, stop this run), the
Models pane's filters and sorts, and the panes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.screen import Screen

from soma_console.tui.dialogs import HelpScreen
from soma_console.tui.keymap import MAIN_KEYS
from soma_console.tui.main_screen import PANE_TITLES, PANES, MainScreen
from soma_console.tui.models_pane import MODEL_COLUMNS
from soma_console.tui.status_bar import short_id

if TYPE_CHECKING:
    from soma_console.tui.app import ConsoleApp


def context_commands(app: ConsoleApp) -> Iterable[SystemCommand]:
    if not isinstance(app.screen_stack[0], MainScreen):
        return
    yield SystemCommand("Train a new model…", "Open the training dialog (t)", app.flows.start_train_flow)
    checkpoint = app.checkpoints_pane.selected()
    if checkpoint is not None:
        yield SystemCommand(
            f"Commit checkpoint step {checkpoint.step} of {checkpoint.run} as a new model",
            "Show what will be sent, then ask for confirmation (c)",
            app.flows.commit_selected,
        )
        if app.snapshot is not None:
            for model in app.snapshot.mine():
                if model.status == "active":
                    yield SystemCommand(
                        f"Commit step {checkpoint.step} as an update of {short_id(model.model_id)}",
                        "Update an active model of yours with this checkpoint",
                        _bind(app.flows.commit_selected, model.model_id),
                    )
    now = app.clock()
    for entry in app.queue_pane.actionable(now):
        yield SystemCommand(
            f"Reveal {short_id(entry.model_id)} (window open)",
            f"Committed in epoch {entry.commit_epoch}; reveal it before the boundary (r)",
            _bind(app.flows.reveal_selected, entry.model_id),
        )
    yield SystemCommand(
        "Autopilot: turn " + ("off" if app.autopilot else "on"),
        "Reveal pending commits automatically (a)",
        app.flows.toggle_autopilot,
    )
    selected = app.models.selected()
    if selected is not None:
        sid = short_id(selected.model_id)
        yield SystemCommand(
            f"Add stake to {sid}", "Ask for an amount, then confirm (s)", app.flows.stake_selected
        )
        if selected.is_owned_by(app.services.address):
            yield SystemCommand(
                f"Set commission of {sid}", "Effective next epoch (m)", app.flows.commission_selected
            )
            yield SystemCommand(
                f"Deactivate {sid}", "Irreversible; typed confirmation (d)", app.flows.deactivate_selected
            )
    yield SystemCommand(
        "Models: show only mine", "Filter the Models pane to your models", _bind(_filter_mine, app)
    )
    for column in MODEL_COLUMNS:
        yield SystemCommand(
            f"Models: sort by {column}", "Sort the Models pane", _bind(app.models.sort_by, column)
        )
    run = app.training.selected_run()
    if run is not None:
        yield SystemCommand(
            "Follow the training log",
            "Jump to the newest line and keep up (f)",
            app.training.action_follow,
        )
        info = app.training.runs.get(run)
        if info is not None and info.status == "running":
            yield SystemCommand(
                f"Stop run {run}", "Ask the trainer to stop (x)", _bind(app.flows.stop_run_flow, run)
            )
    for pane in PANES:
        yield SystemCommand(f"Go to {PANE_TITLES[pane]}", "Focus that pane", _bind(app.main.focus_pane, pane))
    yield SystemCommand("Show keys", "List the keys of the focused pane (?)", _bind(show_keys, app))


def _filter_mine(app: ConsoleApp) -> None:
    app.main.focus_pane("models")
    app.models.action_filter()
    box = app.models.query_one("#model-filter")
    box.value = "mine"  # type: ignore[attr-defined]


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def call() -> Any:
        return fn(*args)

    return call


def show_keys(app: ConsoleApp) -> None:
    """The keys screen (?): the focused pane's keys, then those that work everywhere."""
    main = app.main
    pane_name = PANE_TITLES.get(main.current_pane, "")
    here: list[tuple[str, str, str]] = []
    everywhere: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for active in main.active_bindings.values():
        binding = active.binding
        if not binding.id or binding.id in seen:  # Textual's own widget keys are summarised below
            continue
        seen.add(binding.id)
        row = (app.get_key_display(binding), binding.description, binding.id)
        (everywhere if isinstance(active.node, App | Screen) else here).append(row)
    for spec in MAIN_KEYS:  # keys not active right now (disabled) still belong in the list
        if spec.id not in seen:
            everywhere.append((app.key_for(spec.id), spec.description, spec.id))
    here.append(("↑ ↓ pgup pgdn home end", "Move in the list or log", "-"))
    sections = [(f"This pane: {pane_name}", here), ("Everywhere", everywhere)]
    app.push_screen(HelpScreen(f"Keys · {pane_name}", sections))
