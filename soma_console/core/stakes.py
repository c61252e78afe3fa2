"""The wallet's stake positions (StakedSoma receipts) and what withdrawing one does.

A StakedSoma object's contents are ``id ‖ pool id ‖ activation epoch (u64) ‖ principal (u64)``; the
pool id names a model's (or a validator's) staking pool, found in the system state's registry.
Model stakers earn nothing on this chain (only the model's owner is paid, as a plain coin), so
a withdrawal returns the principal and lowers the model's stake, and with it the model's weight
in target assignment (cosine distance divided by the normalised square root of stake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soma_console.core.actions import ActionPlan
from soma_console.core.chain import ChainSession
from soma_console.core.chain_parse import as_dict, get, unwrap_variant
from soma_console.core.claims import soma
from soma_console.errors import UserError


class StakeError(UserError):
    pass


@dataclass(frozen=True)
class StakePosition:
    receipt_id: str
    pool_id: str
    model_id: str | None
    principal: int
    activation_epoch: int

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "pool_id": self.pool_id,
            "model_id": self.model_id,
            "principal_shannons": self.principal,
            "activation_epoch": self.activation_epoch,
        }


def _norm(value: Any) -> str:
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def pools_to_models(state: Any) -> dict[str, str]:
    """Staking pool id -> model id, from a system state's model registry."""
    out: dict[str, str] = {}
    for model_id, entry in as_dict(get(state, "model_registry", "models")).items():
        _, inner = unwrap_variant(entry)  # V1
        _, body = unwrap_variant(inner)  # Active / Pending / ...
        pool_id = get(body if body is not None else inner, "staking_pool", "id")
        if pool_id:
            out[_norm(pool_id)] = _norm(model_id)
    return out


def parse_receipt(obj: Any, pools: dict[str, str]) -> StakePosition | None:
    raw = bytes(get(obj, "data", "contents") or get(obj, "contents") or b"")
    oid = get(obj, "id") or get(obj, "object_id")
    if len(raw) < 80 or not oid:
        return None
    pool = "0x" + raw[32:64].hex()
    return StakePosition(
        receipt_id=_norm(oid),
        pool_id=pool,
        model_id=pools.get(pool),
        activation_epoch=int.from_bytes(raw[64:72], "little"),
        principal=int.from_bytes(raw[72:80], "little"),
    )


async def list_positions(session: ChainSession, address: str) -> list[StakePosition]:
    objs = await session.call("list_owned_objects", address, object_type="staked_soma")
    pools = pools_to_models(await session.call("get_latest_system_state"))
    found = (parse_receipt(o, pools) for o in objs or [])
    return sorted((p for p in found if p is not None), key=lambda p: (p.model_id or "~", p.receipt_id))


def plan_withdraw(position: StakePosition, model_stake: int | None) -> ActionPlan:
    after = None if model_stake is None else max(0, model_stake - position.principal)
    lines = [
        ("receipt", position.receipt_id),
        ("model", position.model_id or f"(no model: pool {position.pool_id})"),
        ("returns", f"{soma(position.principal)} (principal; model stakes earn no rewards here)"),
    ]
    if model_stake is not None and after is not None:
        lines.append(("model stake", f"{soma(model_stake)} -> {soma(after)}"))
    warnings = [
        "Withdrawing lowers the model's stake, so it will be assigned fewer targets "
        "(its distance is divided by the normalised square root of its stake)."
    ]
    if after == 0:
        warnings.append("This is all of the model's stake: it will be assigned no targets at all.")
    return ActionPlan(
        action="withdraw",
        title=f"Withdraw stake receipt {position.receipt_id[:14]}…",
        lines=tuple(lines),
        warnings=tuple(warnings),
        confirm_word="withdraw",
        payload=position,
    )
