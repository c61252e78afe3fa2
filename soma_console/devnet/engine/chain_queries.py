"""What the devnet engine answers about its committed state: objects, models, targets, history.

:class:`ChainQueries` is the read half of :class:`~soma_console.devnet.engine.chain.Engine`, which
inherits it and owns the state it reads. Every read takes the engine's lock, so it sees the state
as of one complete change; checkpoints, transactions and epochs are read from the store.
"""

from __future__ import annotations

import threading
from typing import Any

from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine.models import Model, RegistryTotals
from soma_console.devnet.engine.objects import COIN, ObjectRecord
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.store import Store
from soma_console.devnet.engine.targets import ActiveModels, RowCache, Target, active_candidates
from soma_console.devnet.engine.values import (
    ChainMeta,
    Checkpoint,
    Effects,
    EpochInfo,
    Snapshot,
)


class ChainQueries:
    """The engine's read-only queries; the engine sets every attribute below."""

    params: ChainParams
    _lock: threading.RLock
    _store: Store
    _version: int
    _meta: ChainMeta
    _objects: dict[bytes, ObjectRecord]
    _owners: dict[bytes, set[bytes]]
    _models: dict[bytes, Model]
    _totals: RegistryTotals
    _targets: dict[bytes, Target]
    _rows: RowCache
    _active_cache: tuple[tuple[tuple[bytes, Model], ...], ActiveModels] | None
    _weight_checks: dict[tuple[bytes, bytes], dict[str, Any]]

    @property
    def chain_id(self) -> bytes:
        return self._meta.chain_id

    @property
    def chain_identifier(self) -> bytes:
        """What the chain calls its identifier: the digest of the genesis checkpoint."""
        genesis = self.checkpoint(0)
        return genesis.digest if genesis is not None else self._meta.chain_id

    @property
    def epoch(self) -> int:
        return self._meta.epoch

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                version=self._version,
                meta=self._meta.copy(),
                params=self.params,
                models=dict(self._models),
                totals=RegistryTotals(
                    self._totals.total_model_stake, dict(self._totals.staking_pool_mappings)
                ),
                targets=dict(self._targets),
            )

    @property
    def state_version(self) -> int:
        return self._version

    def get_object(self, object_id: bytes) -> ObjectRecord | None:
        with self._lock:
            return self._objects.get(object_id)

    def owned_objects(self, owner: bytes, object_type: str | None = None) -> list[ObjectRecord]:
        with self._lock:
            ids = sorted(self._owners.get(owner, ()))
            out = [self._objects[i] for i in ids]
        return [o for o in out if object_type is None or o.object_type == object_type]

    def balance(self, owner: bytes) -> int:
        return sum(o.balance for o in self.owned_objects(owner, COIN))

    def model(self, model_id: bytes) -> Model | None:
        with self._lock:
            return self._models.get(model_id)

    def target(self, target_id: bytes) -> Target | None:
        with self._lock:
            return self._targets.get(target_id)

    def targets(self) -> tuple[int, list[Target]]:
        """The current epoch and every live (unclaimed) target."""
        with self._lock:
            return self._meta.epoch, list(self._targets.values())

    def active_models(self) -> ActiveModels:
        """The Active models as target drawing sees them (cached until the registry changes)."""
        with self._lock:
            return self._active_models_of(self._models)

    def _active_models_of(self, models: dict[bytes, Model]) -> ActiveModels:
        # Models are replaced, never changed in place, so the model objects themselves are the key
        # (a reveal of new weights or a stake change makes a new object).
        key = tuple((mid, m) for mid, m in sorted(models.items()) if m.state == rules.ACTIVE)
        if self._active_cache is not None and self._active_cache[0] == key:
            return self._active_cache[1]
        active = ActiveModels(active_candidates(models.items()), self._rows)
        self._active_cache = (key, active)
        return active

    def transaction(self, digest: bytes) -> Effects | None:
        data = self._store.transaction(digest)
        return None if data is None else Effects.from_json(data)

    def checkpoint(self, seq: int | None = None, *, digest: bytes | None = None) -> Checkpoint | None:
        if digest is not None:
            data = self._store.checkpoint_by_digest(digest)
        else:
            if seq is None:
                seq = self._meta.next_checkpoint - 1
            data = self._store.checkpoint(seq)
        return None if data is None else Checkpoint.from_json(data)

    def epoch_info(self, epoch: int) -> EpochInfo | None:
        row = self._store.epoch_row(epoch)
        if row is None:
            return None
        return EpochInfo(epoch, row[0], row[1], row[2], row[3])

    def supply(self) -> dict[str, Any]:
        """Where every shannon is; ``consistent`` is False only if the ledger is corrupt."""
        with self._lock:
            coins = sum(o.balance for o in self._objects.values() if o.object_type == COIN)
            staked = sum(
                m.staking_pool.soma_balance
                + m.staking_pool.pending_stake
                - m.staking_pool.pending_total_soma_withdraw
                for m in self._models.values()
            )
            meta = self._meta
            emission = meta.economy.emission_balance if meta.economy is not None else 0
            in_targets = sum(t.reward_pool + t.bond_amount for t in self._targets.values())
            total = coins + staked + meta.fees_total + meta.slashed_total + emission + in_targets
            return {
                "minted": meta.minted,
                "coins": coins,
                "staked": staked,
                "fees": meta.fees_total,
                "slashed": meta.slashed_total,
                "emission_pool": emission,
                "in_targets": in_targets,
                "consistent": total == meta.minted,
            }

    def next_epoch_due_ms(self) -> int | None:
        if self._meta.epoch_duration_ms <= 0:
            return None
        return self._meta.epoch_start_ms + self._meta.epoch_duration_ms

    def weights_checks(self) -> dict[tuple[bytes, bytes], dict[str, Any]]:
        with self._lock:
            return dict(self._weight_checks)
