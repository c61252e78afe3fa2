"""The SDK's view of the system state, parsed from its namespace trees: the parity oracle.

The console reads the system state through its own gRPC reader (``core.chain_reads`` and
``core.chain_parse.snapshot_from_state_msg``). ``test_chain_reads`` checks that reading model for
model against this independent parse of ``SomaClient.get_latest_system_state()``: Rust enums arrive
as single-key namespaces (``namespace(V1=namespace(Active=...))``), the registry's map keyed by
``0x…`` ids, several shapes unlike the SDK's ``.pyi``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any

from soma_console.core.chain_parse import _hexish, _int, as_dict, get, unwrap_variant
from soma_console.core.chainstate import (
    MODEL_STATES,
    ChainParams,
    ChainSnapshot,
    Manifest,
    ModelRow,
    PendingUpdate,
    unknown_row,
)


def _floats(value: Any) -> tuple[float, ...] | None:
    """An embedding: a list of floats, or a tensor-like namespace holding one."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        try:
            return tuple(float(v) for v in value)
        except (TypeError, ValueError):
            return None
    d = as_dict(value)
    raw = d.get("bytes")
    if raw is not None and d.get("dtype", 0) == 0:  # the chain's SomaTensor: f32 little-endian bytes
        try:
            data = bytes(raw)
        except (TypeError, ValueError):
            return None
        if len(data) % 4:
            return None
        return struct.unpack(f"<{len(data) // 4}f", data)
    for key in ("data", "values", "embedding", "V1"):
        if key in d:
            return _floats(d[key])
    if len(d) == 1:
        return _floats(next(iter(d.values())))
    return None


def parse_manifest(value: Any) -> Manifest | None:
    if value is None:
        return None
    _, inner = unwrap_variant(value)
    url = get(inner, "url")
    meta = get(inner, "metadata")
    _, meta_inner = unwrap_variant(meta) if meta is not None else (None, None)
    return Manifest(
        url=str(url) if url is not None else None,
        checksum=_hexish(get(meta_inner, "checksum")),
        size=_int(get(meta_inner, "size")),
    )


def parse_model(model_id: str, value: Any) -> ModelRow:
    state: str | None
    version, inner = unwrap_variant(value)  # ("V1", namespace(Active=...))
    if version is not None and version.lower() in MODEL_STATES:  # no version wrapper
        state, body = version, inner
    else:
        state, body = unwrap_variant(inner if version is not None else value)
        if state is None:
            body = inner if version is not None else value
    status = state.lower() if state and state.lower() in MODEL_STATES else "unknown"
    if state is None:
        explicit = get(body, "status")
        if isinstance(explicit, str) and explicit.lower() in MODEL_STATES:
            status = explicit.lower()
    pool = get(body, "staking_pool")
    stake = _int(get(pool, "soma_balance"))
    if stake is None:
        stake = _int(get(body, "stake"))
    pending_raw = get(body, "pending_update")
    pending = None
    if pending_raw is not None:
        pending = PendingUpdate(
            commit_epoch=_int(get(pending_raw, "commit_epoch")),
            weights_commitment=_hexish(get(pending_raw, "weights_commitment")),
            embedding_commitment=_hexish(get(pending_raw, "embedding_commitment")),
            manifest=parse_manifest(get(pending_raw, "manifest")),
        )
    has_pending = pending is not None or bool(get(body, "has_pending_update", default=False))
    owner = get(body, "owner", default="")
    return ModelRow(
        model_id=model_id if model_id.startswith("0x") else "0x" + model_id,
        owner=str(owner).lower().removeprefix("0x"),
        status=status,
        architecture_version=_int(get(body, "architecture_version")),
        stake=stake,
        commission_rate=_int(get(body, "commission_rate")),
        next_commission_rate=_int(get(body, "next_epoch_commission_rate")),
        commit_epoch=_int(get(body, "commit_epoch")),
        create_epoch=_int(get(body, "create_epoch")),
        has_pending_update=has_pending,
        pending_update=pending,
        manifest=parse_manifest(get(body, "manifest")),
        weights_commitment=_hexish(get(body, "weights_commitment")),
        embedding_commitment=_hexish(get(body, "embedding_commitment")),
        embedding=_floats(get(body, "embedding")),
    )


def parse_models(registry_models: Any) -> list[ModelRow]:
    rows = []
    items: Iterable[tuple[str, Any]] = as_dict(registry_models).items()
    for model_id, value in items:
        try:
            rows.append(parse_model(str(model_id), value))
        except Exception:  # a malformed entry degrades to an 'unknown' row, never a crash
            rows.append(unknown_row(str(model_id)))
    rows.sort(key=lambda r: r.model_id)
    return rows


def parse_system_state(
    state: Any,
    *,
    chain: str,
    address: str | None = None,
    balance: int | None = None,
    taken_at: float | None = None,
) -> ChainSnapshot:
    params_raw = get(state, "parameters")
    params = ChainParams(
        epoch_duration_ms=_int(get(params_raw, "epoch_duration_ms")),
        model_min_stake=_int(get(params_raw, "model_min_stake")),
        model_architecture_version=_int(get(params_raw, "model_architecture_version")),
        model_reveal_slash_rate_bps=_int(get(params_raw, "model_reveal_slash_rate_bps")),
    )
    registry = get(state, "model_registry")
    models = parse_models(get(registry, "models", default={}))
    return ChainSnapshot(
        chain=chain,
        taken_at=time.time() if taken_at is None else taken_at,
        epoch=_int(get(state, "epoch"), 0) or 0,
        epoch_start_ms=_int(get(state, "epoch_start_timestamp_ms"), 0) or 0,
        epoch_duration_ms=params.epoch_duration_ms or 86_400_000,
        params=params,
        models=tuple(models),
        address=address,
        balance=balance,
        protocol_version=_int(get(state, "protocol_version")),
    )
