"""The Modal cron's chain step, for real: ``run_cron_round`` as the container calls it, against the
devnet, with the signer from SOMA_SECRET_KEY and a Volume-style home."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from soma_console.config import Home
from soma_console.core.onchain.cron_rounds import load_chain_steps
from soma_console.core.onchain.cron_steps import run_cron_round
from tests.devnet_fixture import Devnet
from tests.lifecycle.conftest import write_chain_config

pytestmark = pytest.mark.slow


def test_the_cron_hook_is_found_and_rounds_commit_then_reveal_and_update(
    tmp_path: Path,
    shared_devnet: Devnet,
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    assert load_chain_steps().commit_round is run_cron_round
    from soma_sdk import Keypair

    kp = Keypair.generate()
    secret = kp.to_secret_key()
    remember_secret(secret)
    monkeypatch.setenv("SOMA_SECRET_KEY", secret)
    shared_devnet.fund(kp.address(), 20)
    home_dir = tmp_path / "volume" / "cron" / "app" / "home"
    write_chain_config(home_dir, shared_devnet)
    home = Home(config_dir=home_dir, data_dir=home_dir)
    persisted: list[int] = []

    def persist() -> None:
        persisted.append(1)

    ckpt = tiny_run / "checkpoints"
    first = asyncio.run(
        run_cron_round(
            home,
            ckpt / "checkpoint-00000002.safetensors",
            ckpt / "checkpoint-00000002.json",
            chain="devnet",
            persist=persist,
        )
    )
    model_id = first["committed"]["model_id"]
    assert first["revealed"] == [] and [p["state"] for p in first["pending"]] == ["waiting"]
    assert len(persisted) >= 4  # artifact, intent, each digest, the end of the round

    shared_devnet.advance()
    second = asyncio.run(
        run_cron_round(
            home,
            ckpt / "checkpoint-00000004.safetensors",
            ckpt / "checkpoint-00000004.json",
            chain="devnet",
            persist=persist,
        )
    )
    assert [r["model_id"] for r in second["revealed"]] == [model_id]
    assert second["committed"]["model_id"] == model_id and second["committed"]["update"] is True


def test_a_cron_round_whose_training_fails_still_reveals_what_is_due(
    tmp_path: Path,
    shared_devnet: Devnet,
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    """The container's rounds for real: the journal lease, the journal copied off and back onto the
    "Volume", the real chain steps against the devnet. Round 1 commits; after the epoch boundary round
    2's training dies at once, and the commit is revealed anyway (before training), with the failure
    journaled as an alarm."""
    import io
    import json
    import sys

    from soma_sdk import Keypair

    from soma_console.core.onchain.cron_rounds import cron_entry
    from soma_console.training import cron_journal
    from soma_console.training.cron_lease import MemoryLeaseStore
    from soma_console.training.cron_plan import CronPlan
    from soma_console.training.modal.container import WorkerFailed

    kp = Keypair.generate()
    secret = kp.to_secret_key()
    remember_secret(secret)
    monkeypatch.setenv("SOMA_SECRET_KEY", secret)
    shared_devnet.fund(kp.address(), 20)
    volume = tmp_path / "volume"
    write_chain_config(volume / "cron" / "app" / "home", shared_devnet)
    here = Path(__file__).resolve().parents[1] / "modal"
    store = MemoryLeaseStore()
    commits: list[int] = []

    def round_(spec: dict[str, Any], worker: str) -> dict[str, Any]:
        plan = CronPlan(app_name="app", spec_json=json.dumps(spec), steps=1, chain="devnet")
        return cron_entry(
            plan,
            volume_root=volume,
            commit=lambda: commits.append(1),
            reload=lambda: None,
            lease_store=store,
            out=io.StringIO(),
            err=io.StringIO(),
            worker_cmd=[sys.executable, str(here / worker)],
            poll_s=0.2,
        )

    replay = str(tiny_run / "checkpoints" / "checkpoint-00000002.safetensors")
    first = round_({"run": "loop", "replay_from": replay}, "replay_worker.py")
    model_id = first["chain"]["committed"]["model_id"]
    assert [p["state"] for p in first["chain"]["pending"]] == ["waiting"]
    # the journal on the "Volume" is a private, whole SQLite file (never left open there)
    journal = volume / "cron" / "app" / "home" / "journal.sqlite"
    assert journal.stat().st_mode & 0o777 == 0o600
    assert not list(journal.parent.glob("journal.sqlite-*"))

    shared_devnet.advance()
    with pytest.raises(WorkerFailed, match="CUDA out of memory"):
        round_({"run": "loop", "fail_at_step": 3, "steps": 9}, "standin_worker.py")
    entries = cron_journal.read_all(volume / "cron" / "app")
    rounds = cron_journal.summarize(entries).rounds
    assert rounds[-1]["state"] == "failed"
    assert [r["model_id"] for r in rounds[-1]["revealed"]] == [model_id]
    assert any("training round" in a for a in rounds[-1]["alarms"])
    assert store.get("journal-lease") is None  # released
