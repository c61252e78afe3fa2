"""Target index sync at network scale: one epoch of 86,400 targets from 1000-target pages.

    python -m bench.targets_index_sync [--targets 86400] [--page 1000] [--models 10000]

The pages are built in-process in the SDK's Target shape (without embeddings, as the sync's read
mask asks), so the figures are the index's own cost: parsing, SQLite writes (one transaction per
page with the cursor, synchronous=FULL) and the sweep that closes a pass. Reported: first sync
(every target new), a second sync (every target already known), a sync after 10% of the targets
were claimed (times exclude building the pages), the Earnings screen's data for 3 models
(``build_view``: what the console computes on each refresh, in a worker thread), every model's
wins and earnings for the Models pane (``model_wins``, a worker thread, about once an epoch), the peak
Python allocation during a sync (tracemalloc) and the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from soma_console.core.targets_index import TargetIndex


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=86_400)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--models", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(7)
    models = [f"0x{i:064x}" for i in range(args.models)]
    live: dict[str, str] = {}  # id -> status
    for i in range(args.targets):
        live[f"0x{i:064x}"] = "open" if i % 3 else "filled"
    ids = sorted(live)

    def target(tid: str) -> SimpleNamespace:
        n = int(tid, 16)
        r = random.Random(n)
        filled = live[tid] != "open"
        chosen = r.sample(models, 3)
        return SimpleNamespace(
            id=tid,
            generation_epoch=100,
            status=live[tid],
            model_ids=chosen,
            winning_model_id=chosen[0] if filled else None,
            reward_pool=12_685_185,
            distance_threshold=0.978,
            bond_amount=66_560 if filled else 0,
            submitter="0x" + "ab" * 32 if filled else None,
        )

    listed: dict[str, list[str]] = {}
    source_s = [0.0]

    async def fetch(listing: str, token: str | None) -> tuple[list[Any], str | None]:
        t0 = time.perf_counter()
        if token is None:  # a listing starts: snapshot its ids once, like the node's index
            is_open = listing == "open"
            chosen = [t for t in ids if (live[t] == "open") == is_open]
            listed[listing] = chosen if listing != "claimable" else []
        rows = listed[listing]
        start = int(token or 0)
        page = [target(t) for t in rows[start : start + args.page]]
        source_s[0] += time.perf_counter() - t0
        return page, (str(start + args.page) if start + args.page < len(rows) else None)

    def timed_sync(index: TargetIndex, epoch: int) -> tuple[float, Any]:
        source_s[0] = 0.0
        t0 = time.perf_counter()
        report = asyncio.run(index.sync("bench", fetch, epoch))
        return round(time.perf_counter() - t0 - source_s[0], 2), report

    out: dict[str, Any] = {"targets": args.targets, "page": args.page}
    with tempfile.TemporaryDirectory() as tmp:
        index = TargetIndex.open(Path(tmp) / "targets.sqlite")
        out["first_sync_s"], _ = timed_sync(index, 100)
        out["second_sync_s"], _ = timed_sync(index, 100)
        tracemalloc.start()
        asyncio.run(index.sync("bench", fetch, 100))
        out["sync_peak_python_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
        claimed = [t for t in ids if live[t] == "filled"]
        for tid in rng.sample(claimed, len(ids) // 10):
            del live[tid]
        ids[:] = sorted(live)
        out["sync_after_claims_s"], report = timed_sync(index, 101)
        out["newly_gone"] = report.newly_gone
        t0 = time.perf_counter()
        stats = index.model_stats("bench")
        out["model_stats_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        mine = index.targets("bench", model_ids=models[:5])
        out["mine_5_models_s"] = round(time.perf_counter() - t0, 3)
        out["mine_rows"] = len(mine)
        out["models_with_stats"] = len(stats)
        from soma_console.core.earnings import build_view

        t0 = time.perf_counter()
        view = build_view(Path(tmp) / "targets.sqlite", "bench", 100, models[:3])
        out["earnings_view_3_models_s"] = round(time.perf_counter() - t0, 3)
        out["earnings_view_wins"] = len(view.report["wins"])
        from soma_console.core.earnings import model_wins

        t0 = time.perf_counter()
        wins = model_wins(Path(tmp) / "targets.sqlite", "bench", 101)
        out["models_pane_wins_s"] = round(time.perf_counter() - t0, 3)
        out["models_pane_models_with_wins"] = len(wins)
        out["file_mib"] = round(sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20, 1)
        index.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
