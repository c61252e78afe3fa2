"""``score --targets N`` takes the N most recent filled targets: newest generation epoch first.

A tiny devnet whose built-in submitter fills targets in two epochs; the chain lists the older
epoch first, so taking the listing's first N would score the older targets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.core.filled_targets import recent_filled
from soma_console.devnet.submitter import Submitter, corpus_pieces
from tests.scoring.conftest import start_tiny_devnet
from tests.scoring.reference import tiny_weights
from tests.scoring.test_score_cmd import SEEDS, _fill, run_score, write_checkpoint


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("recent")
    node = start_tiny_devnet(tmp / "devnet")
    try:
        assert node.endpoints is not None
        urls = node.endpoints.as_dict()
        ids = asyncio.run(_fill(urls))  # epoch E filled

        async def second() -> None:
            client = await SomaClient(
                rpc_url=urls["rpc_url"],
                faucet_url=urls["faucet_url"],
                admin_url=urls["admin_url"],
                scoring_url=urls["scoring_url"],
            )
            epoch = await client.advance_epoch()
            sub = Keypair.generate()
            await client.request_faucet(sub.address())
            pieces = corpus_pieces(1024)
            report = await Submitter(client, sub, urls["blob_url"], pieces=pieces).run_epoch(epoch)
            assert len(report.submitted) >= 2, report.summary()

        asyncio.run(second())
        yield {"urls": urls, "tmp": tmp, "ids": ids}
    finally:
        node.stop()


class Counting:
    """The SDK client, noting the generation epoch of every target ListTargets returned."""

    def __init__(self, client: SomaClient) -> None:
        self.client = client
        self.listed: list[int] = []

    async def list_targets(self, **kwargs: Any) -> Any:
        page = await self.client.list_targets(**kwargs)
        self.listed.extend(int(t.generation_epoch) for t in page.targets)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def _filled_by_epoch(rpc_url: str) -> dict[int, set[str]]:
    client = await SomaClient(rpc_url=rpc_url)
    out: dict[int, set[str]] = {}
    for t in (await client.list_targets(status="filled", limit=1000)).targets:
        out.setdefault(int(t.generation_epoch), set()).add(str(t.id))
    return out


async def test_the_newest_epochs_filled_targets_come_first(two_epochs: dict[str, Any]) -> None:
    rpc_url = two_epochs["urls"]["rpc_url"]
    by_epoch = await _filled_by_epoch(rpc_url)
    assert len(by_epoch) == 2, by_epoch
    old, new = sorted(by_epoch)
    listed = (await (await SomaClient(rpc_url=rpc_url)).list_targets(status="filled", limit=1)).targets
    assert int(listed[0].generation_epoch) == old  # the chain's own order: oldest first

    client = Counting(await SomaClient(rpc_url=rpc_url))
    n_new = len(by_epoch[new])
    some = await recent_filled(client, count=n_new - 1)
    assert [t.generation_epoch for t in some] == [new] * (n_new - 1)
    assert {t.target_id for t in some} < by_epoch[new]
    # the listing is not read to its end: past the one-target probe, only the newest epoch's page
    assert client.listed[1:] == [new] * (n_new - 1), client.listed

    more = await recent_filled(client, count=n_new + 1)
    assert [t.generation_epoch for t in more] == [new] * n_new + [old]
    assert {t.target_id for t in more[:n_new]} == by_epoch[new]
    assert more[-1].target_id in by_epoch[old]

    everything = await recent_filled(client, count=10_000)
    assert len(everything) == sum(len(v) for v in by_epoch.values())
    epochs = [t.generation_epoch for t in everything]
    assert epochs == sorted(epochs, reverse=True)

    one_epoch = await recent_filled(client, epoch=old)
    assert {t.target_id for t in one_epoch} == by_epoch[old]


def test_score_targets_n_scores_the_newest_epochs_targets(two_epochs: dict[str, Any]) -> None:
    rpc_url, tmp = two_epochs["urls"]["rpc_url"], two_epochs["tmp"]
    by_epoch = asyncio.run(_filled_by_epoch(rpc_url))
    new = max(by_epoch)
    ckpt = write_checkpoint(tmp / "ckpt", tiny_weights(SEEDS[1]))
    proc = run_score(tmp / "home", rpc_url, str(ckpt), "--targets", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["scored"] == 2
    assert {t["target_id"] for t in out["targets"]} <= by_epoch[new]


def test_the_table_prints_ids_that_paste_back(two_epochs: dict[str, Any], tmp_path: Path) -> None:
    rpc_url, tmp = two_epochs["urls"]["rpc_url"], two_epochs["tmp"]
    ckpt = write_checkpoint(tmp / "ckpt-table", tiny_weights(SEEDS[2]))
    proc = run_score(tmp / "home-table", rpc_url, str(ckpt), "--targets", "1")
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    by_epoch = asyncio.run(_filled_by_epoch(rpc_url))
    [target] = [t for t in by_epoch[max(by_epoch)] if t[:14] in proc.stdout]
    assert target.startswith("0x")


def test_score_takes_the_short_model_ids_tables_print(two_epochs: dict[str, Any]) -> None:
    rpc_url, tmp, ids = two_epochs["urls"]["rpc_url"], two_epochs["tmp"], two_epochs["ids"]
    ckpt = write_checkpoint(tmp / "ckpt-short", tiny_weights(SEEDS[0]))
    short = [i[:14] for i in ids]
    proc = run_score(
        tmp / "home-short",
        rpc_url,
        str(ckpt),
        "--targets",
        "2",
        "--against",
        short[1],
        "--model",
        short[0],
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["model_id"] == ids[0].lower()
    assert {t["winner_model_id"] for t in out["targets"]} <= {ids[1], ids[1].lower()}
    bad = run_score(tmp / "home-short", rpc_url, str(ckpt), "--targets", "1", "--model", "0xffff")
    assert bad.returncode != 0 and "no model id starts with 0xffff" in bad.stderr
    assert "Traceback" not in bad.stderr
