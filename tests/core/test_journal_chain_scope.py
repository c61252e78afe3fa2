"""The journal is scoped to the network it was written against: a chain started over under the
same name (``demo --fresh``) does not inherit the earlier network's commits, which stay readable
under an archive name. Unit tests on a real journal file, and the real thing on two devnets."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from soma_console.core.chain import ChainSession
from soma_console.core.chain_identity import adopt_chain_identity
from soma_console.core.journal import SCHEMA_VERSION, Journal

SIGNER = "0x" + "11" * 32


def _commit(journal: Journal, chain: str) -> int:
    intent = journal.begin_intent(chain=chain, signer=SIGNER, kind="commit", model_id="0x" + "22" * 32)
    journal.audit(chain=chain, signer=SIGNER, kind="commit", status="success", intent_id=intent.id)
    return intent.id


def test_a_new_network_under_the_same_name_starts_with_an_empty_journal(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "journal.sqlite") as journal:
        assert journal.adopt_chain("devnet", "genesis-A") is None
        first = _commit(journal, "devnet")
        assert journal.adopt_chain("devnet", "genesis-A") is None  # the same network: nothing moves
        assert [i.id for i in journal.intents(chain="devnet")] == [first]

        archive = journal.adopt_chain("devnet", "genesis-B")
        assert archive == "devnet~genesis-A"
        assert journal.intents(chain="devnet") == []
        assert journal.audit_log(chain="devnet") == []
        # The earlier network's entries are kept, readable under the archive name.
        assert [i.id for i in journal.intents(chain=archive)] == [first]
        assert len(journal.audit_log(chain=archive)) == 1
        assert set(journal.chains()) == {archive}
        assert journal.chain_identity("devnet") == "genesis-B"
        # Other chain names are untouched.
        other = _commit(journal, "testnet")
        journal.adopt_chain("devnet", "genesis-C")
        assert [i.id for i in journal.intents(chain="testnet")] == [other]


def test_a_version_1_journal_is_migrated_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal.open(path) as journal:
        first = _commit(journal, "devnet")
    # Make it a version-1 journal again, as an earlier soma-console left it.
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE chain_identities")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with Journal.open(path) as journal:
        assert journal.schema_version == SCHEMA_VERSION == 3
        assert journal.adopt_chain("devnet", "genesis-A") is None
        assert [i.id for i in journal.intents(chain="devnet")] == [first]


def test_an_empty_identifier_is_refused(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "journal.sqlite") as journal, pytest.raises(ValueError):
        journal.adopt_chain("devnet", "  ")


async def test_two_devnets_are_two_networks(tmp_path: Path, shared_devnet: Any, devnet: Any) -> None:
    with Journal.open(tmp_path / "journal.sqlite") as journal:
        old = ChainSession(shared_devnet.profile, timeout=10)
        try:
            assert await adopt_chain_identity(old, journal) is None
        finally:
            await old.close()
        first = _commit(journal, "devnet")
        new = ChainSession(devnet.profile, timeout=10)  # also named "devnet": another genesis
        try:
            archive = await adopt_chain_identity(new, journal)
        finally:
            await new.close()
        assert archive is not None and archive.startswith("devnet~")
        assert journal.intents(chain="devnet") == []
        assert [i.id for i in journal.intents(chain=archive)] == [first]
