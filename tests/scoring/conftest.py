"""Fixed inputs shared by the scoring tests: tiny models, data of two batches, a target."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.devnet.node import DevnetConfig, DevnetNode
from soma_console.devnet.submitter import Submitter, corpus_pieces
from tests.scoring.reference import RefResult, reference_score, tiny_weights

SEED = 3


def _data() -> bytes:
    # 16 full sequences and a short 17th: two batches, the second with EOS and PAD.
    rng = np.random.default_rng(11)
    text = b"the model with the lowest loss wins the target. " * 200
    noise = rng.integers(0, 256, 16 * 1024 + 300 - len(text), dtype=np.uint8).tobytes()
    return text + noise


@pytest.fixture(scope="session")
def score_inputs() -> dict:
    rng = np.random.default_rng(5)
    return {
        "data": _data(),
        "weights": [tiny_weights(s) for s in (101, 202, 303)],
        "target": [float(x) for x in rng.normal(size=64).astype(np.float32)],
        "seed": SEED,
    }


@pytest.fixture(scope="session")
def reference(score_inputs) -> RefResult:
    i = score_inputs
    return reference_score(i["data"], i["weights"], i["target"], i["seed"])


def start_tiny_devnet(state_dir: Path) -> DevnetNode:
    """An in-process devnet on free ports with the tiny model preset, epochs advanced by hand."""
    node = DevnetNode(
        DevnetConfig(
            state_dir=state_dir,
            rpc_port=0,
            faucet_port=0,
            scoring_port=0,
            admin_port=0,
            blob_port=0,
            epoch_seconds=0,
            check_weights=False,
            model_preset="tiny",
        )
    )
    node.start()
    return node


async def fill_world(urls: dict, plains: list[bytes]) -> list[str]:
    """Register one revealed model per plaintext weights file (each with its own funded owner and
    a random 64-float embedding), then let the built-in submitter fill the next epoch's targets;
    returns the model ids."""
    client = await SomaClient(
        rpc_url=urls["rpc_url"],
        faucet_url=urls["faucet_url"],
        admin_url=urls["admin_url"],
        scoring_url=urls["scoring_url"],
    )
    models = []
    for k, plain in enumerate(plains):
        enc, key = SomaClient.encrypt_weights(plain)
        async with httpx.AsyncClient() as http:
            r = await http.put(f"{urls['blob_url']}/blobs/model{k}.enc", content=enc)
        owner = Keypair.generate()
        await client.request_faucet(owner.address())
        emb = [float(x) for x in np.random.default_rng(k).normal(size=64).astype(np.float32)]
        mid = await client.create_model(owner, 0, 1.0)
        await client.commit_model(owner, mid, r.json()["url"], enc, key, emb)
        models.append((mid, key, emb, owner))
    await client.advance_epoch()
    for mid, key, emb, owner in models:
        await client.reveal_model(owner, mid, key, emb)
    epoch = await client.advance_epoch()
    sub = Keypair.generate()
    await client.request_faucet(sub.address())
    report = await Submitter(client, sub, urls["blob_url"], pieces=corpus_pieces(1024)).run_epoch(epoch)
    assert len(report.submitted) >= 3, report.summary()
    return [mid for mid, _, _, _ in models]
