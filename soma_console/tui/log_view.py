"""A follow/pause log view, the way ``tail -f`` in a pager should behave.

* New lines arrive in a :class:`~soma_console.core.linebuffer.LineBuffer` at any rate and are
  drawn in one ``Log.write_lines`` call per flush (the console flushes 10-20 times a second).
* Scrolling up pauses following: the view stops moving under the reader, new lines wait in the
  (bounded) buffer, and a line above the log counts them ("1,234 new lines · f to follow").
* ``f`` (or scrolling back to the bottom) resumes: the waiting lines are drawn and the view
  jumps to the end.
* ``max_lines`` caps what the log keeps; the buffer caps what waits. Memory stays flat however
  long the run logs, and only the visible lines are ever rendered (``Log`` is a line-based
  ScrollView).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.message import Message
from textual.widgets import Log, Static

from soma_console.core.linebuffer import LineBuffer


class FollowLog(Log):
    """A Log that tells its owner when the user scrolls away from the end, or back to it."""

    def __init__(self, *, max_lines: int, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, id=id)
        self.following = True
        self._writing = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._writing:
            return
        if self.following and new_value < old_value and not self.is_vertical_scroll_end:
            self.following = False
            self.auto_scroll = False
            self.post_message(FollowLog.FollowChanged(self, following=False))
        elif not self.following and new_value > old_value and self.is_vertical_scroll_end:
            self.post_message(FollowLog.FollowChanged(self, following=True))

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        # Log measures every new line's width in a thread worker per write; at tens of thousands
        # of lines a second that is a thread per flush fighting the event loop for the GIL. The
        # width only sets how far the log scrolls sideways, so measure here, cheaply: ASCII
        # lines (nearly all of a trainer's) are as wide as they are long.
        if lines:
            widest = max(
                len(line) if line.isascii() else cell_len(self._process_line(line)) for line in lines
            )
            self._update_maximum_width(updates, widest)

    def on_resize(self) -> None:
        # The pane's other rows change height (a wrapped summary); stay on the newest line.
        if self.following:
            self.resume()

    def write_batch(self, lines: list[str]) -> None:
        self._writing = True
        try:
            self.write_lines(lines, scroll_end=self.following)
        finally:
            self._writing = False
        # Once max_lines is reached, new lines push old ones out while the scroll offset stays
        # put: Log repaints only the (now off-screen) rows it appended, so repaint what is visible.
        self.refresh()

    def resume(self) -> None:
        self.following = True
        self.auto_scroll = True
        self._writing = True
        try:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        finally:
            self._writing = False

    class FollowChanged(Message):
        def __init__(self, log: FollowLog, *, following: bool) -> None:
            super().__init__()
            self.log = log
            self.following = following


class LogFeed:
    """The buffer behind a :class:`FollowLog` and the line that says whether it follows."""

    def __init__(self, log: FollowLog, status: Static, *, capacity: int) -> None:
        self.log = log
        self.status = status
        # One line fewer than the log keeps, so the "older lines not shown" notice survives pruning.
        self.buffer = LineBuffer(max(1, capacity - 1))
        self._paused_at_total = 0
        self._shown_status: str | None = None

    @property
    def following(self) -> bool:
        return self.log.following

    @property
    def new_lines(self) -> int:
        """Lines that arrived since following was paused (drawn or not)."""
        return 0 if self.following else self.buffer.total - self._paused_at_total

    def reset(self) -> None:
        self.buffer.clear()
        self._paused_at_total = self.buffer.total
        self.log.clear()
        self.log.resume()
        self.flush()

    def pause(self) -> None:
        self._paused_at_total = self.buffer.total - len(self.buffer)
        self.log.following = False
        self.log.auto_scroll = False
        self._show_status()

    def follow(self) -> None:
        self.log.resume()
        self.flush()

    def flush(self) -> None:
        """Draw what waits (when following); update the status line either way."""
        if self.following:
            lines, dropped = self.buffer.drain()
            if dropped:
                lines.insert(0, f"… {dropped:,} older lines not shown (the view keeps the newest)")
            if lines:
                self.log.write_batch(lines)
        self._show_status()

    def _show_status(self) -> None:
        if self.following:
            text = "following · scroll up to pause"
        else:
            text = f"⏸ paused · {self.new_lines:,} new lines · f to follow"
        if text != self._shown_status:
            self._shown_status = text
            self.status.update(text, layout=False)  # always one line
            self.status.set_class(not self.following, "paused")
