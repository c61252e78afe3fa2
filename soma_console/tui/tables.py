"""DataTables that change in place.

Every table in the console is keyed (a model id, a run name, a checkpoint path, an intent id)
and refreshed from a fresh read every few seconds. Clearing and reloading a 10,000-row table
costs seconds and loses the cursor; :class:`KeyedTable` instead compares the new rows with the
ones on screen and touches only the cells that changed (``DataTable.update_cell``), adds and
removes only the rows that came or went, and keeps the cursor on the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey


class ConsoleTable(DataTable[Any]):
    """A DataTable whose render caches are sized for what is on screen.

    DataTable keeps up to 10,000 rendered cells and 1,000 rendered rows and lines, keyed by an
    update counter that every in-place update bumps, so a table whose cells change every second
    (countdowns, stakes) fills those caches with renders that will never be used again: the
    console's memory crept up by about 1 MiB a minute, for hours, before the caches were full.
    A few screens' worth is all a redraw uses.
    """

    def __init__(self, *, id: str, cell_padding: int = 0) -> None:
        super().__init__(id=id, cursor_type="row", cell_padding=cell_padding)
        self._cell_render_cache = LRUCache(1000)
        self._row_render_cache = LRUCache(100)
        self._line_cache = LRUCache(100)
        # True once the user has moved the cursor (keys or mouse): the pane then leaves it where
        # it was put instead of keeping it on the newest row.
        self.user_moved = False

    # Component classes whose look the table draws with (see DataTable.COMPONENT_CLASSES).
    _LOOK = (
        "datatable--cursor",
        "datatable--header",
        "datatable--even-row",
        "datatable--odd-row",
        "datatable--hover",
        "datatable--header-hover",
        "datatable--header-cursor",
    )

    def _look(self) -> tuple[object, ...]:
        styles = self.styles
        parts: list[object] = [self.app.theme, styles.color, styles.background, styles.background_tint]
        parts += [styles.text_style, styles.text_opacity]
        for name in self._LOOK:
            parts.append(self.get_component_rich_style(name, partial=True))
        return tuple(parts)

    def notify_style_update(self) -> None:
        """DataTable throws away every rendered cell on any style update, and Textual sends one
        whenever a pseudo-class changes: each time the table gains or loses the focus. The
        console's tables look the same either way (console.tcss), so a pane switch would redraw
        two whole tables for nothing; keep the caches when the look did not change."""
        try:
            look: tuple[object, ...] | None = self._look()
        except KeyError:  # being registered: the component styles do not exist yet
            look = None
        if look is not None and look == getattr(self, "_last_look", None):
            Widget.notify_style_update(self)  # the widget's own style caches, not the cells
            self.refresh()
            return
        self._last_look = look
        super().notify_style_update()

    # The user's moves. Home and End go to the first and last row (DataTable's own scroll
    # sideways, which in a row-cursor table that fits its width does nothing at all).
    def action_cursor_up(self) -> None:
        self.user_moved = True
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self.user_moved = True
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self.user_moved = True
        super().action_page_up()

    def action_page_down(self) -> None:
        self.user_moved = True
        super().action_page_down()

    def action_scroll_home(self) -> None:
        self.user_moved = True
        self.action_scroll_top()

    def action_scroll_end(self) -> None:
        self.user_moved = True
        self.action_scroll_bottom()

    async def _on_click(self, event: events.Click) -> None:
        self.user_moved = True
        await super()._on_click(event)


class Cell:
    """A table cell: what is shown (never parsed as markup), its style, and what it sorts by.

    Cheap by design: a refresh of 10,000 models builds tens of thousands of these, so the Rich
    Text is made only when the table draws the cell (only visible rows are drawn).
    """

    __slots__ = ("plain", "sort", "style")

    def __init__(self, text: str | Text, sort: Any = None, style: str = "") -> None:
        if isinstance(text, Text):
            self.plain = text.plain
            self.style = str(text.style) if text.style else style
        else:
            self.plain = text
            self.style = style
        self.sort = self.plain if sort is None else sort

    @property
    def text(self) -> Text:
        return Text(self.plain, style=self.style, no_wrap=True, end="")

    def __rich__(self) -> Text:
        return self.text

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Cell)
            and self.plain == other.plain
            and self.style == other.style
            and self.sort == other.sort
        )

    def __hash__(self) -> int:  # pragma: no cover - cells are compared, never hashed
        return hash(self.plain)

    def __repr__(self) -> str:
        return f"Cell({self.plain!r})"


Row = tuple[Cell, ...]


@dataclass(frozen=True)
class SyncStats:
    added: int = 0
    removed: int = 0
    updated_cells: int = 0
    resorted: bool = False


BULK_UPDATE = 64  # more changed cells than this in one refresh: write them in one go


def _update_cells(table: DataTable[Any], changes: list[tuple[str, str, Cell]]) -> None:
    """``DataTable.update_cell`` for each change, or, for many, the same in one pass.

    update_cell marks the widget dirty on every call; 10,000 of them (every stake moved) cost
    more than the rest of the refresh. For a bulk change the cells are written the way
    update_cell writes them and the table is invalidated once. (Column widths are fixed in this
    console, so update_cell's width bookkeeping does not apply.)
    """
    if len(changes) <= BULK_UPDATE:
        for key, column, value in changes:
            table.update_cell(key, column, value)
        return
    data = table._data
    for key, column, value in changes:
        data[RowKey(key)][ColumnKey(column)] = value
    table._update_count += 1
    table.refresh()


def _sort_value(value: Any) -> tuple[int, Any]:
    # Unknown values (None) never meet real ones in a comparison: they sort after them.
    if isinstance(value, Cell):
        value = value.sort
    return (1, 0) if value is None else (0, value)


class KeyedTable:
    """Keeps ``table`` equal to a mapping of row key -> cells, changing only what changed."""

    def __init__(self, table: DataTable[Any], columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.rows: dict[str, Row] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.row_filter: Callable[[str, Row], bool] | None = None

    @classmethod
    def with_columns(cls, table: DataTable[Any], columns: Sequence[tuple[str, str, int]]) -> KeyedTable:
        """Add ``columns`` (label, key, width each) to ``table`` and keep it."""
        for label, key, width in columns:
            table.add_column(label, key=key, width=width)
        return cls(table, [key for _, key, _ in columns])

    # -- selection -----------------------------------------------------------------------------
    def selected_key(self) -> str | None:
        t = self.table
        if t.row_count == 0:
            return None
        try:
            key = t.coordinate_to_cell_key(Coordinate(t.cursor_row, 0)).row_key.value
        except CellDoesNotExist:
            return None
        return key

    def select(self, key: str | None) -> None:
        if key is None:
            return
        try:
            index = self.table.get_row_index(key)
        except RowDoesNotExist:
            return
        if index != self.table.cursor_row:
            self.table.move_cursor(row=index, animate=False, scroll=True)

    # -- updates -------------------------------------------------------------------------------
    def _visible(self, rows: Mapping[str, Row]) -> dict[str, Row]:
        keep = self.row_filter
        if keep is None:
            return dict(rows)
        return {k: r for k, r in rows.items() if keep(k, r)}

    def sync(self, rows: Mapping[str, Row]) -> SyncStats:
        """Make the table show ``rows`` (filtered), in place."""
        t = self.table
        wanted = self._visible(rows)
        selected = self.selected_key()
        removed = 0
        for key in [k for k in self.rows if k not in wanted]:
            t.remove_row(key)
            del self.rows[key]
            removed += 1
        added = 0
        sort_index = self.columns.index(self.sort_column) if self.sort_column in self.columns else None
        order_changed = False
        changes: list[tuple[str, str, Cell]] = []
        for key, cells in wanted.items():
            old = self.rows.get(key)
            if old is None:
                t.add_row(*cells, key=key)
                added += 1
                order_changed = True
            elif old is not cells and old != cells:
                order_changed = self._diff(key, old, cells, sort_index, changes) or order_changed
            self.rows[key] = cells
        updated = len(changes)
        _update_cells(t, changes)
        resorted = False
        if order_changed and self.sort_column is not None:
            self._sort()
            resorted = True
        if selected in self.rows:
            self.select(selected)
        return SyncStats(added, removed, updated, resorted)

    def _diff(
        self, key: str, old: Row, cells: Row, sort_index: int | None, changes: list[tuple[str, str, Cell]]
    ) -> bool:
        """Add the cells of row ``key`` that changed to ``changes``; whether its sort key moved."""
        for column, before, after in zip(self.columns, old, cells, strict=True):
            if before is not after and before != after:
                changes.append((key, column, after))
        return sort_index is not None and old[sort_index].sort != cells[sort_index].sort

    def update(self, rows: Mapping[str, Row]) -> int:
        """Change the cells of rows already shown (those the filter keeps), leaving every other
        row alone: for a few changed rows of a large table, without walking the whole of it."""
        t = self.table
        selected = self.selected_key()
        sort_index = self.columns.index(self.sort_column) if self.sort_column in self.columns else None
        order_changed = False
        changes: list[tuple[str, str, Cell]] = []
        for key, cells in rows.items():
            old = self.rows.get(key)
            if old is None or old is cells:
                continue
            if self.row_filter is not None and not self.row_filter(key, cells):
                continue
            order_changed = self._diff(key, old, cells, sort_index, changes) or order_changed
            self.rows[key] = cells
        _update_cells(t, changes)
        if order_changed and self.sort_column is not None:
            self._sort()
            self.select(selected)
        return len(changes)

    def reload(self, rows: Mapping[str, Row]) -> None:
        """Start over (a new filter or a different run): the only place a table is cleared."""
        t = self.table
        selected = self.selected_key()
        t.clear()
        self.rows = {}
        wanted = self._visible(rows)
        if self.sort_column is not None:
            i = self.columns.index(self.sort_column)
            ordered = sorted(wanted.items(), key=lambda kv: _sort_value(kv[1][i]), reverse=self.sort_reverse)
        else:
            ordered = list(wanted.items())
        for key, cells in ordered:
            t.add_row(*cells, key=key)
            self.rows[key] = cells
        self.select(selected)

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        self.sort_column = column
        self.sort_reverse = reverse
        if column is not None:
            selected = self.selected_key()
            self._sort()
            self.select(selected)

    def _sort(self) -> None:
        if self.sort_column is None:
            return
        self.table.sort(self.sort_column, key=_sort_value, reverse=self.sort_reverse)
