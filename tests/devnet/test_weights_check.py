"""At reveal the devnet fetches, verifies and inspects the weights, off the transaction path."""

from __future__ import annotations

import asyncio
import json
import struct
import time

import httpx
import numpy as np
import pytest
from safetensors.numpy import save
from soma_sdk import SomaClient

from soma_console.devnet.weights_check import V1, analyse_header
from tests.devnet.helpers import funded, model_of


def small_model(d: int = 16, layers: int = 2, ffn: int = 64, vocab: int = 264) -> bytes:
    """A safetensors file with the V1 layout at a tiny size (what devnet rehearsals upload)."""
    t: dict[str, np.ndarray] = {"embedding.weight": np.zeros((vocab, d), np.float32)}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for name in ("query", "key", "value", "output"):
            t[p + f"attention.{name}.weight"] = np.ones((d, d), np.float32)
            t[p + f"attention.{name}.bias"] = np.ones((d,), np.float32)
        t[p + "pwff.linear_inner.weight"] = np.ones((d, ffn), np.float32)
        t[p + "pwff.linear_outer.weight"] = np.ones((ffn, d), np.float32)
    t["final_norm.gamma"] = np.ones((d,), np.float32)
    return save(t)


async def _wait_check(devnet, model_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check = (await asyncio.to_thread(devnet.registry))["models"][model_id]["weights_check"]
        if check is not None:
            return check
        await asyncio.sleep(0.1)
    raise AssertionError("no weights check was recorded")


async def _committed(devnet, client, kp, encrypted: bytes, key: str, name: str) -> tuple[str, str]:
    put = await asyncio.to_thread(httpx.put, f"{devnet.blob_url}/blobs/{name}", content=encrypted)
    assert put.status_code == 201
    model_id = await client.create_model(kp, 0, 1.0)
    await client.commit_model(kp, model_id, put.json()["url"], encrypted, key, [1.0, 2.0])
    devnet.advance()
    return model_id, put.json()["url"]


async def test_revealed_weights_are_fetched_decrypted_and_described(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    plain = small_model()
    encrypted, key = SomaClient.encrypt_weights(plain)
    model_id, url = await _committed(devnet, client, kp, encrypted, key, "good.enc")
    assert devnet.registry()["models"][model_id]["weights_check"] is None  # nothing before reveal
    await client.reveal_model(kp, model_id, key, [1.0, 2.0])
    check = await _wait_check(devnet, model_id)
    assert check["status"] == "ok"
    assert (check["size_ok"], check["checksum_ok"], check["safetensors"]) == (True, True, True)
    assert check["architecture"] == "small"
    assert (check["embedding_dim"], check["num_layers"], check["ffn_dim"], check["vocab_size"]) == (
        16,
        2,
        64,
        264,
    )
    assert check["url"] == url
    # anyone can download the published weights with the SDK, and decrypt them with the key
    fetched = await client.fetch_model(model_id)
    assert SomaClient.decrypt_weights(fetched, key) == plain
    # the check survives a restart and is not repeated
    devnet.restart()
    assert devnet.registry()["models"][model_id]["weights_check"]["checked_at_ms"] == check["checked_at_ms"]


async def test_a_key_that_does_not_decrypt_still_reveals(devnet):
    """Like the chain: the reveal succeeds; only the devnet's annotation tells the truth."""
    client = await devnet.client()
    kp = await funded(devnet)
    encrypted, _right_key = SomaClient.encrypt_weights(small_model())
    other_key = SomaClient.encrypt_weights(b"")[1]
    model_id, _ = await _committed(devnet, client, kp, encrypted, other_key, "wrong-key.enc")
    await client.reveal_model(kp, model_id, other_key, [1.0, 2.0])
    assert (await model_of(client, model_id))[0] == "Active"
    check = await _wait_check(devnet, model_id)
    assert check["status"] == "not_safetensors"
    assert check["checksum_ok"] is True


async def test_changed_or_missing_blob_is_reported(devnet):
    client = await devnet.client()
    kp = await funded(devnet, soma=20)
    encrypted, key = SomaClient.encrypt_weights(small_model())
    model_id, url = await _committed(devnet, client, kp, encrypted, key, "swapped.enc")
    await asyncio.to_thread(httpx.put, url, content=encrypted[:-1] + b"\x00")  # same size, other bytes
    await client.reveal_model(kp, model_id, key, [1.0, 2.0])
    check = await _wait_check(devnet, model_id)
    assert (check["status"], check["checksum_ok"]) == ("mismatch", False)

    model_id, url = await _committed(devnet, client, kp, encrypted, key, "gone.enc")
    (devnet.state_dir / "blobs" / "data" / "gone.enc").unlink()
    await client.reveal_model(kp, model_id, key, [1.0, 2.0])
    check = await _wait_check(devnet, model_id)
    assert check["status"] == "mismatch"
    assert "404" in check["error"]


def test_v1_layout_is_recognised_from_the_header():
    """A 4.8 GB file is not needed to check the V1 test: the header alone decides."""
    shapes = {"embedding.weight": [V1["vocab_size"], V1["embedding_dim"]]}
    for i in range(V1["num_layers"]):
        shapes[f"encoder.layers.{i}.pwff.linear_inner.weight"] = [V1["embedding_dim"], V1["ffn_dim"]]
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * shape[0] * shape[1]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    info = analyse_header(header, offset)
    assert (info["architecture"], info["num_layers"]) == ("v1", 24)
    # a header that claims more data than the file holds is not loadable
    with pytest.raises(ValueError, match="cover"):
        analyse_header(header, offset - 4)
    raw = small_model()
    (n,) = struct.unpack("<Q", raw[:8])
    assert analyse_header(json.loads(raw[8 : 8 + n]), len(raw) - 8 - n)["architecture"] == "small"
