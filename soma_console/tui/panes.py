"""The four panes: Training, Checkpoints, Reveal queue, Models; and the action log.

Panes are views: they draw what the app hands them and report what the user selects. All I/O
happens in the app's workers (see ``app.py``); nothing here blocks or talks to services.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Log, Sparkline, Static

from soma_console.core.chainstate import ChainSnapshot, ModelRow
from soma_console.core.console_services import CheckpointInfo, RunInfo
from soma_console.core.journal import AuditEntry
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
from soma_console.core.run_progress import RunProgress, format_record, human_bytes
from soma_console.secrets import redact
from soma_console.training.events import AnyRecord, CheckpointSaved, Error, Finished, LogLine, Started
from soma_console.tui.keymap import CHECKPOINT_KEYS, MODELS_KEYS, TRAINING_KEYS, bindings
from soma_console.tui.log_view import FollowLog, LogFeed
from soma_console.tui.status_bar import short_id
from soma_console.tui.tables import Cell, ConsoleTable, KeyedTable, Row

SHANNONS = 1_000_000_000


def compact_soma(shannons: int) -> str:
    """An amount of SOMA in at most 8 characters: ``0.0063``, ``512.40``, ``12.5k``, ``3.1M``."""
    v = shannons / SHANNONS
    if v < 10:
        return f"{v:.4f}"
    if v < 1000:
        return f"{v:.2f}"
    if v < 1_000_000:
        return f"{v / 1000:.1f}k"
    return f"{v / 1_000_000:.1f}M"


def clock_text(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _loss(value: float | None) -> Cell:
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


# -- Training ---------------------------------------------------------------------------------------
class TrainingPane(Pane):
    TITLE = "Training"
    BINDINGS = bindings(TRAINING_KEYS)
    primary_id = "runs"

    class RunSelected(Message):
        def __init__(self, run: str) -> None:
            super().__init__()
            self.run = run

    class StopRequested(Message):
        def __init__(self, run: str | None) -> None:
            super().__init__()
            self.run = run

    def __init__(self, *, log_lines: int = 5000) -> None:
        super().__init__(id="training")
        self.log_lines = log_lines
        self.progress: RunProgress | None = None
        self.followed: str | None = None
        self.runs: dict[str, RunInfo] = {}
        self._curve_len = -1
        self._summary = ""

    def compose(self) -> ComposeResult:
        yield ConsoleTable(id="runs")
        yield Static("no run selected", id="run-summary")
        yield Sparkline([], id="loss-curve", summary_function=min)
        yield Static("", id="log-status")
        yield FollowLog(max_lines=self.log_lines, id="run-log")

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        cols = (
            ("run", "run", 21),
            ("status", "status", 11),
            ("step", "step", 10),
            ("loss", "loss", 7),
            ("where", "backend", 6),
        )
        for label, key, width in cols:
            table.add_column(label, key=key, width=width)
        self.table = KeyedTable(table, [c[1] for c in cols])
        self.table.sort_by("run")  # newest first: the run cell sorts by -created
        self.feed = LogFeed(
            self.query_one(FollowLog), self.query_one("#log-status", Static), capacity=self.log_lines
        )
        self.feed.flush()

    # data in
    def show_runs(self, runs: Sequence[RunInfo]) -> None:
        self.runs = {r.name: r for r in runs}
        rows: dict[str, Row] = {}
        for r in runs:
            rows[r.name] = (
                Cell(r.name, sort=-r.created),
                Cell(_run_status_text(r.status), sort=r.status),
                Cell(f"{r.step}/{r.total_steps}", sort=r.step),
                _loss(r.last_loss),
                Cell(r.backend),
            )
        self.table.sync(rows)
        if self.followed is None and rows:
            key = self.table.selected_key()
            if key is not None:
                self.post_message(self.RunSelected(key))

    def select_run(self, run: str) -> None:
        self.table.select(run)

    def selected_run(self) -> str | None:
        return self.table.selected_key()

    def start_follow(self, run: str) -> None:
        self.followed = run
        self.progress = RunProgress(run)
        self._curve_len = -1
        self.feed.reset()
        self.border_subtitle = run

    def ingest(self, records: Sequence[AnyRecord]) -> bool:
        """Fold a batch into the progress and queue its lines for the next flush.

        Returns True when the batch holds an event that changes the runs or checkpoints lists.
        """
        progress = self.progress
        if progress is None:
            return False
        lines: list[str] = []
        append = lines.append
        lists_changed = False
        for record in records:
            # Plain lines are nearly all of a busy log: keep their path short.
            if type(record) is LogLine:
                append(record.text)
                continue
            progress.apply(record)
            append(format_record(record))
            if isinstance(record, Started | Finished | Error | CheckpointSaved):
                lists_changed = True
        self.feed.buffer.extend(lines)
        return lists_changed

    def flush(self) -> None:
        self.feed.flush()
        progress = self.progress
        if progress is None:
            return
        summary = progress.summary()
        if summary != self._summary:
            self._summary = summary
            # Fixed height: no layout pass for a line that changes several times a second.
            self.query_one("#run-summary", Static).update(Text(summary), layout=False)
        points = progress.curve.points
        if len(points) != self._curve_len or (points and self.query_one(Sparkline).data != points):
            self._curve_len = len(points)
            self.query_one(Sparkline).data = list(points)

    # events
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs" or event.row_key.value is None:
            return
        event.stop()
        if event.row_key.value != self.followed:
            self.post_message(self.RunSelected(event.row_key.value))

    def on_follow_log_follow_changed(self, event: FollowLog.FollowChanged) -> None:
        if event.following:
            self.feed.follow()
        else:
            self.feed.pause()

    def action_follow(self) -> None:
        self.feed.follow()
        self.app.notify("Following the log.", timeout=2)

    def action_stop_training(self) -> None:
        self.post_message(self.StopRequested(self.selected_run()))


def _run_status_text(status: str) -> Text:
    symbol = {"running": "▶", "finished": "✓", "failed": "✗", "stopped": "■"}.get(status, "·")
    style = {"running": "bold", "failed": "bold red"}.get(status, "")
    return Text(f"{symbol} {status}", style=style)


# -- Checkpoints ------------------------------------------------------------------------------------
class CheckpointsPane(Pane):
    TITLE = "Checkpoints"
    BINDINGS = bindings(CHECKPOINT_KEYS)
    primary_id = "checkpoint-table"

    class ScoreRequested(Message):
        def __init__(self, checkpoint: CheckpointInfo | None) -> None:
            super().__init__()
            self.checkpoint = checkpoint

    def __init__(self) -> None:
        super().__init__(id="checkpoints")
        self.run: str | None = None
        self.checkpoints: dict[str, CheckpointInfo] = {}
        self.verdicts: dict[str, str] = {}  # checkpoint path -> "wins 3/10" (the last score)
        self._hint = ""

    def compose(self) -> ComposeResult:
        yield ConsoleTable(id="checkpoint-table")
        yield Static("Select a run to see its checkpoints.", id="checkpoint-hint", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        cols = (
            ("step", "step", 10),
            ("status", "status", 17),
            ("loss", "loss", 7),
            ("eval", "eval", 7),
            ("saved", "time", 9),
            ("size", "size", 8),
        )
        for label, key, width in cols:
            table.add_column(label, key=key, width=width)
        self.table = KeyedTable(table, [c[1] for c in cols])
        self.table.sort_by("step", reverse=True)

    def show(self, run: str, checkpoints: Sequence[CheckpointInfo], *, newest: bool = False) -> None:
        """Show ``run``'s checkpoints. The cursor stays on the row it is on while rows come and
        go; until the user moves it (and whenever ``newest`` is asked for, say when the run has
        just finished) it sits on the newest checkpoint, the one ``c`` is most likely meant for."""
        self.checkpoints = {c.path: c for c in checkpoints}
        rows = {c.path: _checkpoint_row(c, self.verdicts.get(c.path, "")) for c in checkpoints}
        table = self.query_one(ConsoleTable)
        if run != self.run:
            self.run = run
            self.table.reload(rows)
            table.user_moved = False
        else:
            self.table.sync(rows)
        if newest:
            table.user_moved = False
        if not table.user_moved and rows:
            self.select_newest()
        self.border_subtitle = run
        hint_text = f"No checkpoints in {run} yet." if not rows else "c commits the highlighted checkpoint."
        if hint_text != self._hint:  # an unchanged Static.update still costs a layout pass
            self._hint = hint_text
            self.query_one("#checkpoint-hint", Static).update(hint_text)

    def selected(self) -> CheckpointInfo | None:
        key = self.table.selected_key()
        return self.checkpoints.get(key) if key else None

    def select_newest(self) -> None:
        if not self.checkpoints:
            return
        newest = max(self.checkpoints.values(), key=lambda c: (c.step, c.final, c.created))
        self.table.select(newest.path)

    def set_verdicts(self, verdicts: dict[str, str]) -> None:
        """Show the last score beside each checkpoint (``{path: "wins 3/10"}``)."""
        self.verdicts.update(verdicts)
        if self.run is not None:
            self.show(self.run, list(self.checkpoints.values()))

    def action_score(self) -> None:
        self.post_message(self.ScoreRequested(self.selected()))


_CKPT_STATUS = {
    "committed": ("◷ committed", ""),
    "pending reveal": ("● pending reveal", "bold"),
    "revealed": ("✓ revealed", ""),
    "missed": ("✗ missed", "bold red"),
}


def _checkpoint_row(c: CheckpointInfo, verdict: str = "") -> Row:
    text, style = _CKPT_STATUS.get(c.status, (c.status or "", ""))
    if verdict:  # the last score; uncommitted checkpoints (the ones to decide on) have room for it
        text = verdict if not text else (f"{text} {verdict}" if len(text) + len(verdict) < 17 else text)
    return (
        Cell(f"{c.step} final" if c.final else str(c.step), sort=c.step),
        Cell(text, sort=c.status, style=style),
        _loss(c.loss),
        _loss(c.eval_loss),
        Cell(clock_text(c.created), sort=c.created),
        Cell(human_bytes(c.size), sort=c.size),
    )


# -- Reveal queue -----------------------------------------------------------------------------------
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
        table = self.query_one(DataTable)
        cols = (
            ("model", "model", 12),
            ("state", "state", 13),
            ("closes in", "closes", 10),
            ("opens in", "opens", 9),
        )
        for label, key, width in cols:
            table.add_column(label, key=key, width=width)
        self.table = KeyedTable(table, [c[1] for c in cols])
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


# -- Models -----------------------------------------------------------------------------------------
MODEL_COLUMNS = ("mine", "model", "status", "stake", "wins", "earned", "commission", "owner")
NUMERIC_COLUMNS = ("wins", "earned", "stake", "commission")  # sorted largest first
_STATUS_ORDER = {"active": 0, "pending": 1, "created": 2, "inactive": 3}


class ModelsPane(Pane):
    TITLE = "Models"
    BINDINGS = bindings(MODELS_KEYS)
    primary_id = "model-table"

    def __init__(self) -> None:
        super().__init__(id="models")
        self.address: str | None = None
        self.models: dict[str, ModelRow] = {}
        self.all_rows: dict[str, Row] = {}
        self._cache: dict[str, tuple[ModelRow, Row]] = {}
        self._shown: tuple[ModelRow, ...] | None = None
        self.filter_text = ""
        # model id (lower) -> (targets won, owner's share in shannons) over the last epochs, from
        # the target index; every model's, not only the wallet's
        self.wins: Mapping[str, tuple[int, int]] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: id, owner, status or 'mine'", id="model-filter", compact=True)
        yield ConsoleTable(id="model-table")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in (
            ("", "mine", 2),
            ("model", "model", 14),
            ("status", "status", 9),
            ("stake", "stake", 11),
            ("wins", "wins", 5),
            ("earned", "earned", 8),
            ("comm", "commission", 6),
            ("owner", "owner", 11),
        ):
            table.add_column(label, key=key, width=width)
        self.table = KeyedTable(table, MODEL_COLUMNS)
        self.table.row_filter = self._keep
        self.table.sort_by("mine")
        self._label_sort()
        self.query_one(Input).display = False

    # data in
    def show(self, snap: ChainSnapshot) -> None:
        if snap.models is self._shown and snap.address == self.address:
            return  # the same list (a poll that read only the clock): nothing to compare
        self._shown = snap.models
        self.address = snap.address
        self.models = {m.model_id: m for m in snap.models}
        rows: dict[str, Row] = {}
        cache = self._cache
        fresh: dict[str, tuple[ModelRow, Row]] = {}
        for model in snap.models:
            hit = cache.get(model.model_id)
            if hit is None:
                row = self._row(model)
            elif hit[0] == model:
                row = hit[1]
            else:
                row = self._changed_row(hit[0], hit[1], model)
            fresh[model.model_id] = (model, row)
            rows[model.model_id] = row
        self._cache = fresh
        self.all_rows = rows
        self.table.sync(rows)
        self._subtitle()

    def _row(self, m: ModelRow) -> Row:
        mine = m.is_owned_by(self.address)
        style = "bold" if mine else ""
        return (
            Cell("★" if mine else " ", sort=(0 if mine else 1, m.model_id), style="bold"),
            Cell(short_id(m.model_id, 6, 4), sort=m.model_id, style=style),
            self._status_cell(m, style),
            self._stake_cell(m, style),
            *self._win_cells(m.model_id, style),
            self._commission_cell(m, style),
            Cell("you" if mine else short_id(m.owner, 4, 4), sort=m.owner, style=style),
        )

    def _win_cells(self, model_id: str, style: str) -> tuple[Cell, Cell]:
        won, earned = self.wins.get(model_id.lower(), (0, 0))
        return (
            Cell(str(won) if won else "-", sort=won, style=style),
            Cell(compact_soma(earned) if earned else "-", sort=earned, style=style),
        )

    def show_wins(self, wins: Mapping[str, tuple[int, int]]) -> None:
        """New wins and earnings (about once an epoch; the services hand back the same mapping
        until the index changes, and that costs nothing here). Only the rows whose figures moved
        are rebuilt, and only their cells are written to the table (one bulk write, one repaint,
        as a poll that moves every stake)."""
        if wins is self.wins:
            return
        old, self.wins = self.wins, wins
        changed: dict[str, Row] = {}
        by_lower: dict[str, str] | None = None
        for key in old.keys() | wins.keys():
            if old.get(key) == wins.get(key):
                continue
            model_id: str | None = key
            if key not in self._cache:
                by_lower = by_lower or {m.lower(): m for m in self._cache}
                model_id = by_lower.get(key)
            hit = self._cache.get(model_id) if model_id else None
            if model_id is None or hit is None:
                continue  # a model the chain no longer lists
            model, row = hit
            new = (*row[:4], *self._win_cells(model_id, row[1].style), *row[6:])
            self._cache[model_id] = (model, new)
            self.all_rows[model_id] = new
            changed[model_id] = new
        if changed:
            self.table.update(changed)

    def _changed_row(self, old: ModelRow, old_row: Row, m: ModelRow) -> Row:
        """Rebuild only the cells whose fields changed (a poll typically moves stakes only)."""
        if old.owner != m.owner or old.model_id != m.model_id:
            return self._row(m)
        style = old_row[1].style
        status = old_row[2]
        if (old.status, old.has_pending_update) != (m.status, m.has_pending_update):
            status = self._status_cell(m, style)
        stake = old_row[3] if old.stake == m.stake else self._stake_cell(m, style)
        commission = old_row[6]
        if (old.commission_rate, old.next_commission_rate) != (m.commission_rate, m.next_commission_rate):
            commission = self._commission_cell(m, style)
        return (old_row[0], old_row[1], status, stake, old_row[4], old_row[5], commission, old_row[7])

    @staticmethod
    def _status_cell(m: ModelRow, style: str) -> Cell:
        text = m.status + ("⇡" if m.has_pending_update else "")
        return Cell(text, sort=_STATUS_ORDER.get(m.status, 9), style=style)

    @staticmethod
    def _stake_cell(m: ModelRow, style: str) -> Cell:
        stake = None if m.stake is None else m.stake / SHANNONS
        return Cell("-" if stake is None else f"{stake:,.2f}", sort=stake, style=style)

    @staticmethod
    def _commission_cell(m: ModelRow, style: str) -> Cell:
        commission = m.commission_rate
        text = "-" if commission is None else f"{commission / 100:g}%"
        if m.next_commission_rate is not None and m.next_commission_rate != commission:
            text += "→"
        return Cell(text, sort=commission, style=style)

    def selected(self) -> ModelRow | None:
        key = self.table.selected_key()
        return self.models.get(key) if key else None

    def select(self, model_id: str) -> None:
        self.table.select(model_id)

    # filter
    def _keep(self, key: str, row: Row) -> bool:
        if not self.filter_text:
            return True
        model = self.models.get(key)
        if model is None:
            return False
        mine = model.is_owned_by(self.address)
        for word in self.filter_text.lower().split():
            if word == "mine":
                if not mine:
                    return False
            elif word in _STATUS_ORDER:
                if model.status != word:
                    return False
            elif word not in model.model_id.lower() and word not in model.owner.lower():
                return False
        return True

    def set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        self.table.reload(self.all_rows)
        self._subtitle()

    def _subtitle(self) -> None:
        shown = len(self.table.rows)
        total = len(self.all_rows)
        mine = sum(1 for m in self.models.values() if m.is_owned_by(self.address))
        text = f"{total} models, {mine} yours"
        if self.filter_text:
            text = f"filter '{self.filter_text}': {shown} of {total}"
        self.border_subtitle = text

    def action_filter(self) -> None:
        box = self.query_one(Input)
        box.display = True
        # Synchronously, so the characters typed right after / land in the box.
        self.screen.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one(Input)
        box.value = ""
        box.display = False
        self.set_filter("")
        self.screen.set_focus(self.query_one(DataTable))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "/" is a priority key (so keys typed right behind it land in the box); inside the box
        # it is just a character.
        return not (action == "filter" and self.query_one(Input).has_focus)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "model-filter":
            event.stop()
            self.set_filter(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "model-filter":
            event.stop()
            if not event.value.strip():
                event.input.display = False
            self.screen.set_focus(self.query_one(DataTable))

    # sort
    def action_sort_next(self) -> None:
        order = list(MODEL_COLUMNS)
        current = self.table.sort_column
        nxt = order[(order.index(current) + 1) % len(order)] if current in order else order[0]
        self.table.sort_by(nxt, reverse=nxt in NUMERIC_COLUMNS)
        self._label_sort()

    def action_sort_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)
        self._label_sort()

    def sort_by(self, column: str, reverse: bool = False) -> None:
        self.table.sort_by(column, reverse=reverse)
        self._label_sort()

    def _label_sort(self) -> None:
        table = self.query_one(DataTable)
        labels = {"mine": "★", "model": "model", "status": "status", "stake": "stake", "commission": "comm"}
        labels |= {"wins": "wins", "earned": "earned"}
        labels["owner"] = "owner"
        for key, column in table.columns.items():
            name = str(key.value)
            label = labels.get(name, name)
            if name == self.table.sort_column:
                label += "▼" if self.table.sort_reverse else "▲"
            column.label = Text(label)
        table.refresh()


# -- Action log -------------------------------------------------------------------------------------
class ActionLog(Log):
    """Every transaction sent (from the audit log, so autopilot's too), with its digest."""

    def __init__(self) -> None:
        super().__init__(max_lines=1000, auto_scroll=True, id="action-log")
        self.border_title = "Action log"
        self.last_id = 0

    def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        lines = []
        for a in entries:
            if a.id <= self.last_id:
                continue
            self.last_id = a.id
            summary = a.summary.get("summary") if isinstance(a.summary, dict) else None
            text = summary or ", ".join(f"{k}={v}" for k, v in sorted(a.summary.items()))
            # the journal writes success | failed | unknown (sent, outcome not known yet)
            mark = {"success": "✓", "ok": "✓", "unknown": "?"}.get(a.status, "✗")
            # redact(): the audit log never holds a secret, and the screen makes sure of it.
            lines.append(
                redact(
                    f"{clock_text(a.at)} {mark} {a.kind:<10} {short_id(a.model_id, 4, 4):<11} "
                    f"digest {a.digest or '-'}  {text}{'  error: ' + a.error if a.error else ''}"
                )
            )
        if lines:
            self.write_lines(lines)

    def note(self, text: str, at: float) -> None:
        self.write_line(redact(f"{clock_text(at)} {text}"))
