"""The most recent filled targets and their winning data manifests, read from the chain.

ListTargets (``status="filled"``, which also returns filled targets already labelled
``claimable``) is paged to the end; the SDK's ``Target`` has no data checksum, so each chosen
target's object is read once (``get_object``) and its BCS decoded for the winning data manifest
``{url, checksum, size}`` and the submitter's claimed loss. Claimed targets are deleted, so what
is listed here still has its data fetchable. No torch.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soma_console.core.bcs import BcsError, Reader
from soma_console.encoding import b58encode

PAGE_SIZE = 200
MAX_TARGETS = 10_000


class TargetDecodeError(Exception):
    """A target object whose BCS is not the layout expected (one sentence)."""


@dataclass(frozen=True)
class DataManifest:
    url: str
    checksum: str  # Base58 Blake2b-256, as the scoring service takes it
    size: int


@dataclass(frozen=True)
class FilledTarget:
    target_id: str
    embedding: tuple[float, ...]
    model_ids: tuple[str, ...]
    winning_model_id: str
    generation_epoch: int
    data: DataManifest
    claimed_loss: float | None = None


def _tensor(r: Reader) -> list[float]:
    dtype = r.u8()
    raw = r.var_bytes()
    r.seq(r.u64)  # shape
    if dtype != 0 or len(raw) % 4:
        raise TargetDecodeError(f"a target tensor has dtype {dtype} and {len(raw)} bytes; only f32 is known")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def decode_target(contents: bytes) -> tuple[DataManifest | None, float | None]:
    """(winning data manifest, claimed loss) from a Target object's contents (id + ``TargetV1``)."""
    try:
        r = Reader(contents)
        r.raw(32)  # the object id
        _tensor(r)  # embedding
        r.seq(lambda: r.raw(32))  # model_ids
        _tensor(r)  # distance_threshold
        r.u64()  # reward_pool
        r.u64()  # generation_epoch
        if r.uleb() == 1:  # Filled { fill_epoch }
            r.u64()
        for _ in range(3):  # submitter, winning_model_id, winning_model_owner
            r.option(lambda: r.raw(32))
        r.u64()  # bond_amount
        manifest = None
        if r.u8() == 1:
            r.uleb()  # Manifest::V1
            url = r.string()
            r.uleb()  # Checksum variant
            checksum = r.var_bytes()
            size = r.u64()
            manifest = DataManifest(url, b58encode(checksum), size)
        r.option(lambda: _tensor(r))  # winning_embedding
        r.option(lambda: _tensor(r))  # winning_distance_score
        loss = r.option(lambda: _tensor(r))
    except BcsError as exc:
        raise TargetDecodeError(f"a target object could not be decoded ({exc})") from None
    return manifest, (loss[0] if loss else None)


def _object_bytes(obj: Any) -> bytes:
    data = getattr(obj, "data", obj)
    contents = getattr(data, "contents", None)
    if not isinstance(contents, bytes | bytearray):
        raise TargetDecodeError("the node's answer for a target object has no BCS contents")
    return bytes(contents)


async def list_filled(client: Any, *, epoch: int | None = None, limit: int = MAX_TARGETS) -> list[Any]:
    """Filled (or filled-and-claimable) targets, in the chain's order (generation epoch, then id),
    at most ``limit``, as the SDK returns them."""
    out: list[Any] = []
    token = None
    while len(out) < limit:
        page = await client.list_targets(
            status="filled", epoch=epoch, limit=min(PAGE_SIZE, limit - len(out)), page_token=token
        )
        out.extend(t for t in page.targets if getattr(t, "winning_model_id", None))
        token = page.next_page_token
        if not token:
            break
    return out[:limit]


async def newest_filled(client: Any, count: int) -> list[Any]:
    """The ``count`` filled targets of the newest generation epochs, newest epoch first.

    The chain lists targets oldest epoch first and a network fills tens of thousands an epoch, so
    the listing is never read to its end: one call finds the oldest epoch that still has a filled
    target, the chain's clock gives the newest, and the epochs are read one at a time from the
    newest down (``epoch`` filter) until ``count`` targets are in hand."""
    first = await client.list_targets(status="filled", limit=1, read_mask="generation_epoch")
    if not first.targets:
        return []
    oldest = int(first.targets[0].generation_epoch)
    newest = max(oldest, int((await client.get_latest_checkpoint()).data.epoch))
    out: list[Any] = []
    for epoch in range(newest, oldest - 1, -1):
        out.extend(await list_filled(client, epoch=epoch, limit=count - len(out)))
        if len(out) >= count:
            break
    return out


async def recent_filled(
    client: Any,
    *,
    count: int | None = None,
    epoch: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[FilledTarget]:
    """The ``count`` most recent filled targets (newest generation epoch first), or one epoch's."""
    if epoch is not None or count is None:
        listed = await list_filled(client, epoch=epoch)
        listed.sort(key=lambda t: -int(t.generation_epoch))  # stable: the chain's id order in an epoch
        if count is not None:
            listed = listed[:count]
    else:
        listed = await newest_filled(client, min(count, MAX_TARGETS))
    out = []
    for i, t in enumerate(listed, start=1):
        if progress:
            progress(f"reading target {i}/{len(listed)}")
        manifest, loss = decode_target(_object_bytes(await client.get_object(t.id)))
        if manifest is None:
            continue
        out.append(
            FilledTarget(
                target_id=str(t.id),
                embedding=tuple(float(x) for x in t.embedding),
                model_ids=tuple(str(m) for m in t.model_ids),
                winning_model_id=str(t.winning_model_id),
                generation_epoch=int(t.generation_epoch),
                data=manifest,
                claimed_loss=loss,
            )
        )
    return out
