"""Crash the real CLI with SIGKILL at every step of commit and reveal, restart, and check that no
key was lost, nothing was sent twice, and every commit can still be revealed in its window."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.conftest import assert_one_line_error
from tests.lifecycle.conftest import Owner, audit_secrets

pytestmark = pytest.mark.slow
KILLED = -signal.SIGKILL


def _crash(owner: Owner, point: str, *args: str) -> None:
    r = owner.cli(*args, env={"SOMA_CONSOLE_CRASH_AT": point})
    assert r.returncode == KILLED, r.output


def _keys_intact(owner: Owner) -> None:
    arts = owner.journal_rows("artifacts")
    assert arts, "the artifact (and its key) must be journaled"
    assert all(a["decryption_key"] and a["key_commitment"] for a in arts)


@pytest.mark.parametrize("point", ["after_intent", "after_upload", "after_send", "after_confirm"])
def test_a_commit_killed_at_any_step_is_finished_or_refused_never_doubled(
    owner: Owner, point: str, remember_secret: Any
) -> None:
    ckpt = owner.checkpoint(2)
    _crash(owner, point, "commit", ckpt, "--yes")
    _keys_intact(owner)

    again = owner.cli("commit", ckpt, "--yes", "--json")
    if point in ("after_send", "after_confirm"):
        # the commit landed before the crash: the restart finds it on-chain and refuses a second one
        assert_one_line_error(again, "already committed")
    else:
        assert again.returncode == 0, again.output
    assert len(owner.journal_rows("artifacts")) == 1  # the interrupted attempt's artifact was reused

    mine = owner.json("models", "--mine")["models"]
    assert len(mine) == 1, mine  # never a second model
    assert mine[0]["status"] == "pending"
    queue = owner.json("queue")["entries"]
    assert [e["state"] for e in queue] == ["waiting"]

    owner.chain.advance()
    owner.json("reveal", "--yes")
    [row] = owner.json("models", "--mine")["models"]
    assert row["status"] == "active" and row["embedding_matches"] is True
    audit_secrets(owner, remember_secret)


def test_a_reveal_killed_after_sending_is_recognised_from_the_chain(
    owner: Owner, remember_secret: Any
) -> None:
    model_id = owner.json("commit", owner.checkpoint(2), "--yes")["model_id"]
    owner.chain.advance()
    _crash(owner, "during_reveal", "reveal", "--yes")

    entries = owner.json("queue", "--all")["entries"]
    assert [(e["model_id"], e["state"]) for e in entries] == [(model_id, "revealed")]
    assert_one_line_error(owner.cli("reveal", "--yes"), "no pending commit")
    [row] = owner.json("models", "--mine")["models"]
    assert row["status"] == "active"
    audit_secrets(owner, remember_secret)


def test_a_crash_between_create_and_commit_reuses_the_created_model(owner: Owner) -> None:
    """The create landed, the commit never left: the next commit goes to that model, not a new one
    (a Created model left uncommitted is slashed)."""
    _crash(owner, "before_commit", "commit", owner.checkpoint(2), "--yes")
    [created] = owner.json("models", "--mine")["models"]
    assert created["status"] == "created"
    r = owner.cli("commit", owner.checkpoint(2), "--yes", "--json")
    assert r.returncode == 0, r.output
    assert "interrupted commit" in r.stderr
    [row] = owner.json("models", "--mine")["models"]
    assert row["model_id"] == created["model_id"] and row["status"] == "pending"
