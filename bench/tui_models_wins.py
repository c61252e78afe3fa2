"""Console: the Models pane taking every model's wins and earnings (once an epoch), 10,000 models.

    python -m bench.tui_models_wins [--models 10000] [--rounds 5]

A headless app at 160x48 holding only the Models pane, filled with ``--models`` models. Timed:
``ModelsPane.show_wins`` plus the frame that follows, when every model's figures changed (the
worst case: after an epoch's index sync nearly every winner's count moves), alone (the event
loop is held for that long: the cells are written in one pass) and with the repaint, and when the answer
is the one already shown (the common case: the services hand back the same mapping until the index
changes). The UI loop runs
this; the index read itself runs in a worker thread (see ``bench.targets_index_sync``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from types import SimpleNamespace
from typing import Any

from bench.tui_pty import median


async def measure(n_models: int, rounds: int) -> dict[str, Any]:
    from textual.app import App, ComposeResult

    from soma_console.core.chainstate import ModelRow
    from soma_console.tui.models_pane import ModelsPane

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ModelsPane()

    rng = random.Random(1)
    me = "ab" * 32
    rows = tuple(
        ModelRow(f"0x{i:064x}", me if i < 3 else f"{i:064x}", "active", 1, rng.randint(1, 10**12), 100, 100)
        for i in range(n_models)
    )
    out: dict[str, Any] = {"models": n_models, "rounds": rounds}
    async with Host().run_test(size=(160, 48)) as pilot:
        pane = pilot.app.query_one(ModelsPane)
        pane.show(SimpleNamespace(models=rows, address=me))  # type: ignore[arg-type]
        await pilot.pause()
        changed, frames, same = [], [], []
        for _ in range(rounds):
            wins = {m.model_id: (rng.randint(1, 50), rng.randint(1, 10**11)) for m in rows}
            t0 = time.perf_counter()
            pane.show_wins(wins)  # on the event loop: nothing else runs meanwhile
            t1 = time.perf_counter()
            await pilot.pause()  # the repaint that shows it
            changed.append(1000 * (t1 - t0))
            frames.append(1000 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            pane.show_wins(wins)  # the same answer again: every poll until the index changes
            same.append(1000 * (time.perf_counter() - t0))
        for label, values in (("all_changed", changed), ("all_changed_with_repaint", frames)):
            out[label + "_ms"] = {"median": round(median(values), 1), "max": round(max(values), 1)}
        out["unchanged_ms"] = {"median": round(median(same), 3), "max": round(max(same), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(measure(args.models, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
