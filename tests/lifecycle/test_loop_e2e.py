"""The whole on-chain loop, end to end: real trainer checkpoints, the real CLI in subprocesses, the real
SDK talking gRPC to the devnet, the devnet's blob server for the weights."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_one_line_error
from tests.lifecycle.conftest import Owner, audit_secrets

pytestmark = pytest.mark.slow


def _mine(owner: Owner) -> list[dict]:
    return owner.json("models", "--mine")["models"]


def test_train_commit_reveal_update_and_model_actions(owner: Owner, remember_secret: Any) -> None:
    first = owner.json("commit", owner.checkpoint(2), "--yes")
    model_id = first["model_id"]
    assert first["commit_epoch"] >= 0
    assert first["weights_url"].startswith(owner.chain.blob_url)
    assert first["size"] > 0 and len(first["digest"]) > 30 and first["commitment"]

    queue = owner.json("queue")["entries"]
    assert [(e["model_id"], e["state"], e["kind"]) for e in queue] == [(model_id, "waiting", "initial")]
    assert queue[0]["reveal_epoch"] == first["commit_epoch"] + 1

    early = owner.cli("reveal", "--yes")
    assert_one_line_error(early, "opens", f"epoch {first['commit_epoch'] + 1}")

    # the same checkpoint is never committed twice
    again = owner.cli("commit", owner.checkpoint(2), "--yes")
    assert_one_line_error(again, "already committed")

    owner.chain.advance()
    revealed = owner.json("reveal", "--yes")
    assert revealed["revealed"][0]["model_id"] == model_id
    [row] = _mine(owner)
    assert row["status"] == "active" and row["embedding_matches"] is True

    # an update: pending on the active model, revealed the epoch after
    update = owner.json("commit", owner.checkpoint(4), "--model", model_id, "--yes")
    assert update["update"] is True and update["model_id"] == model_id
    [row] = _mine(owner)
    assert row["status"] == "active" and row["has_pending_update"] is True
    owner.chain.advance()
    owner.json("reveal", "--model", model_id, "--yes")
    [row] = _mine(owner)
    assert row["has_pending_update"] is False and row["embedding_matches"] is True

    # commission: shows the current and next rate, effective next epoch
    r = owner.cli("model", "commission", model_id, "250", "--yes")
    assert r.returncode == 0, r.output
    assert "Next epoch's rate" in r.stdout and "250 bps" in r.stdout
    [row] = _mine(owner)
    assert row["next_commission_rate"] == 250

    before = row["stake"]
    owner.json("model", "stake", model_id, "2.5", "--yes")
    owner.chain.advance()  # stake counts from the next epoch
    [row] = _mine(owner)
    assert row["stake"] == before + 2_500_000_000

    no = owner.cli("model", "deactivate", model_id)  # no terminal, no --yes: refused, nothing sent
    assert_one_line_error(no, "--yes")
    r = owner.cli("model", "deactivate", model_id, "--yes")
    assert r.returncode == 0, r.output
    assert "cannot be undone" in r.stdout
    [row] = _mine(owner)
    assert row["status"] == "inactive"

    kinds = [(a["kind"], a["status"]) for a in owner.journal_rows("audit")]
    assert kinds == [
        ("create_model", "success"),
        ("commit", "success"),
        ("reveal", "success"),
        ("commit", "success"),
        ("reveal", "success"),
        ("commission", "success"),
        ("stake", "success"),
        ("deactivate", "success"),
    ]
    assert all(a["digest"] for a in owner.journal_rows("audit"))
    audit_secrets(owner, remember_secret)
