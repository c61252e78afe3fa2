"""The devnet's state on disk: one SQLite database (WAL) under the state directory.

Every transaction, faucet grant and epoch boundary is written in a single SQLite transaction,
so a node killed at any instant (SIGKILL included) restarts at the last complete one. A
directory written by another program, or by an incompatible version of the devnet, is refused
and never modified; a second node on the same directory is refused by an exclusive lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.core.txkinds import Manifest
from soma_console.devnet.engine.errors import StateError
from soma_console.devnet.engine.models import Model, PendingUpdate, RegistryTotals
from soma_console.devnet.engine.objects import ObjectRecord
from soma_console.devnet.engine.staking import StakingPool
from soma_console.devnet.engine.targets import Target

# Added after schema version 1 was released; created on open, so older stores gain it.
_TARGETS_TABLE = "CREATE TABLE IF NOT EXISTS targets (id BLOB PRIMARY KEY, data TEXT NOT NULL)"

FORMAT = "soma-console-devnet"
SCHEMA_VERSION = 1
DB_NAME = "devnet.sqlite"
LOCK_NAME = "devnet.lock"
# Test hook: hold every write transaction open this many seconds before COMMIT, so that a test
# can kill the node in the middle of one. Never set outside tests.
COMMIT_DELAY_ENV = "SOMA_DEVNET_TEST_COMMIT_DELAY"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    id BLOB PRIMARY KEY, type TEXT NOT NULL, owner BLOB NOT NULL, version INTEGER NOT NULL,
    contents BLOB NOT NULL, prev_tx BLOB NOT NULL);
CREATE INDEX objects_owner ON objects (owner);
CREATE TABLE models (id BLOB PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE transactions (digest BLOB PRIMARY KEY, checkpoint INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE checkpoints (
    seq INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, timestamp_ms INTEGER NOT NULL,
    digest BLOB NOT NULL, data TEXT NOT NULL);
CREATE TABLE epochs (
    epoch INTEGER PRIMARY KEY, start_ms INTEGER NOT NULL, end_ms INTEGER,
    first_checkpoint INTEGER NOT NULL, last_checkpoint INTEGER);
CREATE TABLE IF NOT EXISTS targets (id BLOB PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE weight_checks (
    model_id BLOB NOT NULL, weights_commitment BLOB NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (model_id, weights_commitment));
"""


# ---------------------------------------------------------------------------------------------
# JSON forms of engine values (bytes as hex)
# ---------------------------------------------------------------------------------------------


def _hex(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def _unhex(s: str | None) -> bytes | None:
    return None if s is None else bytes.fromhex(s)


def _manifest_json(m: Manifest | None) -> dict[str, Any] | None:
    return None if m is None else {"url": m.url, "checksum": m.checksum.hex(), "size": m.size}


def _manifest_from(d: dict[str, Any] | None) -> Manifest | None:
    return None if d is None else Manifest(d["url"], bytes.fromhex(d["checksum"]), int(d["size"]))


def model_to_json(m: Model) -> str:
    p = m.staking_pool
    pu = m.pending_update
    return json.dumps(
        {
            "owner": m.owner.hex(),
            "arch": m.architecture_version,
            "state": m.state,
            "commission": m.commission_rate,
            "next_commission": m.next_epoch_commission_rate,
            "create_epoch": m.create_epoch,
            "manifest": _manifest_json(m.manifest),
            "wc": _hex(m.weights_commitment),
            "ec": _hex(m.embedding_commitment),
            "kc": _hex(m.decryption_key_commitment),
            "commit_epoch": m.commit_epoch,
            "key": _hex(m.decryption_key),
            "embedding": None if m.embedding is None else list(m.embedding),
            "pending_update": None
            if pu is None
            else {
                "manifest": _manifest_json(pu.manifest),
                "wc": pu.weights_commitment.hex(),
                "ec": pu.embedding_commitment.hex(),
                "kc": pu.decryption_key_commitment.hex(),
                "commit_epoch": pu.commit_epoch,
            },
            "pool": {
                "id": p.pool_id.hex(),
                "activation": p.activation_epoch,
                "deactivation": p.deactivation_epoch,
                "soma": p.soma_balance,
                "rewards": p.rewards_pool,
                "tokens": p.pool_token_balance,
                "rates": [[e, s, t] for e, (s, t) in sorted(p.exchange_rates.items())],
                "pending": p.pending_stake,
                "pending_soma_withdraw": p.pending_total_soma_withdraw,
                "pending_token_withdraw": p.pending_pool_token_withdraw,
            },
        },
        separators=(",", ":"),
    )


def model_from_json(text: str) -> Model:
    d = json.loads(text)
    p = d["pool"]
    pu = d["pending_update"]
    manifest = _manifest_from(pu["manifest"]) if pu else None
    return Model(
        owner=bytes.fromhex(d["owner"]),
        architecture_version=d["arch"],
        state=d["state"],
        staking_pool=StakingPool(
            pool_id=bytes.fromhex(p["id"]),
            activation_epoch=p["activation"],
            deactivation_epoch=p["deactivation"],
            soma_balance=p["soma"],
            rewards_pool=p["rewards"],
            pool_token_balance=p["tokens"],
            exchange_rates={int(e): (s, t) for e, s, t in p["rates"]},
            pending_stake=p["pending"],
            pending_total_soma_withdraw=p["pending_soma_withdraw"],
            pending_pool_token_withdraw=p["pending_token_withdraw"],
        ),
        commission_rate=d["commission"],
        next_epoch_commission_rate=d["next_commission"],
        create_epoch=d["create_epoch"],
        manifest=_manifest_from(d["manifest"]),
        weights_commitment=_unhex(d["wc"]),
        embedding_commitment=_unhex(d["ec"]),
        decryption_key_commitment=_unhex(d["kc"]),
        commit_epoch=d["commit_epoch"],
        decryption_key=_unhex(d["key"]),
        embedding=None if d["embedding"] is None else tuple(float(x) for x in d["embedding"]),
        pending_update=None
        if pu is None or manifest is None
        else PendingUpdate(
            manifest,
            bytes.fromhex(pu["wc"]),
            bytes.fromhex(pu["ec"]),
            bytes.fromhex(pu["kc"]),
            pu["commit_epoch"],
        ),
    )


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


@dataclass
class WriteBatch:
    """Everything one state change writes; applied in a single SQLite transaction."""

    chain: dict[str, Any] | None = None
    objects: list[ObjectRecord] = field(default_factory=list)
    deleted_objects: list[bytes] = field(default_factory=list)
    models: dict[bytes, Model] = field(default_factory=dict)
    transactions: list[tuple[bytes, int, dict[str, Any]]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    epoch_rows: list[tuple[int, int, int | None, int, int | None]] = field(default_factory=list)
    weight_checks: list[tuple[bytes, bytes, dict[str, Any]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    deleted_targets: list[bytes] = field(default_factory=list)


@dataclass
class LoadedState:
    chain: dict[str, Any]
    objects: dict[bytes, ObjectRecord]
    models: dict[bytes, Model]
    totals: RegistryTotals
    targets: dict[bytes, Target] = field(default_factory=dict)


class Store:
    """Opens (or creates) the database; refuses anything it did not write itself."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._commit_delay = float(os.environ.get(COMMIT_DELAY_ENV) or 0)
        self.path = state_dir / DB_NAME
        self._lock = threading.Lock()
        self._lock_fd = self._take_dir_lock()
        try:
            fresh = not self.path.exists()
            if not fresh:
                self._check_existing()
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a killed process loses nothing that was committed; only a
            # power cut can drop the last transactions, never corrupt the file.
            self._db.execute("PRAGMA synchronous=NORMAL")
            if fresh:
                # executescript() commits on its own, so the script carries its transaction.
                self._db.executescript(
                    "BEGIN;\n"
                    + _SCHEMA
                    + f"INSERT INTO meta VALUES ('format', '{FORMAT}');\n"
                    + f"INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');\n"
                    + "COMMIT;"
                )
            self._db.execute(_TARGETS_TABLE)
            self.fresh = fresh
        except BaseException:
            self._release_dir_lock()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _take_dir_lock(self) -> int:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the devnet state directory {self.state_dir}: {exc.strerror}."
            ) from None
        if not os.access(self.state_dir, os.W_OK):
            raise StateError(f"the devnet state directory {self.state_dir} is not writable.")
        fd = os.open(self.state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(
                f"another devnet is already running on {self.state_dir}; stop it or pass another --state."
            ) from None
        return fd

    def _release_dir_lock(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = -1

    def _check_existing(self) -> None:
        """Read-only inspection; any doubt means refusal, never repair."""
        where = self.path
        try:
            with open(where, "rb") as fh:
                header = fh.read(16)
        except OSError as exc:
            raise StateError(f"cannot read {where}: {exc.strerror}.") from None
        if header != b"SQLite format 3\x00":
            raise StateError(f"{where} is not a devnet database; refusing to touch it. Pass another --state.")
        try:
            uri = f"file:{where}?mode=ro"
            probe = sqlite3.connect(uri, uri=True)
            try:
                rows = dict(probe.execute("SELECT key, value FROM meta").fetchall())
            finally:
                probe.close()
        except sqlite3.Error:
            raise StateError(
                f"{where} is not a devnet database; refusing to touch it. Pass another --state."
            ) from None
        if rows.get("format") != FORMAT:
            raise StateError(f"{where} was not written by the soma-console devnet; refusing to touch it.")
        version = rows.get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StateError(
                f"{where} holds devnet state of schema version {version}, this devnet understands "
                f"version {SCHEMA_VERSION}; it was left untouched. "
                "Use a matching soma-console or a new --state."
            )

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._release_dir_lock()

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if self._commit_delay:
                time.sleep(self._commit_delay)
            self._db.execute("COMMIT")

    def apply(self, batch: WriteBatch) -> None:
        with self._write() as db:
            if batch.chain is not None:
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('chain', ?)",
                    (json.dumps(batch.chain, separators=(",", ":")),),
                )
            if batch.deleted_objects:
                db.executemany("DELETE FROM objects WHERE id = ?", [(i,) for i in batch.deleted_objects])
            if batch.objects:
                db.executemany(
                    "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (o.object_id, o.object_type, o.owner, o.version, o.contents, o.previous_transaction)
                        for o in batch.objects
                    ],
                )
            if batch.models:
                db.executemany(
                    "INSERT OR REPLACE INTO models VALUES (?, ?)",
                    [(mid, model_to_json(m)) for mid, m in batch.models.items()],
                )
            for digest, checkpoint, data in batch.transactions:
                db.execute(
                    "INSERT OR REPLACE INTO transactions VALUES (?, ?, ?)",
                    (digest, checkpoint, json.dumps(data, separators=(",", ":"))),
                )
            for cp in batch.checkpoints:
                db.execute(
                    "INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                    (
                        cp["seq"],
                        cp["epoch"],
                        cp["timestamp_ms"],
                        bytes.fromhex(cp["digest"]),
                        json.dumps(cp, separators=(",", ":")),
                    ),
                )
            if batch.epoch_rows:
                db.executemany("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?, ?, ?)", batch.epoch_rows)
            if batch.deleted_targets:
                db.executemany("DELETE FROM targets WHERE id = ?", [(i,) for i in batch.deleted_targets])
            if batch.targets:
                db.executemany(
                    "INSERT OR REPLACE INTO targets VALUES (?, ?)",
                    [(t.target_id, t.to_json()) for t in batch.targets],
                )
            for model_id, commitment, data in batch.weight_checks:
                db.execute(
                    "INSERT OR REPLACE INTO weight_checks VALUES (?, ?, ?)",
                    (model_id, commitment, json.dumps(data, separators=(",", ":"))),
                )

    # -- reading ---------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def load(self) -> LoadedState | None:
        """The whole live state, or None for a database that has no genesis yet."""
        rows = self._query("SELECT value FROM meta WHERE key = 'chain'")
        if not rows:
            return None
        chain = json.loads(rows[0][0])
        objects = {
            r[0]: ObjectRecord(r[0], r[1], r[2], r[3], r[4], r[5])
            for r in self._query("SELECT id, type, owner, version, contents, prev_tx FROM objects")
        }
        models = {r[0]: model_from_json(r[1]) for r in self._query("SELECT id, data FROM models")}
        totals = RegistryTotals(
            total_model_stake=int(chain.get("total_model_stake", 0)),
            staking_pool_mappings={m.staking_pool.pool_id: mid for mid, m in models.items()},
        )
        targets = {r[0]: Target.from_json(r[0], r[1]) for r in self._query("SELECT id, data FROM targets")}
        return LoadedState(chain=chain, objects=objects, models=models, totals=totals, targets=targets)

    def transaction(self, digest: bytes) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM transactions WHERE digest = ?", (digest,))
        return json.loads(rows[0][0]) if rows else None

    def checkpoint(self, seq: int) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM checkpoints WHERE seq = ?", (seq,))
        return json.loads(rows[0][0]) if rows else None

    def checkpoint_by_digest(self, digest: bytes) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM checkpoints WHERE digest = ?", (digest,))
        return json.loads(rows[0][0]) if rows else None

    def epoch_row(self, epoch: int) -> tuple[int, int | None, int, int | None] | None:
        rows = self._query(
            "SELECT start_ms, end_ms, first_checkpoint, last_checkpoint FROM epochs WHERE epoch = ?", (epoch,)
        )
        return (rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def weight_checks(self) -> dict[tuple[bytes, bytes], dict[str, Any]]:
        return {
            (r[0], r[1]): json.loads(r[2])
            for r in self._query("SELECT model_id, weights_commitment, data FROM weight_checks")
        }
