"""ChainSession: the chain as one process sees it.

Everything the console knows about the chain comes through here, and every transaction leaves
through here:

* reads go through our own gRPC client (:mod:`soma_console.core.chain_reads`), never the SDK's,
  whose 4 MiB response limit a big network passes: :meth:`ChainSession.head` is the small read
  (epoch, boundary, balance; what a reveal needs), :meth:`ChainSession.snapshot` the full one
  (every model as well);
* exactly one ``soma_sdk.SomaClient`` per session for building, simulating and sending
  transactions, created lazily and re-created after the node comes back;
* every call has a timeout and failures become :class:`~soma_console.core.chain_errors.ChainError`
  subclasses with a sentence a person understands;
* a poller reads the clock, publishes it, then reads the model list, re-scheduling itself only
  after the previous poll finished (polls never overlap), and publishes typed
  :class:`ChainSnapshot` values to listeners; a model list that cannot be read never holds the
  clock back;
* transactions from one signer are serialised (they share gas coins).

A session belongs to the event loop it was first used on (the SDK's futures are bound to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from soma_console.config import ChainProfile
from soma_console.core.chain_errors import (
    ChainError,
    ChainTimeout,
    ModelListUnavailable,
    NodeUnreachable,
    translate,
)
from soma_console.core.chain_parse import parse_effects, snapshot_from_state_msg
from soma_console.core.chain_reads import DEFAULT_MAX_STATE_BYTES, RpcReader, decode_system_state
from soma_console.core.chainstate import ChainParams, ChainSnapshot, TxResult, reuse_unchanged

log = logging.getLogger(__name__)

Listener = Callable[[ChainSnapshot | None, ChainError | None], None]
SHANNONS = 1_000_000_000
# The poller spends at most 1/REGISTRY_SHARE of its time reading the model list.
REGISTRY_SHARE = 10.0


def balance_to_shannons(value: Any) -> int | None:
    """``get_balance`` has returned SOMA floats and shannon ints across SDK versions."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value * SHANNONS)
    inner = getattr(value, "balance", None)
    return balance_to_shannons(inner) if inner is not None else None


class ChainSession:
    def __init__(
        self,
        profile: ChainProfile,
        *,
        address: str | None = None,
        timeout: float = 30.0,
        tx_timeout: float = 90.0,
        poll_interval: float = 3.0,
        clock: Callable[[], float] = time.time,
        max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    ) -> None:
        self.profile = profile
        self.address = address
        self.timeout = timeout
        self.tx_timeout = tx_timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self.latest: ChainSnapshot | None = None
        self.last_error: ChainError | None = None
        self.connected = False
        self._client: Any = None
        self._client_has_extras = False
        self._client_lock = asyncio.Lock()
        self._tx_lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._poll_task: asyncio.Task[None] | None = None
        self._poll_wakeup = asyncio.Event()
        self.reader = RpcReader(profile.rpc_url, timeout=timeout, max_state_bytes=max_state_bytes)
        self._clock_failed = False
        self._registry_error: ChainError | None = None
        self._registry_due = 0.0  # time.monotonic() at which the poller reads the model list again
        self._registry_forced = False

    def __repr__(self) -> str:
        return f"ChainSession({self.profile.name!r}, {self.profile.rpc_url!r})"

    # -- the client --------------------------------------------------------------------------
    async def client(self, *, extras: bool = False) -> Any:
        """The session's SomaClient. ``extras`` asks for one that can reach faucet and admin."""
        async with self._client_lock:
            if self._client is not None and (self._client_has_extras or not extras):
                return self._client
            from soma_sdk import SomaClient

            kwargs: dict[str, Any] = {"rpc_url": self.profile.rpc_url}
            if extras:
                if self.profile.faucet_url:
                    kwargs["faucet_url"] = self.profile.faucet_url
                if self.profile.admin_url:
                    kwargs["admin_url"] = self.profile.admin_url
            try:
                # The SDK connects eagerly when given faucet/admin URLs; bound that.
                client = await asyncio.wait_for(SomaClient(**kwargs), self.timeout)
            except Exception as exc:
                raise translate(exc, url=self.profile.rpc_url, timeout=self.timeout) from None
            self._client = client
            self._client_has_extras = extras
            return client

    async def call(
        self,
        method: str,
        *args: Any,
        timeout: float | None = None,
        ctx: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``SomaClient.<method>`` with a timeout, translating failures."""
        limit = self.timeout if timeout is None else timeout
        client = await self.client(extras=method in ("request_faucet", "advance_epoch"))
        try:
            result = await asyncio.wait_for(getattr(client, method)(*args, **kwargs), limit)
        except Exception as exc:
            err = translate(exc, url=self.profile.rpc_url, timeout=limit, **(ctx or {}))
            if isinstance(err, NodeUnreachable | ChainTimeout):
                self.connected = False
            raise err from None
        self.connected = True
        return result

    # -- reads ---------------------------------------------------------------------------------
    async def _balance(self) -> int | None:
        if not self.address:
            return None
        try:
            return await self.reader.balance(self.address)
        except ChainError as exc:
            log.info("balance read failed: %s", exc)
            return None

    async def _read(self, start: Callable[[], Awaitable[Any]]) -> Any:
        # Takes the read's function, not its coroutine: a read cancelled before it began (the
        # balance beside it failed, the console stopped) then leaves no never-awaited coroutine.
        try:
            result = await start()
        except (NodeUnreachable, ChainTimeout):
            self.connected = False
            raise
        self.connected = True
        return result

    async def _beside(self, task: asyncio.Future[Any]) -> int | None:
        """The balance, read while ``task`` runs; ``task`` is cancelled if this read fails."""
        try:
            return await self._balance()
        except BaseException:
            task.cancel()
            raise

    async def head(self) -> ChainSnapshot:
        """The small read: epoch, its start, the parameters and the balance, a few kilobytes
        whatever the network's size. ``models`` is the last list read (``registry_ok`` False)."""
        epoch_task = asyncio.ensure_future(self._read(self.reader.clock))
        balance = await self._beside(epoch_task)
        ep = await epoch_task
        if ep.start_ms is None:  # a node without the epoch index: only the system state says
            return await self.snapshot()
        duration = ep.attribute("epoch_duration_ms")
        params = ChainParams(
            epoch_duration_ms=duration,
            model_min_stake=ep.attribute("model_min_stake"),
            model_architecture_version=ep.attribute("model_architecture_version"),
            model_reveal_slash_rate_bps=ep.attribute("model_reveal_slash_rate_bps"),
        )
        last = self.latest
        snap = ChainSnapshot(
            chain=self.profile.name,
            taken_at=self.clock(),
            epoch=ep.epoch,
            epoch_start_ms=ep.start_ms,
            epoch_duration_ms=duration or 86_400_000,
            params=params,
            models=last.models if last is not None else (),
            address=self.address,
            balance=balance,
            protocol_version=ep.protocol_version,
            registry_ok=False,
        )
        self.latest = snap
        return snap

    async def snapshot(self) -> ChainSnapshot:
        """The full read: the system state with every model (and the wallet's balance)."""
        state_task = asyncio.ensure_future(self._read(self.reader.system_state_bytes))
        balance = await self._beside(state_task)
        held = [await state_task]  # handed over, so that the ~90 MB are freed once decoded
        taken_at = self.clock()
        before = self.latest.models if self.latest is not None else ()

        def decode() -> ChainSnapshot:
            state = decode_system_state(held.pop(), url=self.profile.rpc_url)
            snap = snapshot_from_state_msg(
                state, chain=self.profile.name, address=self.address, balance=balance, taken_at=taken_at
            )
            return replace(snap, models=reuse_unchanged(snap.models, before))

        # Decoding 10,000 models takes a few hundred milliseconds: not on the event loop.
        snap = await asyncio.to_thread(decode)
        self.latest = snap
        self.last_error = None
        return snap

    async def epoch(self) -> int:
        return (await self.head()).epoch

    async def next_boundary_ms(self) -> int:
        """Milliseconds since the Unix epoch at which the next epoch starts (chain's estimate)."""
        snap = await self.head()
        duration = snap.params.epoch_duration_ms
        # A chain whose epochs advance only on request reports a duration of 0: the "next"
        # boundary is then the current epoch's start, as the SDK reports it.
        return snap.epoch_start_ms + (snap.epoch_duration_ms if duration is None else duration)

    async def wait_for_epoch(
        self, target: int, *, deadline: float | None = None, on_wait: Callable[[float], None] | None = None
    ) -> int:
        """Sleep until the chain reaches epoch ``target``; return the epoch seen.

        Uses the chain's own clock (the epoch's start and length, a small read), not a
        fixed-length wait, so it works for 60-second devnet epochs and 24-hour testnet epochs alike.
        """
        while True:
            snap = await self.head()
            if snap.epoch >= target:
                return snap.epoch
            now = self.clock()
            duration = snap.params.epoch_duration_ms
            ms = snap.epoch_start_ms + (snap.epoch_duration_ms if duration is None else duration)
            left = ms / 1000.0 - now
            # Past the estimate (a devnet whose epochs advance only on request, or a late boundary):
            # poll gently until the chain closes the epoch.
            wait = max(0.5, min(left + 0.5, 60.0)) if left > 0 else 2.0
            if deadline is not None:
                if now >= deadline:
                    raise ChainTimeout(
                        f"epoch {target} did not start before the deadline (now epoch {snap.epoch})."
                    )
                wait = min(wait, max(0.1, deadline - now))
            if on_wait is not None:
                on_wait(left)
            await asyncio.sleep(wait)

    # -- writes ----------------------------------------------------------------------------------
    async def transact(
        self,
        method: str,
        *args: Any,
        ctx: dict[str, Any] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> TxResult:
        """Send one transaction through an SDK convenience method, serialised per session."""
        async with self._tx_lock:
            effects = await self.call(method, *args, timeout=timeout or self.tx_timeout, ctx=ctx, **kwargs)
        result = parse_effects(effects)
        if not result.ok:
            raise translate(RuntimeError(result.status), url=self.profile.rpc_url, **(ctx or {}))
        self.wake()
        return result

    async def run_serialized(self, job: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``job`` holding the transaction lock (for multi-call transactions we build ourselves)."""
        async with self._tx_lock:
            result = await job()
        self.wake()
        return result

    async def request_faucet(self, address: str) -> Any:
        if not self.profile.faucet_url:
            raise ChainError(f"the {self.profile.name} chain has no faucet configured.")
        return await self.call("request_faucet", address, timeout=max(self.timeout, 60.0))

    async def advance_epoch(self) -> int:
        if not self.profile.admin_url:
            raise ChainError(
                f"the {self.profile.name} chain has no admin endpoint; only a devnet can advance epochs."
            )
        result = await self.call("advance_epoch")
        self.wake()
        return int(result)

    # -- polling ---------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _publish(self, snap: ChainSnapshot | None, err: ChainError | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(snap, err)
            except Exception:  # a broken listener must not stop the poller
                log.exception("chain listener failed")

    async def refresh(self) -> ChainSnapshot | None:
        """One poll, never raising: the clock first (published at once, so that nothing waiting
        for a boundary waits on the model list), then the model list.

        While the model list cannot be read, every publication carries a
        :class:`ModelListUnavailable` with the clock's fresh snapshot: listeners can tell "the
        chain is down" from "the chain answers, its model list does not"."""
        try:
            head = await self.head()
        except ChainError as exc:
            self._clock_failed = True
            self.last_error = exc
            self._publish(self.latest, exc)
            return None
        self._clock_failed = False
        if head.registry_ok:  # the node could only answer with the whole state
            self._registry_error = self.last_error = None
            self._publish(head, None)
            return head
        self._publish(head, self._registry_error)
        now = time.monotonic()
        if not self._registry_forced and now < self._registry_due:
            return head
        self._registry_forced = False
        try:
            snap = await self.snapshot()
        except ChainError as exc:
            self._registry_error = self.last_error = ModelListUnavailable(
                f"the model list cannot be read: {exc.message}", hint=exc.hint
            )
            self._publish(self.latest, self._registry_error)
            return None
        finally:
            # The model list grows with the network (about a second for 10,000 active models):
            # polls read it at most a tenth of the time; the clock is read at every poll.
            self._registry_due = now + REGISTRY_SHARE * (time.monotonic() - now)
        self._registry_error = None
        self._publish(snap, None)
        return snap

    def wake(self) -> None:
        """Ask the poller to read now, the model list included (after a transaction, say)."""
        self._registry_forced = True
        self._poll_wakeup.set()

    def start_polling(self) -> None:
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.get_running_loop().create_task(self._poll_loop(), name="chain-poll")

    async def _poll_loop(self) -> None:
        while True:
            await self.refresh()
            self._poll_wakeup.clear()
            # Back off while the node is down so a dead node is not hammered.
            # A model list too big to read is no reason to watch the clock less often.
            delay = self.poll_interval if not self._clock_failed else min(self.poll_interval * 3, 15.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_wakeup.wait(), delay)

    async def close(self) -> None:
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._client = None
        with contextlib.suppress(Exception):
            await self.reader.close()


async def probe_chain(profile: ChainProfile, *, timeout: float = 5.0) -> dict[str, Any]:
    """Does the chain answer? Never raises (for doctor)."""
    session = ChainSession(profile, timeout=timeout)
    try:
        snap = await session.head()
        models: int | None = None
        models_error = None
        try:
            models = len((await session.snapshot()).models)
        except ChainError as exc:
            models_error = exc.message
    except ChainError as exc:
        return {"reachable": False, "error": str(exc)}
    finally:
        await session.close()
    out: dict[str, Any] = {
        "reachable": True,
        "epoch": snap.epoch,
        "models": models,
        "seconds_to_boundary": round(snap.seconds_to_boundary(), 1),
    }
    if models_error is not None:
        out["models_error"] = models_error
    return out
