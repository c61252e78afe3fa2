"""The devnet's ledger: coins, fees, the model registry, epochs and checkpoints.

:class:`Engine` is the only writer. It is thread-safe (one lock) and pure Python; the gRPC
layer turns its plain values into protobuf. Every state change (a transaction, a faucet grant,
an epoch boundary) is computed on a private working set, written to SQLite in one transaction
and only then made visible, so readers never see half a change and a crash never leaves one.

How one transaction runs (checks, gas and fees, the kinds) is ``execution.Executor``; this
module decides what is kept. Every executed transaction is sealed in its own checkpoint
immediately, which is what the SDK waits for. What the engine answers about its state is
``chain_queries.ChainQueries``, which :class:`Engine` inherits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from soma_console.core.txdata import (
    TransactionData,
    blake2b256,
    derive_object_id,
)
from soma_console.devnet.engine import economy as econ
from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine.chain_queries import ChainQueries
from soma_console.devnet.engine.errors import TxRejected
from soma_console.devnet.engine.execution import Executor
from soma_console.devnet.engine.models import Model, Registry, RegistryTotals
from soma_console.devnet.engine.objects import (
    COIN,
    ObjectRecord,
    coin_contents,
)
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.store import Store, WriteBatch
from soma_console.devnet.engine.targets import RowCache, Target
from soma_console.devnet.engine.values import (
    ChainMeta,
    Checkpoint,
    Effects,
    FaucetGrant,
    ObjectChange,
    now_ms,
)

SYSTEM_STATE_SHARED_VERSION = 1


CheckpointListener = Callable[[Checkpoint], None]


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class Engine(ChainQueries):
    """The devnet's chain: the only writer of its state, which it also answers queries about."""

    def __init__(
        self,
        state_dir: Path,
        *,
        params: ChainParams | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.params = params or ChainParams()
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[CheckpointListener] = []
        self._store = Store(state_dir)
        self._version = 0
        self._active_cache = None
        self._targets = {}
        self._rows = RowCache()
        # What the last epoch boundary did about targets, for the node's log.
        self.boundary_note: str | None = None
        try:
            loaded = self._store.load()
            if loaded is None:
                self._genesis()
            else:
                self._meta = ChainMeta.from_json(loaded.chain)
                self._objects = loaded.objects
                self._models = loaded.models
                self._totals = loaded.totals
                self._targets = loaded.targets
                self._owners = _owner_index(self._objects.values())
                self._upgrade_loaded_state()
        except BaseException:
            self._store.close()
            raise
        self._weight_checks = self._store.weight_checks()

    # -- lifecycle -------------------------------------------------------------------------

    def _upgrade_loaded_state(self) -> None:
        """Bring a store written by an older devnet (or one an old defect damaged) up to date."""
        meta = self._meta
        # The preset may change between runs: models of another size than the chain's then get
        # no new targets (the boundary's log line says why); nothing else depends on it.
        dim = self.params.target_embedding_dim
        changed: dict[bytes, Model] = {}
        for model_id, model in self._models.items():
            pool = model.staking_pool
            if pool.soma_balance < 0 or pool.pool_token_balance < 0:
                # Withdrawing from a slashed pool used to pay out more than the pool held and
                # left it negative, which made every system-state read fail. Set the pool to
                # empty; what was paid out beyond its balance counts as minted by that defect.
                fixed = model.clone()
                meta.minted += max(0, -fixed.staking_pool.soma_balance)
                fixed.staking_pool.soma_balance = max(0, fixed.staking_pool.soma_balance)
                fixed.staking_pool.pool_token_balance = max(0, fixed.staking_pool.pool_token_balance)
                changed[model_id] = fixed
        self._models.update(changed)
        dirty = bool(changed)
        if meta.economy is None:
            meta.economy = econ.genesis_economy(self.params)
            meta.minted += meta.economy.emission_balance
            dirty = True
        if meta.embedding_dim != dim:
            meta.embedding_dim = dim
            dirty = True
        if meta.epoch_duration_ms != self.params.epoch_duration_ms:
            meta.epoch_duration_ms = self.params.epoch_duration_ms
            dirty = True
        if dirty:
            self._store.apply(WriteBatch(chain=meta.to_json(self._totals), models=changed))

    def _genesis(self) -> None:
        ts = self._clock()
        chain_id = blake2b256(b"soma-console-devnet genesis" + ts.to_bytes(8, "little"))
        self._meta = ChainMeta(
            chain_id=chain_id,
            genesis_ms=ts,
            epoch=0,
            epoch_start_ms=ts,
            epoch_first_checkpoint=0,
            next_checkpoint=0,
            last_checkpoint_digest=None,
            total_transactions=0,
            system_state_version=SYSTEM_STATE_SHARED_VERSION,
            faucet_grants=0,
            epoch_fees=0,
            epoch_duration_ms=self.params.epoch_duration_ms,
            economy=econ.genesis_economy(self.params),
            embedding_dim=self.params.target_embedding_dim,
        )
        # The emission pool exists from genesis: it counts as minted.
        self._meta.minted += self.params.genesis_emission_pool
        self._objects = {}
        self._models = {}
        self._targets = {}
        self._totals = RegistryTotals()
        self._owners = {}
        batch = WriteBatch()
        self._seal_checkpoint(batch, self._meta, (), ts)  # checkpoint 0 is the genesis
        batch.epoch_rows.append((0, ts, None, 0, None))
        batch.chain = self._meta.to_json(self._totals)
        self._store.apply(batch)

    def close(self) -> None:
        with self._lock:
            self._store.close()

    def add_listener(self, listener: CheckpointListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: CheckpointListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- weights checks (devnet-only registry annotations) ----------------------------------

    def record_weights_check(
        self, model_id: bytes, weights_commitment: bytes, result: dict[str, Any]
    ) -> None:
        with self._lock:
            self._store.apply(WriteBatch(weight_checks=[(model_id, weights_commitment, result)]))
            self._weight_checks[(model_id, weights_commitment)] = result
            self._version += 1

    # -- faucet ----------------------------------------------------------------------------

    def faucet(self, recipient: bytes, amount: int | None = None) -> FaucetGrant:
        """Mint a fresh coin for ``recipient`` in its own (system) transaction and checkpoint."""
        amount = self.params.faucet_amount if amount is None else amount
        if amount <= 0:
            raise TxRejected("the faucet amount must be positive")
        with self._lock:
            meta = self._meta.copy()
            meta.faucet_grants += 1
            meta.minted += amount
            digest = blake2b256(
                b"soma-console-devnet faucet" + self._meta.chain_id + meta.faucet_grants.to_bytes(8, "little")
            )
            coin_id = derive_object_id(digest, 0)
            ts = self._clock()
            coin = ObjectRecord(coin_id, COIN, recipient, 1, coin_contents(amount), digest)
            effects = Effects(
                digest=digest,
                sender=bytes(32),
                kind="Faucet",
                success=True,
                error_kind=None,
                error_detail=None,
                error_object=None,
                epoch=meta.epoch,
                base_fee=0,
                operation_fee=0,
                value_fee=0,
                lamport_version=1,
                changes=(ObjectChange(coin_id, COIN, None, (1, coin.digest(), recipient), "created"),),
                gas_index=None,
                dependencies=(),
                balance_changes=((recipient, amount),),
                timestamp_ms=ts,
                checkpoint=meta.next_checkpoint,
                created_objects=(coin,),
            )
            batch = WriteBatch(objects=[coin])
            self._commit(batch, meta, effects, ts)
            self._objects[coin_id] = coin
            self._owners.setdefault(recipient, set()).add(coin_id)
        return FaucetGrant(coin_id, amount, digest)

    # -- transactions ----------------------------------------------------------------------

    def execute(self, tx: TransactionData, digest: bytes) -> Effects:
        """Run a signed transaction (the caller checked digest and signature) and seal it."""
        with self._lock:
            done = self._store.transaction(digest)
            if done is not None:
                # The same transaction again (two concurrent calls can build identical ones).
                # Answer with the original effects and announce its checkpoint once more: the
                # sender is waiting to see the digest in a checkpoint it has subscribed to.
                effects = Effects.from_json(done)
                original = self.checkpoint(effects.checkpoint) if effects.checkpoint is not None else None
                if original is not None:
                    self._publish(original)
                return effects
            ts = self._clock()
            meta = self._meta.copy()
            ws, effects = self._executor().run(tx, digest, meta, ts)
            effects = _with_checkpoint(effects, meta.next_checkpoint)
            batch = WriteBatch(
                objects=[o for o in ws.objects.values() if o is not None],
                deleted_objects=[i for i, o in ws.objects.items() if o is None],
                models=ws.models,
                targets=[t for t in ws.targets.values() if t is not None],
                deleted_targets=[i for i, t in ws.targets.items() if t is None],
            )
            meta.economy = ws.economy
            if ws.touched_system_state:
                meta.system_state_version = effects.lamport_version
            meta.epoch_fees += effects.total_fee
            meta.fees_total += effects.total_fee
            self._commit(batch, meta, effects, ts, totals=ws.totals)
            self._apply_objects(ws.objects)
            self._models.update(ws.models)
            self._totals = ws.totals
            for tid, target in ws.targets.items():
                if target is None:
                    self._targets.pop(tid, None)
                else:
                    self._targets[tid] = target
            return effects

    def simulate(self, tx: TransactionData) -> Effects:
        """Dry-run: the same checks and fees as execute(), nothing stored, no signature needed."""
        with self._lock:
            digest = tx.digest()
            _ws, effects = self._executor().run(tx, digest, self._meta.copy(), self._clock())
            return effects

    def _executor(self) -> Executor:
        return Executor(
            self.params,
            self._objects,
            self._models,
            self._totals,
            targets=self._targets,
            economy=self._meta.economy,
            active_models=lambda: self._active_models_of(self._models),
        )

    # -- sealing ---------------------------------------------------------------------------

    def _seal_checkpoint(
        self,
        batch: WriteBatch,
        meta: ChainMeta,
        txs: tuple[bytes, ...],
        ts: int,
        *,
        end_of_epoch: bool = False,
    ) -> Checkpoint:
        seq = meta.next_checkpoint
        meta.total_transactions += len(txs)
        body = (
            b"CheckpointSummary::"
            + meta.chain_id
            + seq.to_bytes(8, "little")
            + meta.epoch.to_bytes(8, "little")
            + ts.to_bytes(8, "little")
            + (meta.last_checkpoint_digest or b"")
            + b"".join(txs)
        )
        cp = Checkpoint(
            sequence_number=seq,
            epoch=meta.epoch,
            timestamp_ms=ts,
            digest=blake2b256(body),
            previous_digest=meta.last_checkpoint_digest,
            transactions=txs,
            total_transactions=meta.total_transactions,
            end_of_epoch=end_of_epoch,
        )
        meta.next_checkpoint = seq + 1
        meta.last_checkpoint_digest = cp.digest
        batch.checkpoints.append(cp.to_json())
        return cp

    def _commit(
        self,
        batch: WriteBatch,
        meta: ChainMeta,
        effects: Effects,
        ts: int,
        *,
        totals: RegistryTotals | None = None,
    ) -> None:
        cp = self._seal_checkpoint(batch, meta, (effects.digest,), ts)
        batch.transactions.append((effects.digest, cp.sequence_number, effects.to_json()))
        batch.chain = meta.to_json(totals or self._totals)
        self._store.apply(batch)
        self._meta = meta
        self._version += 1
        self._publish(cp)

    def _publish(self, cp: Checkpoint) -> None:
        for listener in list(self._listeners):
            try:
                listener(cp)
            except Exception:  # noqa: S112 - a broken subscriber must not break the chain
                continue

    def _apply_objects(self, changes: dict[bytes, ObjectRecord | None]) -> None:
        for oid, rec in changes.items():
            old = self._objects.pop(oid, None)
            if old is not None:
                self._owners.get(old.owner, set()).discard(oid)
            if rec is not None:
                self._objects[oid] = rec
                self._owners.setdefault(rec.owner, set()).add(oid)

    # -- epochs ----------------------------------------------------------------------------

    def advance_epoch(self) -> tuple[int, list[rules.EpochEvent]]:
        """Close the current epoch and open the next; returns the new epoch number."""
        with self._lock:
            ts = self._clock()
            meta = self._meta.copy()
            new_epoch = meta.epoch + 1
            models: dict[bytes, Model] = {}
            totals = RegistryTotals(self._totals.total_model_stake, dict(self._totals.staking_pool_mappings))

            def get(mid: bytes) -> Model | None:
                return models.get(mid) or self._models.get(mid)

            def put(mid: bytes, m: Model) -> None:
                models[mid] = m

            events = rules.advance_epoch(
                Registry(get, put, totals), list(self._models), new_epoch=new_epoch, params=self.params
            )
            new_targets = self._epoch_targets(meta, new_epoch, {**self._models, **models})
            batch = WriteBatch(models=models, targets=new_targets)
            last = self._seal_checkpoint(batch, meta, (), ts, end_of_epoch=True)
            batch.epoch_rows.append(
                (meta.epoch, meta.epoch_start_ms, ts, meta.epoch_first_checkpoint, last.sequence_number)
            )
            meta.epoch = new_epoch
            meta.epoch_start_ms = ts
            meta.epoch_first_checkpoint = meta.next_checkpoint
            meta.epoch_fees = 0
            meta.slashed_total += sum(ev.amount for ev in events)
            batch.epoch_rows.append((new_epoch, ts, None, meta.next_checkpoint, None))
            batch.chain = meta.to_json(totals)
            self._store.apply(batch)
            self._meta = meta
            self._models.update(models)
            self._totals = totals
            for target in new_targets:
                self._targets[target.target_id] = target
            self._version += 1
            self._publish(last)
            return new_epoch, events

    def _epoch_targets(self, meta: ChainMeta, new_epoch: int, models: dict[bytes, Model]) -> list[Target]:
        """The boundary's target work: the controller update, then the new epoch's targets."""
        economy = meta.economy
        assert economy is not None
        econ.advance_targets(economy, self.params)
        active = self._active_models_of(models)
        targets, self.boundary_note = econ.draw_epoch_targets(
            economy, self.params, active, models, chain_id=meta.chain_id, new_epoch=new_epoch
        )
        return targets

    def advance_epoch_if_due(self) -> tuple[int, list[rules.EpochEvent]] | None:
        """For the epoch timer: advance when the current epoch has run its course."""
        with self._lock:
            due = self.next_epoch_due_ms()
            if due is None or self._clock() < due:
                return None
            return self.advance_epoch()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _owner_index(objects: Iterable[ObjectRecord]) -> dict[bytes, set[bytes]]:
    out: dict[bytes, set[bytes]] = {}
    for o in objects:
        out.setdefault(o.owner, set()).add(o.object_id)
    return out


def _with_checkpoint(effects: Effects, seq: int) -> Effects:
    from dataclasses import replace

    return replace(effects, checkpoint=seq)
