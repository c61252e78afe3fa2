"""The private working set one transaction runs on: its reads, writes and created objects.

Reads fall through to the committed state; writes stay here until the engine decides to keep
the result. A checkpoint of the set lets a failed transaction roll back to just after the base
fee, which is what the chain keeps when a transaction fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soma_console.core.txdata import derive_object_id
from soma_console.devnet.engine.errors import ExecutionFailure
from soma_console.devnet.engine.models import Model, Registry, RegistryTotals
from soma_console.devnet.engine.objects import (
    COIN,
    STAKED_SOMA,
    ObjectRecord,
    StakedSoma,
    coin_contents,
)
from soma_console.devnet.engine.targets import Economy, Target


@dataclass
class WorkingSet:
    committed_objects: Mapping[bytes, ObjectRecord]
    committed_models: Mapping[bytes, Model]
    digest: bytes
    objects: dict[bytes, ObjectRecord | None] = field(default_factory=dict)
    models: dict[bytes, Model] = field(default_factory=dict)
    created_ids: list[bytes] = field(default_factory=list)
    creation_count: int = 0
    totals: RegistryTotals = field(default_factory=RegistryTotals)
    touched_system_state: bool = False
    committed_targets: Mapping[bytes, Target] = field(default_factory=dict)
    targets: dict[bytes, Target | None] = field(default_factory=dict)
    economy: Economy = field(default_factory=Economy)

    def read(self, object_id: bytes) -> ObjectRecord | None:
        if object_id in self.objects:
            return self.objects[object_id]
        return self.committed_objects.get(object_id)

    def write(self, rec: ObjectRecord) -> None:
        self.objects[rec.object_id] = rec

    def delete(self, object_id: bytes) -> None:
        self.objects[object_id] = None

    def new_id(self) -> bytes:
        oid = derive_object_id(self.digest, self.creation_count)
        self.creation_count += 1
        self.created_ids.append(oid)
        return oid

    def get_model(self, model_id: bytes) -> Model | None:
        if model_id in self.models:
            return self.models[model_id]
        return self.committed_models.get(model_id)

    def put_model(self, model_id: bytes, model: Model) -> None:
        self.touched_system_state = True
        self.models[model_id] = model

    def registry(self) -> Registry:
        return Registry(self.get_model, self.put_model, self.totals)

    def get_target(self, target_id: bytes) -> Target | None:
        if target_id in self.targets:
            return self.targets[target_id]
        return self.committed_targets.get(target_id)

    def put_target(self, target: Target) -> None:
        self.targets[target.target_id] = target

    def delete_target(self, target_id: bytes) -> None:
        self.targets[target_id] = None

    def new_coin(self, owner: bytes, amount: int) -> None:
        oid = self.new_id()
        self.write(ObjectRecord(oid, COIN, owner, 0, coin_contents(amount), self.digest))

    def new_receipt(self, owner: bytes, staked: StakedSoma) -> None:
        oid = self.new_id()
        self.write(ObjectRecord(oid, STAKED_SOMA, owner, 0, staked.to_bcs(), self.digest))

    def balance(self, coin_id: bytes) -> int:
        rec = self.read(coin_id)
        return 0 if rec is None else rec.balance

    def set_balance(self, coin_id: bytes, amount: int) -> None:
        rec = self.read(coin_id)
        assert rec is not None
        self.write(rec.replace(contents=coin_contents(amount)))

    def owned_coin(self, coin_id: bytes, sender: bytes) -> ObjectRecord:
        """The coin ``sender`` means to spend; fails unless it exists, is theirs and is a coin."""
        coin = self.read(coin_id)
        if coin is None:
            raise ExecutionFailure("ObjectNotFound", object_id=coin_id)
        check_owner(coin, sender)
        if coin.object_type != COIN:
            raise ExecutionFailure("InvalidObjectType", object_id=coin_id)
        return coin

    def checkpoint_state(self) -> tuple[Any, ...]:
        return (
            dict(self.objects),
            dict(self.models),
            list(self.created_ids),
            self.creation_count,
            self.totals.total_model_stake,
            dict(self.totals.staking_pool_mappings),
            self.touched_system_state,
            dict(self.targets),
            self.economy.copy(),
        )

    def restore(self, saved: tuple[Any, ...]) -> None:
        (
            self.objects,
            self.models,
            self.created_ids,
            self.creation_count,
            self.totals.total_model_stake,
            self.totals.staking_pool_mappings,
            self.touched_system_state,
            self.targets,
            self.economy,
        ) = saved


def check_owner(obj: ObjectRecord, sender: bytes) -> None:
    if obj.owner != sender:
        raise ExecutionFailure("InvalidOwnership", object_id=obj.object_id)
