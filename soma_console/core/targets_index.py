"""The local target index: every target the chain lists, kept after the chain deletes it.

The chain has no filter by model, lists at most a page of targets per call and deletes a target
when its rewards are claimed, so "what did my model win" can only be answered from a copy. This
module keeps that copy in its own SQLite file, keyed by (chain, target id) with the generation
epoch, assigned models, status, winner and reward of each target.

A sync is one *pass* over three listings, in this order: ``open``, ``filled``, ``claimable``
(together they cover every live target; a target moving from open to filled or claimable during a
pass moves forward in that order and is still seen). Each page is written in one transaction
together with the cursor (pass, listing, page token), so a crashed sync resumes at the page after
the last one written and memory stays bounded by one page. When a pass completes, the targets it
did not see are gone from the chain: winners become ``claimed``, the rest ``gone``; their rows
are kept for the history. The queries over the copy are in ``core.targets_reads``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soma_console.core.targets_reads import TargetReads, hex_id, locked
from soma_console.errors import UserError
from soma_console.fsutil import PRIVATE_FILE_MODE, ensure_dir

LISTINGS = ("open", "filled", "claimable")
LIVE_STATUSES = ("open", "filled", "claimable")
GONE_STATUSES = ("claimed", "gone")
# The fields a sync needs: no embedding (8 KB a target on a 2048-wide chain), no data URL.
READ_MASK = (
    "id,status,model_ids,winning_model_id,reward_pool,distance_threshold,generation_epoch,"
    "bond_amount,submitter"
)
PAGE_SIZE = 1000
APPLICATION_ID = 0x534F5449  # "SOTI"


# (listing, page token or None) -> (targets of the page, next page token or None)
PageFetcher = Callable[[str, str | None], Awaitable[tuple[Sequence[Any], str | None]]]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS targets (
    chain TEXT NOT NULL,
    target_id TEXT NOT NULL,
    generation_epoch INTEGER NOT NULL,
    status TEXT NOT NULL,
    winning_model_id TEXT,
    reward_pool INTEGER NOT NULL,
    distance_threshold REAL,
    bond_amount INTEGER,
    submitter TEXT,
    seen_pass INTEGER NOT NULL,
    gone_epoch INTEGER,
    PRIMARY KEY (chain, target_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS targets_by_epoch ON targets (chain, generation_epoch);
CREATE INDEX IF NOT EXISTS targets_by_winner ON targets (chain, winning_model_id);
CREATE TABLE IF NOT EXISTS target_models (
    chain TEXT NOT NULL,
    target_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    PRIMARY KEY (chain, target_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS target_models_by_model ON target_models (chain, model_id);
CREATE TABLE IF NOT EXISTS sync_state (
    chain TEXT PRIMARY KEY,
    pass INTEGER NOT NULL,
    listing INTEGER NOT NULL,
    page_token TEXT,
    epoch INTEGER NOT NULL
);
"""


class TargetIndexError(UserError):
    pass


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class SyncReport:
    pages: int
    targets: int
    passes_completed: int
    newly_gone: int
    resumed: bool


def _row_of(chain: str, t: Any, pass_no: int) -> tuple[Any, ...]:
    threshold = getattr(t, "distance_threshold", None)
    return (
        chain,
        hex_id(getattr(t, "id", None)),
        _int(getattr(t, "generation_epoch", 0)),
        str(getattr(t, "status", "") or "open").lower(),
        hex_id(getattr(t, "winning_model_id", None)),
        _int(getattr(t, "reward_pool", 0)),
        None if threshold is None else float(threshold),
        _int(getattr(t, "bond_amount", 0)),
        hex_id(getattr(t, "submitter", None)),
        pass_no,
    )


class TargetIndex(TargetReads):
    """A handle on the index file. Methods are synchronous except :meth:`sync`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        # One connection, used from worker threads (a sync's pages, the console's reads) and closed
        # from whichever thread stops first: every use holds this lock, so closing waits for a page
        # being written instead of pulling the connection from under it.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"TargetIndex({str(self.path)!r})"

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> TargetIndex:
        path = Path(path)
        if not path.exists():
            ensure_dir(path.parent, private=True)
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
            os.close(fd)
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError:
            raise TargetIndexError(
                f"{path} is not a soma-console target index (or it is corrupt); move it aside and sync again."
            ) from None
        if tables and app_id != APPLICATION_ID:
            conn.close()
            raise TargetIndexError(
                f"{path} is an SQLite file that soma-console did not write; move it aside and sync again."
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-32768")  # 32 MiB of pages: the indexes of an epoch stay hot
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        return cls(path, conn)

    @locked
    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    # -- sync ----------------------------------------------------------------------------------
    @locked
    def cursor(self, chain: str) -> tuple[int, int, str | None, int] | None:
        row = self._conn.execute(
            "SELECT pass, listing, page_token, epoch FROM sync_state WHERE chain=?", (chain,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), row[2], int(row[3]))

    @locked
    def write_page(
        self,
        chain: str,
        targets: Iterable[Any],
        *,
        pass_no: int,
        listing: int,
        next_token: str | None,
        epoch: int,
    ) -> int:
        """Store one page and advance the cursor past it, atomically. Returns the targets written."""
        rows = [r for r in (_row_of(chain, t, pass_no) for t in targets) if r[1] is not None]
        models = [
            (chain, hex_id(getattr(t, "id", None)), i, hex_id(mid))
            for t in targets
            if getattr(t, "id", None)
            for i, mid in enumerate(getattr(t, "model_ids", None) or ())
        ]
        with self._tx() as c:
            c.executemany(
                "INSERT INTO targets (chain, target_id, generation_epoch, status, winning_model_id,"
                " reward_pool, distance_threshold, bond_amount, submitter, seen_pass)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (chain, target_id) DO UPDATE SET status=excluded.status,"
                " winning_model_id=coalesce(excluded.winning_model_id, winning_model_id),"
                " reward_pool=excluded.reward_pool, bond_amount=excluded.bond_amount,"
                " submitter=coalesce(excluded.submitter, submitter), seen_pass=excluded.seen_pass,"
                " gone_epoch=NULL",
                rows,
            )
            c.executemany("INSERT OR IGNORE INTO target_models VALUES (?,?,?,?)", models)
            if next_token is None:
                listing, next_token = listing + 1, None
            c.execute(
                "INSERT INTO sync_state (chain, pass, listing, page_token, epoch) VALUES (?,?,?,?,?)"
                " ON CONFLICT (chain) DO UPDATE SET pass=excluded.pass, listing=excluded.listing,"
                " page_token=excluded.page_token, epoch=excluded.epoch",
                (chain, pass_no, listing, next_token, epoch),
            )
        return len(rows)

    @locked
    def finish_pass(self, chain: str, pass_no: int, epoch: int) -> int:
        """Targets the completed pass did not see are gone from the chain; start the next pass."""
        with self._tx() as c:
            cur = c.execute(
                "UPDATE targets SET gone_epoch=?,"
                " status=CASE WHEN winning_model_id IS NOT NULL THEN 'claimed' ELSE 'gone' END"
                " WHERE chain=? AND seen_pass<? AND gone_epoch IS NULL",
                (epoch, chain, pass_no),
            )
            gone = cur.rowcount
            c.execute(
                "UPDATE sync_state SET pass=?, listing=0, page_token=NULL, epoch=? WHERE chain=?",
                (pass_no + 1, epoch, chain),
            )
        return gone

    async def sync(
        self,
        chain: str,
        fetch_page: PageFetcher,
        epoch: int,
        *,
        max_pages: int | None = None,
        on_page: Callable[[int], None] | None = None,
    ) -> SyncReport:
        """Run the rest of the current pass (resuming a crashed one) and finish it.

        ``max_pages`` stops early (the cursor is kept; the next call resumes). Database writes run
        in a worker thread so an event loop is never blocked for a page's worth of inserts.
        """
        import asyncio

        state = self.cursor(chain)
        if state is None:
            pass_no, listing, token = 1, 0, None
        else:
            pass_no, listing, token, _ = state
        resumed = state is not None and (listing > 0 or token is not None)
        pages = written = gone = completed = 0
        while listing < len(LISTINGS):
            if max_pages is not None and pages >= max_pages:
                return SyncReport(pages, written, completed, gone, resumed)
            targets, next_token = await fetch_page(LISTINGS[listing], token)
            written += await asyncio.to_thread(
                self.write_page,
                chain,
                targets,
                pass_no=pass_no,
                listing=listing,
                next_token=next_token or None,
                epoch=epoch,
            )
            pages += 1
            if on_page is not None:
                on_page(written)
            if next_token:
                token = next_token
            else:
                listing, token = listing + 1, None
        gone = await asyncio.to_thread(self.finish_pass, chain, pass_no, epoch)
        completed = 1
        return SyncReport(pages, written, completed, gone, resumed)


def sdk_page_fetcher(call: Callable[..., Awaitable[Any]], *, page_size: int = PAGE_SIZE) -> PageFetcher:
    """A :data:`PageFetcher` over ``SomaClient.list_targets`` (``call`` is e.g. ``session.call``)."""

    async def fetch(listing: str, token: str | None) -> tuple[Sequence[Any], str | None]:
        kwargs: dict[str, Any] = {"limit": page_size, "read_mask": READ_MASK}
        if listing == "claimable":
            kwargs["claimable"] = True
        else:
            kwargs["status"] = listing
        if token:
            kwargs["page_token"] = token
        page = await call("list_targets", **kwargs)
        return list(getattr(page, "targets", None) or ()), getattr(page, "next_page_token", None) or None

    return fetch
