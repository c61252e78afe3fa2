"""Parses the SDK's namespace trees and the RPC's protobuf messages into ``core.chainstate``'s types.

Two sources. The SDK's answers to transactions (effects, owned objects, stake receipts) are
``types.SimpleNamespace`` trees produced by serialising the chain's Rust types, so enums arrive as
single-key namespaces (``namespace(V1=namespace(Active=...))``) and several shapes differ from the
SDK's ``.pyi``. The RPC's protobuf messages (``soma.rpc``, as ``chain_reads``
returns them) are read directly, which is much cheaper for a registry of 10,000 models. Everything here
tolerates missing fields and unknown variants: a newer chain must degrade a row, never crash the console.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from soma_console.core.chainstate import (
    MODEL_STATES,
    ChainParams,
    ChainSnapshot,
    Manifest,
    ModelRow,
    PendingUpdate,
    TxResult,
    unknown_row,
)
from soma_console.encoding import b58encode


def as_dict(value: Any) -> dict[str, Any]:
    """A namespace or mapping as a plain dict (one level)."""
    if isinstance(value, SimpleNamespace):
        return dict(vars(value))
    if isinstance(value, Mapping):
        return dict(value)
    return {}


def to_plain(value: Any) -> Any:
    """Recursively turn namespaces into dicts (for recording shapes and JSON output)."""
    if isinstance(value, SimpleNamespace):
        return {k: to_plain(v) for k, v in vars(value).items()}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def get(obj: Any, *path: str, default: Any = None) -> Any:
    """Follow attribute/key names; return ``default`` at the first missing step."""
    node = obj
    for name in path:
        if node is None:
            return default
        if isinstance(node, Mapping):
            node = node.get(name)
        else:
            node = getattr(node, name, None)
    return default if node is None else node


def unwrap_variant(value: Any) -> tuple[str | None, Any]:
    """``namespace(Active=x)`` -> ("Active", x); a plain struct -> (None, value)."""
    d = as_dict(value)
    if len(d) == 1:
        ((name, inner),) = d.items()
        if name[:1].isupper():
            return name, inner
    if isinstance(value, str):  # unit variant serialised as a bare string
        return value, None
    return None, value


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return default
    return default


def _hexish(value: Any) -> str | None:
    """Digests come as Base58 strings, hex strings or byte lists depending on the type."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple | bytes) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return b58encode(bytes(value))
    inner = as_dict(value)
    if len(inner) == 1:
        return _hexish(next(iter(inner.values())))
    return str(value)


def parse_effects(effects: Any) -> TxResult:
    """Effects come as ``namespace(V1=namespace(status, executed_epoch, transaction_fee, ...))``."""
    _, body = unwrap_variant(effects)
    if body is None:
        body = effects
    status_raw = get(body, "status")
    status_name, status_inner = unwrap_variant(status_raw)
    if isinstance(status_raw, str):
        ok = status_raw.lower() in ("success", "ok")
        status = status_raw
    elif status_name is not None:
        ok = status_name.lower() == "success"
        status = status_name if ok else f"{status_name} {to_plain(status_inner)}"
    else:
        ok = bool(get(status_raw, "success", default=False))
        status = str(to_plain(status_raw))
    fee_raw = get(body, "transaction_fee")
    fee = _int(fee_raw)
    if fee is None and fee_raw is not None:
        fee = _int(get(fee_raw, "total_fee")) or sum(
            v for v in (_int(x) for x in as_dict(fee_raw).values()) if v is not None
        )
    created = []
    for item in get(body, "created", default=[]) or []:
        ref = (
            get(item, "id") or get(item, "object_id") or (item[0] if isinstance(item, list | tuple) else None)
        )
        if ref is not None:
            created.append(str(ref))
    digest = get(body, "transaction_digest") or get(body, "digest")
    return TxResult(
        digest=_hexish(digest),
        status=status,
        ok=ok,
        executed_epoch=_int(get(body, "executed_epoch")),
        fee=fee,
        created=tuple(created),
        raw=effects,
    )


# -- protobuf messages of the RPC (soma.rpc), as chain_reads returns them ----------------------


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def _hex(msg: Any, name: str) -> str | None:
    """A digest field as hex: Base58 in Python costs ~20 µs a digest, three a model, 10,000
    models a poll; hex is C. ``lifecycle.same_commitment`` compares either form."""
    return bytes(getattr(msg, name)).hex() if msg.HasField(name) else None


def _manifest_msg(msg: Any) -> Manifest | None:
    if msg.WhichOneof("version") is None:
        return None
    v1 = msg.v1
    meta = v1.metadata.v1 if v1.HasField("metadata") and v1.metadata.HasField("v1") else None
    return Manifest(
        url=_opt(v1, "url"),
        checksum=_hex(meta, "checksum") if meta is not None else None,
        size=_opt(meta, "size") if meta is not None else None,
    )


def model_from_msg(model_id: str, m: Any, *, with_embedding: bool = False) -> ModelRow:
    """One registry entry (``soma.rpc.Model``). The embedding (2048 floats) is decoded only when
    asked for: the model list never needs it, and 10,000 of them would be 20 million floats.
    Commitments and checksums come as hex (the SDK's shapes have them in Base58)."""
    state = str(m.state).lower() if m.HasField("state") else ""
    pending = None
    if m.HasField("pending_update"):
        p = m.pending_update
        pending = PendingUpdate(
            commit_epoch=_opt(p, "commit_epoch"),
            weights_commitment=_hex(p, "weights_commitment"),
            embedding_commitment=_hex(p, "embedding_commitment"),
            manifest=_manifest_msg(p.manifest) if p.HasField("manifest") else None,
        )
    pool = m.staking_pool if m.HasField("staking_pool") else None
    embedding = tuple(m.embedding) if with_embedding and len(m.embedding) else None
    return ModelRow(
        model_id=model_id if model_id.startswith("0x") else "0x" + model_id,
        owner=str(m.owner).lower().removeprefix("0x"),
        status=state if state in MODEL_STATES else "unknown",
        architecture_version=_opt(m, "architecture_version"),
        stake=_opt(pool, "soma_balance") if pool is not None else None,
        commission_rate=_opt(m, "commission_rate"),
        next_commission_rate=_opt(m, "next_epoch_commission_rate"),
        commit_epoch=_opt(m, "commit_epoch"),
        create_epoch=_opt(m, "create_epoch"),
        has_pending_update=pending is not None,
        pending_update=pending,
        manifest=_manifest_msg(m.manifest) if m.HasField("manifest") else None,
        weights_commitment=_hex(m, "weights_commitment"),
        embedding_commitment=_hex(m, "embedding_commitment"),
        embedding=embedding,
    )


def models_from_msg(registry: Any, *, embeddings_of: str | None = None) -> list[ModelRow]:
    """Every model of a ``soma.rpc.ModelRegistry``, sorted by id; ``embeddings_of``: an owner
    address whose models keep their embeddings."""
    want = embeddings_of.lower().removeprefix("0x") if embeddings_of else None
    rows = []
    for model_id, m in registry.models.items():
        try:
            mine = want is not None and str(m.owner).lower().removeprefix("0x") == want
            rows.append(model_from_msg(str(model_id), m, with_embedding=mine))
        except Exception:  # a malformed entry degrades to an 'unknown' row, never a crash
            rows.append(unknown_row(str(model_id)))
    rows.sort(key=lambda r: r.model_id)
    return rows


def snapshot_from_state_msg(
    state: Any,
    *,
    chain: str,
    address: str | None = None,
    balance: int | None = None,
    taken_at: float | None = None,
) -> ChainSnapshot:
    """A full snapshot from a ``soma.rpc.SystemState`` message."""
    p = state.parameters
    params = ChainParams(
        epoch_duration_ms=_opt(p, "epoch_duration_ms"),
        model_min_stake=_opt(p, "model_min_stake"),
        model_architecture_version=_opt(p, "model_architecture_version"),
        model_reveal_slash_rate_bps=_opt(p, "model_reveal_slash_rate_bps"),
    )
    models = models_from_msg(state.model_registry, embeddings_of=address)
    return ChainSnapshot(
        chain=chain,
        taken_at=time.time() if taken_at is None else taken_at,
        epoch=state.epoch,
        epoch_start_ms=state.epoch_start_timestamp_ms,
        epoch_duration_ms=params.epoch_duration_ms or 86_400_000,
        params=params,
        models=tuple(models),
        address=address,
        balance=balance,
        protocol_version=_opt(state, "protocol_version"),
    )
