"""The one-line status bar: chain, epoch, time to the next boundary, wallet, connection, badges.

Every state is spelled out in words or symbols as well as colour, so the bar reads the same
with NO_COLOR or on a monochrome terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from soma_console.core.chain_errors import ChainError, soma
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.reveal_queue import format_countdown


def short_id(value: str | None, head: int = 6, tail: int = 4) -> str:
    """``0x12ab34…cdef``: enough to recognise, short enough for a narrow pane."""
    if not value:
        return "-"
    prefix = "0x" if value.startswith("0x") else ""
    body = value.removeprefix("0x")
    if len(body) <= head + tail + 1:
        return value
    return f"{prefix}{body[:head]}…{body[-tail:]}"


@dataclass(frozen=True)
class StatusView:
    chain: str
    snapshot: ChainSnapshot | None
    error: ChainError | None
    now: float
    address: str | None
    readonly: bool
    alarm: bool = False
    connected_once: bool = False


def render_status(v: StatusView, width: int = 160) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    out.append(f" {v.chain} ", style="bold reverse")
    snap = v.snapshot
    if snap is not None:
        out.append(f" epoch {snap.epoch} ", style="bold")
        left = snap.seconds_to_boundary(v.now)
        # Past the boundary, until the chain reports the new epoch: the same word the reveal
        # queue uses for a window that is due (one clock for both).
        out.append(f"│ next in {format_countdown(left)} " if left > 0 else "│ epoch turning… ")
    else:
        out.append(" epoch ? │ next in - ")
    out.append("│ ")
    if v.address:
        out.append(short_id(v.address, 4, 4) if width < 120 else short_id(v.address, 8, 6))
        balance = snap.balance if snap is not None else None
        out.append(f" {soma(balance) if balance is not None else '? SOMA'} ")
    else:
        out.append("no wallet ")
    out.append("│ ")
    if v.error is not None:
        out.append("✗ offline", style="bold red")
        if width >= 120:
            out.append(f" ({v.error.message[:60]})", style="red")
        out.append(" ")
    elif snap is not None:
        out.append("● connected ", style="green")
    else:
        out.append("… connecting ", style="yellow")
    if v.alarm:
        out.append(" !! REVEAL NOW ", style="bold reverse red")
    if v.readonly:
        out.append(" READONLY ", style="bold reverse yellow")
    return out


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    """

    def show(self, view: StatusView) -> None:
        # One line, redrawn every second: never worth a layout pass.
        self.update(render_status(view, self.size.width or self.app.size.width), layout=False)
