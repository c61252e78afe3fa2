"""Following a run's events file: its history, then what is appended, until the run is over.

One follower for ``soma-console logs [-f]`` and the console's runs pane (a Modal run is followed
through its log stream instead: ``ModalRun.events``). The file itself is the buffer: it is read
only when the consumer asks for more, in a thread, so nothing queues in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path
from typing import IO

from soma_console.training import events as ev

READ_CHUNK = 1 << 20
TAIL_POLL_S = 0.25
# A finished run's log is complete once nothing new arrived for this long after its status ended.
SETTLE_S = 1.0
# Plain lines handed to the console in one batch at most; its log keeps 5,000 lines anyway.
MAX_LINES_PER_BATCH = 5000


def trim_plain(records: list[ev.AnyRecord], limit: int | None = MAX_LINES_PER_BATCH) -> list[ev.AnyRecord]:
    """Keep every event and the newest ``limit`` plain lines; say how many were dropped."""
    if limit is None:
        return records
    plain = sum(1 for r in records if isinstance(r, ev.LogLine))
    extra = plain - limit
    if extra <= 0:
        return records
    out: list[ev.AnyRecord] = [ev.LogLine(f"… {extra:,} older log lines skipped")]
    for rec in records:
        if isinstance(rec, ev.LogLine) and extra > 0:
            extra -= 1
            continue
        out.append(rec)
    return out


def read_events(path: Path) -> Iterator[list[ev.AnyRecord]]:
    """Every record the file holds now, in batches (streamed: never the whole file at once)."""
    asm = ev.LineAssembler()
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            if records := asm.feed(chunk):
                yield records
    if rest := asm.flush():
        yield rest


async def tail_events(
    path: Path, *, is_active: Callable[[], bool], limit: int | None = MAX_LINES_PER_BATCH
) -> AsyncGenerator[list[ev.AnyRecord], None]:
    """The records of an events file: its history, then what is appended, until the run is over
    (``is_active`` false, called in a thread, and nothing new for ``SETTLE_S``).

    Reads happen in a thread (never on the loop); between reads it sleeps. ``limit``: at most
    that many plain lines a batch (the newest), events always kept; None keeps everything.
    """
    asm = ev.LineAssembler()
    fh: IO[bytes] | None = None
    idle_since = time.monotonic()
    try:
        while True:
            if fh is None:
                with contextlib.suppress(FileNotFoundError):
                    fh = await asyncio.to_thread(open, path, "rb")
            chunk = b""
            if fh is not None:
                chunk = await asyncio.to_thread(fh.read, READ_CHUNK)
            if chunk:
                idle_since = time.monotonic()
                records = asm.feed(chunk)
                if records:
                    yield trim_plain(records, limit)
                continue
            if time.monotonic() - idle_since >= SETTLE_S and not await asyncio.to_thread(is_active):
                rest = asm.flush()
                if rest:
                    yield rest
                return
            await asyncio.sleep(TAIL_POLL_S)
    finally:
        if fh is not None:
            fh.close()
