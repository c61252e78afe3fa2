"""The target index's paging, resume and history rules, over an in-memory page source.

The chain side (real ListTargets paging through the SDK) is covered in test_earnings_devnet.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from soma_console.core.targets_index import TargetIndex
from soma_console.core.targets_reads import owner_share

pytestmark = pytest.mark.asyncio


class Listing:
    """Targets by id, listed like the node: open / filled / claimable, paged by position."""

    def __init__(self) -> None:
        self.targets: dict[str, SimpleNamespace] = {}
        self.calls = 0
        self.fail_after: int | None = None

    def add(self, n: int, epoch: int, models: tuple[str, ...] = ("0xa1", "0xb2", "0xc3")) -> None:
        for i in range(n):
            tid = f"0x{epoch:04x}{i:06x}"
            self.targets[tid] = SimpleNamespace(
                id=tid,
                generation_epoch=epoch,
                status="open",
                model_ids=list(models),
                winning_model_id=None,
                reward_pool=1000 + i,
                distance_threshold=0.5,
                bond_amount=0,
                submitter=None,
            )

    async def fetch(self, listing: str, token: str | None) -> tuple[list[Any], str | None]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise ConnectionError("node went away")
        rows = sorted((t for t in self.targets.values() if t.status == listing), key=lambda t: t.id)
        start = int(token or 0)
        page = rows[start : start + 10]
        nxt = str(start + 10) if start + 10 < len(rows) else None
        return page, nxt


async def test_a_pass_indexes_every_listing_and_a_second_pass_marks_deleted_winners_claimed(tmp_path: Path):
    src = Listing()
    src.add(25, epoch=3)
    index = TargetIndex.open(tmp_path / "t.sqlite")
    report = await index.sync("c", src.fetch, 3)
    assert (report.targets, report.pages, report.passes_completed) == (25, 3 + 1 + 1, 1)
    assert index.count("c", epoch=3) == 25
    won = src.targets["0x0003000004"]
    won.status, won.winning_model_id = "claimable", "0xb2"
    lost = src.targets["0x0003000005"]
    lost.status = "claimable"
    await index.sync("c", src.fetch, 5)
    assert [t.target_id for t in index.targets("c", status="claimable")] == [won.id, lost.id]
    del src.targets[won.id], src.targets[lost.id]  # claimed on the chain: deleted
    report = await index.sync("c", src.fetch, 5)
    assert report.newly_gone == 2
    assert len(index.targets("c")) == 23  # live ones only by default
    (kept,) = index.wins("c", ["0xb2"])
    assert (kept.target_id, kept.status, kept.gone_epoch, kept.model_ids) == (
        won.id,
        "claimed",
        5,
        ("0xa1", "0xb2", "0xc3"),
    )
    assert index.targets("c", status="gone")[0].target_id == lost.id
    stats = index.model_stats("c")
    assert stats["0xb2"] == {"assigned": 25, "won": 1, "earned_shannons": owner_share(1004)}
    assert index.model_stats("c", epoch=4) == {}
    index.close()


async def test_a_crashed_sync_resumes_at_the_page_after_the_last_one_written(tmp_path: Path):
    src = Listing()
    src.add(45, epoch=7)
    index = TargetIndex.open(tmp_path / "t.sqlite")
    src.fail_after = 2
    with pytest.raises(ConnectionError):
        await index.sync("c", src.fetch, 7)
    assert index.count("c") == 20 and index.cursor("c") == (1, 0, "20", 7)
    index.close()
    index = TargetIndex.open(tmp_path / "t.sqlite")  # a new process
    src.fail_after, src.calls = None, 0
    report = await index.sync("c", src.fetch, 7)
    assert report.resumed and report.targets == 25 and report.newly_gone == 0
    assert src.calls == 3 + 2  # open pages 3..5, then filled and claimable
    assert index.count("c") == 45 and index.cursor("c") == (2, 0, None, 7)
    index.close()


async def test_mine_filters_by_assigned_or_winning_model_and_chains_do_not_mix(tmp_path: Path):
    src = Listing()
    src.add(3, epoch=1, models=("0xa1",))
    src.add(2, epoch=2, models=("0xd4",))
    index = TargetIndex.open(tmp_path / "t.sqlite")
    await index.sync("one", src.fetch, 2)
    assert [t.generation_epoch for t in index.targets("one", model_ids=["0xD4"])] == [2, 2]
    assert index.targets("one", model_ids=[]) == []
    assert index.targets("two") == []
    assert index.targets("one", epoch=1, limit=2)[1].to_json()["model_ids"] == ["0xa1"]
    index.close()


async def test_a_foreign_sqlite_file_is_refused_with_one_sentence(tmp_path: Path):
    import sqlite3

    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(Exception, match="did not write"):
        TargetIndex.open(path)


async def test_a_claim_takes_a_target_by_the_short_id_tables_print_or_any_unique_prefix(tmp_path: Path):
    from soma_console.core.claims import Claimer, ClaimError

    src = Listing()
    src.add(12, epoch=3)  # ids 0x0003000000 .. 0x000300000b
    src.add(1, epoch=4)
    index = TargetIndex.open(tmp_path / "t.sqlite")
    await index.sync("c", src.fetch, 3)
    await index.sync("other", src.fetch, 3)
    claimer = Claimer.__new__(Claimer)  # the id lookup reads the index only
    claimer.index, claimer.chain = index, "c"
    assert claimer.full_target_id("0x000300000a") == "0x000300000a"
    assert claimer.full_target_id("000300000B") == "0x000300000b"  # no 0x, any case
    assert claimer.full_target_id(" 0x0003000001 ") == "0x0003000001"
    assert claimer.full_target_id("0x0004") == "0x0004000000"  # the only target of epoch 4
    with pytest.raises(ClaimError, match="start of more than one"):
        claimer.full_target_id("0x000300000")
    with pytest.raises(ClaimError, match="no target in the index starts with 0x0005"):
        claimer.full_target_id("0x0005")
    with pytest.raises(ClaimError, match="is not a target id"):
        claimer.full_target_id("0xzz12")
    with pytest.raises(ClaimError, match="is not a target id"):
        claimer.full_target_id("0x12")  # too short to mean anything
    found = await claimer.candidates(["0x0003000003", "0003000003", "0x0003000007"], [])
    assert [t.target_id for t in found] == ["0x0003000003", "0x0003000007"]
    assert index.by_ids("c", ["0x0003000003", "0xffff"])[0].target_id == "0x0003000003"
    index.close()


async def test_the_claim_plan_names_whole_ids_and_addresses_as_the_wallet_shows_them() -> None:
    from soma_console.core.claims import ClaimPlanItem, plan_claims
    from soma_console.core.targets_reads import TargetRecord

    me = "ab" * 32
    other = "cd" * 32
    model = "0x" + "ef" * 32
    target = TargetRecord("0x" + "12" * 32, 5, "claimable", (model,), model, 10_000, 0.5)
    mine = TargetRecord("0x" + "34" * 32, 5, "claimable", (model,), model, 20_000, 0.5)
    items = [
        ClaimPlanItem(target, other, owner_share(10_000), 50, 7, None),
        ClaimPlanItem(mine, "0x" + me.upper(), owner_share(20_000), 100, 7, None),
    ]
    text = plan_claims("devnet", items, claimer="0x" + me).render_text()
    assert "…" not in text and "0x" + me not in text and "0x" + other not in text
    assert f"{me} (this wallet)" in text
    assert f"to owner {other} (model {model})" in text
    assert f"target {target.target_id}" in text and f"target {mine.target_id}" in text
    assert f"to owner {me} (this wallet) (model {model})" in text


class _SlowTarget:
    """A listed target whose fields take a moment to read, and which says when a write began."""

    def __init__(self, i: int, started: Any) -> None:
        self._i, self._started = i, started
        self.generation_epoch, self.status, self.model_ids = 1, "open", ["0xa1"]
        self.winning_model_id, self.reward_pool, self.distance_threshold = None, 10, 0.5
        self.bond_amount, self.submitter = 0, None

    @property
    def id(self) -> str:
        import time

        self._started.set()
        time.sleep(0.0005)
        return f"0x{self._i:08x}"


async def test_closing_waits_for_a_page_being_written_in_another_thread(tmp_path: Path) -> None:
    # The console stops (and closes the index) while a sync's page is written in a worker thread:
    # the close must wait for the page, not pull the connection from under it.
    import threading

    path = tmp_path / "targets.sqlite"
    index = TargetIndex.open(path)
    started = threading.Event()
    page = [_SlowTarget(i, started) for i in range(2000)]
    written: list[int] = []
    writer = threading.Thread(
        target=lambda: written.append(
            index.write_page("c", page, pass_no=1, listing=0, next_token=None, epoch=1)
        )
    )
    writer.start()
    assert started.wait(10)
    index.close()  # while the page is still being read and written
    writer.join(30)
    assert written == [2000]
    again = TargetIndex.open(path)
    try:
        assert again.count("c") == 2000
    finally:
        again.close()
