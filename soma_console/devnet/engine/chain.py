"""The devnet's ledger: coins, fees, the model registry, epochs and checkpoints.

:class:`Engine` is the only writer. It is thread-safe (one lock) and pure Python; the gRPC
layer turns its plain values into protobuf. Every state change (a transaction, a faucet grant,
an epoch boundary) is computed on a private working set, written to SQLite in one transaction
and only then made visible, so readers never see half a change and a crash never leaves one.

Gas follows the chain: the base fee is charged first (and kept even if the transaction then
fails), then each written object costs ``write_object_fee`` and value-moving transactions pay
``value_fee_bps`` of the amount (half that for staking). Every executed transaction is sealed
in its own checkpoint immediately, which is what the SDK waits for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.core.encoding import b58encode
from soma_console.core.txdata import (
    AddStake,
    AddStakeToModel,
    CommitModel,
    CreateModel,
    DeactivateModel,
    ObjectRef,
    PayCoins,
    ReportModel,
    RevealModel,
    SetModelCommissionRate,
    TransactionData,
    TransferCoin,
    TransferObjects,
    UndoReportModel,
    WithdrawStake,
    blake2b256,
    derive_object_id,
)
from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine.errors import ExecutionFailure, TxRejected
from soma_console.devnet.engine.models import Model, Registry, RegistryTotals
from soma_console.devnet.engine.objects import (
    COIN,
    STAKED_SOMA,
    ObjectRecord,
    StakedSoma,
    coin_contents,
    hex_id,
)
from soma_console.devnet.engine.params import BPS, ChainParams
from soma_console.devnet.engine.store import Store, WriteBatch

GENESIS_DIGEST = bytes(32)
SYSTEM_STATE_SHARED_VERSION = 1


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------
# Values the engine hands out
# ---------------------------------------------------------------------------------------------


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
        )

    def copy(self) -> ChainMeta:
        return ChainMeta(**self.__dict__)


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


# ---------------------------------------------------------------------------------------------
# A transaction's private working set
# ---------------------------------------------------------------------------------------------


@dataclass
class _WorkingSet:
    engine: Engine
    digest: bytes
    objects: dict[bytes, ObjectRecord | None] = field(default_factory=dict)
    models: dict[bytes, Model] = field(default_factory=dict)
    created_ids: list[bytes] = field(default_factory=list)
    creation_count: int = 0
    totals: RegistryTotals = field(default_factory=RegistryTotals)
    touched_system_state: bool = False

    def read(self, object_id: bytes) -> ObjectRecord | None:
        if object_id in self.objects:
            return self.objects[object_id]
        return self.engine._objects.get(object_id)

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
        return self.engine._models.get(model_id)

    def put_model(self, model_id: bytes, model: Model) -> None:
        self.touched_system_state = True
        self.models[model_id] = model

    def registry(self) -> Registry:
        return Registry(self.get_model, self.put_model, self.totals)

    def checkpoint_state(self) -> tuple[Any, ...]:
        return (
            dict(self.objects),
            dict(self.models),
            list(self.created_ids),
            self.creation_count,
            self.totals.total_model_stake,
            dict(self.totals.staking_pool_mappings),
            self.touched_system_state,
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
        ) = saved


CheckpointListener = Callable[[Checkpoint], None]


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class Engine:
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
        try:
            loaded = self._store.load()
            if loaded is None:
                self._genesis()
            else:
                self._meta = ChainMeta.from_json(loaded.chain)
                self._objects = loaded.objects
                self._models = loaded.models
                self._totals = loaded.totals
                self._owners = _owner_index(self._objects.values())
                if self._meta.epoch_duration_ms != self.params.epoch_duration_ms:
                    self._meta.epoch_duration_ms = self.params.epoch_duration_ms
                    self._store.apply(WriteBatch(chain=self._meta.to_json(self._totals)))
        except BaseException:
            self._store.close()
            raise
        self._weight_checks = self._store.weight_checks()

    # -- lifecycle -------------------------------------------------------------------------

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
        )
        self._objects = {}
        self._models = {}
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

    # -- reads -----------------------------------------------------------------------------

    @property
    def chain_id(self) -> bytes:
        return self._meta.chain_id

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
            return {
                "minted": meta.minted,
                "coins": coins,
                "staked": staked,
                "fees": meta.fees_total,
                "slashed": meta.slashed_total,
                "consistent": coins + staked + meta.fees_total + meta.slashed_total == meta.minted,
            }

    def next_epoch_due_ms(self) -> int | None:
        if self._meta.epoch_duration_ms <= 0:
            return None
        return self._meta.epoch_start_ms + self._meta.epoch_duration_ms

    # -- weights checks (devnet-only registry annotations) ----------------------------------

    def record_weights_check(
        self, model_id: bytes, weights_commitment: bytes, result: dict[str, Any]
    ) -> None:
        with self._lock:
            self._store.apply(WriteBatch(weight_checks=[(model_id, weights_commitment, result)]))
            self._weight_checks[(model_id, weights_commitment)] = result
            self._version += 1

    def weights_checks(self) -> dict[tuple[bytes, bytes], dict[str, Any]]:
        with self._lock:
            return dict(self._weight_checks)

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
                return Effects.from_json(done)
            ts = self._clock()
            meta = self._meta.copy()
            ws, effects = self._run(tx, digest, meta, ts)
            effects = _with_checkpoint(effects, meta.next_checkpoint)
            batch = WriteBatch(
                objects=[o for o in ws.objects.values() if o is not None],
                deleted_objects=[i for i, o in ws.objects.items() if o is None],
                models=ws.models,
            )
            if ws.touched_system_state:
                meta.system_state_version = effects.lamport_version
            meta.epoch_fees += effects.total_fee
            meta.fees_total += effects.total_fee
            self._commit(batch, meta, effects, ts, totals=ws.totals)
            self._apply_objects(ws.objects)
            self._models.update(ws.models)
            self._totals = ws.totals
            return effects

    def simulate(self, tx: TransactionData) -> Effects:
        """Dry-run: the same checks and fees as execute(), nothing stored, no signature needed."""
        with self._lock:
            digest = tx.digest()
            _ws, effects = self._run(tx, digest, self._meta.copy(), self._clock())
            return effects

    def _run(
        self, tx: TransactionData, digest: bytes, meta: ChainMeta, ts: int
    ) -> tuple[_WorkingSet, Effects]:
        inputs = self._check_inputs(tx)
        ws = _WorkingSet(
            engine=self,
            digest=digest,
            totals=RegistryTotals(self._totals.total_model_stake, dict(self._totals.staking_pool_mappings)),
        )
        gas_id = tx.gas_payment[0].object_id
        kind_name = type(tx.kind).__name__
        base_fee = op_fee = value_fee = 0
        failure: ExecutionFailure | None = None

        # Phase 1: smash the gas coins into the first and take the base fee.
        gas = ws.read(gas_id)
        assert gas is not None
        total = gas.balance
        for ref in tx.gas_payment[1:]:
            extra = ws.read(ref.object_id)
            assert extra is not None
            total += extra.balance
            ws.delete(ref.object_id)
        if total < self.params.base_fee:
            base_fee = total
            failure = ExecutionFailure("InsufficientGas")
            _set_balance(ws, gas_id, 0)
        else:
            base_fee = self.params.base_fee
            _set_balance(ws, gas_id, total - base_fee)
            value_fee = self._value_fee(tx, ws)
            saved = ws.checkpoint_state()
            try:
                self._execute_kind(tx, ws, meta, gas_id, value_fee)
                op_fee = self._operation_fee(ws)
                remaining = op_fee + value_fee
                balance = _balance(ws, gas_id)
                if balance < remaining:
                    raise ExecutionFailure("InsufficientGas")
                _set_balance(ws, gas_id, balance - remaining)
            except ExecutionFailure as exc:
                ws.restore(saved)
                failure = exc
                op_fee = value_fee = 0
        if _balance(ws, gas_id) == 0 and ws.read(gas_id) is not None:
            ws.delete(gas_id)

        # Like the chain, every owned input advances its version, even when unchanged.
        for oid, rec in inputs.items():
            if oid not in ws.objects:
                ws.write(rec)
        if isinstance(
            tx.kind,
            (
                CreateModel,
                CommitModel,
                RevealModel,
                AddStakeToModel,
                SetModelCommissionRate,
                DeactivateModel,
                ReportModel,
                UndoReportModel,
                WithdrawStake,
                AddStake,
            ),
        ):
            ws.touched_system_state = True

        effects = self._effects(
            tx, digest, kind_name, ws, inputs, meta, ts, failure, base_fee, op_fee, value_fee, gas_id
        )
        return ws, effects

    def _check_inputs(self, tx: TransactionData) -> dict[bytes, ObjectRecord]:
        """Pre-execution checks; a failure rejects the transaction before any fee is charged."""
        if not tx.gas_payment:
            raise TxRejected("the transaction has no gas payment")
        kind_refs = _kind_object_refs(tx)
        seen: set[bytes] = set()
        for ref in kind_refs:
            if ref.object_id in seen:
                raise TxRejected(f"object {hex_id(ref.object_id)} is used twice in one transaction")
            seen.add(ref.object_id)
        refs = list(kind_refs)
        gas_ids: set[bytes] = set()
        for ref in tx.gas_payment:
            if ref.object_id in gas_ids:
                raise TxRejected(f"gas coin {hex_id(ref.object_id)} is listed twice")
            gas_ids.add(ref.object_id)
            if ref.object_id not in seen:
                refs.append(ref)
        inputs: dict[bytes, ObjectRecord] = {}
        for ref in refs:
            current = self._objects.get(ref.object_id)
            if current is None:
                raise TxRejected(
                    f"Could not find the referenced object {hex_id(ref.object_id)} at version "
                    f"{ref.version}; it does not exist or was deleted.",
                    code="NOT_FOUND",
                )
            if current.version != ref.version or current.digest() != ref.digest:
                raise TxRejected(
                    f"Object ({hex_id(ref.object_id)}, SequenceNumber({ref.version}), "
                    f"o#{b58encode(ref.digest)}) is not available for consumption, its current version: "
                    f"SequenceNumber({current.version})",
                    code="FAILED_PRECONDITION",
                )
            inputs[ref.object_id] = current
        for ref in tx.gas_payment:
            gas = inputs[ref.object_id]
            if gas.object_type != COIN:
                raise TxRejected(f"gas object {hex_id(ref.object_id)} is not a coin")
            if gas.owner != tx.sender:
                raise TxRejected(
                    f"gas coin {hex_id(ref.object_id)} is owned by 0x{gas.owner.hex()}, not by the sender"
                )
        return inputs

    def _value_fee(self, tx: TransactionData, ws: _WorkingSet) -> int:
        kind = tx.kind
        bps = self.params.value_fee_bps

        def coin_value(ref: ObjectRef) -> int:
            rec = ws.read(ref.object_id)
            return rec.balance if rec is not None and rec.object_type == COIN else 0

        if isinstance(kind, CreateModel):
            return kind.stake_amount * (bps // 2) // BPS
        if isinstance(kind, (AddStakeToModel, AddStake)):
            amount = kind.amount if kind.amount is not None else coin_value(kind.coin)
            return amount * (bps // 2) // BPS
        if isinstance(kind, TransferCoin):
            amount = kind.amount if kind.amount is not None else coin_value(kind.coin)
            return amount * bps // BPS
        if isinstance(kind, PayCoins):
            amount = sum(kind.amounts) if kind.amounts is not None else sum(coin_value(c) for c in kind.coins)
            return amount * bps // BPS
        if isinstance(kind, WithdrawStake):
            rec = ws.read(kind.staked_soma.object_id)
            if rec is not None and rec.object_type == STAKED_SOMA:
                return rec.staked().principal * (bps // 2) // BPS
            return self.params.base_fee
        return 0

    def _operation_fee(self, ws: _WorkingSet) -> int:
        written = sum(1 for o in ws.objects.values() if o is not None)
        if ws.touched_system_state:
            written += 1
        return written * self.params.write_object_fee

    # -- the transaction kinds -------------------------------------------------------------

    def _execute_kind(
        self, tx: TransactionData, ws: _WorkingSet, meta: ChainMeta, gas_id: bytes, value_fee: int
    ) -> None:
        kind = tx.kind
        sender = tx.sender
        epoch = meta.epoch
        reg = ws.registry()
        write_fee = self.params.write_object_fee
        if isinstance(kind, CreateModel):
            rules.check_create(
                self.params,
                architecture_version=kind.architecture_version,
                stake=kind.stake_amount,
                commission_rate=kind.commission_rate,
            )
            ws.touched_system_state = True
            if _balance(ws, gas_id) < kind.stake_amount + value_fee + 3 * write_fee:
                raise ExecutionFailure("InsufficientCoinBalance")
            model_id, pool_id = ws.new_id(), ws.new_id()
            rules.create_model(
                reg,
                owner=sender,
                model_id=model_id,
                pool_id=pool_id,
                architecture_version=kind.architecture_version,
                stake=kind.stake_amount,
                commission_rate=kind.commission_rate,
                epoch=epoch,
            )
            self._new_receipt(ws, sender, StakedSoma(pool_id, epoch + 1, kind.stake_amount))
            _set_balance(ws, gas_id, _balance(ws, gas_id) - kind.stake_amount)
        elif isinstance(kind, CommitModel):
            rules.commit_model(
                reg,
                signer=sender,
                model_id=kind.model_id,
                manifest=kind.manifest,
                weights_commitment=kind.weights_commitment,
                embedding_commitment=kind.embedding_commitment,
                decryption_key_commitment=kind.decryption_key_commitment,
                epoch=epoch,
            )
        elif isinstance(kind, RevealModel):
            rules.reveal_model(
                reg,
                signer=sender,
                model_id=kind.model_id,
                decryption_key=kind.decryption_key,
                embedding=kind.embedding,
                epoch=epoch,
            )
        elif isinstance(kind, AddStakeToModel):
            coin = self._owned_coin(ws, kind.coin.object_id, sender)
            balance = coin.balance
            is_gas = kind.coin.object_id == gas_id
            if kind.amount is not None:
                amount = kind.amount
                need = amount + (value_fee + 2 * write_fee if is_gas else 0)
                if balance < need:
                    raise ExecutionFailure("InsufficientCoinBalance")
            else:
                # staking a whole gas coin leaves exactly the fees still to pay: the gas coin,
                # the receipt and the system state are the three written objects
                reserve = value_fee + 3 * write_fee if is_gas else 0
                if is_gas and balance <= reserve:
                    raise ExecutionFailure("InsufficientCoinBalance")
                amount = balance - reserve
            pool_id, _ = rules.add_stake_to_model(reg, model_id=kind.model_id, amount=amount)
            self._new_receipt(ws, sender, StakedSoma(pool_id, epoch + 1, amount))
            remaining = balance - amount
            if remaining == 0 and not is_gas:
                ws.delete(kind.coin.object_id)
            elif kind.amount is None:
                # the whole coin went in (less the fees still to pay when it is also the gas)
                if is_gas:
                    _set_balance(ws, gas_id, remaining)
                else:
                    ws.delete(kind.coin.object_id)
            else:
                _set_balance(ws, kind.coin.object_id, remaining)
        elif isinstance(kind, SetModelCommissionRate):
            rules.set_commission_rate(reg, signer=sender, model_id=kind.model_id, new_rate=kind.new_rate)
        elif isinstance(kind, DeactivateModel):
            rules.deactivate_model(reg, signer=sender, model_id=kind.model_id, epoch=epoch)
        elif isinstance(kind, (ReportModel, UndoReportModel)):
            raise ExecutionFailure("NotAValidator")  # the devnet has no validators
        elif isinstance(kind, AddStake):
            raise ExecutionFailure("ValidatorNotFound")
        elif isinstance(kind, WithdrawStake):
            rec = ws.read(kind.staked_soma.object_id)
            if rec is None:
                raise ExecutionFailure("ObjectNotFound", object_id=kind.staked_soma.object_id)
            _check_owner(rec, sender)
            if rec.object_type != STAKED_SOMA:
                raise ExecutionFailure("InvalidObjectType", object_id=rec.object_id)
            staked = rec.staked()
            amount = rules.withdraw_from_model_pool(
                reg,
                pool_id=staked.pool_id,
                principal=staked.principal,
                activation_epoch=staked.stake_activation_epoch,
                epoch=epoch,
            )
            ws.delete(rec.object_id)
            self._new_coin(ws, sender, amount)
        elif isinstance(kind, TransferCoin):
            self._transfer_coin(ws, kind, sender, gas_id, value_fee)
        elif isinstance(kind, PayCoins):
            self._pay_coins(ws, kind, sender, gas_id, value_fee)
        elif isinstance(kind, TransferObjects):
            if not kind.objects:
                raise ExecutionFailure("InvalidArguments", "Must provide at least one object to transfer")
            for ref in kind.objects:
                obj = ws.read(ref.object_id)
                if obj is None:
                    raise ExecutionFailure("ObjectNotFound", object_id=ref.object_id)
                _check_owner(obj, sender)
                ws.write(obj.replace(owner=kind.recipient))
        else:  # pragma: no cover - decode refuses other kinds
            raise ExecutionFailure("InvalidTransactionType")

    def _owned_coin(self, ws: _WorkingSet, coin_id: bytes, sender: bytes) -> ObjectRecord:
        coin = ws.read(coin_id)
        if coin is None:
            raise ExecutionFailure("ObjectNotFound", object_id=coin_id)
        _check_owner(coin, sender)
        if coin.object_type != COIN:
            raise ExecutionFailure("InvalidObjectType", object_id=coin_id)
        return coin

    def _new_coin(self, ws: _WorkingSet, owner: bytes, amount: int) -> None:
        oid = ws.new_id()
        ws.write(ObjectRecord(oid, COIN, owner, 0, coin_contents(amount), ws.digest))

    def _new_receipt(self, ws: _WorkingSet, owner: bytes, staked: StakedSoma) -> None:
        oid = ws.new_id()
        ws.write(ObjectRecord(oid, STAKED_SOMA, owner, 0, staked.to_bcs(), ws.digest))

    def _transfer_coin(
        self, ws: _WorkingSet, kind: TransferCoin, sender: bytes, gas_id: bytes, value_fee: int
    ) -> None:
        coin = self._owned_coin(ws, kind.coin.object_id, sender)
        balance = coin.balance
        is_gas = kind.coin.object_id == gas_id
        write_fee = self.params.write_object_fee
        if kind.amount is not None:
            amount = kind.amount
            if is_gas:
                if balance < amount + value_fee + 2 * write_fee:
                    raise ExecutionFailure("InsufficientCoinBalance")
            else:
                if balance < amount:
                    raise ExecutionFailure("InsufficientCoinBalance")
                if amount == balance:
                    ws.write(coin.replace(owner=kind.recipient))
                    return
            self._new_coin(ws, kind.recipient, amount)
            _set_balance(ws, coin.object_id, balance - amount)
        elif is_gas:
            reserve = value_fee + 2 * write_fee
            if balance <= reserve:
                raise ExecutionFailure("InsufficientCoinBalance")
            self._new_coin(ws, kind.recipient, balance - reserve)
            _set_balance(ws, coin.object_id, reserve)
        else:
            ws.write(coin.replace(owner=kind.recipient))

    def _pay_coins(
        self, ws: _WorkingSet, kind: PayCoins, sender: bytes, gas_id: bytes, value_fee: int
    ) -> None:
        if not kind.coins:
            raise ExecutionFailure("InvalidArguments", "Must provide at least one coin")
        if not kind.recipients:
            raise ExecutionFailure("InvalidArguments", "Must provide at least one recipient")
        write_fee = self.params.write_object_fee
        coins = [self._owned_coin(ws, ref.object_id, sender) for ref in kind.coins]
        available = sum(c.balance for c in coins)
        keep = next((c for c in coins if c.object_id == gas_id), coins[0])
        if kind.amounts is not None:
            if len(kind.amounts) != len(kind.recipients):
                raise ExecutionFailure(
                    "InvalidArguments",
                    f"Amounts and recipients must match. Got {len(kind.amounts)} amounts and "
                    f"{len(kind.recipients)} recipients",
                )
            total = sum(kind.amounts)
            if available < total + value_fee + (1 + len(kind.recipients)) * write_fee:
                raise ExecutionFailure("InsufficientCoinBalance")
            for amount, recipient in zip(kind.amounts, kind.recipients, strict=True):
                self._new_coin(ws, recipient, amount)
            for c in coins:
                if c.object_id != keep.object_id:
                    ws.delete(c.object_id)
            _set_balance(ws, keep.object_id, available - total)
            return
        if len(kind.recipients) != 1:
            raise ExecutionFailure("InvalidArguments", "Pay-all operation only supports a single recipient")
        recipient = kind.recipients[0]
        if any(c.object_id == gas_id for c in coins):
            reserve = value_fee + 2 * write_fee
            if available <= reserve:
                raise ExecutionFailure("InsufficientCoinBalance")
            self._new_coin(ws, recipient, available - reserve)
            for c in coins:
                if c.object_id != gas_id:
                    ws.delete(c.object_id)
            _set_balance(ws, gas_id, reserve)
        else:
            for c in coins[1:]:
                ws.delete(c.object_id)
            ws.write(keep.replace(owner=recipient, contents=coin_contents(available)))

    # -- effects ---------------------------------------------------------------------------

    def _effects(
        self,
        tx: TransactionData,
        digest: bytes,
        kind_name: str,
        ws: _WorkingSet,
        inputs: dict[bytes, ObjectRecord],
        meta: ChainMeta,
        ts: int,
        failure: ExecutionFailure | None,
        base_fee: int,
        op_fee: int,
        value_fee: int,
        gas_id: bytes,
    ) -> Effects:
        in_versions = [r.version for r in inputs.values()]
        if ws.touched_system_state:
            in_versions.append(meta.system_state_version)
        lamport = max(in_versions, default=0) + 1
        changes: list[ObjectChange] = []
        created: list[ObjectRecord] = []
        for oid in sorted(ws.objects):
            rec = ws.objects[oid]
            before = inputs.get(oid) or self._objects.get(oid)
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
        if ws.touched_system_state:
            changes.append(_system_state_change(meta.system_state_version, lamport))
            changes.sort(key=lambda c: c.object_id)
        gas_index = next(
            (i for i, c in enumerate(changes) if c.object_id == gas_id and c.output is not None), None
        )
        deps = sorted({r.previous_transaction for r in inputs.values()} - {GENESIS_DIGEST})
        return Effects(
            digest=digest,
            sender=tx.sender,
            kind=kind_name,
            success=failure is None,
            error_kind=None if failure is None else failure.kind,
            error_detail=None if failure is None else failure.detail,
            error_object=None if failure is None else failure.object_id,
            epoch=meta.epoch,
            base_fee=base_fee,
            operation_fee=op_fee,
            value_fee=value_fee,
            lamport_version=lamport,
            changes=tuple(changes),
            gas_index=gas_index,
            dependencies=tuple(deps),
            balance_changes=_balance_changes(inputs, ws),
            timestamp_ms=ts,
            checkpoint=None,
            created_objects=tuple(created),
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
            batch = WriteBatch(models=models)
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
            self._version += 1
            self._publish(last)
            return new_epoch, events

    def advance_epoch_if_due(self) -> int | None:
        """For the epoch timer: advance when the current epoch has run its course."""
        with self._lock:
            due = self.next_epoch_due_ms()
            if due is None or self._clock() < due:
                return None
            return self.advance_epoch()[0]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _owner_index(objects: Iterable[ObjectRecord]) -> dict[bytes, set[bytes]]:
    out: dict[bytes, set[bytes]] = {}
    for o in objects:
        out.setdefault(o.owner, set()).add(o.object_id)
    return out


def _balance(ws: _WorkingSet, coin_id: bytes) -> int:
    rec = ws.read(coin_id)
    return 0 if rec is None else rec.balance


def _set_balance(ws: _WorkingSet, coin_id: bytes, amount: int) -> None:
    rec = ws.read(coin_id)
    assert rec is not None
    ws.write(rec.replace(contents=coin_contents(amount)))


def _check_owner(obj: ObjectRecord, sender: bytes) -> None:
    if obj.owner != sender:
        raise ExecutionFailure("InvalidOwnership", object_id=obj.object_id)


def _kind_object_refs(tx: TransactionData) -> list[ObjectRef]:
    kind = tx.kind
    if isinstance(kind, (TransferCoin, AddStakeToModel, AddStake)):
        return [kind.coin]
    if isinstance(kind, PayCoins):
        return list(kind.coins)
    if isinstance(kind, TransferObjects):
        return list(kind.objects)
    if isinstance(kind, WithdrawStake):
        return [kind.staked_soma]
    return []


def _balance_changes(inputs: dict[bytes, ObjectRecord], ws: _WorkingSet) -> tuple[tuple[bytes, int], ...]:
    delta: dict[bytes, int] = {}
    for rec in inputs.values():
        if rec.object_type == COIN:
            delta[rec.owner] = delta.get(rec.owner, 0) - rec.balance
    for out in ws.objects.values():
        if out is not None and out.object_type == COIN:
            delta[out.owner] = delta.get(out.owner, 0) + out.balance
    return tuple(sorted((a, n) for a, n in delta.items() if n != 0))


def _system_state_change(version: int, lamport: int) -> ObjectChange:
    from soma_console.devnet.engine.objects import SYSTEM_STATE, SYSTEM_STATE_ID

    def digest(v: int) -> bytes:
        return blake2b256(b"soma-console-devnet system state" + v.to_bytes(8, "little"))

    return ObjectChange(
        SYSTEM_STATE_ID,
        SYSTEM_STATE,
        (version, digest(version), None),
        (lamport, digest(lamport), None),
        "none",
    )


def _with_checkpoint(effects: Effects, seq: int) -> Effects:
    from dataclasses import replace

    return replace(effects, checkpoint=seq)
