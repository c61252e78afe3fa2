"""The built-in submitter against a devnet through the real SDK: its scoring half end to end.

Two tiny models go through the real lifecycle (create, commit with weights on the devnet's blob
server, advance, reveal); the submitter then fetches their manifests from the chain, hosts
corpus pieces and scores them through the scoring service. Submissions themselves need targets
from the chain and are covered once the devnet generates them.
"""

from __future__ import annotations

import itertools
import math

import httpx
import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.devnet.submitter import Submitter, corpus_pieces, cosine_distance
from soma_console.scoring.arch import arch_for_preset
from soma_console.scoring.scorer import Scorer
from tests.scoring.conftest import start_tiny_devnet


@pytest.fixture
def node(tmp_path):
    n = start_tiny_devnet(tmp_path / "devnet")
    yield n
    n.stop()


async def test_submitter_scores_corpus_pieces_against_chain_models(node, score_inputs, tmp_path):
    assert node.endpoints is not None
    urls = node.endpoints.as_dict()
    client = await SomaClient(
        rpc_url=urls["rpc_url"],
        faucet_url=urls["faucet_url"],
        admin_url=urls["admin_url"],
        scoring_url=urls["scoring_url"],
    )
    weights = score_inputs["weights"][:2]
    model_ids = []
    for k, plain in enumerate(weights):
        encrypted, key = SomaClient.encrypt_weights(plain)
        async with httpx.AsyncClient() as http:
            r = await http.put(f"{urls['blob_url']}/blobs/model{k}.enc", content=encrypted)
        assert r.status_code == 201
        owner = Keypair.generate()  # one faucet coin each: the stake and the fees come from it
        await client.request_faucet(owner.address())
        mid = await client.create_model(owner, 0, 1.0)
        await client.commit_model(owner, mid, r.json()["url"], encrypted, key, score_inputs["target"])
        model_ids.append((mid, key, owner))
    await client.advance_epoch()
    for mid, key, owner in model_ids:
        await client.reveal_model(owner, mid, key, score_inputs["target"])
    epoch = await client.advance_epoch()

    submitter = Submitter(client, Keypair.generate(), urls["blob_url"], pieces=corpus_pieces(1024))
    pieces = list(itertools.islice(corpus_pieces(1024), 2))
    hosted = [(p, await submitter.host(p)) for p in pieces]
    ids = [mid for mid, _, _ in model_ids]
    scored = await submitter.score_set(ids, score_inputs["target"], hosted)

    # The same pieces scored locally on the plaintext weights: the same winner and loss.
    files = []
    for k, plain in enumerate(weights):
        p = tmp_path / f"m{k}.safetensors"
        p.write_bytes(plain)
        files.append(p)
    local = Scorer(arch_for_preset("tiny"), tmp_path / "cache", device="cpu", cpu_threads=1)
    try:
        for s, (piece, _) in zip(scored, hosted, strict=True):
            want = local.score_files(piece.data, files, score_inputs["target"])
            assert s.model_ids == tuple(ids)
            assert s.winner_model_id == ids[want.winner]
            assert math.isclose(s.loss[0], want.loss, rel_tol=1e-6)
            assert math.isclose(
                cosine_distance(s.embedding, score_inputs["target"]), want.distance, abs_tol=1e-5
            )
    finally:
        local.close()

    # One epoch pass: with targets on the chain it scores them; without, it reports none.
    open_now = (await client.list_targets(status="open")).targets
    report = await submitter.run_epoch(epoch)
    assert report.open_targets == len(open_now)
    if open_now:
        assert report.scores > 0
    assert "submitter: epoch" in report.summary()
