"""The journal's file format: how a file is recognised as a journal, and its schema migrations.

``PRAGMA application_id`` marks the file as ours and ``PRAGMA user_version`` is its schema. A file
that is not a journal, a damaged one, or one written by a newer soma-console is refused with one
sentence and never touched. Migrations run forward, one transaction per step, so a failure leaves
the journal at the step before; the version is read again under the write lock, so several
processes opening an old journal at once migrate it once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from soma_console.errors import UserError

SCHEMA_VERSION = 3
APPLICATION_ID = 0x534F4D41  # "SOMA": marks the file as ours


class JournalError(UserError):
    pass


MIGRATIONS: dict[int, str] = {
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


def check_journal_file(c: sqlite3.Connection, path: Path) -> int:
    """The file's schema version, or a JournalError if it is not a journal this version can use."""
    try:
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        version = int(c.execute("PRAGMA user_version").fetchone()[0])
        tables = c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        raise JournalError(
            f"{path} is not a soma-console journal (or it is corrupt).",
            hint="Move it aside (it was not modified) and run again to start a new one.",
        ) from None
    if tables and app_id != APPLICATION_ID:
        raise JournalError(
            f"{path} is an SQLite file that soma-console did not write.",
            hint="Point --home elsewhere or move the file aside; it was not modified.",
        )
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"the journal {path} was written by a newer soma-console (schema {version}, "
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
                f"the journal {path} is corrupt ({check}).",
                hint="Keep it (it holds decryption keys): copy it aside or restore a backup.",
            )
    return version


def migrate(
    c: sqlite3.Connection,
    version: int,
    transaction: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]],
) -> None:
    """Bring a journal at ``version`` to SCHEMA_VERSION, each step in its own ``transaction()``."""
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with transaction():
            # Another process may have migrated since the version was read: the write lock
            # is held now, so read it again and skip what is done.
            if c.execute("PRAGMA user_version").fetchone()[0] >= target:
                continue
            for statement in split_sql(MIGRATIONS[target]):
                c.execute(statement)
            c.execute(f"PRAGMA application_id={APPLICATION_ID}")
            c.execute(f"PRAGMA user_version={target}")
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(target),))


def split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
