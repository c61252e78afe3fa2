"""Helpers shared by subcommands: running async jobs with one ChainSession."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from soma_console.context import AppContext
from soma_console.core.chain import ChainSession

T = TypeVar("T")


def make_session(app: AppContext, *, address: str | None = None) -> ChainSession:
    return ChainSession(
        app.chain,
        address=address,
        timeout=app.settings.rpc_timeout,
        poll_interval=app.settings.poll_seconds,
        max_state_bytes=app.settings.max_state_bytes,
    )


def run_with_session(
    app: AppContext, job: Callable[[ChainSession], Awaitable[T]], *, address: str | None = None
) -> T:
    """Run ``job`` on a fresh event loop with the process's one ChainSession, then close it."""

    async def main() -> T:
        session = make_session(app, address=address)
        try:
            return await job(session)
        finally:
            await session.close()

    return asyncio.run(main())


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())
