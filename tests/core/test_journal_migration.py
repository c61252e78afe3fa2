"""An older journal opens and is migrated in place: one transaction per step, nothing money
depends on (keys, intents, the audit log, chain identities) lost or changed. The schema-2 file
is built here with the SQL that soma-console wrote then, not with the module under test."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from soma_console.core import journal_schema
from soma_console.core.journal import SCHEMA_VERSION, Journal

KEY = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"
SIGNER = "ab" * 32
MODEL = "0x" + "22" * 32

# The journal's tables as schema 2 left them (runs and checkpoints included).
SCHEMA_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    name TEXT PRIMARY KEY, backend TEXT NOT NULL, location TEXT NOT NULL,
    spec_json TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'created', remote_id TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE checkpoints (
    path TEXT PRIMARY KEY, run TEXT, step INTEGER NOT NULL, loss REAL, eval_loss REAL, size INTEGER,
    manifest_json TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL
);
CREATE INDEX checkpoints_run ON checkpoints(run, step);
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, chain TEXT NOT NULL,
    source_path TEXT NOT NULL, source_size INTEGER NOT NULL, source_digest TEXT NOT NULL,
    encrypted_path TEXT, size INTEGER NOT NULL, commitment TEXT NOT NULL, key_commitment TEXT NOT NULL,
    decryption_key TEXT NOT NULL, embedding_json TEXT, embedding_commitment TEXT, architecture TEXT,
    weights_url TEXT, verified_at REAL
);
CREATE INDEX artifacts_commitment ON artifacts(commitment);
CREATE INDEX artifacts_source ON artifacts(source_digest);
CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    chain TEXT NOT NULL, signer TEXT NOT NULL, kind TEXT NOT NULL, model_id TEXT,
    artifact_id INTEGER REFERENCES artifacts(id), params_json TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL, digest TEXT, commit_epoch INTEGER, reveal_digest TEXT, revealed_epoch INTEGER,
    error TEXT, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX intents_state ON intents(chain, state);
CREATE INDEX intents_model ON intents(chain, model_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, chain TEXT NOT NULL, signer TEXT NOT NULL,
    kind TEXT NOT NULL, model_id TEXT, intent_id INTEGER, summary_json TEXT NOT NULL DEFAULT '{}',
    digest TEXT, status TEXT NOT NULL, error TEXT
);
CREATE TABLE chain_identities (chain TEXT PRIMARY KEY, identifier TEXT NOT NULL, adopted_at REAL NOT NULL);
"""


def _schema_2_journal(path: Path) -> None:
    """A journal as soma-console wrote it at schema 2: a pending commit, its key, a run row."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_2)
    conn.executescript(
        f"""
        PRAGMA application_id={journal_schema.APPLICATION_ID};
        PRAGMA user_version=2;
        PRAGMA journal_mode=WAL;
        INSERT INTO meta VALUES ('schema_version', '2');
        INSERT INTO runs VALUES ('r1', 'local', '/runs/r1', '{{"steps": 5}}', 'finished', NULL, 1.0, 2.0);
        INSERT INTO checkpoints VALUES ('/runs/r1/c.safetensors', 'r1', 5, 1.5, 1.6, 10, '{{}}', 3.0);
        INSERT INTO artifacts(created_at, chain, source_path, source_size, source_digest, encrypted_path,
            size, commitment, key_commitment, decryption_key, embedding_json, architecture)
            VALUES (4.0, 'devnet', '/runs/r1/c.safetensors', 10, 'sd', '/a/1.enc', 26, 'C', 'K', '{KEY}',
                    '[0.5, -1.25]', 'v1');
        INSERT INTO intents(created_at, updated_at, chain, signer, kind, model_id, artifact_id, params_json,
            state, digest, commit_epoch)
            VALUES (5.0, 6.0, 'devnet', '{SIGNER}', 'commit', '{MODEL}', 1, '{{"stake": 1}}', 'confirmed',
                    'D1', 7);
        INSERT INTO audit(at, chain, signer, kind, model_id, intent_id, summary_json, digest, status)
            VALUES (6.0, 'devnet', '{SIGNER}', 'commit', '{MODEL}', 1, '{{}}', 'D1', 'success');
        INSERT INTO chain_identities VALUES ('devnet', 'genesis-A', 1.0);
        """
    )
    conn.commit()
    conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_schema_2_journal_is_migrated_and_keeps_keys_intents_and_audit(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _schema_2_journal(path)
    with Journal.open(path, create=False) as j:
        assert j.schema_version == SCHEMA_VERSION == 3
        (art,) = j.artifacts()
        assert art.decryption_key.reveal() == KEY
        assert (art.embedding, art.architecture, art.commitment) == ([0.5, -1.25], "v1", "C")
        (intent,) = j.intents(chain="devnet")
        assert (intent.state, intent.digest, intent.commit_epoch, intent.model_id) == (
            "confirmed",
            "D1",
            7,
            MODEL,
        )
        assert intent.params == {"stake": 1} and intent.artifact_id == art.id
        assert [(e.digest, e.status) for e in j.audit_log()] == [("D1", "success")]
        assert j.chain_identity("devnet") == "genesis-A"
    tables = _tables(path)
    assert "runs" not in tables and "checkpoints" not in tables and "checkpoints_run" not in tables
    assert {"artifacts", "intents", "audit", "chain_identities", "meta"} <= tables
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Opening it again migrates nothing and changes nothing.
    with Journal.open(path, create=False) as j:
        assert j.schema_version == 3 and len(j.intents()) == 1


def test_a_migration_that_fails_leaves_the_old_journal_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite"
    _schema_2_journal(path)
    # The first statement succeeds, the second fails: the step must roll back as a whole.
    monkeypatch.setitem(journal_schema.MIGRATIONS, 3, "DROP TABLE checkpoints; DROP TABLE not_there;")
    with pytest.raises(sqlite3.OperationalError, match="not_there"):
        Journal.open(path, create=False)
    assert _version(path) == 2
    assert {"runs", "checkpoints"} <= _tables(path)
    monkeypatch.undo()
    with Journal.open(path, create=False) as j:
        assert j.schema_version == 3
        assert j.artifacts()[0].decryption_key.reveal() == KEY


def test_processes_opening_an_old_journal_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _schema_2_journal(path)
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from soma_console.core.journal import Journal
        with Journal.open(Path(sys.argv[1]), create=False) as j:
            print(j.schema_version, len(j.intents()))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outputs == [["3", "1"]] * 3
    assert "runs" not in _tables(path)
