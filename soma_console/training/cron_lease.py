"""One writer at a time for the cron's journal: a lease in a ``modal.Dict``.

The cron's journal (the SQLite file holding the unrevealed decryption keys) lives on a Modal Volume,
and Volume writes are last-write-wins with no locking: two rounds writing it at once (a reveal round
and a commit round, or an old and a new container during a rolling deploy) would silently lose a
key. ``max_containers=1`` is per function, not a lock, so every round that touches the journal first
takes this lease:

* **take**: ``put(key, value, skip_if_exists=True)``, which Modal answers atomically; the value says
  who holds it and until when (``expires``).
* **renew**: a holder extends ``expires`` while it works (every ``ttl/3``, from a thread of its own);
  before each journal write it checks (:meth:`JournalLease.check`) that the expiry it last wrote is
  still ahead and no takeover was seen, so a holder that stalled past its expiry stops instead of
  writing.
* **expiry**: a lease past its ``expires`` belongs to a dead round. Taking it over is itself a
  put-if-absent, on a key named after the dead holder, so of two rounds that both see the same
  expired lease exactly one wins.
* **release**: the holder removes the entry (only if it is still its own).

What is left: Modal's Dict has no compare-and-swap, so a takeover that overwrites a lease released and
taken afresh in the instant between its two reads is possible in principle; the fresh holder's
renewer notices within ``ttl/3`` and stops it. Leases expire only for rounds that stalled for ``ttl``.

``deploy`` and ``remove`` read the lease and refuse while a live round holds it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from soma_console.errors import UserError

DEFAULT_TTL_S = 600.0
LEASE_KEY = "journal-lease"


class LeaseStore(Protocol):
    """The four ``modal.Dict`` operations the lease uses (string keys and values)."""

    def put(self, key: str, value: str, *, skip_if_exists: bool = False) -> bool: ...

    def get(self, key: str, default: Any = None) -> Any: ...

    def pop(self, key: str, default: Any = None) -> Any: ...


def lease_dict_name(cron_app: str) -> str:
    return f"{cron_app}-lease"


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    purpose: str
    since: float
    expires: float

    def to_text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_text(cls, text: Any) -> LeaseInfo | None:
        try:
            obj = json.loads(text)
            return cls(str(obj["holder"]), str(obj["purpose"]), float(obj["since"]), float(obj["expires"]))
        except (TypeError, ValueError, KeyError):
            return None

    def live(self, now: float) -> bool:
        return now < self.expires


class LeaseBusy(UserError):
    """Another round holds the journal."""


class LeaseLost(RuntimeError):
    """This round's lease expired or was taken over; it must not write the journal any more."""


class JournalLease:
    """The lease for one round; use as a context manager or call :meth:`acquire` / :meth:`release`."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        purpose: str,
        holder: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        wait_s: float = 0.0,
        poll_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        key: str = LEASE_KEY,
    ) -> None:
        self.store = store
        self.purpose = purpose
        self.holder = holder or f"{purpose}-{secrets.token_hex(6)}"
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep
        self.key = key
        self.held = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lost: str | None = None
        self._since = 0.0
        self._expires = 0.0
        self.margin_s = min(30.0, ttl_s / 10)  # stop writing this long before the expiry

    def _value(self, since: float | None = None) -> LeaseInfo:
        now = self.clock()
        return LeaseInfo(self.holder, self.purpose, since if since is not None else now, now + self.ttl_s)

    def current(self) -> LeaseInfo | None:
        return LeaseInfo.from_text(self.store.get(self.key))

    def try_acquire(self) -> LeaseInfo | None:
        """Take the lease if free or expired; return None when taken, else who holds it."""
        mine = self._value()
        if self.store.put(self.key, mine.to_text(), skip_if_exists=True):
            self._took(mine)
            return None
        other = self.current()
        if other is None:
            # Gone between the two calls, or unreadable: an unreadable entry counts as expired.
            raw = self.store.get(self.key)
            if raw is None:
                return self.try_acquire()
            other = LeaseInfo("unreadable", "?", 0.0, 0.0)
        if other.live(self.clock()):
            return other
        # Expired: exactly one contender wins the takeover key for this dead holder.
        marker = f"{self.key}:takeover:{other.holder}:{other.expires}"
        if not self.store.put(marker, self.holder, skip_if_exists=True):
            return other
        if self.current() != other:  # released and taken afresh meanwhile: that holder is alive
            return self.current() or other
        self.store.put(self.key, mine.to_text())
        self._took(mine)
        return None

    def _took(self, mine: LeaseInfo) -> None:
        self.held = True
        self._lost = None
        self._since = mine.since
        self._expires = mine.expires
        self._start_renewer()

    def acquire(self) -> JournalLease:
        deadline = self.clock() + self.wait_s
        while True:
            other = self.try_acquire()
            if other is None:
                return self
            if self.clock() >= deadline:
                raise LeaseBusy(
                    f"another round ({other.purpose}, {other.holder}) is writing the cron journal "
                    f"(for {max(0.0, self.clock() - other.since):.0f} s, lease until "
                    f"{time.strftime('%H:%M:%S UTC', time.gmtime(other.expires))}).",
                    hint="Wait for it to finish; `soma-console cron status` shows the rounds.",
                )
            self.sleep(self.poll_s)

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this round still holds the lease (call before each write).

        No network call: nobody can take the lease before the expiry this holder last wrote, and the
        renewer thread notices a takeover. A round that stalled past its expiry stops here."""
        if not self.held:
            raise LeaseLost("this round does not hold the journal lease")
        if self._lost:
            raise LeaseLost(self._lost)
        if self.clock() >= self._expires - self.margin_s:
            self._lost = "the journal lease expired before it was renewed"
            raise LeaseLost(self._lost)

    def renew(self) -> None:
        with self._lock:
            if not self.held or self._lost:
                return
            info = self.current()
            if info is None or info.holder != self.holder:
                self._lost = "the journal lease was taken over by another round"
                return
            if not info.live(self.clock()):
                self._lost = "the journal lease expired before it was renewed"
                return
            value = self._value(self._since)
            self.store.put(self.key, value.to_text())
            self._expires = value.expires

    def _start_renewer(self) -> None:
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(max(0.05, self.ttl_s / 3)):
                with contextlib.suppress(Exception):  # retried next time; check() notices a real loss
                    self.renew()

        self._renewer = threading.Thread(target=loop, name="journal-lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        with self._lock:
            if not self.held:
                return
            self.held = False
            info = self.current()
            if info is not None and info.holder == self.holder:
                self.store.pop(self.key)

    def __enter__(self) -> JournalLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_lease(store: LeaseStore, *, now: float | None = None, key: str = LEASE_KEY) -> LeaseInfo | None:
    """The lease a round holds now, or None (free or expired)."""
    info = LeaseInfo.from_text(store.get(key))
    if info is None or not info.live(time.time() if now is None else now):
        return None
    return info


class MemoryLeaseStore:
    """A dict with ``modal.Dict``'s put-if-absent, for code that runs without Modal (and unit tests)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: str, *, skip_if_exists: bool = False) -> bool:
        with self._lock:
            if skip_if_exists and key in self._data:
                return False
            self._data[key] = value
            return True

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(key, default)

    def pop(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)
