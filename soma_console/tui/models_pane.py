"""The Models pane: every model on the chain, yours first, with wins, earnings, a filter and sorting."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Input

from soma_console.core.chainstate import ChainSnapshot, ModelRow
from soma_console.tui.keymap import MODELS_KEYS, bindings
from soma_console.tui.pane import Pane
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
        self.table = KeyedTable.with_columns(
            self.query_one(DataTable),
            (
                ("", "mine", 2),
                ("model", "model", 14),
                ("status", "status", 9),
                ("stake", "stake", 11),
                ("wins", "wins", 5),
                ("earned", "earned", 8),
                ("comm", "commission", 6),
                ("owner", "owner", 11),
            ),
        )
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
