"""Console: the Models pane refreshing 10,000 models in place.

    python -m bench.tui_models_refresh [--models 10000] [--rounds 10] [--json out.json]

The console runs headless at 160x48 on the test world's services (bench/firehose.py) with
``--models`` models. Timed, each
as the time ``ModelsPane.show(snapshot)`` takes plus the repaint that follows (the next frame):

* ``first``: the first snapshot (every row added);
* ``unchanged``: a refresh where nothing changed (the common case: a poll every few seconds);
* ``1pct`` / ``all``: 1 % / every model's stake changed (cells updated in place; the default
  sort, mine first, does not move);
* ``all_sorted_by_stake``: every stake changed while the table is sorted by stake, so the rows
  are re-sorted as well.

The table is never cleared on a refresh; the benchmark checks that the cursor stays on the same
model throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import replace
from typing import Any

from bench.tui_pty import median


async def measure(n_models: int, rounds: int) -> dict[str, Any]:
    from textual.widgets import DataTable

    from bench.firehose import quiet_services
    from soma_console.tui.app import ConsoleApp, ConsoleOptions

    services = quiet_services(models=n_models)
    world = services.world
    app = ConsoleApp(services, options=ConsoleOptions(timers=False, watch_hangup=False, freeze_gc=False))
    results: dict[str, Any] = {"models": n_models, "rounds": rounds}
    rng = random.Random(1)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.models
        table = pane.query_one(DataTable)
        cleared: list[int] = []
        original_clear = table.clear

        def counting_clear(columns: bool = False) -> Any:
            cleared.append(1)
            return original_clear(columns)

        table.clear = counting_clear  # type: ignore[method-assign]

        async def timed(label: str, mutate: Any = None) -> float:
            if mutate is not None:
                mutate()
            snap = world.snapshot()
            t = time.perf_counter()
            pane.show(snap)
            shown = time.perf_counter()
            await pilot.pause()  # the frame that shows it
            done = time.perf_counter()
            results.setdefault(label + "_show_ms", []).append(1000 * (shown - t))
            return 1000 * (done - t)

        # The first snapshot arrives as the app starts; time a fresh pane load separately.
        await pilot.pause()
        pane.table.rows.clear()
        table.clear()
        cleared.clear()
        first = await timed("first")
        results["first_ms"] = first
        await pilot.press("4")
        for _ in range(5):
            await pilot.press("down")
        selected = pane.selected()

        def bump(fraction: float) -> Any:
            def mutate() -> None:
                ids = list(world.models)
                for model_id in rng.sample(ids, max(1, int(len(ids) * fraction))):
                    model = world.models[model_id]
                    world.models[model_id] = replace(model, stake=(model.stake or 0) + rng.randint(1, 10**9))

            return mutate

        for label, mutate in (("unchanged", None), ("1pct", bump(0.01)), ("all", bump(1.0))):
            times = [await timed(label, mutate) for _ in range(rounds)]
            results[label + "_ms"] = {"median": median(times), "max": max(times)}
        still = pane.selected()
        results["cursor_kept"] = (
            selected is not None and still is not None and still.model_id == selected.model_id
        )
        pane.sort_by("stake", reverse=True)
        await pilot.pause()
        times = [await timed("all_sorted_by_stake", bump(1.0)) for _ in range(rounds)]
        results["all_sorted_by_stake_ms"] = {"median": median(times), "max": max(times)}
        results["table_cleared_on_refresh"] = len(cleared)
    for key in list(results):
        if key.endswith("_show_ms"):
            values = results[key]
            results[key] = {"median": median(values), "max": max(values)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    result = asyncio.run(measure(args.models, args.rounds))
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
