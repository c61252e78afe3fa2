"""The Earnings screen: per owned model this epoch (assigned, share, filled, won, win rate), earnings
per epoch as a one-line chart, what is claimable and from when, and the total earned.

Opened with ``e`` from the main screen, closed with Escape. Everything is read from the local
target index in a worker thread (the index is kept up to date by ``soma-console targets``,
``earnings``, ``claim`` and autopilot's claim round); the screen never waits on the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from soma_console.core.claims import soma
from soma_console.core.earnings import EarningsView, epoch_chart

Loader = Callable[[], EarningsView | None]


def _short(model_id: str) -> str:
    return model_id[:10] + "…"


# Unclaimed wins shown in the screen's table (the soonest claimable first).
CLAIMABLE_ROWS = 500


class EarningsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape,e", "dismiss", "Close"),
        Binding("r", "reload", "Reload"),
        Binding("c", "claim", "Claim"),
    ]
    DEFAULT_CSS = """
    EarningsScreen { align: center middle; }
    #earnings-box { width: 100%; max-width: 100; height: 100%; max-height: 30; border: round $secondary;
                    border-title-style: bold; padding: 0 1; }
    #earnings-summary, #earnings-chart { height: auto; }
    #earnings-models { height: auto; max-height: 8; }
    #earnings-claimable { height: 1fr; }
    """

    def __init__(self, load: Loader) -> None:
        super().__init__()
        self.load = load
        self.view: EarningsView | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="earnings-box") as box:
            box.border_title = "Earnings"
            box.border_subtitle = "c claim · r reload · Esc close"
            yield Static("reading the target index…", id="earnings-summary")
            yield DataTable(id="earnings-models", cursor_type="row", zebra_stripes=False)
            yield Static("", id="earnings-chart")
            yield DataTable(id="earnings-claimable", cursor_type="row")

    def on_mount(self) -> None:
        models = self.query_one("#earnings-models", DataTable)
        for label in ("model", "assigned", "share", "filled", "won", "win %", "earned"):
            models.add_column(label, key=label)
        pending = self.query_one("#earnings-claimable", DataTable)
        for label in ("unclaimed win", "model", "owner share", "claimable from"):
            pending.add_column(label, key=label)
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        view = await asyncio.to_thread(self.load)
        self.show(view)

    def action_claim(self) -> None:
        claim = getattr(getattr(self.app, "flows", None), "claim_wins", None)
        if claim is not None:
            claim()

    def action_reload(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    def show(self, view: EarningsView | None) -> None:
        self.view = view
        summary = self.query_one("#earnings-summary", Static)
        if view is None:
            summary.update("No wallet or no target index yet: run `soma-console earnings` once.")
            return
        r = view.report
        # "earned" here is what the per-model table calls earned: every win's owner share, claimed
        # (paid to the owner) or not yet.
        claimed, unclaimed = r["total_earned_shannons"], r["pending_shannons"]
        summary.update(
            f"epoch {view.epoch} · earned {soma(claimed + unclaimed)}: {soma(claimed)} claimed, "
            f"{soma(unclaimed)} unclaimed ({soma(r['claimable_now_shannons'])} claimable now)"
        )
        models = self.query_one("#earnings-models", DataTable)
        models.clear()
        for m in view.models:
            models.add_row(
                _short(m["model_id"]),
                str(m["assigned"]),
                f"{m['share']:.1%}",
                str(m["filled"]),
                str(m["won"]),
                f"{m['win_rate']:.0%}",
                soma(m["earned_shannons"]),
            )
        width = max(10, self.size.width - 24)
        chart = epoch_chart(r["by_epoch"], width)
        first = r["by_epoch"][-width:][0]["epoch"] if r["by_epoch"] else None
        self.query_one("#earnings-chart", Static).update(
            f"per epoch {chart} (from epoch {first})" if chart else "per epoch: no wins yet"
        )
        pending = self.query_one("#earnings-claimable", DataTable)
        pending.clear()
        # The soonest claimable first, and a bounded number of rows: 10,000 unclaimed wins would
        # hold the UI loop for ~0.2 s; the command line lists them all.
        soonest = sorted(view.claimable, key=lambda w: w["claimable_from_epoch"])
        for w in soonest[:CLAIMABLE_ROWS]:
            when = "now" if w["claimable_from_epoch"] <= view.epoch else f"epoch {w['claimable_from_epoch']}"
            pending.add_row(
                w["target_id"][:14] + "…", _short(w["model_id"]), soma(w["owner_share_shannons"]), when
            )
        if len(soonest) > CLAIMABLE_ROWS:
            more = len(soonest) - CLAIMABLE_ROWS
            pending.add_row(f"… {more:,} more", "`soma-console earnings`", "lists them all", "")
