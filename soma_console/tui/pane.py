"""The base every pane builds on, and the cell formatters more than one pane uses.

Panes are views: they draw what the app hands them and report what the user selects. All I/O
happens in the app's workers (see ``app.py``); nothing in a pane blocks or talks to services.
"""

from __future__ import annotations

import time
from typing import Any

from textual.containers import Vertical

from soma_console.tui.tables import Cell


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def loss_cell(value: float | None) -> Cell:
    return Cell("-" if value is None else f"{value:.4f}", sort=value)


class Pane(Vertical):
    """A titled, bordered pane; ``primary`` is the widget that takes focus when it is entered."""

    TITLE = ""
    primary_id = ""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, classes="pane")
        self.border_title = self.TITLE

    @property
    def primary(self) -> Any:
        return self.query_one(f"#{self.primary_id}")
