"""The devnet's scoring service through the real soma_sdk: health, score, cache, errors.

A devnet node runs in this process with the tiny model shape; encrypted weights and the data
are uploaded to its blob server, and ``SomaClient.score`` fetches, verifies, decrypts and scores
them on the scoring port.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from soma_sdk import SomaClient

from soma_console.devnet.node import DevnetNode
from soma_console.scoring.arch import arch_for_preset
from soma_console.scoring.scorer import Scorer
from tests.scoring.conftest import start_tiny_devnet


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = start_tiny_devnet(tmp_path_factory.mktemp("scoring-devnet"))
    yield n
    n.stop()


def _put(node: DevnetNode, name: str, body: bytes) -> dict:
    assert node.endpoints is not None
    r = httpx.put(f"{node.endpoints.url(node.endpoints.blob)}/blobs/{name}", content=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def uploaded(node, score_inputs):
    data = _put(node, "data.bin", score_inputs["data"])
    models = []
    for i, plain in enumerate(score_inputs["weights"]):
        encrypted, key = SomaClient.encrypt_weights(plain)
        blob = _put(node, f"model{i}.enc", encrypted)
        models.append({**blob, "key": key})
    return {"data": data, "models": models}


async def _client(node: DevnetNode) -> SomaClient:
    assert node.endpoints is not None
    urls = node.endpoints.as_dict()
    return await SomaClient(rpc_url=urls["rpc_url"], scoring_url=urls["scoring_url"])


def _manifests(uploaded: dict) -> list:
    return [
        SomaClient.model_manifest(
            url=m["url"], checksum=m["checksum"], size=m["size"], decryption_key=m["key"]
        )
        for m in uploaded["models"]
    ]


async def test_health_is_true(node):
    client = await _client(node)
    assert await client.scoring_health() is True


async def test_sdk_score_returns_what_the_service_computed(node, uploaded, score_inputs, reference, tmp_path):
    client = await _client(node)
    i = score_inputs
    result = await client.score(
        data_url=uploaded["data"]["url"],
        models=_manifests(uploaded),
        target_embedding=i["target"],
        data=i["data"],
        seed=i["seed"],
    )
    # The same computation run here on the plaintext files: bit-identical f32 values.
    files = []
    for k, plain in enumerate(i["weights"]):
        p = tmp_path / f"m{k}.safetensors"
        p.write_bytes(plain)
        files.append(p)
    local = Scorer(arch_for_preset("tiny"), tmp_path / "cache", device="cpu", cpu_threads=1)
    try:
        expected = local.score_files(i["data"], files, i["target"], seed=i["seed"])
    finally:
        local.close()
    assert result.winner == expected.winner == reference.winner
    assert len(result.loss_score) == 1 and len(result.distance) == 1
    assert np.float32(result.loss_score[0]) == np.float32(expected.loss)
    assert np.float32(result.distance[0]) == np.float32(expected.distance)
    np.testing.assert_array_equal(np.float32(result.embedding), expected.embedding)
    # ... and the independent computation within tolerance
    assert math.isclose(result.loss_score[0], reference.losses[reference.winner], rel_tol=2e-6)
    assert math.isclose(result.distance[0], reference.distance, abs_tol=1e-5)


async def test_a_second_score_uses_the_cache(node, uploaded, score_inputs):
    service = node._scoring
    assert service is not None
    client = await _client(node)
    i = score_inputs
    manifests = _manifests(uploaded)[:2]
    before_dl, before_loads = service.scorer.cache.downloads, service.scorer.loads
    url = uploaded["data"]["url"]
    first = await client.score(url, manifests, i["target"], data=i["data"], seed=i["seed"])
    second = await client.score(url, manifests, i["target"], data=i["data"], seed=i["seed"])
    assert service.scorer.cache.downloads == before_dl  # every blob was cached by the first test
    assert service.scorer.loads == before_loads  # and the decoded models kept in memory
    assert first.loss_score == second.loss_score and first.winner == second.winner


async def test_bad_requests_get_invalid_argument_messages(node, uploaded, score_inputs):
    client = await _client(node)
    i = score_inputs
    data_url = uploaded["data"]["url"]
    with pytest.raises(Exception, match="Checksum mismatch for the data") as bad_sum:
        await client.score(data_url, _manifests(uploaded), i["target"], data=i["data"] + b"x")
    assert "InvalidArgument" in str(bad_sum.value) or "invalid argument" in str(bad_sum.value).lower()
    with pytest.raises(Exception, match="Invalid target embedding: it has 3 values"):
        await client.score(data_url, _manifests(uploaded), [1.0, 2.0, 3.0], data=i["data"])
    with pytest.raises(Exception, match="At least one model manifest is required"):
        await client.score(data_url, [], i["target"], data=i["data"])
    m = uploaded["models"][0]
    wrong_key = SomaClient.model_manifest(
        url=m["url"], checksum=m["checksum"], size=m["size"], decryption_key=uploaded["models"][1]["key"]
    )
    with pytest.raises(Exception, match="model 0: the weights are not a readable safetensors file"):
        await client.score(data_url, [wrong_key], i["target"], data=i["data"])
