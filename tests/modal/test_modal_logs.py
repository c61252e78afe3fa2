"""The log follower's cursor logic with the log service stubbed (the boundary); the real client
against the fake server is covered in test_modal_run.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soma_console.errors import UserError
from soma_console.training.modal.logs import LogFollower, Notice

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    message: str
    timestamp: datetime
    source: str = "stdout"


def at(seconds: float, message: str, source: str = "stdout") -> Entry:
    return Entry(message, T0 + timedelta(seconds=seconds), source)


class Script:
    """Each stream() call plays the next script: a list of entries, optionally ending in an exception."""

    def __init__(self, log: list[Entry], streams: list[tuple[int, int, BaseException | None]]) -> None:
        self.log = log
        self.streams = streams  # (first index, last index exclusive, error at the end)
        self.fetches: list[tuple[datetime | None, datetime]] = []

    async def _play(self, start: int, end: int, error: BaseException | None) -> AsyncIterator[Entry]:
        for e in self.log[start:end]:
            yield e
        if error is not None:
            raise error

    def stream(self) -> AsyncIterator[Entry]:
        return self._play(*self.streams.pop(0))

    async def _fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Entry]:
        self.fetches.append((since, until))
        for e in self.log:
            if (since is None or e.timestamp >= since) and e.timestamp < until:
                yield e

    def fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Entry]:
        return self._fetch(since, until)


async def no_sleep(_: float) -> None:
    return None


async def follow(script: Script, **kw: Any) -> tuple[list[Entry], list[str]]:
    out: list[Entry] = []
    notes: list[str] = []
    async for item in LogFollower(script, what="run", sleep=no_sleep, **kw).entries():
        if isinstance(item, Notice):
            notes.append(item.text)
        else:
            out.append(item)
    return out, notes


LOG = [at(i, f"line {i}\n") for i in range(10)]


async def test_a_replaying_stream_after_a_drop_delivers_nothing_twice() -> None:
    # stream 1 drops after 4 entries; stream 2 replays from the start
    script = Script(LOG, [(0, 4, ConnectionError("reset")), (0, 10, None)])
    out, notes = await follow(script)
    assert [e.message for e in out] == [e.message for e in LOG]
    assert any("dropped" in n for n in notes)


async def test_a_stream_that_restarts_at_now_has_its_gap_filled() -> None:
    # stream 1 drops after 4; stream 2 only carries entries from index 7 on
    script = Script(LOG, [(0, 4, OSError("no route")), (7, 10, None)])
    out, _ = await follow(script)
    assert [e.message for e in out] == [e.message for e in LOG]
    assert (LOG[3].timestamp, LOG[7].timestamp) in script.fetches


async def test_entries_with_the_same_timestamp_are_counted_not_collapsed() -> None:
    same = [at(1, "a\n"), at(2, "tick\n"), at(2, "tick\n"), at(2, "tock\n"), at(3, "b\n")]
    # drop right after the first "tick"; the replay contains both ticks
    script = Script(same, [(0, 2, ConnectionError("reset")), (0, 5, None)])
    out, _ = await follow(script)
    assert [e.message for e in out] == ["a\n", "tick\n", "tick\n", "tock\n", "b\n"]


async def test_out_of_order_entries_within_one_connection_are_kept() -> None:
    log = [at(1, "out 1\n"), at(3, "out 3\n"), at(2, "err 2\n", "stderr"), at(4, "out 4\n")]
    out, _ = await follow(Script(log, [(0, 4, None)]))
    assert [e.message for e in out] == [e.message for e in log]


async def test_history_before_the_first_streamed_entry_is_fetched() -> None:
    script = Script(LOG, [(5, 10, None)])  # attach late: the stream only has the tail
    out, _ = await follow(script, history=True)
    assert [e.message for e in out] == [e.message for e in LOG]
    out2, _ = await follow(Script(LOG, [(5, 10, None)]), history=False)
    assert [e.message for e in out2] == [e.message for e in LOG[5:]]


async def test_entries_the_stream_missed_at_the_end_are_fetched() -> None:
    script = Script(LOG, [(0, 7, None)])  # the call ended; the stream closed before the last lines
    out, _ = await follow(script)
    assert [e.message for e in out] == [e.message for e in LOG]


async def test_a_long_outage_gives_up_with_one_clear_sentence() -> None:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    streams: list[tuple[int, int, BaseException | None]] = [(0, 2, OSError("down"))]
    script = Script(LOG, streams + [(0, 0, OSError("down"))] * 99)
    follower = LogFollower(script, what="run r1", sleep=sleep, clock=lambda: clock[0], max_outage_s=60)
    with pytest.raises(
        UserError, match=r"lost Modal's log stream for run r1 for over 60 s .*keeps going on Modal"
    ):
        async for _ in follower.entries():
            pass


class SlowHistory(Script):
    """A long run's history: each fetched entry takes a while; the first fetch stalls half way."""

    def __init__(self, log: list[Entry], streams: list[tuple[int, int, BaseException | None]]) -> None:
        super().__init__(log, streams)
        self.stall_once_at: int | None = 5

    async def _fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Entry]:
        import asyncio

        self.fetches.append((since, until))
        for i, e in enumerate(self.log):
            if (since is None or e.timestamp >= since) and e.timestamp < until:
                if i == self.stall_once_at:
                    self.stall_once_at = None
                    await asyncio.sleep(3600)  # the connection hangs
                await asyncio.sleep(0.02)
                yield e


async def test_a_long_history_is_not_bound_by_one_timeout_and_a_stalled_fetch_continues_from_its_cursor() -> (
    None
):
    log = [at(i, f"line {i}\n") for i in range(40)]
    # reattach late: the stream carries only the last entries; the history (0.8 s in all) is fetched
    script = SlowHistory(log, [(38, 40, None), (38, 40, None)])
    out, notes = await follow(script, fetch_timeout=0.2)
    assert [e.message for e in out] == [e.message for e in log]  # nothing twice, nothing missing
    assert any("dropped" in n for n in notes)  # the stall was one drop...
    assert script.fetches[1][0] == log[4].timestamp  # ...and the next fetch began at the cursor
