"""Crash the real CLI with SIGKILL at every step of commit and reveal, restart, and check that no
key was lost, nothing was sent twice, and every commit can still be revealed in its window."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from bench.checkpoint_builder import build_checkpoint
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


def test_a_commit_killed_in_the_middle_of_its_streamed_upload_is_cleaned_up_and_done_once(
    owner: Owner, remember_secret: Any
) -> None:
    ckpt = owner.checkpoint(2)
    _crash(owner, "during_upload", "commit", ckpt, "--yes")
    [art] = owner.journal_rows("artifacts")
    assert art["decryption_key"] and art["key_commitment"], "the key is journaled before a byte is sent"
    assert art["commitment"] == "", "the interrupted artifact is marked unfinished"
    assert owner.journal_rows("intents") == []
    assert owner.json("models", "--mine")["models"] == []

    done = owner.json("commit", ckpt, "--yes")
    [art] = owner.journal_rows("artifacts")  # the interrupted attempt's row was replaced, not kept
    assert art["commitment"] and art["verified_at"] and done["weights_url"] == art["weights_url"]
    [model] = owner.json("models", "--mine")["models"]
    assert model["status"] == "pending"
    owner.chain.advance()
    owner.json("reveal", "--yes")
    [model] = owner.json("models", "--mine")["models"]
    assert model["status"] == "active" and model["embedding_matches"] is True
    audit_secrets(owner, remember_secret)


def test_a_multipart_upload_killed_half_way_is_aborted_by_the_next_attempt(
    owner: Owner, moto_endpoint: str, new_bucket: Any, s3_admin: Any, tmp_path: Path
) -> None:
    # 26 MB: more than one 8 MiB part, so the upload is a real multipart one.
    weights = build_checkpoint(
        tmp_path / "big", {"embedding_dim": 512, "num_layers": 2, "ffn": 2048, "vocab": 264}
    )
    bucket = new_bucket()
    spec = f"s3://{bucket}/w?endpoint={moto_endpoint}"
    _crash(owner, "during_upload", "commit", str(weights), "--storage", spec, "--yes")
    [orphan] = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert s3_admin.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0

    done = owner.json("commit", str(weights), "--storage", spec, "--yes")
    assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    [obj] = s3_admin.list_objects_v2(Bucket=bucket)["Contents"]
    assert obj["Size"] == weights.stat().st_size and done["weights_url"].endswith(obj["Key"])
    assert orphan["Key"] != obj["Key"]  # each attempt's key names its object; the orphan is gone
    assert len(owner.json("models", "--mine")["models"]) == 1
