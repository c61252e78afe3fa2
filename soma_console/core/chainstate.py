"""The console's typed view of the chain: model rows, chain parameters, snapshots and transaction results.

These are what every screen and every transaction plan reads; ``core.chain_parse`` builds them from
the SDK's return values and the RPC's protobuf messages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MODEL_STATES = ("created", "pending", "active", "inactive")


@dataclass(frozen=True)
class Manifest:
    url: str | None
    checksum: str | None
    size: int | None


@dataclass(frozen=True)
class PendingUpdate:
    commit_epoch: int | None
    weights_commitment: str | None
    embedding_commitment: str | None
    manifest: Manifest | None


@dataclass(frozen=True)
class ModelRow:
    """One model as the console shows it."""

    model_id: str
    owner: str
    status: str  # created | pending | active | inactive | unknown
    architecture_version: int | None
    stake: int | None  # shannons
    commission_rate: int | None
    next_commission_rate: int | None
    commit_epoch: int | None = None
    create_epoch: int | None = None
    has_pending_update: bool = False
    pending_update: PendingUpdate | None = None
    manifest: Manifest | None = None
    weights_commitment: str | None = None
    embedding_commitment: str | None = None
    embedding: tuple[float, ...] | None = field(default=None, repr=False)

    def is_owned_by(self, address: str | None) -> bool:
        if not address:
            return False
        return self.owner.lower().removeprefix("0x") == address.lower().removeprefix("0x")

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "owner": self.owner,
            "status": self.status,
            "architecture": self.architecture_version,
            "stake": self.stake,
            "commission_rate": self.commission_rate,
            "next_commission_rate": self.next_commission_rate,
            "commit_epoch": self.commit_epoch,
            "has_pending_update": self.has_pending_update,
            "pending_update_commit_epoch": self.pending_update.commit_epoch if self.pending_update else None,
            "weights_url": self.manifest.url if self.manifest else None,
        }


def unknown_row(model_id: str) -> ModelRow:
    """What a malformed registry entry degrades to: an 'unknown' row, never a crash."""
    return ModelRow(
        model_id=model_id,
        owner="",
        status="unknown",
        architecture_version=None,
        stake=None,
        commission_rate=None,
        next_commission_rate=None,
    )


@dataclass(frozen=True)
class ChainParams:
    epoch_duration_ms: int | None
    model_min_stake: int | None
    model_architecture_version: int | None
    model_reveal_slash_rate_bps: int | None


@dataclass(frozen=True)
class ChainSnapshot:
    """What the console knows about the chain at one moment."""

    chain: str
    taken_at: float
    epoch: int
    epoch_start_ms: int
    epoch_duration_ms: int
    params: ChainParams
    models: tuple[ModelRow, ...]
    address: str | None = None
    balance: int | None = None  # shannons
    protocol_version: int | None = None
    # False when the model list was not read with this snapshot (the small read of the clock
    # only): ``models`` then holds the last list read, possibly stale, or nothing. Never judge a
    # model's on-chain state from such a snapshot.
    registry_ok: bool = True

    @property
    def next_boundary_ms(self) -> int:
        return self.epoch_start_ms + self.epoch_duration_ms

    def seconds_to_boundary(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return self.next_boundary_ms / 1000.0 - now

    def model(self, model_id: str) -> ModelRow | None:
        for row in self.models:
            if row.model_id == model_id:
                return row
        return None

    def mine(self) -> list[ModelRow]:
        return [m for m in self.models if m.is_owned_by(self.address)]


@dataclass(frozen=True)
class TxResult:
    """The parts of a transaction's effects the console uses."""

    digest: str | None
    status: str  # "success" or the failure text
    ok: bool
    executed_epoch: int | None
    fee: int | None
    created: tuple[str, ...] = ()
    raw: Any = field(default=None, repr=False, compare=False)


def reuse_unchanged(rows: tuple[ModelRow, ...], before: tuple[ModelRow, ...]) -> tuple[ModelRow, ...]:
    """``rows`` with every model equal to its previous reading replaced by that very object (and
    the previous tuple itself when nothing changed), so that views can tell "unchanged" by
    identity. Meant to run where the list is decoded, off the event loop."""
    if not before:
        return rows
    old = {m.model_id: m for m in before}
    out = []
    same = len(rows) == len(before)
    for row in rows:
        prev = old.get(row.model_id)
        if prev is not None and prev == row:
            out.append(prev)
        else:
            out.append(row)
            same = False
    return before if same else tuple(out)
