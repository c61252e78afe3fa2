"""Our own reads (soma_console.core.chain_reads) against the devnet: they must agree with what the
real SDK reads, model for model, and fail with one sentence."""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

import pytest

from soma_console.config import ChainProfile
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import NodeUnreachable
from soma_console.core.chain_reads import StateTooLarge
from soma_console.core.chainstate import ChainSnapshot, Manifest, ModelRow
from soma_console.core.lifecycle import same_commitment
from soma_console.encoding import b58decode
from tests.devnet.helpers import commit, funded, make_weights, reveal
from tests.devnet.sdk_state import parse_system_state


def _raw(digest: str | None) -> bytes | None:
    if digest is None:
        return None
    return bytes.fromhex(digest) if len(digest) == 64 else b58decode(digest)


def _digests_as_bytes(row: ModelRow) -> Any:
    def manifest(m: Manifest | None) -> Any:
        return None if m is None else (m.url, _raw(m.checksum), m.size)

    pending = row.pending_update
    return replace(
        row,
        weights_commitment=_raw(row.weights_commitment),
        embedding_commitment=_raw(row.embedding_commitment),
        manifest=manifest(row.manifest),
        pending_update=None
        if pending is None
        else (
            pending.commit_epoch,
            _raw(pending.weights_commitment),
            _raw(pending.embedding_commitment),
            manifest(pending.manifest),
        ),
    )


async def _every_state(devnet: Any) -> tuple[Any, Any, dict[str, str]]:
    """One model in each state (an active one with a pending update) for one owner, plus a
    stranger's active model; returns (client, owner, {state: model_id})."""
    client = await devnet.client()
    kp = await funded(devnet, 20)
    other = await funded(devnet, 5)
    ids = {
        name: await client.create_model(kp, 500, 1.0) for name in ("created", "pending", "active", "inactive")
    }
    ids["stranger"] = await client.create_model(other, 100, 1.0)
    w = {name: make_weights(devnet.blob_url, embedding=[0.5 * i for i in range(16)]) for name in ids}
    for name in ("pending", "active", "inactive"):
        await commit(client, kp, ids[name], w[name])
    await commit(client, other, ids["stranger"], w["stranger"])
    devnet.advance()
    for name in ("active", "inactive"):
        await reveal(client, kp, ids[name], w[name])
    await reveal(client, other, ids["stranger"], w["stranger"])
    await client.deactivate_model(kp, ids["inactive"])
    await commit(client, kp, ids["active"], make_weights(devnet.blob_url))  # its pending update
    return client, kp, ids


async def test_the_model_list_matches_the_sdk_model_for_model(devnet: Any) -> None:
    client, kp, ids = await _every_state(devnet)
    address = kp.address()
    session = ChainSession(devnet.profile, address=address)
    try:
        ours = await session.snapshot()
        theirs = parse_system_state(await client.get_latest_system_state(), chain="devnet", address=address)
    finally:
        await session.close()
    assert ours.registry_ok
    assert (ours.epoch, ours.epoch_start_ms, ours.params) == (
        theirs.epoch,
        theirs.epoch_start_ms,
        theirs.params,
    )
    # Only the owner's models carry their embedding in our list, and digests come as hex, not
    # Base58; everything else is identical.
    expected = tuple(
        _digests_as_bytes(m if m.is_owned_by(address) else replace(m, embedding=None)) for m in theirs.models
    )
    assert tuple(_digests_as_bytes(m) for m in ours.models) == expected
    assert all(
        same_commitment(a.weights_commitment, b.weights_commitment)
        for a, b in zip(ours.models, theirs.models, strict=True)
        if b.weights_commitment is not None
    )
    states = {m.model_id: m.status for m in ours.models}
    assert {states[ids[s]] for s in ("created", "pending", "active", "inactive")} == {
        "created",
        "pending",
        "active",
        "inactive",
    }
    active = ours.model(ids["active"])
    assert active is not None and active.pending_update is not None and active.embedding
    stranger = ours.model(ids["stranger"])
    assert stranger is not None and stranger.status == "active" and stranger.embedding is None
    assert ours.balance is not None and ours.balance == round(await client.get_balance(address) * 1e9)


async def test_the_clock_is_a_small_read_that_agrees_with_the_full_one(devnet: Any) -> None:
    client = await devnet.client()
    kp = await funded(devnet, 5)
    await client.create_model(kp, 100, 1.0)
    devnet.advance()
    session = ChainSession(devnet.profile, address=kp.address())
    try:
        full = await session.snapshot()
        head = await session.head()
    finally:
        await session.close()
    assert not head.registry_ok and full.registry_ok
    assert head.models is full.models  # the last list read, carried along, not read again
    for name in ("epoch", "epoch_start_ms", "epoch_duration_ms", "params", "balance", "protocol_version"):
        assert getattr(head, name) == getattr(full, name), name


async def test_a_state_over_the_receive_limit_is_one_sentence_and_the_clock_still_reads(devnet: Any) -> None:
    client = await devnet.client()
    kp = await funded(devnet, 20)
    for _ in range(12):  # a system state of a few KiB; the clock's answer is about 1 KiB
        await client.create_model(kp, 100, 1.0)
    session = ChainSession(devnet.profile, max_state_bytes=2048)
    seen: list[tuple[ChainSnapshot | None, Any]] = []
    session.subscribe(lambda snap, err: seen.append((snap, err)))
    try:
        with pytest.raises(StateTooLarge) as info:
            await session.snapshot()
        head = await session.head()
        assert await session.refresh() is None
    finally:
        await session.close()
    text = str(info.value)
    assert "system state is" in text and "2 KiB" in text and "chain.max_state_mib" in text
    assert "\n" not in text and "StatusCode" not in text
    assert head.epoch == 0 and not head.registry_ok
    # A poll publishes the clock first (no error), then says the model list is missing.
    (clock_snap, clock_err), (last_snap, list_err) = seen
    assert clock_snap is not None and clock_err is None
    assert last_snap is clock_snap and "the model list cannot be read" in str(list_err)


async def test_an_unreachable_node_is_one_sentence() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    session = ChainSession(ChainProfile(name="gone", rpc_url=f"http://127.0.0.1:{port}"), timeout=5)
    try:
        for read in (session.head, session.snapshot):
            with pytest.raises(NodeUnreachable) as info:
                await read()
            assert str(info.value).startswith(f"the chain at http://127.0.0.1:{port} does not answer.")
    finally:
        await session.close()
