"""Following a Modal function call's logs across network drops, without duplicates or gaps.

modal's ``FunctionCall.logs.stream()`` already retries a transient stream error from its last entry,
but a longer outage (the network gone, the client's retries spent) ends the stream with an exception,
and a new ``stream()`` starts with no memory of where the old one stopped. :class:`LogFollower`
keeps a cursor (the newest timestamp delivered and the entries delivered at exactly that time) and
after every reconnection:

* drops what it already delivered, if the new stream replays history;
* fills the hole with ``logs.fetch(since=cursor, until=first new entry)``, if the new stream only
  carries new entries;
* and, when the call ends, fetches once more from the cursor to catch anything still missing.

Entries are compared by (timestamp, source, message); within one connection everything is passed
through, so entries that arrive slightly out of order between stdout and stderr are never lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from soma_console.errors import UserError


class LogEntryLike(Protocol):
    @property
    def message(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def source(self) -> str: ...


class LogSource(Protocol):
    """The two log reads the follower needs (modal's ``FunctionCall.logs`` in production)."""

    def stream(self) -> AsyncIterator[Any]: ...

    def fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Any]: ...


@dataclass(frozen=True)
class Notice:
    """Something the follower itself has to say (a drop, a reconnection); not from the run."""

    text: str


@dataclass
class _Cursor:
    ts: datetime | None = None
    at_ts: Counter[tuple[str, str]] = field(default_factory=Counter)


class _Pass:
    """One read (a stream connection or a fetch): which entries are new, given the cursor."""

    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor
        self._catching_up = cursor.ts is not None
        self._replayed: Counter[tuple[str, str]] = Counter()

    def accept(self, entry: LogEntryLike) -> bool:
        cur = self._cursor
        key = (entry.source, entry.message)
        ts = entry.timestamp
        if self._catching_up:
            assert cur.ts is not None
            if ts < cur.ts:
                return False
            if ts == cur.ts:
                self._replayed[key] += 1
                if self._replayed[key] <= cur.at_ts[key]:
                    return False
            else:
                self._catching_up = False
        if cur.ts is None or ts > cur.ts:
            cur.ts, cur.at_ts = ts, Counter({key: 1})
        elif ts == cur.ts:
            cur.at_ts[key] += 1
        return True


RETRYABLE: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)


def _retryable_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean 'the connection failed', not 'the request was wrong'."""
    kinds: list[type[BaseException]] = list(RETRYABLE)
    try:
        from grpclib.exceptions import StreamTerminatedError
        from modal.exception import ConnectionError as ModalConnectionError
        from modal.exception import InternalError, ServiceError

        kinds += [StreamTerminatedError, ModalConnectionError, ServiceError, InternalError]
    except ImportError:  # modal is optional for unit tests of this module
        pass
    return tuple(kinds)


class LogFollower:
    """Yields every log entry of a call once, in order, reconnecting after drops."""

    def __init__(
        self,
        source: LogSource,
        *,
        what: str,
        history: bool = True,
        fetch_timeout: float = 30.0,
        max_outage_s: float = 600.0,
        backoff: tuple[float, ...] = (0.5, 1, 2, 4, 8, 15, 30),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._what = what
        self._history = history
        self._fetch_timeout = fetch_timeout
        self._max_outage_s = max_outage_s
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self.cursor = _Cursor()
        self.reconnects = 0

    async def _fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Any]:
        """The entries of a fetch as they arrive. ``fetch_timeout`` bounds the wait for each entry, not
        the whole history: a long run's history takes as long as it takes, and every entry delivered
        moves the cursor, so a fetch cut short is continued from there, never restarted."""
        it = self._source.fetch(since, until).__aiter__()
        while True:
            try:
                entry = await asyncio.wait_for(it.__anext__(), self._fetch_timeout)
            except StopAsyncIteration:
                return
            yield entry

    async def entries(self) -> AsyncIterator[LogEntryLike | Notice]:
        retryable = _retryable_errors()
        failures = 0
        outage_since: float | None = None
        while True:
            try:
                fill_pending = self._history or self.cursor.ts is not None
                stream_pass = _Pass(self.cursor)
                async for entry in self._source.stream():
                    if outage_since is not None:
                        outage_since, failures = None, 0
                        yield Notice(f"log stream for {self._what} is back")
                    if fill_pending:
                        fill_pending = False
                        if self.cursor.ts is None or entry.timestamp > self.cursor.ts:
                            # What was logged between the cursor and this entry, this stream did not carry.
                            gap = _Pass(self.cursor)
                            async for old in self._fetch(self.cursor.ts, entry.timestamp):
                                if gap.accept(old):
                                    failures = 0  # progress: a later drop starts its back-off afresh
                                    yield old
                            stream_pass = _Pass(self.cursor)
                    if stream_pass.accept(entry):
                        yield entry
                # The call finished: one last read from the cursor catches whatever the stream missed.
                if self.cursor.ts is not None or self._history:
                    tail = _Pass(self.cursor)
                    async for old in self._fetch(self.cursor.ts, datetime.now(UTC)):
                        if tail.accept(old):
                            failures = 0
                            outage_since = None
                            yield old
                return
            except retryable as exc:
                now = self._clock()
                if outage_since is None:
                    outage_since = now
                elif now - outage_since > self._max_outage_s:
                    raise UserError(
                        f"lost Modal's log stream for {self._what} for over {self._max_outage_s:.0f} s "
                        f"({_describe(exc)}); the run itself keeps going on Modal.",
                        hint="Reattach later with `soma-console modal logs RUN -f`.",
                    ) from None
                delay = self._backoff[min(failures, len(self._backoff) - 1)]
                failures += 1
                self.reconnects += 1
                yield Notice(
                    f"log stream for {self._what} dropped ({_describe(exc)}); reconnecting in {delay:g} s"
                )
                await self._sleep(delay)

    async def catch_up(self) -> AsyncIterator[Any]:
        """One more read from the cursor to now: entries the log service made visible only after the
        call ended (its logs lag behind the call by a few seconds)."""
        tail = _Pass(self.cursor)
        async for old in self._fetch(self.cursor.ts, datetime.now(UTC)):
            if tail.accept(old):
                yield old


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
