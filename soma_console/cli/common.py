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


# Ids in tables: "0x" and the first 12 hex digits, which every command taking a model or target id
# accepts back (a unique prefix, as git takes a short commit id); --wide shows them whole.
SHORT_ID_HEX = 12


def short_model_id(model_id: str | None, *, wide: bool = False) -> str:
    """A model, target or object id as tables print it (owners too: their first 14 hex digits)."""
    if not model_id:
        return ""
    return model_id if wide else model_id[: 2 + SHORT_ID_HEX]


short_id = short_model_id


def checkpoint_ref(run: str, step: int) -> str:
    """How tables name a checkpoint: ``RUN@STEP``, which ``commit`` takes back."""
    return f"{run}@{step}"


async def full_model_ids(session: ChainSession, texts: list[str]) -> list[str]:
    """Model ids as typed: whole ids as they are; a short one (the tables' ``0x`` and 12 hex
    digits, or any unique prefix of at least 4 hex digits) looked up among the chain's models
    (the registry is read only when a short id was given)."""
    import re

    from soma_console.errors import UserError

    short = [t for t in texts if re.fullmatch(r"(?:0x)?[0-9a-fA-F]{4,63}", t.strip())]
    if not short:
        return list(texts)
    models = [m.model_id.lower() for m in (await session.snapshot()).models]
    out = []
    for text in texts:
        if text not in short:
            out.append(text)
            continue
        prefix = "0x" + text.strip().lower().removeprefix("0x")
        hits = [m for m in models if m.startswith(prefix)]
        if not hits:
            raise UserError(f"no model id starts with {text}.", hint="See `soma-console models`.")
        if len(hits) > 1:
            raise UserError(f"{text} is the start of {len(hits)} model ids; type more of it.")
        out.append(hits[0])
    return out
