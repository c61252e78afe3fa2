"""Retries with backoff for transient failures, and an overall deadline per operation.

Transient: connection refused/reset/closed early, timeouts, HTTP 408, 429 and 5xx. Everything
else (403, 404, a bad name, a wrong checksum) fails at once with its own message: retrying a
permission problem only makes the person wait longer for the same answer.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from soma_console.core.storage.common import scrub_urls
from soma_console.core.storage.errors import StorageError

if TYPE_CHECKING:
    import httpx

    from soma_console.config import Settings

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Below this rate an upload or download is considered stuck; it sets the default deadline.
MIN_RATE_BYTES_PER_S = 1024 * 1024
BASE_DEADLINE_S = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``timeout`` bounds one whole operation (all attempts together); ``None``
    means 5 minutes plus one second per MiB, i.e. it gives up below about 1 MiB/s."""

    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    timeout: float | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is sane."""
        if retry_after is not None and 0 <= retry_after <= self.backoff_max:
            return retry_after
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)

    def deadline_for(self, size: int) -> float:
        if self.timeout is not None:
            return self.timeout
        return BASE_DEADLINE_S + size / MIN_RATE_BYTES_PER_S

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """``[storage] attempts``, ``timeout_seconds``, ``connect_timeout_seconds``,
        ``read_timeout_seconds`` in config.toml."""
        timeout = settings.get("storage.timeout_seconds")
        return cls(
            attempts=int(settings.number("storage.attempts", cls.attempts, minimum=1)),
            connect_timeout=settings.number(
                "storage.connect_timeout_seconds", cls.connect_timeout, minimum=1
            ),
            read_timeout=settings.number("storage.read_timeout_seconds", cls.read_timeout, minimum=1),
            timeout=None if timeout is None else settings.number("storage.timeout_seconds", 0, minimum=1),
        )


class Transient(Exception):
    """One attempt failed in a way worth retrying. ``reason`` is safe to show."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after_seconds(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def describe_transport_error(exc: httpx.TransportError) -> str:
    """A short, credential-free phrase for a network failure."""
    import httpx

    text = scrub_urls(str(exc)).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return "the server stopped responding (timed out)"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text or "all connection attempts failed" in text:
            return "connection refused"
        if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "the host name does not resolve"
        if "certificate" in text or "ssl" in text:
            return "the TLS certificate was not accepted"
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed before the transfer finished"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection was reset"
    return f"network error ({type(exc).__name__})"


async def with_retries(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    give_up: Callable[[str, int], Exception],
) -> T:
    """Run ``attempt(n)`` until it returns, raises a non-transient error, or attempts run out.

    ``give_up(last_reason, attempts)`` builds the error raised after the last failed attempt.
    """
    import httpx

    for n in range(1, policy.attempts + 1):
        retry_after: float | None = None
        try:
            return await attempt(n)
        except Transient as exc:
            reason, retry_after = exc.reason, exc.retry_after
        except httpx.TransportError as exc:
            reason = describe_transport_error(exc)
        if n == policy.attempts:
            raise give_up(reason, n)
        await asyncio.sleep(policy.delay(n, retry_after))
    raise AssertionError("unreachable: attempts >= 1")


async def within(seconds: float, what: str, work: Awaitable[T]) -> T:
    """Await ``work`` for at most ``seconds``; say what did not finish otherwise."""
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await work
    except TimeoutError:
        if not deadline.expired():
            raise
        raise StorageError(
            f"{what} did not finish within {seconds:g} s.",
            hint="Check the network, or raise [storage] timeout_seconds in config.toml.",
        ) from None
