"""The bottom line: the keys that work where the focus is.

Textual's Footer rebuilds a widget per key every time the focus moves; under a fast log that
churn (thousands of short-lived objects per pane switch) fed the garbage collector enough to
stall key handling for hundreds of milliseconds. This is one Static whose text changes only
when the set of keys does.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

FIRST = ("help", "quit")  # binding ids shown before all others


class KeyHints(Static):
    DEFAULT_CSS = """
    KeyHints { height: 1; background: $panel; color: $text; }
    """

    def __init__(self) -> None:
        super().__init__("", id="key-hints")
        self._shown: tuple[tuple[str, str, bool], ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        keys: list[tuple[str, str, bool]] = []
        first: list[tuple[str, str, bool]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            entry = (self.app.get_key_display(binding), binding.description, active.enabled)
            if binding.id in FIRST:
                first.append(entry)
            else:
                keys.append(entry)
        # Help and quit first: a narrow terminal cuts the end of the line, never these two.
        shown = tuple(sorted(first, key=lambda e: e[1] != "Keys") + keys)
        if shown == self._shown:
            return
        self._shown = shown
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for key, description, enabled in shown:
            style = "" if enabled else "dim"
            text.append(f" {key} ", style=f"bold reverse {style}".strip())
            text.append(f" {description} ", style=style)
        text.append("  ^p commands", style="dim")
        self.update(text, layout=False)  # always one line
