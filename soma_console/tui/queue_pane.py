"""The Reveal queue pane: commits waiting for their reveal window, with live countdowns and the alarm."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable, Static

from soma_console.core.reveal_queue import (
    CLOSING,
    MISSED,
    OPEN,
    OVERWRITTEN,
    REVEALED,
    UNCONFIRMED,
    UNKNOWN,
    WAITING,
    QueueEntry,
    format_countdown,
    retime,
)
from soma_console.tui.pane import Pane
from soma_console.tui.status_bar import short_id
from soma_console.tui.tables import Cell, ConsoleTable, KeyedTable, Row

_STATE_TEXT = {
    WAITING: ("◷ waiting", ""),
    OPEN: ("● OPEN", "bold"),
    CLOSING: ("!! CLOSING", "bold reverse red"),
    MISSED: ("✗ missed", "red"),
    OVERWRITTEN: ("↷ overwritten", ""),
    REVEALED: ("✓ revealed", ""),
    UNCONFIRMED: ("… unconfirmed", ""),
    UNKNOWN: ("? unknown", ""),
}


def live_state(entry: QueueEntry, now: float) -> tuple[str, float | None, float | None, bool]:
    """An entry's state, countdowns and alarm at ``now`` between two reads of the queue
    (:func:`soma_console.core.reveal_queue.retime`: the core's rule, not worked out again here).

    The queue is re-read from the services after every chain poll; in between, windows are only
    re-timed against the injected clock, so the countdowns tick every second without I/O.
    """
    e = retime(entry, now)
    return e.state, e.seconds_to_open, e.seconds_to_close, e.alarm


class QueuePane(Pane):
    TITLE = "Reveal queue"
    primary_id = "queue-table"

    def __init__(self) -> None:
        super().__init__(id="queue")
        self.entries: dict[str, QueueEntry] = {}
        self.alarming: set[int] = set()
        self.autopilot: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static("autopilot: ?", id="autopilot")
        yield Static("", id="alarm")
        yield ConsoleTable(id="queue-table")
        yield Static("No commits waiting for a reveal.", id="queue-hint", classes="hint")

    def on_mount(self) -> None:
        self.table = KeyedTable.with_columns(
            self.query_one(DataTable),
            (
                ("model", "model", 12),
                ("state", "state", 13),
                ("closes in", "closes", 10),
                ("opens in", "opens", 9),
            ),
        )
        self.query_one("#alarm").display = False

    def show_autopilot(self, on: bool, *, readonly: bool = False) -> None:
        self.autopilot = on
        widget = self.query_one("#autopilot", Static)
        if on:
            tail = " (reveals by itself)"
        else:  # read-only refuses to turn it on: do not offer the key
            tail = " · read-only" if readonly else " · a turns it on"
        widget.update(
            Text.assemble("autopilot: ", ("ON", "bold reverse") if on else ("OFF", "bold"), tail),
            layout=False,
        )

    def show(self, entries: Sequence[QueueEntry], now: float) -> list[QueueEntry]:
        self.entries = {str(e.intent_id): e for e in entries}
        return self.tick(now)

    def tick(self, now: float) -> list[QueueEntry]:
        """Re-time every row; return the entries whose alarm just started."""
        rows: dict[str, Row] = {}
        alarming_now: set[int] = set()
        newly: list[QueueEntry] = []
        urgent: list[tuple[QueueEntry, float | None]] = []
        for key, entry in self.entries.items():
            state, to_open, to_close, alarm = live_state(entry, now)
            rows[key] = _queue_row(entry, state, to_open, to_close)
            if alarm:
                alarming_now.add(entry.intent_id)
                urgent.append((entry, to_close))
                if entry.intent_id not in self.alarming:
                    newly.append(entry)
        self.alarming = alarming_now
        self.table.sync(rows)
        banner = self.query_one("#alarm", Static)
        if urgent:
            entry, left = urgent[0]
            banner.update(
                Text(
                    f"!! REVEAL {short_id(entry.model_id)} NOW: window closes in {format_countdown(left)}"
                    " · press r",
                    style="bold reverse red",
                )
            )
        _show(banner, bool(urgent))
        self.set_class(bool(urgent), "alarm")
        _show(self.query_one("#queue-hint"), not rows)
        return newly

    def selected(self) -> QueueEntry | None:
        key = self.table.selected_key()
        return self.entries.get(key) if key else None

    def actionable(self, now: float) -> list[QueueEntry]:
        return [e for e in self.entries.values() if live_state(e, now)[0] in (OPEN, CLOSING)]


def _show(widget: Widget, visible: bool) -> None:
    # Only on a change: setting display, even to its current value, costs a layout pass.
    if widget.display != visible:
        widget.display = visible


def _queue_row(entry: QueueEntry, state: str, to_open: float | None, to_close: float | None) -> Row:
    text, style = _STATE_TEXT.get(state, (state, ""))
    if state == WAITING:
        opens = format_countdown(to_open) if to_open else "due"
        closes = format_countdown(to_close)
    elif state in (OPEN, CLOSING):
        opens, closes = "now", format_countdown(to_close)
    elif state == REVEALED:
        opens, closes = "-", f"ep {entry.revealed_epoch}" if entry.revealed_epoch is not None else "-"
    else:
        opens, closes = "-", "-"
    model = short_id(entry.model_id, 4, 4) + ("⇡" if entry.kind == "update" else "")
    return (
        Cell(model, sort=entry.model_id or ""),
        Cell(text, sort=state, style=style),
        Cell(closes, sort=to_close, style="bold" if state == CLOSING else ""),
        Cell(opens, sort=to_open),
    )
