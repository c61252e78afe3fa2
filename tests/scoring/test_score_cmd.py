"""``soma-console score`` end to end on a tiny devnet: filled targets, real downloads, real SDK.

Three tiny models go through the real lifecycle; the built-in submitter fills targets through the
scoring service. The checkpoint scored is model 0's own plaintext weights, so its loss on each
target must equal what the scoring service (through ``SomaClient.score``) answers for model 0,
and the winner's loss must equal the service's loss for the winner and the loss the submitter
put on-chain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from soma_sdk import SomaClient

from soma_console.training.manifest import Manifest
from tests.scoring.conftest import fill_world, start_tiny_devnet
from tests.scoring.reference import tiny_weights

SEEDS = (101, 202, 303)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("score")
    node = start_tiny_devnet(tmp / "devnet")
    try:
        assert node.endpoints is not None
        urls = node.endpoints.as_dict()
        import asyncio

        ids = asyncio.run(_fill(urls))
        yield {"urls": urls, "ids": ids, "tmp": tmp}
    finally:
        node.stop()


async def _fill(urls: dict) -> list[str]:
    return await fill_world(urls, [tiny_weights(seed) for seed in SEEDS])


def write_checkpoint(dir_: Path, weights: bytes, name: str = "ckpt") -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    w = dir_ / f"{name}.safetensors"
    w.write_bytes(weights)
    m = Manifest(
        step=1,
        weights=w.name,
        loss=None,
        eval_loss=None,
        embedding=[0.0] * 64,
        embedding_dim=64,
        config={},
        architecture="small",
        spec={"preset": "tiny"},
        data_position={},
        framework="torch",
        created=0.0,
        size=len(weights),
        sha256="",
        blake2b="",
        protocol_version=1,
    )
    (dir_ / f"{name}.json").write_text(m.to_json())
    return w


def run_score(home: Path, rpc_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOMA_CONSOLE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "soma_console", "--chain", rpc_url, "score", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


async def test_score_equals_the_scoring_service_and_the_chain(world):
    urls, ids, tmp = world["urls"], world["ids"], world["tmp"]
    ckpt = write_checkpoint(tmp / "ckpt", tiny_weights(SEEDS[0]))
    proc = run_score(
        tmp / "home", urls["rpc_url"], str(ckpt), "--targets", "4", "--against", "assigned", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scored"] == len(out["targets"]) >= 3
    assert out["would_win"] == sum(t["would_win"] for t in out["targets"])

    client = await SomaClient(rpc_url=urls["rpc_url"], scoring_url=urls["scoring_url"])
    filled = {t.id: t for t in (await client.list_targets(status="filled")).targets}
    for row in out["targets"]:
        t = filled[row["target_id"]]
        assert row["winner_model_id"] == t.winning_model_id  # the service picked it among the assigned
        data = await client.fetch_submission_data(t.id)
        mine = await client.score(
            t.data_url, await client.get_model_manifests([ids[0]]), list(t.embedding), data=data
        )
        assert row["my_loss"] == pytest.approx(mine.loss_score[0], abs=1e-5)
        win = await client.score(
            t.data_url, await client.get_model_manifests([t.winning_model_id]), list(t.embedding), data=data
        )
        assert row["winner_loss"] == pytest.approx(win.loss_score[0], abs=1e-5)
        # model 0 is assigned and is the same weights: it cannot beat itself
        if ids[0] in t.model_ids:
            assert row["my_loss"] >= row["winner_loss"] - 1e-6
            assert row["would_win"] is False
        assert 0.0 <= row["distance"] <= 2.0


def test_winners_mode_and_a_second_run_uses_the_cache(world):
    urls, tmp = world["urls"], world["tmp"]
    ckpt = write_checkpoint(tmp / "ckpt2", tiny_weights(999))
    home = tmp / "home2"
    first = run_score(home, urls["rpc_url"], str(ckpt), "--targets", "3", "--json")
    assert first.returncode == 0, first.stderr
    blobs = sorted(p.name for p in (home / "score-cache" / "blobs").iterdir())
    assert blobs  # data and weights, named by checksum
    again = run_score(home, urls["rpc_url"], str(ckpt), "--targets", "3", "--json")
    assert json.loads(again.stdout)["targets"] == json.loads(first.stdout)["targets"]
    assert sorted(p.name for p in (home / "score-cache" / "blobs").iterdir()) == blobs
    human = run_score(home, urls["rpc_url"], str(ckpt), "--targets", "3")
    assert human.returncode == 0 and "would win" in human.stdout
    # the verdict is kept beside the checkpoint for the console and the commit plan
    from soma_console.core.score_verdicts import load_verdict

    verdict = load_verdict(ckpt)
    assert verdict is not None and verdict.scored == 3
    assert verdict.would_win == json.loads(first.stdout)["would_win"]
    assert verdict.summary.startswith(f"would win {verdict.would_win} of 3 targets")


def test_a_checkpoint_of_another_size_is_one_clear_sentence(world):
    urls, tmp = world["urls"], world["tmp"]
    ckpt = write_checkpoint(tmp / "ckpt3", tiny_weights(101))
    manifest = ckpt.with_suffix(".json")
    manifest.write_text(manifest.read_text().replace('"preset": "tiny"', '"preset": "v1"'))
    proc = run_score(tmp / "home3", urls["rpc_url"], str(ckpt), "--targets", "2")
    assert proc.returncode != 0
    assert "2048-value embeddings" in proc.stderr and "Traceback" not in proc.stderr


async def test_an_update_equal_to_the_current_weights_is_held_back(world):
    from soma_console.core.commit_prep import resolve_checkpoint
    from soma_console.core.score_check import score_checkpoint, update_verdict

    urls, ids, tmp = world["urls"], world["ids"], world["tmp"]
    src = resolve_checkpoint(write_checkpoint(tmp / "same", tiny_weights(SEEDS[0])), tmp)
    client = await SomaClient(rpc_url=urls["rpc_url"])
    report = await score_checkpoint(
        client, urls["rpc_url"], src.weights, src.manifest, tmp / "cache4", count=3, model_id=ids[0]
    )
    assert report.has_current and report.scored == 3
    for t in report.targets:
        assert t.current_loss == pytest.approx(t.my_loss, abs=1e-6)
    ok, why = update_verdict(report)
    assert not ok and "not better than the current weights" in why
    assert "beats the current weights of" in report.summary()


def test_update_verdict_rules():
    from soma_console.core.score_check import ScoreReport, TargetVerdict, update_verdict

    def row(mine: float, current: float | None) -> TargetVerdict:
        return TargetVerdict("0x1", mine, 9.0, "0x2", mine < 9.0, 0.5, current)

    better = ScoreReport("c", "winners", [row(1.0, 2.0), row(3.0, 2.5)], model_id="0xab", has_current=True)
    assert update_verdict(better) == (True, "lower loss than the current weights on 1 of 2 targets")
    worse = ScoreReport("c", "winners", [row(2.0, 1.0)], model_id="0xab", has_current=True)
    assert update_verdict(worse)[0] is False
    assert update_verdict(ScoreReport("c", "winners", [], model_id="0xab", has_current=True))[0] is False
    fresh = ScoreReport("c", "winners", [row(2.0, None)], model_id="0xab", has_current=False)
    assert update_verdict(fresh) == (True, "model 0xab has no revealed weights yet")
    assert better.to_json()["targets"][0]["current_loss"] == 2.0
    assert "current_loss" not in fresh.to_json()["targets"][0]


async def test_autopilot_holds_back_an_update_that_does_not_beat_the_current_weights(world):
    """The autopilot's gate (``--commit-if-better``) on the real chain: model 0's own weights as
    the update are not better than themselves; a model id with no revealed weights has nothing
    to lose."""
    from soma_console.context import AppContext
    from soma_console.core.autopilot import Autopilot, AutopilotConfig, TrainRound
    from soma_console.core.chain import ChainSession
    from soma_console.core.journal import Journal
    from soma_console.core.lifecycle import Lifecycle

    urls, ids, tmp = world["urls"], world["ids"], world["tmp"]
    home = tmp / "home5"
    app = AppContext.create(home=str(home), chain=urls["rpc_url"])
    write_checkpoint(home / "runs" / "r" / "checkpoints", tiny_weights(SEEDS[0]), "checkpoint-00000001")
    journal = Journal.open(app.home.ensure().journal_path)
    session = ChainSession(app.chain)
    said: list[tuple[str, str]] = []
    try:
        pilot = Autopilot(
            Lifecycle(app, session, journal, None),
            AutopilotConfig(),
            lambda lvl, msg: said.append((lvl, msg)),
        )
        assert await pilot._beats_current(TrainRound("r", 1, 1.0, model_id=ids[0], gate_targets=3)) is False
        assert any(lvl == "warn" and "not committing" in msg for lvl, msg in said)
        fresh = "0x" + "ab" * 32
        assert await pilot._beats_current(TrainRound("r", 1, 1.0, model_id=fresh, gate_targets=3)) is True
    finally:
        await session.close()
        journal.close()
