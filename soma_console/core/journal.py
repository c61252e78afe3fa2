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

The file format and its migrations are ``journal_schema``; the records read back, ``journal_records``.

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
from pathlib import Path
from typing import Any

from soma_console.core.journal_records import (
    INTENT_STATES,
    OPEN_STATES,
    Artifact,
    AuditEntry,
    Intent,
    artifact_from_row,
    audit_from_row,
    intent_from_row,
)
from soma_console.core.journal_schema import SCHEMA_VERSION, JournalError, check_journal_file, migrate
from soma_console.fsutil import PRIVATE_FILE_MODE, ensure_dir
from soma_console.secrets import Secret

__all__ = [
    "INTENT_STATES",
    "OPEN_STATES",
    "SCHEMA_VERSION",
    "Artifact",
    "AuditEntry",
    "Intent",
    "Journal",
    "JournalError",
]


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
        version = check_journal_file(c, self.path)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")
        c.execute("PRAGMA busy_timeout=30000")
        migrate(c, version, self._tx)

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
        return [artifact_from_row(r) for r in rows]

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

    def artifact(self, artifact_id: int) -> Artifact | None:
        rows = self._query("SELECT * FROM artifacts WHERE id = ?", (artifact_id,))
        return artifact_from_row(rows[0]) if rows else None

    def artifacts(self, *, chain: str | None = None) -> list[Artifact]:
        if chain is None:
            rows = self._query("SELECT * FROM artifacts ORDER BY id DESC")
        else:
            rows = self._query("SELECT * FROM artifacts WHERE chain = ? ORDER BY id DESC", (chain,))
        return [artifact_from_row(r) for r in rows]

    def artifacts_for_source(self, source_digest: str, *, chain: str) -> list[Artifact]:
        rows = self._query(
            "SELECT * FROM artifacts WHERE source_digest = ? AND chain = ? ORDER BY id DESC",
            (source_digest, chain),
        )
        return [artifact_from_row(r) for r in rows]

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

    def intent(self, intent_id: int) -> Intent:
        rows = self._query("SELECT * FROM intents WHERE id = ?", (intent_id,))
        if not rows:
            raise JournalError(f"there is no intent #{intent_id} in the journal.")
        return intent_from_row(rows[0])

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
        return [intent_from_row(r) for r in self._query(sql, args)]

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
        entries = [audit_from_row(r) for r in rows]
        return entries if since_id else list(reversed(entries))
