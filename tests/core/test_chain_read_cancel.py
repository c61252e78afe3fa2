"""A read cancelled half-way (the console stopping during a poll) leaves nothing behind: no
never-awaited coroutine warning, no task still running."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from soma_console.config import ChainProfile
from soma_console.core.chain import ChainSession


class _SlowBalanceReader:
    """Stands in for the gRPC reader: the balance never answers, the clock would."""

    async def balance(self, address: str) -> int:
        await asyncio.Event().wait()
        return 0

    async def clock(self, **_: Any) -> Any:
        await asyncio.Event().wait()

    async def system_state_bytes(self, **_: Any) -> bytes:
        await asyncio.Event().wait()
        return b""


@pytest.mark.parametrize("read", ["head", "snapshot"])
def test_a_read_cancelled_during_the_balance_leaves_no_coroutine_behind(read: str) -> None:
    async def main() -> None:
        session = ChainSession(
            ChainProfile(name="devnet", rpc_url="http://127.0.0.1:9", blob_url=None, is_devnet=True),
            address="0x" + "ab" * 32,
        )
        session.reader = _SlowBalanceReader()  # type: ignore[assignment]
        task = asyncio.ensure_future(getattr(session, read)())
        await asyncio.sleep(0)  # the read and the balance are started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert all(t.done() for t in others), others

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]
