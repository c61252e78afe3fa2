"""Every key the console answers to, with a stable id users can remap.

Terminal multiplexers and terminals claim keys of their own (tmux's prefix, a terminal's
shortcuts), so every binding has an id and ``config.toml`` may move it::

    [keys]
    commit = "C"            # one key
    quit = "q,ctrl+q"       # several keys, comma-separated

The tables below are the single source of the key map: the bindings, the ``?`` help, the
command palette and docs/console.md are all built from (or checked against) them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding, BindingType

from soma_console.config import Settings


@dataclass(frozen=True)
class KeySpec:
    id: str
    key: str
    action: str
    description: str
    show: bool = True  # in the footer
    priority: bool = False

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            id=self.id,
            priority=self.priority,
        )


# Everywhere on the main screen (not inside dialogs).
MAIN_KEYS: tuple[KeySpec, ...] = (
    KeySpec("train", "t", "train", "Train"),
    KeySpec("commit", "c", "commit", "Commit"),
    KeySpec("reveal", "r", "reveal", "Reveal"),
    KeySpec("stake", "s", "stake", "Stake"),
    KeySpec("commission", "m", "commission", "Commission"),
    KeySpec("deactivate", "d", "deactivate", "Deactivate"),
    KeySpec("autopilot", "a", "autopilot", "Autopilot"),
    KeySpec("earnings", "e", "earnings", "Earnings", show=False),
    KeySpec("help", "question_mark", "help", "Keys"),
    KeySpec("quit", "q", "app.quit", "Quit"),
    # Keys that move the focus are priority bindings: they act the moment they are read, so the
    # keys behind them in a burst (a paste, a laggy SSH link) already go to the new place.
    KeySpec("next_pane", "tab", "next_pane", "Next pane", show=False, priority=True),
    KeySpec("previous_pane", "shift+tab", "previous_pane", "Previous pane", show=False, priority=True),
    KeySpec("pane_training", "1", "pane('training')", "Training pane", show=False, priority=True),
    KeySpec("pane_checkpoints", "2", "pane('checkpoints')", "Checkpoints pane", show=False, priority=True),
    KeySpec("pane_queue", "3", "pane('queue')", "Reveal queue pane", show=False, priority=True),
    KeySpec("pane_models", "4", "pane('models')", "Models pane", show=False, priority=True),
    KeySpec("command_mode", "colon", "app.command_palette", "Commands", show=False),
)

TRAINING_KEYS: tuple[KeySpec, ...] = (
    KeySpec("follow_log", "f", "follow", "Follow log"),
    KeySpec("stop_training", "x", "stop_training", "Stop run"),
)

CHECKPOINT_KEYS: tuple[KeySpec, ...] = (KeySpec("score_checkpoint", "w", "score", "Will it win?"),)

MODELS_KEYS: tuple[KeySpec, ...] = (
    KeySpec("filter_models", "slash", "filter", "Filter", priority=True),
    KeySpec("sort_models", "o", "sort_next", "Sort"),
    KeySpec("reverse_sort", "O", "sort_reverse", "Reverse sort", show=False),
    KeySpec("clear_filter", "escape", "clear_filter", "Clear filter", show=False),
)

# Application-wide, also inside dialogs.
APP_KEYS: tuple[KeySpec, ...] = (KeySpec("quit_app", "ctrl+q", "quit", "Quit", show=False, priority=True),)

# Inside the dialogs.
DIALOG_KEYS: tuple[KeySpec, ...] = (KeySpec("cancel_dialog", "escape", "cancel", "Cancel"),)
QUIT_WARNING_KEYS: tuple[KeySpec, ...] = (
    KeySpec("confirm_quit", "q", "confirm_quit", "Quit anyway"),
    KeySpec("cancel_quit", "escape", "cancel", "Stay"),
)
HELP_KEYS: tuple[KeySpec, ...] = (KeySpec("close_help", "escape,question_mark,q", "close", "Close"),)

SCOPES: dict[str, tuple[KeySpec, ...]] = {
    "everywhere": MAIN_KEYS + APP_KEYS,
    "training pane": TRAINING_KEYS,
    "checkpoints pane": CHECKPOINT_KEYS,
    "models pane": MODELS_KEYS,
    "dialogs": DIALOG_KEYS,
    "quit warning": QUIT_WARNING_KEYS,
    "help": HELP_KEYS,
}

ALL_KEYS: tuple[KeySpec, ...] = tuple(spec for specs in SCOPES.values() for spec in specs)
BINDING_IDS: frozenset[str] = frozenset(spec.id for spec in ALL_KEYS)


def bindings(specs: Iterable[KeySpec]) -> list[BindingType]:
    return [spec.binding() for spec in specs]


def keymap_from_settings(settings: Settings | None) -> tuple[dict[str, str], list[str]]:
    """The ``[keys]`` table as a Textual keymap, and a warning per entry that was ignored.

    A file that is not a table is a ConfigError (the console cannot guess what was meant); an
    unknown id or a non-string value is skipped with a warning so one typo does not lock the
    user out of the console.
    """
    if settings is None:
        return {}, []
    section: Mapping[str, Any] = settings.section("keys")
    keymap: dict[str, str] = {}
    warnings: list[str] = []
    for binding_id, value in section.items():
        if binding_id not in BINDING_IDS:
            warnings.append(f"[keys] {binding_id} is not a binding id; see docs/console.md for the list.")
            continue
        if not isinstance(value, str) or not value.strip():
            warnings.append(f'[keys] {binding_id} must be a key such as "C" or "ctrl+k", not {value!r}.')
            continue
        keymap[binding_id] = ",".join(part.strip() for part in value.split(",") if part.strip())
    return keymap, warnings


def bound_keys(keymap: Mapping[str, str], binding_id: str) -> str:
    """The keys bound to ``binding_id``: the remapping in ``keymap`` if any, else the default
    (empty for an id no key has)."""
    return keymap.get(binding_id) or next((spec.key for spec in ALL_KEYS if spec.id == binding_id), "")
