"""Stake what-if against the devnet's real assignment: with +0 it must count exactly the targets the
chain assigned to the model; more stake never lowers the share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from soma_console.core.chain import ChainSession
from soma_console.core.stake_whatif import stake_whatif
from tests.devnet.test_economy import _active_models, _open_targets
from tests.devnet_fixture import Devnet, _new_devnet

pytestmark = pytest.mark.asyncio


@pytest.fixture
def tiny_devnet(tmp_path: Path) -> Iterator[Devnet]:
    yield from _new_devnet(tmp_path / "devnet", extra_args=("--model-preset", "tiny"))


async def test_what_if_replays_the_chains_assignment_and_more_stake_means_no_fewer_targets(tiny_devnet):
    client = await tiny_devnet.client()
    ids, _ = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    tiny_devnet.advance()
    targets = await _open_targets(client)
    session = ChainSession(tiny_devnet.profile)
    try:
        for mid in ids:
            actual = sum(mid in t.model_ids for t in targets)
            same = await stake_whatif(session, mid, 0)
            assert (same.targets, same.assigned_now, same.assigned_after) == (len(targets), actual, actual)
        weakest = ids[0]
        more = await stake_whatif(session, weakest, 100 * 10**9)
        assert more.assigned_after >= more.assigned_now
        assert more.to_json()["share_after"] == more.assigned_after / len(targets)
        with pytest.raises(Exception, match="not active"):
            await stake_whatif(session, "0x" + "ab" * 32, 0)
    finally:
        await session.close()
