"""Queries over the local target index: targets by epoch, model, winner or id, and per-model counts.

:class:`TargetReads` is the read half of :class:`~soma_console.core.targets_index.TargetIndex`
(which owns the connection, opens the file and syncs it). Every method that touches the connection
holds the index's lock (:func:`locked`), so reads from worker threads never meet a closing
connection. Also here: what a target pays the winner's owner and the claimer.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

OWNER_SHARE_BPS = 4975
CLAIMER_SHARE_BPS = 50
BPS = 10_000


def owner_share(reward_pool: int) -> int:
    """What the winning model's owner receives when the target is claimed."""
    return reward_pool * OWNER_SHARE_BPS // BPS


def claimer_fee(reward_pool: int) -> int:
    """What the account that signs the claim receives."""
    return reward_pool * CLAIMER_SHARE_BPS // BPS


def hex_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


@dataclass(frozen=True)
class TargetRecord:
    target_id: str
    generation_epoch: int
    status: str
    model_ids: tuple[str, ...]
    winning_model_id: str | None
    reward_pool: int
    distance_threshold: float | None
    gone_epoch: int | None = None

    @property
    def claimable_from_epoch(self) -> int:
        """Filled targets pay out from generation epoch + 2 (their fill epoch is the generation epoch)."""
        return self.generation_epoch + 2

    def to_json(self) -> dict[str, Any]:
        return {
            "target_id": self.target_id,
            "generation_epoch": self.generation_epoch,
            "status": self.status,
            "model_ids": list(self.model_ids),
            "winning_model_id": self.winning_model_id,
            "reward_pool": self.reward_pool,
            "distance_threshold": self.distance_threshold,
        }


_F = TypeVar("_F", bound=Callable[..., Any])


def locked(method: _F) -> _F:
    """Run a :class:`TargetReads` method holding the index's lock (see ``TargetReads._lock``)."""

    @functools.wraps(method)
    def run(self: TargetReads, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return cast(_F, run)


class TargetReads:
    """The queries of a :class:`~soma_console.core.targets_index.TargetIndex` (its base class)."""

    # Set by TargetIndex.__init__. One connection, used from worker threads and closed from
    # whichever thread stops first: every use holds ``_lock`` (see :func:`locked`).
    _conn: sqlite3.Connection
    _lock: threading.RLock

    @locked
    def _records(self, chain: str, where: str, args: Sequence[Any], limit: int | None) -> list[TargetRecord]:
        sql = (
            "SELECT t.target_id, t.generation_epoch, t.status, t.winning_model_id, t.reward_pool,"
            " t.distance_threshold, t.gone_epoch,"
            " (SELECT group_concat(model_id, ',') FROM (SELECT model_id FROM target_models m"
            "   WHERE m.chain=t.chain AND m.target_id=t.target_id ORDER BY position))"
            f" FROM targets t WHERE t.chain=? {where} ORDER BY t.generation_epoch, t.target_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for tid, gen, status, winner, reward, threshold, gone, models in self._conn.execute(
            sql, (chain, *args)
        ):
            out.append(
                TargetRecord(
                    target_id=tid,
                    generation_epoch=gen,
                    status=status,
                    model_ids=tuple(models.split(",")) if models else (),
                    winning_model_id=winner,
                    reward_pool=reward,
                    distance_threshold=threshold,
                    gone_epoch=gone,
                )
            )
        return out

    def targets(
        self,
        chain: str,
        *,
        epoch: int | None = None,
        status: str | None = None,
        model_ids: Iterable[str] | None = None,
        include_gone: bool = False,
        limit: int | None = None,
    ) -> list[TargetRecord]:
        """Targets of ``chain``; ``model_ids`` keeps those assigned to or won by one of them."""
        where, args = "", list[Any]()
        if epoch is not None:
            where += " AND t.generation_epoch=?"
            args.append(epoch)
        if status is not None:
            where += " AND t.status=?"
            args.append(status)
        elif not include_gone:
            where += " AND t.gone_epoch IS NULL"
        if model_ids is not None:
            ids = [hex_id(m) for m in model_ids]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            where += (
                " AND t.target_id IN (SELECT target_id FROM target_models"
                f" WHERE chain=? AND model_id IN ({marks})"
                f" UNION SELECT target_id FROM targets WHERE chain=? AND winning_model_id IN ({marks}))"
            )
            args.extend([chain, *ids, chain, *ids])
        return self._records(chain, where, args, limit)

    def wins(self, chain: str, model_ids: Iterable[str] | None = None) -> list[TargetRecord]:
        """Filled targets (live or claimed) won by one of ``model_ids`` (every winner when None)."""
        if model_ids is None:
            return self._records(chain, " AND t.winning_model_id IS NOT NULL", [], None)
        ids = [hex_id(m) for m in model_ids]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._records(chain, f" AND t.winning_model_id IN ({marks})", ids, None)

    @locked
    def model_stats(self, chain: str, epoch: int | None = None) -> dict[str, dict[str, int]]:
        """Per model: targets assigned, won and the owner's share of the wins (all models)."""
        stats: dict[str, dict[str, int]] = {}
        where = "" if epoch is None else " AND t.generation_epoch=?"
        args: list[Any] = [chain] + ([] if epoch is None else [epoch])
        for mid, n in self._conn.execute(
            "SELECT m.model_id, count(*) FROM target_models m JOIN targets t"
            " ON t.chain=m.chain AND t.target_id=m.target_id"
            f" WHERE m.chain=? {where} GROUP BY m.model_id",
            args,
        ):
            stats.setdefault(mid, {"assigned": 0, "won": 0, "earned_shannons": 0})["assigned"] = n
        for mid, n, reward in self._conn.execute(
            "SELECT t.winning_model_id, count(*), sum(t.reward_pool * ? / ?) FROM targets t"
            f" WHERE t.chain=? AND t.winning_model_id IS NOT NULL {where} GROUP BY t.winning_model_id",
            [OWNER_SHARE_BPS, BPS, *args],
        ):
            row = stats.setdefault(mid, {"assigned": 0, "won": 0, "earned_shannons": 0})
            row["won"], row["earned_shannons"] = n, int(reward or 0)
        return stats

    @locked
    def wins_by_model(self, chain: str, since_epoch: int) -> dict[str, tuple[int, int]]:
        """Per winning model (every model, not only the wallet's): (targets won, owner's share in
        shannons) over the targets generated from ``since_epoch`` on, claimed ones included. A
        range of the epoch index, one row per winner out: bounded by the epochs asked for."""
        rows = self._conn.execute(
            "SELECT winning_model_id, count(*), sum(reward_pool * ? / ?) FROM targets"
            " WHERE chain=? AND generation_epoch>=? AND winning_model_id IS NOT NULL"
            " GROUP BY winning_model_id",
            (OWNER_SHARE_BPS, BPS, chain, since_epoch),
        )
        return {mid: (int(n), int(earned or 0)) for mid, n, earned in rows}

    @locked
    def epoch_counts(
        self, chain: str, epoch: int, model_ids: Iterable[str]
    ) -> dict[str, tuple[int, int, int]]:
        """Per model of ``model_ids``: (assigned, filled, won) among the targets of ``epoch``."""
        ids = [m for m in (hex_id(x) for x in model_ids) if m is not None]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            "SELECT m.model_id, count(*), sum(t.winning_model_id IS NOT NULL),"
            " sum(t.winning_model_id = m.model_id) FROM target_models m JOIN targets t"
            " ON t.chain=m.chain AND t.target_id=m.target_id"
            f" WHERE m.chain=? AND m.model_id IN ({marks}) AND t.generation_epoch=? GROUP BY m.model_id",
            [chain, *ids, epoch],
        )
        return {mid: (int(a), int(f or 0), int(w or 0)) for mid, a, f, w in rows}

    def by_ids(self, chain: str, target_ids: Sequence[str]) -> list[TargetRecord]:
        """The records of ``target_ids`` (live or gone); ids not in the index are left out."""
        out: list[TargetRecord] = []
        for i in range(0, len(target_ids), 500):
            chunk = list(target_ids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            out.extend(self._records(chain, f" AND t.target_id IN ({marks})", chunk, None))
        return out

    @locked
    def ids_starting(self, chain: str, prefix: str, limit: int = 2) -> list[str]:
        """Target ids (live or gone) that start with ``prefix`` (lower hex with ``0x``): at most
        ``limit``, enough to tell a unique prefix from an ambiguous one. A range scan of the key."""
        rows = self._conn.execute(
            "SELECT target_id FROM targets WHERE chain=? AND target_id >= ? AND target_id < ?"
            " ORDER BY target_id LIMIT ?",
            (chain, prefix, prefix + "g", int(limit)),
        )
        return [r[0] for r in rows]

    @locked
    def count(self, chain: str, *, epoch: int | None = None) -> int:
        if epoch is None:
            return int(
                self._conn.execute("SELECT count(*) FROM targets WHERE chain=?", (chain,)).fetchone()[0]
            )
        return int(
            self._conn.execute(
                "SELECT count(*) FROM targets WHERE chain=? AND generation_epoch=?", (chain, epoch)
            ).fetchone()[0]
        )
