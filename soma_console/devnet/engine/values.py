"""Plain values the engine hands out: checkpoints, effects, chain counters, snapshots.

Each knows its JSON form, which is how the store keeps it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from soma_console.devnet.engine.models import Model, RegistryTotals
from soma_console.devnet.engine.objects import ObjectRecord
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.targets import Economy, Target


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Checkpoint:
    sequence_number: int
    epoch: int
    timestamp_ms: int
    digest: bytes
    previous_digest: bytes | None
    transactions: tuple[bytes, ...]
    total_transactions: int
    end_of_epoch: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.sequence_number,
            "epoch": self.epoch,
            "timestamp_ms": self.timestamp_ms,
            "digest": self.digest.hex(),
            "previous": None if self.previous_digest is None else self.previous_digest.hex(),
            "txs": [d.hex() for d in self.transactions],
            "total": self.total_transactions,
            "end_of_epoch": self.end_of_epoch,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Checkpoint:
        return cls(
            sequence_number=d["seq"],
            epoch=d["epoch"],
            timestamp_ms=d["timestamp_ms"],
            digest=bytes.fromhex(d["digest"]),
            previous_digest=None if d["previous"] is None else bytes.fromhex(d["previous"]),
            transactions=tuple(bytes.fromhex(t) for t in d["txs"]),
            total_transactions=d["total"],
            end_of_epoch=d["end_of_epoch"],
        )


@dataclass(frozen=True)
class EpochInfo:
    epoch: int
    start_ms: int
    end_ms: int | None
    first_checkpoint: int
    last_checkpoint: int | None


@dataclass
class ChainMeta:
    chain_id: bytes
    genesis_ms: int
    epoch: int
    epoch_start_ms: int
    epoch_first_checkpoint: int
    next_checkpoint: int
    last_checkpoint_digest: bytes | None
    total_transactions: int
    system_state_version: int
    faucet_grants: int
    epoch_fees: int
    epoch_duration_ms: int
    # All-time totals, so that anyone can check that no SOMA appeared or vanished:
    # coins + stake + fees + slashed == minted.
    minted: int = 0
    fees_total: int = 0
    slashed_total: int = 0
    # The emission pool and the target controller; None in a store written before they existed.
    economy: Economy | None = field(default=None)
    # The embedding dimension the chain was created with (None: an older store, 2048).
    embedding_dim: int | None = None

    def to_json(self, totals: RegistryTotals) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id.hex(),
            "genesis_ms": self.genesis_ms,
            "epoch": self.epoch,
            "epoch_start_ms": self.epoch_start_ms,
            "epoch_first_checkpoint": self.epoch_first_checkpoint,
            "next_checkpoint": self.next_checkpoint,
            "last_checkpoint_digest": None
            if self.last_checkpoint_digest is None
            else self.last_checkpoint_digest.hex(),
            "total_transactions": self.total_transactions,
            "system_state_version": self.system_state_version,
            "faucet_grants": self.faucet_grants,
            "epoch_fees": self.epoch_fees,
            "epoch_duration_ms": self.epoch_duration_ms,
            "minted": self.minted,
            "fees_total": self.fees_total,
            "slashed_total": self.slashed_total,
            "total_model_stake": totals.total_model_stake,
            "economy": None if self.economy is None else self.economy.to_json(),
            "embedding_dim": self.embedding_dim,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ChainMeta:
        last = d["last_checkpoint_digest"]
        return cls(
            chain_id=bytes.fromhex(d["chain_id"]),
            genesis_ms=d["genesis_ms"],
            epoch=d["epoch"],
            epoch_start_ms=d["epoch_start_ms"],
            epoch_first_checkpoint=d["epoch_first_checkpoint"],
            next_checkpoint=d["next_checkpoint"],
            last_checkpoint_digest=None if last is None else bytes.fromhex(last),
            total_transactions=d["total_transactions"],
            system_state_version=d["system_state_version"],
            faucet_grants=d["faucet_grants"],
            epoch_fees=d["epoch_fees"],
            epoch_duration_ms=d["epoch_duration_ms"],
            minted=d.get("minted", 0),
            fees_total=d.get("fees_total", 0),
            slashed_total=d.get("slashed_total", 0),
            economy=None if d.get("economy") is None else Economy.from_json(d["economy"]),
            embedding_dim=d.get("embedding_dim"),
        )

    def copy(self) -> ChainMeta:
        out = ChainMeta(**self.__dict__)
        out.economy = None if self.economy is None else self.economy.copy()
        return out


@dataclass(frozen=True)
class ObjectChange:
    object_id: bytes
    object_type: str
    input: tuple[int, bytes, bytes | None] | None  # version, digest, owner (None: shared)
    output: tuple[int, bytes, bytes | None] | None
    operation: str  # "none" | "created" | "deleted"


@dataclass(frozen=True)
class Effects:
    """What a transaction did; the shape of the protocol's TransactionEffects."""

    digest: bytes
    sender: bytes
    kind: str
    success: bool
    error_kind: str | None
    error_detail: str | None
    error_object: bytes | None
    epoch: int
    base_fee: int
    operation_fee: int
    value_fee: int
    lamport_version: int
    changes: tuple[ObjectChange, ...]
    gas_index: int | None
    dependencies: tuple[bytes, ...]
    balance_changes: tuple[tuple[bytes, int], ...]
    timestamp_ms: int
    checkpoint: int | None
    created_objects: tuple[ObjectRecord, ...] = ()

    @property
    def total_fee(self) -> int:
        return self.base_fee + self.operation_fee + self.value_fee

    def to_json(self) -> dict[str, Any]:
        def side(s: tuple[int, bytes, bytes | None] | None) -> list[Any] | None:
            return None if s is None else [s[0], s[1].hex(), None if s[2] is None else s[2].hex()]

        return {
            "digest": self.digest.hex(),
            "sender": self.sender.hex(),
            "kind": self.kind,
            "success": self.success,
            "error": [self.error_kind, self.error_detail, _hex_or_none(self.error_object)],
            "epoch": self.epoch,
            "fee": [self.base_fee, self.operation_fee, self.value_fee],
            "lamport": self.lamport_version,
            "changes": [
                [c.object_id.hex(), c.object_type, side(c.input), side(c.output), c.operation]
                for c in self.changes
            ],
            "gas_index": self.gas_index,
            "deps": [d.hex() for d in self.dependencies],
            "balance_changes": [[a.hex(), n] for a, n in self.balance_changes],
            "timestamp_ms": self.timestamp_ms,
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Effects:
        def side(s: list[Any] | None) -> tuple[int, bytes, bytes | None] | None:
            return (
                None
                if s is None
                else (s[0], bytes.fromhex(s[1]), None if s[2] is None else bytes.fromhex(s[2]))
            )

        err_kind, err_detail, err_obj = d["error"]
        return cls(
            digest=bytes.fromhex(d["digest"]),
            sender=bytes.fromhex(d["sender"]),
            kind=d["kind"],
            success=d["success"],
            error_kind=err_kind,
            error_detail=err_detail,
            error_object=None if err_obj is None else bytes.fromhex(err_obj),
            epoch=d["epoch"],
            base_fee=d["fee"][0],
            operation_fee=d["fee"][1],
            value_fee=d["fee"][2],
            lamport_version=d["lamport"],
            changes=tuple(
                ObjectChange(bytes.fromhex(c[0]), c[1], side(c[2]), side(c[3]), c[4]) for c in d["changes"]
            ),
            gas_index=d["gas_index"],
            dependencies=tuple(bytes.fromhex(x) for x in d["deps"]),
            balance_changes=tuple((bytes.fromhex(a), n) for a, n in d["balance_changes"]),
            timestamp_ms=d["timestamp_ms"],
            checkpoint=d["checkpoint"],
        )


def _hex_or_none(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


@dataclass(frozen=True)
class FaucetGrant:
    coin_id: bytes
    amount: int
    digest: bytes


@dataclass(frozen=True)
class Snapshot:
    """A consistent read-only view of the chain for GetEpoch (models are never mutated in place)."""

    version: int
    meta: ChainMeta
    params: ChainParams
    models: dict[bytes, Model]
    totals: RegistryTotals
    targets: dict[bytes, Target] = field(default_factory=dict)
