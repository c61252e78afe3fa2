"""``cron deploy --commit-if-better N`` on the chain: the Modal cron's chain step
(``run_cron_round``, as the container calls it) scores an update against the model's current
revealed weights on the last filled targets and commits nothing when it is not better.

A tiny devnet with three revealed models and targets filled by the built-in submitter (the
``world`` of the score tests); the cron's own model commits a checkpoint, is revealed in the next
round, and the same weights offered again as its update are held back: they are not better than
themselves."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.config import Home
from soma_console.core.onchain.cron_steps import run_cron_round
from tests.scoring.reference import tiny_weights
from tests.scoring.test_score_cmd import world, write_checkpoint  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _cron_home(root: Path, urls: dict[str, str]) -> Home:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(
        '[chain]\ndefault = "devnet"\n\n[chain.profiles.devnet]\n'
        f'rpc_url = "{urls["rpc_url"]}"\nfaucet_url = "{urls["faucet_url"]}"\n'
        f'admin_url = "{urls["admin_url"]}"\nblob_url = "{urls["blob_url"]}"\nis_devnet = true\n',
        encoding="utf-8",
    )
    return Home(config_dir=root, data_dir=root)


def test_the_cron_holds_back_an_update_that_is_not_better(
    world: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    urls, tmp = world["urls"], world["tmp"]
    kp = Keypair.generate()
    secret = kp.to_secret_key()
    remember_secret(secret)
    monkeypatch.setenv("SOMA_SECRET_KEY", secret)
    monkeypatch.delenv("SOMA_STORAGE", raising=False)

    async def chain(call: str) -> Any:
        client = await SomaClient(
            rpc_url=urls["rpc_url"], faucet_url=urls["faucet_url"], admin_url=urls["admin_url"]
        )
        return await (client.request_faucet(kp.address()) if call == "fund" else client.advance_epoch())

    asyncio.run(chain("fund"))
    home = _cron_home(tmp / "cron-home", urls)
    weights = write_checkpoint(tmp / "cron-run", tiny_weights(404), "checkpoint-00000001")
    manifest = weights.with_suffix(".json")
    data = json.loads(manifest.read_text())
    data["embedding"] = [float(x) for x in np.random.default_rng(9).normal(size=64).astype(np.float32)]
    manifest.write_text(json.dumps(data))

    def round_() -> dict[str, Any]:
        return asyncio.run(
            run_cron_round(home, weights, manifest, chain="devnet", persist=lambda: None, gate_targets=3)
        )

    first = round_()  # a new model has nothing to lose: committed without scoring
    model_id = first["committed"]["model_id"]
    assert "score" not in first and first["skipped"] is None

    asyncio.run(chain("advance"))
    second = round_()  # revealed, then the same weights as an update: not better than themselves
    assert [r["model_id"] for r in second["revealed"]] == [model_id]
    assert second["committed"] is None
    assert second["score"]["commit"] is False
    assert "not better than the current weights" in second["skipped"], second["skipped"]
    assert model_id in second["skipped"]
    assert second["pending"] == []
