"""What the owner's models were assigned, won and earned, read from the target index.

``sync_targets`` brings the index up to date through the session (the one place the chain is read
for targets); everything else here is a pure read of the index and the claims journal, so the
console can refresh its Earnings pane without touching the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soma_console.core.chain import ChainSession
from soma_console.core.claims import ClaimBook
from soma_console.core.targets_index import SyncReport, TargetIndex, sdk_page_fetcher
from soma_console.core.targets_reads import TargetRecord, owner_share

SETTLED = ("done", "elsewhere")


async def sync_targets(
    session: ChainSession, index: TargetIndex, *, on_page: Callable[[int], None] | None = None
) -> tuple[int, SyncReport]:
    """One complete index pass at the chain's current epoch; returns (epoch, report)."""
    epoch = (session.latest or await session.snapshot()).epoch
    report = await index.sync(session.profile.name, sdk_page_fetcher(session.call), epoch, on_page=on_page)
    return epoch, report


def is_claimed(t: TargetRecord, book: ClaimBook | None, chain: str) -> bool:
    if t.status == "claimed":
        return True
    row = book.get(chain, t.target_id) if book is not None else None
    return row is not None and row.state in SETTLED


def earnings_report(
    index: TargetIndex, chain: str, model_ids: Iterable[str], *, book: ClaimBook | None = None
) -> dict[str, Any]:
    """The ``earnings --json`` document: every win of ``model_ids``, totals and a per-epoch series."""
    wins = []
    by_epoch: dict[int, dict[str, int]] = {}
    total = claimable_now = pending = 0
    for t in index.wins(chain, model_ids):
        share = owner_share(t.reward_pool)
        claimed = is_claimed(t, book, chain)
        wins.append(
            {
                "target_id": t.target_id,
                "model_id": t.winning_model_id,
                "generation_epoch": t.generation_epoch,
                "reward_shannons": t.reward_pool,
                "owner_share_shannons": share,
                "claimable_from_epoch": t.claimable_from_epoch,
                "claimed": claimed,
            }
        )
        row = by_epoch.setdefault(
            t.generation_epoch, {"wins": 0, "earned_shannons": 0, "pending_shannons": 0}
        )
        row["wins"] += 1
        if claimed:
            total += share
            row["earned_shannons"] += share
        else:
            pending += share
            row["pending_shannons"] += share
            if t.status == "claimable":
                claimable_now += share
    return {
        "wins": wins,
        "total_earned_shannons": total,
        "pending_shannons": pending,
        "claimable_now_shannons": claimable_now,
        "by_epoch": [{"epoch": e, **v} for e, v in sorted(by_epoch.items())],
    }


def model_table(index: TargetIndex, chain: str, epoch: int, model_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Per model this epoch: assigned, share of all targets, filled, won, win rate; plus all it earned."""
    ids = [m.lower() for m in model_ids]
    total = index.count(chain, epoch=epoch)
    counts = index.epoch_counts(chain, epoch, ids)
    earned: dict[str, int] = {}
    for t in index.wins(chain, ids):
        key = t.winning_model_id or ""
        earned[key] = earned.get(key, 0) + owner_share(t.reward_pool)
    rows = []
    for mid in ids:
        assigned, filled, won = counts.get(mid, (0, 0, 0))
        rows.append(
            {
                "model_id": mid,
                "assigned": assigned,
                "share": (assigned / total) if total else 0.0,
                "filled": filled,
                "won": won,
                "win_rate": (won / filled) if filled else 0.0,
                "earned_shannons": earned.get(mid, 0),
            }
        )
    return rows


@dataclass(frozen=True)
class EarningsView:
    """Everything the console's Earnings screen shows, computed off the UI loop."""

    chain: str
    epoch: int
    models: list[dict[str, Any]]
    report: dict[str, Any]
    claimable: list[dict[str, Any]]  # unclaimed wins with the epoch each becomes claimable
    synced: bool


def build_view(
    index_path: Path, chain: str, epoch: int, my_models: Iterable[str], *, synced: bool = True
) -> EarningsView:
    """Read the index file (never the network); safe to run in a worker thread."""
    index = TargetIndex.open(index_path)
    try:
        ids = [m.lower() for m in my_models]
        book = ClaimBook(index)
        report = earnings_report(index, chain, ids, book=book)
        models = model_table(index, chain, epoch, ids)
    finally:
        index.close()
    pending = [w for w in report["wins"] if not w["claimed"]]
    return EarningsView(chain, epoch, models, report, pending, synced)


# The Models pane's wins and earnings: the epochs counted (the current one and those before it).
WIN_EPOCHS = 10


def model_wins(
    index_path: Path, chain: str, epoch: int, *, epochs: int = WIN_EPOCHS
) -> dict[str, tuple[int, int]]:
    """Every model's (wins, owner's share in shannons) over the last ``epochs`` epochs, from the
    index file (never the network); run it in a worker thread."""
    index = TargetIndex.open(index_path)
    try:
        return index.wins_by_model(chain, max(0, epoch - epochs + 1))
    finally:
        index.close()


BARS = " ▁▂▃▄▅▆▇█"


def epoch_chart(by_epoch: Sequence[dict[str, Any]], width: int) -> str:
    """Earnings (claimed + pending) per epoch as one line of block characters, newest at the right."""
    values = [int(e["earned_shannons"]) + int(e.get("pending_shannons", 0)) for e in by_epoch][-width:]
    if not values:
        return ""
    top = max(values) or 1
    return "".join(BARS[min(8, -(-v * 8 // top))] if v else BARS[0] for v in values)
