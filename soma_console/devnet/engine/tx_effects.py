"""A transaction's effects as the chain reports them, built from its finished working set.

Every written object (and target, and the system state when touched) gets the transaction's
Lamport version, one above the highest input version; the effects list the changes sorted by
object id, the gas coin's index among them, the transactions the inputs came from and the net
coin balance change of every address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from soma_console.core.txdata import TransactionData, blake2b256
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.objects import COIN, SYSTEM_STATE, SYSTEM_STATE_ID, ObjectRecord
from soma_console.devnet.engine.targets import Target
from soma_console.devnet.engine.values import ChainMeta, Effects, ObjectChange
from soma_console.devnet.engine.working_set import WorkingSet

GENESIS_DIGEST = bytes(32)


@dataclass(frozen=True)
class Charged:
    """What a transaction was charged, and how it ended."""

    failure: ExecutionFailure | None
    base_fee: int
    op_fee: int
    value_fee: int


def build_effects(
    tx: TransactionData,
    digest: bytes,
    ws: WorkingSet,
    inputs: dict[bytes, ObjectRecord],
    meta: ChainMeta,
    ts: int,
    charged: Charged,
    gas_id: bytes,
    *,
    committed_objects: Mapping[bytes, ObjectRecord],
    committed_targets: Mapping[bytes, Target],
) -> Effects:
    """The effects of ``tx``; stamps the written objects and targets in ``ws`` with their version."""
    in_versions = [r.version for r in inputs.values()]
    if ws.touched_system_state:
        in_versions.append(meta.system_state_version)
    for tid in ws.targets:
        old = committed_targets.get(tid)
        if old is not None:
            in_versions.append(old.version)
    lamport = max(in_versions, default=0) + 1
    changes: list[ObjectChange] = []
    created: list[ObjectRecord] = []
    for oid in sorted(ws.objects):
        rec = ws.objects[oid]
        before = inputs.get(oid) or committed_objects.get(oid)
        if rec is not None:
            rec = rec.replace(version=lamport, previous_transaction=digest)
            ws.objects[oid] = rec
        in_side = None if before is None else (before.version, before.digest(), before.owner)
        out_side = None if rec is None else (lamport, rec.digest(), rec.owner)
        if before is None and rec is None:
            continue  # created and deleted within the transaction
        op = "created" if before is None else ("deleted" if rec is None else "none")
        obj_type = (rec or before).object_type  # type: ignore[union-attr]
        changes.append(ObjectChange(oid, obj_type, in_side, out_side, op))
        if op == "created" and rec is not None:
            created.append(rec)
    for tid in sorted(ws.targets):
        new = ws.targets[tid]
        old = committed_targets.get(tid)
        if new is not None:
            new = replace(new, version=lamport, previous_transaction=digest)
            ws.targets[tid] = new
        if old is None and new is None:
            continue
        changes.append(
            ObjectChange(
                tid,
                "Target",
                None if old is None else (old.version, old.digest(), None),
                None if new is None else (new.version, new.digest(), None),
                "created" if old is None else ("deleted" if new is None else "none"),
            )
        )
    if ws.touched_system_state:
        changes.append(_system_state_change(meta.system_state_version, lamport))
    changes.sort(key=lambda c: c.object_id)
    gas_index = next(
        (i for i, c in enumerate(changes) if c.object_id == gas_id and c.output is not None), None
    )
    deps = sorted({r.previous_transaction for r in inputs.values()} - {GENESIS_DIGEST})
    failure = charged.failure
    return Effects(
        digest=digest,
        sender=tx.sender,
        kind=type(tx.kind).__name__,
        success=failure is None,
        error_kind=None if failure is None else failure.kind,
        error_detail=None if failure is None else failure.detail,
        error_object=None if failure is None else failure.object_id,
        epoch=meta.epoch,
        base_fee=charged.base_fee,
        operation_fee=charged.op_fee,
        value_fee=charged.value_fee,
        lamport_version=lamport,
        changes=tuple(changes),
        gas_index=gas_index,
        dependencies=tuple(deps),
        balance_changes=_balance_changes(inputs, ws),
        timestamp_ms=ts,
        checkpoint=None,
        created_objects=tuple(created),
    )


def _balance_changes(inputs: dict[bytes, ObjectRecord], ws: WorkingSet) -> tuple[tuple[bytes, int], ...]:
    delta: dict[bytes, int] = {}
    for rec in inputs.values():
        if rec.object_type == COIN:
            delta[rec.owner] = delta.get(rec.owner, 0) - rec.balance
    for out in ws.objects.values():
        if out is not None and out.object_type == COIN:
            delta[out.owner] = delta.get(out.owner, 0) + out.balance
    return tuple(sorted((a, n) for a, n in delta.items() if n != 0))


def _system_state_change(version: int, lamport: int) -> ObjectChange:
    def digest(v: int) -> bytes:
        return blake2b256(b"soma-console-devnet system state" + v.to_bytes(8, "little"))

    return ObjectChange(
        SYSTEM_STATE_ID,
        SYSTEM_STATE,
        (version, digest(version), None),
        (lamport, digest(lamport), None),
        "none",
    )
