"""The journal keeps keys and intents safe: durable, private, versioned, never overwritten."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from soma_console.core.journal import SCHEMA_VERSION, Journal, JournalError
from soma_console.secrets import Secret


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _artifact(j: Journal, key: str = "3yZe7d7nYkTK6cQ3k7Hq8s2WJ9bXhPq1c4DfGhJkLmNo") -> int:
    return j.add_artifact(
        chain="devnet",
        source_path="/runs/a/checkpoint.safetensors",
        source_size=123,
        source_digest="abc",
        encrypted_path="/artifacts/1.enc",
        size=123,
        commitment="C0mm1t",
        key_commitment="K3yC0mm1t",
        decryption_key=Secret(key, label="decryption key"),
        embedding=[0.5, -1.25],
        embedding_commitment="EmbC0mm1t",
        architecture="small",
    ).id


def test_new_journal_is_private_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "state" / "journal.sqlite"
    with Journal.open(path) as j:
        _artifact(j)
        assert j.schema_version == SCHEMA_VERSION
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_artifact_round_trip_keeps_key_secret(tmp_path: Path, remember_secret) -> None:
    key = "9xQe7d7nYkTK6cQ3k7Hq8s2WJ9bXhPq1c4DfGhJkLmZZ"
    remember_secret(key)
    with Journal.open(tmp_path / "j.sqlite") as j:
        art = j.artifact(_artifact(j, key))
        assert art is not None
        assert art.decryption_key.reveal() == key
        assert art.embedding == [0.5, -1.25]
        assert key not in repr(art)
        assert key not in str(art)
        assert key not in f"{art.decryption_key}"


def test_commit_intent_walks_its_states(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as j:
        art = _artifact(j)
        it = j.begin_intent(chain="devnet", signer="ab" * 32, kind="commit", artifact_id=art, params={"x": 1})
        assert it.state == "intent"
        it = j.mark_submitted(it.id, "Dig3st")
        assert (it.state, it.digest) == ("submitted", "Dig3st")
        it = j.mark_confirmed(it.id, commit_epoch=4, model_id="0x" + "11" * 32)
        assert (it.state, it.commit_epoch, it.reveal_epoch) == ("confirmed", 4, 5)
        it = j.mark_revealed(it.id, digest="R3v", epoch=5)
        assert (it.state, it.revealed_epoch, it.reveal_digest) == ("revealed", 5, "R3v")
        with pytest.raises(JournalError, match="cannot become failed"):
            j.mark_failed(it.id, "late")
        assert [i.id for i in j.intents(chain="devnet", states=["revealed"])] == [it.id]
        assert j.intents(chain="testnet") == []


def test_missed_commit_can_still_be_marked_revealed_only_from_confirmed_or_missed(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as j:
        it = j.begin_intent(chain="devnet", signer="ab" * 32, kind="commit")
        with pytest.raises(JournalError):
            j.mark_missed(it.id, "window closed")
        j.mark_confirmed(it.id, commit_epoch=1)
        missed = j.mark_missed(it.id, "window closed")
        assert missed.state == "missed" and missed.error == "window closed"


def test_audit_log_is_append_only_and_ordered(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as j:
        for n in range(3):
            j.audit(chain="devnet", signer="ab" * 32, kind="commit", status="confirmed", digest=f"d{n}")
        log = j.audit_log()
        assert [e.digest for e in log] == ["d0", "d1", "d2"]
        assert [e.digest for e in j.audit_log(since_id=log[0].id)] == ["d1", "d2"]


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as j:
        art = _artifact(j)
        j.begin_intent(chain="devnet", signer="ab" * 32, kind="commit", artifact_id=art)
    with Journal.open(path, create=False) as j:
        assert len(j.artifacts()) == 1
        assert len(j.intents()) == 1


def test_garbage_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(os.urandom(8192))
    before = _digest(path)
    with pytest.raises(JournalError, match="not a soma-console journal"):
        Journal.open(path)
    assert _digest(path) == before


def test_journal_from_a_newer_version_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(JournalError, match="newer soma-console"):
        Journal.open(path)
    assert _digest(path) == before


def test_someone_elses_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(JournalError, match="did not write"):
        Journal.open(path)
    assert _digest(path) == before


def test_damaged_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as j:
        for n in range(200):
            j.audit(
                chain="devnet", signer="ab" * 32, kind="x", status="ok", summary={"n": n, "pad": "x" * 200}
            )
        conn = j._conn
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    # Scribble over the middle of the file (b-tree pages), keeping the header intact.
    mid = len(data) // 2
    data[mid : mid + 4096] = os.urandom(4096)
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(JournalError):
        Journal.open(path)
    assert _digest(path) == before


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from soma_console.core.journal import Journal
    j = Journal.open(Path(sys.argv[1]))
    n = 0
    while True:
        it = j.begin_intent(chain="devnet", signer="ab" * 32, kind="commit", params={"n": n})
        j.mark_submitted(it.id, f"d{n}")
        j.audit(chain="devnet", signer="ab" * 32, kind="commit", status="submitted",
                intent_id=it.id, digest=f"d{n}")
        print(n, flush=True)
        n += 1
    """
)


def test_sigkill_mid_write_leaves_a_consistent_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        seen = -1
        deadline = time.time() + 30
        while seen < 20 * (round_ + 1) and time.time() < deadline:
            line = proc.stdout.readline()
            if line:
                seen = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Journal.open(path) as j:
            intents = j.intents()
            # Everything the writer reported as done is there, in a legal state.
            assert len(intents) >= seen + 1
            assert {i.state for i in intents} <= {"intent", "submitted"}
            audit = j.audit_log(limit=100000)
            assert {a.intent_id for a in audit} <= {i.id for i in intents}


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from soma_console.core.journal import Journal
        j = Journal.open(Path(sys.argv[1]))
        for n in range(100):
            j.audit(chain="devnet", signer=sys.argv[2], kind="x", status="ok")
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), who]) for who in ("a" * 64, "b" * 64)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Journal.open(path) as j:
        signers = [e.signer for e in j.audit_log(limit=1000)]
    assert signers.count("a" * 64) == 100 and signers.count("b" * 64) == 100
