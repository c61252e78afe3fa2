"""The Modal cron's chain step, for real: ``run_cron_round`` as the container calls it, against the
devnet, with the signer from SOMA_SECRET_KEY and a Volume-style home."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from soma_console.config import Home
from soma_console.core.lifecycle import run_cron_round
from soma_console.training.cron_rounds import load_chain_steps
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
