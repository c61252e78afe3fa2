"""The blob cache against a real HTTP blob server: verification, reuse, eviction, pinning."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from soma_console.core.txdata import blake2b256
from soma_console.devnet.blobs import BlobServer
from soma_console.encoding import b58encode
from soma_console.scoring.blobcache import BlobCache, BlobError


@pytest.fixture
def server(tmp_path):
    s = BlobServer(tmp_path / "served").start()
    yield s
    s.stop()


def _put(server: BlobServer, name: str, body: bytes) -> str:
    r = httpx.put(f"{server.base_url}/blobs/{name}", content=body)
    assert r.status_code == 201
    return str(r.json()["url"])


def _sum(body: bytes) -> str:
    return b58encode(blake2b256(body))


def test_fetch_verifies_and_reuses(server, tmp_path):
    body = os.urandom(3000)
    url = _put(server, "a", body)
    cache = BlobCache(tmp_path / "cache")
    p = cache.fetch(url, _sum(body), len(body), "the data")
    assert p.read_bytes() == body
    assert oct(p.stat().st_mode & 0o777) == "0o600"
    # a second URL with the same bytes is the same blob: no second download
    url2 = _put(server, "b", body)
    assert cache.fetch(url2, _sum(body), len(body), "the data") == p
    assert cache.downloads == 1


def test_a_wrong_blob_is_refused_and_nothing_is_kept(server, tmp_path):
    body = os.urandom(500)
    url = _put(server, "a", body)
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(BlobError, match=r"Checksum mismatch for model 1 at .*hash differently"):
        cache.fetch(url, _sum(b"other"), len(body), "model 1")
    with pytest.raises(BlobError, match=r"Checksum mismatch for the data at .*more than the declared 100"):
        cache.fetch(url, _sum(body), 100, "the data")
    with pytest.raises(BlobError, match="500 bytes, the manifest says 900"):
        cache.fetch(url, _sum(body), 900, "the data")
    with pytest.raises(BlobError, match="HTTP 404"):
        cache.fetch(f"{server.base_url}/blobs/missing", _sum(body), 500, "the data")
    with pytest.raises(BlobError, match="Invalid checksum for the data"):
        cache.fetch(url, "not-base58-0OIl", 500, "the data")
    with pytest.raises(BlobError, match="Invalid URL"):
        cache.fetch("file:///etc/passwd", _sum(body), 500, "the data")
    assert list(cache.blobs.iterdir()) == []


def test_least_recently_used_blobs_are_evicted_but_pinned_ones_stay(server, tmp_path):
    cache = BlobCache(tmp_path / "cache", max_bytes=2500)
    bodies = [os.urandom(1000) for _ in range(4)]
    urls = [_put(server, f"b{i}", b) for i, b in enumerate(bodies)]
    first = cache.fetch(urls[0], _sum(bodies[0]), 1000, "blob 0")
    time.sleep(0.01)
    second = cache.fetch(urls[1], _sum(bodies[1]), 1000, "blob 1")
    time.sleep(0.01)
    with cache.pinned(first):
        third = cache.fetch(urls[2], _sum(bodies[2]), 1000, "blob 2")
    assert first.exists() and third.exists() and not second.exists()  # 0 pinned, 1 oldest unpinned
    assert cache.used_bytes() <= 2500
    time.sleep(0.01)
    cache.fetch(urls[3], _sum(bodies[3]), 1000, "blob 3")
    assert not first.exists()  # unpinned now and the oldest
    assert cache.used_bytes() <= 2500


def test_derived_files_are_made_once(tmp_path):
    cache = BlobCache(tmp_path / "cache")
    calls = []

    def make(dst):
        calls.append(dst)
        dst.write_bytes(b"plain")

    a = cache.derive("x.safetensors", make)
    b = cache.derive("x.safetensors", make)
    assert a == b and a.read_bytes() == b"plain" and len(calls) == 1
