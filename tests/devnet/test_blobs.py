"""The blob endpoint's contract, exercised over real HTTP against a standalone server."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from soma_console.devnet.blobs import BlobServer
from soma_console.encoding import b58encode


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[BlobServer]:
    server = BlobServer(tmp_path / "blobs", "127.0.0.1", 0, max_bytes=1_000_000).start()
    try:
        yield server
    finally:
        server.stop()


def _checksum(data: bytes) -> str:
    return b58encode(hashlib.blake2b(data, digest_size=32).digest())


def test_put_get_head_and_ranges(blobs):
    data = os.urandom(300_000)
    r = httpx.put(f"{blobs.base_url}/blobs/model-1.safetensors.enc", content=data)
    assert r.status_code == 201
    assert r.json() == {
        "url": f"{blobs.base_url}/blobs/model-1.safetensors.enc",
        "size": len(data),
        "checksum": _checksum(data),
    }
    url = r.json()["url"]
    got = httpx.get(url)
    assert (got.status_code, got.content, got.headers["content-length"]) == (200, data, str(len(data)))
    head = httpx.head(url)
    assert (head.status_code, head.headers["content-length"], head.content) == (200, str(len(data)), b"")
    part = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.content == data[1000:]
    assert part.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, data[10:20])
    assert httpx.get(url, headers={"Range": f"bytes={len(data)}-"}).status_code == 416


def test_overwrite_is_atomic_and_names_are_checked(blobs):
    url = f"{blobs.base_url}/blobs/w"
    assert httpx.put(url, content=b"first").status_code == 201
    assert httpx.put(url, content=b"second version").json()["size"] == 14
    assert httpx.get(url).content == b"second version"
    assert httpx.get(f"{blobs.base_url}/blobs/missing").status_code == 404
    for bad in ("...", "a%20b", "x" * 201, "a/b", "%2e%2e"):
        assert httpx.put(f"{blobs.base_url}/blobs/{bad}", content=b"x").status_code == 400, bad
        assert httpx.get(f"{blobs.base_url}/blobs/{bad}").status_code == 400, bad
    # clients normalise "..", so send it raw
    with socket.create_connection(("127.0.0.1", blobs.port)) as s:
        s.sendall(b"GET /blobs/.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    assert not list((blobs.store.tmp).iterdir())


def test_chunked_upload_and_size_limit(blobs):
    chunks = [os.urandom(64 * 1024) for _ in range(8)]
    r = httpx.put(f"{blobs.base_url}/blobs/chunked", content=iter(chunks))  # Transfer-Encoding: chunked
    assert r.status_code == 201
    assert r.json()["checksum"] == _checksum(b"".join(chunks))
    too_big = httpx.put(f"{blobs.base_url}/blobs/big", content=b"x" * 1_000_001)
    assert too_big.status_code == 413
    too_big = httpx.put(f"{blobs.base_url}/blobs/big", content=iter([b"x" * 600_000, b"y" * 600_000]))
    assert too_big.status_code == 413
    assert httpx.get(f"{blobs.base_url}/blobs/big").status_code == 404
    assert not list(blobs.store.tmp.iterdir())


def test_cut_upload_leaves_nothing(blobs):
    with socket.create_connection(("127.0.0.1", blobs.port)) as s:
        s.sendall(b"PUT /blobs/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"z" * 1000)
    # the server notices the closed connection; the partial file is removed, nothing published
    for _ in range(100):
        if not list(blobs.store.tmp.iterdir()):
            break
        import time

        time.sleep(0.02)
    assert httpx.get(f"{blobs.base_url}/blobs/cut").status_code == 404
    assert not list(blobs.store.tmp.iterdir())


def test_url_uses_the_clients_host_when_bound_to_every_interface(blobs):
    assert blobs.url_for("w") == f"http://127.0.0.1:{blobs.port}/blobs/w"
    blobs.wildcard = True  # as if started with host 0.0.0.0 (tests stay on loopback)
    assert blobs.url_for("w", "gpu-box.lan:9210") == "http://gpu-box.lan:9210/blobs/w"
    assert blobs.url_for("w", "evil/path") == f"http://127.0.0.1:{blobs.port}/blobs/w"


def test_a_body_of_many_pieces_is_stored_and_hashed_in_order(tmp_path: Path) -> None:
    # Bigger than the store's read piece several times over, so the pieces pass through the
    # store's writer thread in a queue: the bytes and the checksum must still be the body's.
    server = BlobServer(tmp_path / "big", "127.0.0.1", 0, max_bytes=64 * 1024**2).start()
    try:
        data = os.urandom(3 * 4 * 1024**2 + 12_345)
        r = httpx.put(f"{server.base_url}/blobs/big.enc", content=data, timeout=60)
        assert r.status_code == 201, r.text
        assert (r.json()["size"], r.json()["checksum"]) == (len(data), _checksum(data))
        assert (tmp_path / "big" / "data" / "big.enc").read_bytes() == data
    finally:
        server.stop()
