"""ChainSession: the one shared async SomaClient of a process (filled in by the foundation work)."""

from __future__ import annotations

import asyncio
from typing import Any

from soma_console.config import ChainProfile


async def probe_chain(profile: ChainProfile, *, timeout: float = 5.0) -> dict[str, Any]:
    """Does the chain answer? Never raises."""
    try:
        from soma_sdk import SomaClient

        client = await asyncio.wait_for(SomaClient(rpc_url=profile.rpc_url), timeout)
        epoch = await asyncio.wait_for(client.get_epoch(), timeout)
    except Exception as exc:  # probing: every failure is an answer
        return {
            "reachable": False,
            "error": str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
        }
    return {"reachable": True, "epoch": int(getattr(epoch, "epoch", -1))}
