"""The Earnings screen's refresh: how long it holds the console's UI loop, and `r` to a new view.

    python -m bench.tui_earnings_refresh [--models 3] [--wins 30,1000,10000] [--rounds 5]

The screen (``tui/earnings_pane.py``) gets its data from a worker thread (``build_view``, timed by
``bench.targets_index_sync``); this measures the rest, in a headless Textual app at 160x48: the
time ``show`` holds the UI loop to fill the summary, the per-model table, the per-epoch chart and
the table of unclaimed wins (one row each), and the time from pressing ``r`` to the new view on
screen (load in a thread, then ``show`` and a repaint). The view is made up in the shape
``build_view`` returns: ``--models`` owned models and, per size in ``--wins``, that many unclaimed
wins spread over 30 epochs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from textual.app import App

from soma_console.core.earnings import EarningsView
from soma_console.tui.earnings_pane import EarningsScreen

EPOCHS = 30


def make_view(models: int, wins: int, epoch: int = 130) -> EarningsView:
    ids = [f"0x{i + 1:064x}" for i in range(models)]
    pending = [
        {
            "target_id": f"0x{n:064x}",
            "model_id": ids[n % models],
            "generation_epoch": epoch - 1 - n % EPOCHS,
            "reward_shannons": 12_685_185,
            "owner_share_shannons": 6_310_879,
            "claimable_from_epoch": epoch + 1 - n % EPOCHS,
            "claimed": False,
        }
        for n in range(wins)
    ]
    by_epoch = [
        {"epoch": epoch - EPOCHS + k, "wins": wins // EPOCHS, "earned_shannons": 6_310_879 * (wins // EPOCHS)}
        for k in range(EPOCHS)
    ]
    report = {
        "wins": pending,
        "by_epoch": by_epoch,
        "claimable_now_shannons": 6_310_879 * wins,
        "pending_shannons": 0,
        "total_earned_shannons": 6_310_879 * wins,
    }
    table = [
        {
            "model_id": m,
            "assigned": 80,
            "share": 0.03,
            "filled": 40,
            "won": 12,
            "win_rate": 0.3,
            "earned_shannons": 1,
        }
        for m in ids
    ]
    return EarningsView("bench", epoch, table, report, pending, True)


class _Host(App[None]):
    def __init__(self, view: EarningsView) -> None:
        super().__init__()
        self.view = view
        self.loads = 0

    def load(self) -> EarningsView:
        self.loads += 1
        return self.view

    def on_mount(self) -> None:
        self.push_screen(EarningsScreen(self.load))


async def measure(view: EarningsView, rounds: int) -> dict[str, Any]:
    app = _Host(view)
    show_ms: list[float] = []
    reload_ms: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while app.loads < 1 or not isinstance(app.screen, EarningsScreen) or app.screen.view is None:
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, EarningsScreen)
        for _ in range(rounds):
            t0 = time.perf_counter()
            screen.show(view)  # what the loop does once the thread has the data
            show_ms.append((time.perf_counter() - t0) * 1000)
            await pilot.pause()
        for _ in range(rounds):
            before = app.loads
            screen.view = None
            t0 = time.perf_counter()
            await pilot.press("r")
            while app.loads == before or screen.view is None:  # noqa: ASYNC110 - polling a flag is the point
                await asyncio.sleep(0.001)
            await pilot.pause()  # the repaint
            reload_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "wins": len(view.claimable),
        "show_ms_median": round(statistics.median(show_ms), 1),
        "show_ms_max": round(max(show_ms), 1),
        "reload_to_screen_ms_median": round(statistics.median(reload_ms), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--wins", default="30,1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    out: dict[str, Any] = {"models": args.models, "load_before": os.getloadavg(), "runs": []}
    for wins in (int(w) for w in args.wins.split(",")):
        out["runs"].append(asyncio.run(measure(make_view(args.models, wins), args.rounds)))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
