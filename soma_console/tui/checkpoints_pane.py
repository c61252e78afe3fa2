"""The Checkpoints pane: the followed run's checkpoints, their chain status and last score."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from soma_console.core.console_services import CheckpointInfo
from soma_console.core.run_progress import human_bytes
from soma_console.tui.keymap import CHECKPOINT_KEYS, bindings
from soma_console.tui.pane import Pane, clock_text, loss_cell
from soma_console.tui.tables import Cell, ConsoleTable, KeyedTable, Row


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
        self.table = KeyedTable.with_columns(
            self.query_one(DataTable),
            (
                ("step", "step", 10),
                ("status", "status", 17),
                ("loss", "loss", 7),
                ("eval", "eval", 7),
                ("saved", "time", 9),
                ("size", "size", 8),
            ),
        )
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
        loss_cell(c.loss),
        loss_cell(c.eval_loss),
        Cell(clock_text(c.created), sort=c.created),
        Cell(human_bytes(c.size), sort=c.size),
    )
