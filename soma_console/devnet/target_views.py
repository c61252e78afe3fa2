"""GetTarget and ListTargets: filters, virtual statuses, order and paging as the full node has them.

* ``status_filter`` (any case): ``open`` (open and still in its generation epoch), ``filled``
  (every filled target, past-window ones included), ``claimed`` (none: claimed targets are
  deleted), ``expired`` (open past its epoch), ``claimable`` (expired open targets and filled
  ones from fill epoch + 2). Anything else is INVALID_ARGUMENT. No filter: every target.
* ``epoch_filter`` matches the generation epoch; ``submitter_filter`` an address (0x optional).
* Order: (on-chain status, generation epoch, id). A page holds ``page_size`` targets (default
  100, at most 1000) and ends early once it reaches 512 KiB encoded; ``next_page_token`` resumes.
* With ``status`` in the mask, expired open and past-window filled targets read ``claimable``.
"""

from __future__ import annotations

from collections.abc import Iterable

from soma_console.devnet.convert.incoming import BadRequest, address
from soma_console.devnet.engine.objects import hex_id
from soma_console.devnet.engine.targets import CLAIMABLE, FILLED, OPEN, Target
from soma_console.devnet.proto import services_pb2 as svc
from soma_console.devnet.proto import state_pb2

DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_PAGE_BYTES = 512 * 1024
GET_TARGET_DEFAULT_MASK = {"id", "status", "generation_epoch", "reward_pool", "distance_threshold"}
ALL_FIELDS = {f.name for f in state_pb2.Target.DESCRIPTOR.fields}
_STATUS_ORDER = {OPEN: 0, FILLED: 1}


def target_msg(t: Target, paths: set[str], current_epoch: int | None) -> state_pb2.Target:
    """A Target message with the fields in ``paths``; ``current_epoch`` enables virtual statuses."""
    m = state_pb2.Target()
    if "id" in paths:
        m.id = hex_id(t.target_id)
    if "embedding" in paths:
        m.embedding.extend(t.embedding)
    if "model_ids" in paths:
        m.model_ids.extend(hex_id(x) for x in t.model_ids)
    if "distance_threshold" in paths:
        m.distance_threshold = t.distance_threshold
    if "reward_pool" in paths:
        m.reward_pool = t.reward_pool
    if "generation_epoch" in paths:
        m.generation_epoch = t.generation_epoch
    if "status" in paths:
        m.status = t.status if current_epoch is None else t.view_status(current_epoch)
    if t.status == FILLED:
        if "fill_epoch" in paths and t.fill_epoch is not None:
            m.fill_epoch = t.fill_epoch
        if "submitter" in paths and t.submitter is not None:
            m.submitter = hex_id(t.submitter)
        if "winning_model_id" in paths and t.winning_model_id is not None:
            m.winning_model_id = hex_id(t.winning_model_id)
        if "winning_model_owner" in paths and t.winning_model_owner is not None:
            m.winning_model_owner = hex_id(t.winning_model_owner)
        if "bond_amount" in paths:
            m.bond_amount = t.bond_amount
        if "data_url" in paths and t.winning_manifest is not None:
            m.data_url = t.winning_manifest.url
    return m


def _matches(t: Target, status: str | None, epoch: int) -> bool:
    if status is None:
        return True
    if status == "open":
        return t.status == OPEN and epoch <= t.generation_epoch
    if status == "filled":
        return t.status == FILLED
    if status == "expired":
        return t.status == OPEN and epoch > t.generation_epoch
    if status == "claimable":
        return t.view_status(epoch) == CLAIMABLE
    return False  # "claimed": deleted at once


def _key(t: Target) -> bytes:
    return bytes([_STATUS_ORDER.get(t.status, 2)]) + t.generation_epoch.to_bytes(8, "big") + t.target_id


def list_targets(
    request: svc.ListTargetsRequest, current_epoch: int, targets: Iterable[Target]
) -> svc.ListTargetsResponse:
    status = request.status_filter.lower() if request.HasField("status_filter") else None
    if status is not None and status not in ("open", "filled", "claimed", "expired", "claimable"):
        raise BadRequest(
            f"status_filter {request.status_filter!r} is not one of open, filled, claimed, expired, claimable"
        )
    submitter = (
        address(request.submitter_filter, "submitter_filter")
        if request.HasField("submitter_filter")
        else None
    )
    paths = (
        set(request.read_mask.paths)
        if request.HasField("read_mask") and request.read_mask.paths
        else ALL_FIELDS
    )
    size = request.page_size if request.HasField("page_size") and request.page_size > 0 else DEFAULT_PAGE
    size = min(size, MAX_PAGE)
    after = bytes(request.page_token) if request.HasField("page_token") else b""
    if after and len(after) != 41:
        raise BadRequest("page_token is not one this devnet handed out")
    chosen = sorted(
        (
            t
            for t in targets
            if _matches(t, status, current_epoch)
            and (not request.HasField("epoch_filter") or t.generation_epoch == request.epoch_filter)
            and (submitter is None or t.submitter == submitter)
        ),
        key=_key,
    )
    resp = svc.ListTargetsResponse()
    used = 0
    last: Target | None = None
    remaining = [t for t in chosen if _key(t) > after]
    for t in remaining:
        if len(resp.targets) >= size or used >= MAX_PAGE_BYTES:
            break
        msg = target_msg(t, paths, current_epoch)
        resp.targets.append(msg)
        used += msg.ByteSize()
        last = t
    if last is not None and len(resp.targets) < len(remaining):
        resp.next_page_token = _key(last)
    return resp
