"""The journal: one SQLite database that remembers everything money depends on.

It records prepared artifacts (encrypted file, size, commitments, the decryption key, the
embedding), every on-chain intent and its state, and an audit log of every transaction sent.
Training runs and checkpoints are not here: their own directories (and the Modal run records)
are the one place they are listed. The rule that keeps a model's stake safe: the decryption key
and the intent are written durably *before* a transaction is sent, so a crash at any point leaves
enough on disk to finish (or explain) the job.

Properties:
* WAL mode, ``synchronous=FULL``: a committed row survives a crash or power cut.
* The file (and its -wal/-shm companions) is mode 0600: it holds unrevealed keys.
* Versioned schema (``PRAGMA user_version``) with forward migrations. A journal written by a newer
  soma-console, or a file that is not a journal, is refused with one clear sentence and never
  touched.
* Safe to use from several processes at once (the console and a cron'd ``autopilot``).

Intent states::

    intent -> submitted (digest known) -> confirmed -> revealed      (commits)
                                       \\-> failed (reason)
    confirmed -> missed   (a commit whose reveal window closed without a reveal)
    intent -> confirmed / failed                                      (every other action)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.errors import UserError
from soma_console.fsutil import PRIVATE_FILE_MODE, ensure_dir
from soma_console.secrets import Secret

SCHEMA_VERSION = 3
APPLICATION_ID = 0x534F4D41  # "SOMA": marks the file as ours

INTENT_STATES = ("intent", "submitted", "confirmed", "revealed", "failed", "missed")
OPEN_STATES = ("intent", "submitted")


class JournalError(UserError):
    pass


_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE runs (
        name TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        location TEXT NOT NULL,
        spec_json TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'created',
        remote_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE checkpoints (
        path TEXT PRIMARY KEY,
        run TEXT,
        step INTEGER NOT NULL,
        loss REAL,
        eval_loss REAL,
        size INTEGER,
        manifest_json TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX checkpoints_run ON checkpoints(run, step);
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        chain TEXT NOT NULL,
        source_path TEXT NOT NULL,
        source_size INTEGER NOT NULL,
        source_digest TEXT NOT NULL,
        encrypted_path TEXT,
        size INTEGER NOT NULL,
        commitment TEXT NOT NULL,
        key_commitment TEXT NOT NULL,
        decryption_key TEXT NOT NULL,
        embedding_json TEXT,
        embedding_commitment TEXT,
        architecture TEXT,
        weights_url TEXT,
        verified_at REAL
    );
    CREATE INDEX artifacts_commitment ON artifacts(commitment);
    CREATE INDEX artifacts_source ON artifacts(source_digest);
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        chain TEXT NOT NULL,
        signer TEXT NOT NULL,
        kind TEXT NOT NULL,
        model_id TEXT,
        artifact_id INTEGER REFERENCES artifacts(id),
        params_json TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        digest TEXT,
        commit_epoch INTEGER,
        reveal_digest TEXT,
        revealed_epoch INTEGER,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX intents_state ON intents(chain, state);
    CREATE INDEX intents_model ON intents(chain, model_id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        chain TEXT NOT NULL,
        signer TEXT NOT NULL,
        kind TEXT NOT NULL,
        model_id TEXT,
        intent_id INTEGER,
        summary_json TEXT NOT NULL DEFAULT '{}',
        digest TEXT,
        status TEXT NOT NULL,
        error TEXT
    );
    """,
    # Which network each chain name was last used against (its chain identifier: the genesis
    # checkpoint digest). Entries written against an earlier network of the same name (a devnet
    # started over) are moved under an archive name when the identifier changes.
    2: """
    CREATE TABLE chain_identities (
        chain TEXT PRIMARY KEY,
        identifier TEXT NOT NULL,
        adopted_at REAL NOT NULL
    );
    """,
    # Training runs and their checkpoints are read from the run directories themselves (and the
    # Modal run records); the journal's copies were never read, so they go.
    3: """
    DROP INDEX IF EXISTS checkpoints_run;
    DROP TABLE IF EXISTS checkpoints;
    DROP TABLE IF EXISTS runs;
    """,
}


@dataclass(frozen=True)
class Artifact:
    """A prepared (encrypted) weights file. ``decryption_key`` is Base58 inside a Secret."""

    id: int
    created_at: float
    chain: str
    source_path: str
    source_size: int
    source_digest: str
    encrypted_path: str | None
    size: int
    commitment: str
    key_commitment: str
    decryption_key: Secret = field(repr=False)
    embedding: list[float] | None = field(default=None, repr=False)
    embedding_commitment: str | None = None
    architecture: str | None = None
    weights_url: str | None = None
    verified_at: float | None = None


@dataclass(frozen=True)
class Intent:
    id: int
    created_at: float
    updated_at: float
    chain: str
    signer: str
    kind: str
    model_id: str | None
    artifact_id: int | None
    params: dict[str, Any]
    state: str
    digest: str | None
    commit_epoch: int | None
    reveal_digest: str | None
    revealed_epoch: int | None
    error: str | None
    attempts: int

    @property
    def reveal_epoch(self) -> int | None:
        return None if self.commit_epoch is None else self.commit_epoch + 1


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    chain: str
    signer: str
    kind: str
    model_id: str | None
    intent_id: int | None
    summary: dict[str, Any]
    digest: str | None
    status: str
    error: str | None


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


class Journal:
    """A handle on the journal file. Methods are synchronous; call them from a thread in async code."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> Journal:
        path = Path(path)
        existed = path.exists()
        if not existed:
            if not create:
                raise JournalError(f"there is no journal at {path}.", hint="Nothing has been recorded yet.")
            ensure_dir(path.parent, private=True)
            # Create the file with 0600 *before* SQLite writes anything into it.
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
            os.close(fd)
        elif not os.access(path, os.R_OK | os.W_OK):
            raise JournalError(
                f"the journal {path} is not readable and writable by you.", hint="Check its owner."
            )
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {path} ({exc}).") from None
        journal = cls(path, conn)
        try:
            journal._prepare(fresh=not existed)
        except BaseException:
            conn.close()
            raise
        journal._tighten_modes()
        return journal

    def _prepare(self, *, fresh: bool) -> None:
        c = self._conn
        try:
            app_id = c.execute("PRAGMA application_id").fetchone()[0]
            version = c.execute("PRAGMA user_version").fetchone()[0]
            tables = c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError:
            raise JournalError(
                f"{self.path} is not a soma-console journal (or it is corrupt).",
                hint="Move it aside (it was not modified) and run again to start a new one.",
            ) from None
        if tables and app_id != APPLICATION_ID:
            raise JournalError(
                f"{self.path} is an SQLite file that soma-console did not write.",
                hint="Point --home elsewhere or move the file aside; it was not modified.",
            )
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.path} was written by a newer soma-console (schema {version}, "
                f"this one knows {SCHEMA_VERSION}).",
                hint="Upgrade soma-console; the journal was not modified.",
            )
        if tables:
            try:
                check = c.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                check = str(exc)
            if check != "ok":
                raise JournalError(
                    f"the journal {self.path} is corrupt ({check}).",
                    hint="Keep it (it holds decryption keys): copy it aside or restore a backup.",
                )
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")
        c.execute("PRAGMA busy_timeout=30000")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx():
                # Another process may have migrated since the version was read: the write lock
                # is held now, so read it again and skip what is done.
                if c.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue
                for statement in _split_sql(_MIGRATIONS[target]):
                    c.execute(statement)
                c.execute(f"PRAGMA application_id={APPLICATION_ID}")
                c.execute(f"PRAGMA user_version={target}")
                c.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(target),)
                )

    def _tighten_modes(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            with contextlib.suppress(FileNotFoundError, PermissionError):
                if p.stat().st_mode & 0o077:
                    os.chmod(p, PRIVATE_FILE_MODE)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
        self._tighten_modes()

    # -- chain identity ------------------------------------------------------------------------
    def chain_identity(self, chain: str) -> str | None:
        rows = self._query("SELECT identifier FROM chain_identities WHERE chain = ?", (chain,))
        return str(rows[0]["identifier"]) if rows else None

    def adopt_chain(self, chain: str, identifier: str) -> str | None:
        """Record that ``chain`` now names the network whose chain identifier is ``identifier``.

        When the journal last saw ``chain`` as a different network (a devnet started over, a
        testnet reset), its artifacts, intents and audit entries belong to that other network:
        they are moved, in one transaction, under the archive name ``chain~<old identifier>``,
        where they stay readable (``--chain`` takes the archive name) but are no longer the
        current chain's commits, queue or checkpoint marks. Returns the archive name then, else
        None. Entries written before identities were recorded count as the first network seen.
        """
        identifier = identifier.strip()
        if not identifier:
            raise ValueError("a chain identifier cannot be empty")
        with self._tx() as c:
            row = c.execute("SELECT identifier FROM chain_identities WHERE chain = ?", (chain,)).fetchone()
            now = time.time()
            if row is None:
                c.execute(
                    "INSERT INTO chain_identities(chain, identifier, adopted_at) VALUES (?, ?, ?)",
                    (chain, identifier, now),
                )
                return None
            old = str(row[0])
            if old == identifier:
                return None
            archive = f"{chain}~{old[:16]}"
            for table in ("artifacts", "intents", "audit"):
                c.execute(f"UPDATE {table} SET chain = ? WHERE chain = ?", (archive, chain))
            c.execute(
                "INSERT OR REPLACE INTO chain_identities(chain, identifier, adopted_at) VALUES (?, ?, ?)",
                (archive, old, now),
            )
            c.execute(
                "UPDATE chain_identities SET identifier = ?, adopted_at = ? WHERE chain = ?",
                (identifier, now, chain),
            )
            return archive

    def chains(self) -> list[str]:
        """Every chain name with entries in the journal (archives of earlier networks included)."""
        rows = self._query(
            "SELECT chain FROM intents UNION SELECT chain FROM audit UNION SELECT chain FROM artifacts"
        )
        return sorted(str(r["chain"]) for r in rows)

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, tuple(args))
            cur.row_factory = sqlite3.Row
            return list(cur.fetchall())

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # -- artifacts ------------------------------------------------------------------------------
    def add_artifact(
        self,
        *,
        chain: str,
        source_path: str,
        source_size: int,
        source_digest: str,
        encrypted_path: str | None,
        size: int,
        commitment: str,
        key_commitment: str,
        decryption_key: Secret,
        embedding: list[float] | None = None,
        embedding_commitment: str | None = None,
        architecture: str | None = None,
    ) -> Artifact:
        """Durably record a prepared artifact, including its decryption key (Base58)."""
        key = decryption_key.reveal()
        if not isinstance(key, str):
            raise TypeError("decryption_key must hold the Base58 text of the key")
        with self._tx() as c:
            cur = c.execute(
                """INSERT INTO artifacts(created_at, chain, source_path, source_size, source_digest,
                     encrypted_path, size, commitment, key_commitment, decryption_key, embedding_json,
                     embedding_commitment, architecture)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    time.time(),
                    chain,
                    source_path,
                    source_size,
                    source_digest,
                    encrypted_path,
                    size,
                    commitment,
                    key_commitment,
                    key,
                    None if embedding is None else json.dumps(embedding),
                    embedding_commitment,
                    architecture,
                ),
            )
            new_id = int(cur.lastrowid or 0)
        artifact = self.artifact(new_id)
        assert artifact is not None
        return artifact

    def set_artifact_url(self, artifact_id: int, url: str, *, verified: bool) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE artifacts SET weights_url = ?, verified_at = ? WHERE id = ?",
                (url, time.time() if verified else None, artifact_id),
            )

    def complete_artifact(self, artifact_id: int, *, size: int, commitment: str, source_digest: str) -> None:
        """Fill in what a streamed encryption learns only at its end (see :meth:`pending_artifacts`)."""
        with self._tx() as c:
            c.execute(
                "UPDATE artifacts SET size = ?, commitment = ?, source_digest = ? WHERE id = ?",
                (size, commitment, source_digest, artifact_id),
            )

    def pending_artifacts(self, *, chain: str) -> list[Artifact]:
        """Artifacts whose key was journaled before a streamed encryption that never finished
        (empty commitment): their upload may be partial, and no intent can name them."""
        rows = self._query(
            "SELECT * FROM artifacts WHERE chain = ? AND commitment = '' ORDER BY id", (chain,)
        )
        return [self._artifact(r) for r in rows]

    def drop_artifact(self, artifact_id: int) -> bool:
        """Forget an artifact no intent names (an abandoned attempt); False if one does."""
        with self._tx() as c:
            used = c.execute("SELECT 1 FROM intents WHERE artifact_id = ? LIMIT 1", (artifact_id,)).fetchone()
            if used is not None:
                return False
            c.execute("DELETE FROM artifacts WHERE id = ?", (artifact_id,))
        return True

    def set_artifact_encrypted_path(self, artifact_id: int, path: str | None) -> None:
        with self._tx() as c:
            c.execute("UPDATE artifacts SET encrypted_path = ? WHERE id = ?", (path, artifact_id))

    @staticmethod
    def _artifact(r: sqlite3.Row) -> Artifact:
        return Artifact(
            id=r["id"],
            created_at=r["created_at"],
            chain=r["chain"],
            source_path=r["source_path"],
            source_size=r["source_size"],
            source_digest=r["source_digest"],
            encrypted_path=r["encrypted_path"],
            size=r["size"],
            commitment=r["commitment"],
            key_commitment=r["key_commitment"],
            decryption_key=Secret(r["decryption_key"], label="decryption key"),
            embedding=_loads(r["embedding_json"]),
            embedding_commitment=r["embedding_commitment"],
            architecture=r["architecture"],
            weights_url=r["weights_url"],
            verified_at=r["verified_at"],
        )

    def artifact(self, artifact_id: int) -> Artifact | None:
        rows = self._query("SELECT * FROM artifacts WHERE id = ?", (artifact_id,))
        return self._artifact(rows[0]) if rows else None

    def artifacts(self, *, chain: str | None = None) -> list[Artifact]:
        if chain is None:
            rows = self._query("SELECT * FROM artifacts ORDER BY id DESC")
        else:
            rows = self._query("SELECT * FROM artifacts WHERE chain = ? ORDER BY id DESC", (chain,))
        return [self._artifact(r) for r in rows]

    def artifacts_for_source(self, source_digest: str, *, chain: str) -> list[Artifact]:
        rows = self._query(
            "SELECT * FROM artifacts WHERE source_digest = ? AND chain = ? ORDER BY id DESC",
            (source_digest, chain),
        )
        return [self._artifact(r) for r in rows]

    # -- intents ----------------------------------------------------------------------------------
    def begin_intent(
        self,
        *,
        chain: str,
        signer: str,
        kind: str,
        model_id: str | None = None,
        artifact_id: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> Intent:
        """Durably record what is about to be sent. Call before the transaction leaves."""
        now = time.time()
        with self._tx() as c:
            cur = c.execute(
                """INSERT INTO intents(created_at, updated_at, chain, signer, kind, model_id, artifact_id,
                     params_json, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'intent')""",
                (
                    now,
                    now,
                    chain,
                    signer,
                    kind,
                    model_id,
                    artifact_id,
                    json.dumps(params or {}, sort_keys=True),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return self.intent(new_id)

    def _update_intent(self, intent_id: int, allowed_from: Sequence[str], **fields: Any) -> Intent:
        now = time.time()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            row = c.execute("SELECT state FROM intents WHERE id = ?", (intent_id,)).fetchone()
            if row is None:
                raise JournalError(f"there is no intent #{intent_id} in the journal.")
            if row[0] not in allowed_from:
                new_state = fields.get("state", row[0])
                raise JournalError(f"intent #{intent_id} is {row[0]}; it cannot become {new_state}.")
            c.execute(
                f"UPDATE intents SET {sets}, updated_at = ? WHERE id = ?",
                (*fields.values(), now, intent_id),
            )
        return self.intent(intent_id)

    def mark_attempt(self, intent_id: int) -> Intent:
        with self._tx() as c:
            c.execute(
                "UPDATE intents SET attempts = attempts + 1, updated_at = ? WHERE id = ?",
                (time.time(), intent_id),
            )
        return self.intent(intent_id)

    def set_intent_model(self, intent_id: int, model_id: str) -> Intent:
        with self._tx() as c:
            c.execute(
                "UPDATE intents SET model_id = ?, updated_at = ? WHERE id = ?",
                (model_id, time.time(), intent_id),
            )
        return self.intent(intent_id)

    def mark_submitted(self, intent_id: int, digest: str) -> Intent:
        return self._update_intent(intent_id, ("intent", "submitted"), state="submitted", digest=digest)

    def mark_confirmed(
        self,
        intent_id: int,
        *,
        digest: str | None = None,
        commit_epoch: int | None = None,
        model_id: str | None = None,
    ) -> Intent:
        fields: dict[str, Any] = {"state": "confirmed", "error": None}
        if digest is not None:
            fields["digest"] = digest
        if commit_epoch is not None:
            fields["commit_epoch"] = commit_epoch
        if model_id is not None:
            fields["model_id"] = model_id
        return self._update_intent(intent_id, ("intent", "submitted", "confirmed"), **fields)

    def mark_revealed(self, intent_id: int, *, digest: str | None, epoch: int) -> Intent:
        return self._update_intent(
            intent_id,
            ("confirmed", "missed"),
            state="revealed",
            reveal_digest=digest,
            revealed_epoch=epoch,
            error=None,
        )

    def mark_failed(self, intent_id: int, reason: str) -> Intent:
        return self._update_intent(intent_id, ("intent", "submitted"), state="failed", error=reason[:2000])

    def mark_missed(self, intent_id: int, reason: str) -> Intent:
        return self._update_intent(intent_id, ("confirmed",), state="missed", error=reason[:2000])

    def note_error(self, intent_id: int, reason: str) -> Intent:
        """Remember the last problem (e.g. a failed reveal attempt) without changing the state."""
        with self._tx() as c:
            c.execute(
                "UPDATE intents SET error = ?, updated_at = ? WHERE id = ?",
                (reason[:2000], time.time(), intent_id),
            )
        return self.intent(intent_id)

    @staticmethod
    def _intent(r: sqlite3.Row) -> Intent:
        return Intent(
            id=r["id"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            chain=r["chain"],
            signer=r["signer"],
            kind=r["kind"],
            model_id=r["model_id"],
            artifact_id=r["artifact_id"],
            params=_loads(r["params_json"]) or {},
            state=r["state"],
            digest=r["digest"],
            commit_epoch=r["commit_epoch"],
            reveal_digest=r["reveal_digest"],
            revealed_epoch=r["revealed_epoch"],
            error=r["error"],
            attempts=r["attempts"],
        )

    def intent(self, intent_id: int) -> Intent:
        rows = self._query("SELECT * FROM intents WHERE id = ?", (intent_id,))
        if not rows:
            raise JournalError(f"there is no intent #{intent_id} in the journal.")
        return self._intent(rows[0])

    def intents(
        self,
        *,
        chain: str | None = None,
        kinds: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        model_id: str | None = None,
        limit: int | None = None,
    ) -> list[Intent]:
        where, args = [], []
        if chain is not None:
            where.append("chain = ?")
            args.append(chain)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        if model_id is not None:
            where.append("model_id = ?")
            args.append(model_id)
        sql = (
            "SELECT * FROM intents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._intent(r) for r in self._query(sql, args)]

    # -- audit log ----------------------------------------------------------------------------------
    def audit(
        self,
        *,
        chain: str,
        signer: str,
        kind: str,
        status: str,
        model_id: str | None = None,
        intent_id: int | None = None,
        summary: dict[str, Any] | None = None,
        digest: str | None = None,
        error: str | None = None,
    ) -> AuditEntry:
        """Append one line to the audit log (every transaction sent, whatever came of it)."""
        with self._tx() as c:
            cur = c.execute(
                """INSERT INTO audit(at, chain, signer, kind, model_id, intent_id, summary_json,
                                     digest, status, error)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    time.time(),
                    chain,
                    signer,
                    kind,
                    model_id,
                    intent_id,
                    json.dumps(summary or {}, sort_keys=True),
                    digest,
                    status,
                    None if error is None else error[:2000],
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return self.audit_log(since_id=new_id - 1, limit=1)[0]

    def audit_log(self, *, chain: str | None = None, since_id: int = 0, limit: int = 200) -> list[AuditEntry]:
        sql = "SELECT * FROM audit WHERE id > ?"
        args: list[Any] = [since_id]
        if chain is not None:
            sql += " AND chain = ?"
            args.append(chain)
        sql += " ORDER BY id ASC LIMIT ?" if since_id else " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        rows = self._query(sql, args)
        entries = [
            AuditEntry(
                id=r["id"],
                at=r["at"],
                chain=r["chain"],
                signer=r["signer"],
                kind=r["kind"],
                model_id=r["model_id"],
                intent_id=r["intent_id"],
                summary=_loads(r["summary_json"]) or {},
                digest=r["digest"],
                status=r["status"],
                error=r["error"],
            )
            for r in rows
        ]
        return entries if since_id else list(reversed(entries))


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
