"""The Training pane: the runs, the followed run's summary, loss curve and live log."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Sparkline, Static

from soma_console.core.console_services import RunInfo
from soma_console.core.run_progress import RunProgress, format_record
from soma_console.training.events import AnyRecord, CheckpointSaved, Error, Finished, LogLine, Started
from soma_console.tui.keymap import TRAINING_KEYS, bindings
from soma_console.tui.log_view import FollowLog, LogFeed
from soma_console.tui.pane import Pane, loss_cell
from soma_console.tui.tables import Cell, ConsoleTable, KeyedTable, Row


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
        self.table = KeyedTable.with_columns(
            self.query_one("#runs", DataTable),
            (
                ("run", "run", 21),
                ("status", "status", 11),
                ("step", "step", 10),
                ("loss", "loss", 7),
                ("where", "backend", 6),
            ),
        )
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
                loss_cell(r.last_loss),
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
