"""The devnet blob client, against a loopback stand-in that implements the devnet blob contract
(see tests/storage/servers.py; the real devnet server is built on another branch, and the
end-to-end test against it comes when the branches meet)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from soma_console.config import ChainProfile
from soma_console.core.storage import (
    NotReadable,
    StorageError,
    StorageSpecError,
    resolve_storage,
    verify_public,
)
from tests.storage.conftest import FAST, ProgressLog, checksum_of, write_file
from tests.storage.servers import BlobStandIn


def devnet_chain(blob: BlobStandIn) -> ChainProfile:
    return ChainProfile(name="devnet", rpc_url="http://127.0.0.1:9000", blob_url=blob.url, is_devnet=True)


async def test_upload_returns_the_stores_url_and_verifies(tmp_path: Path, blob_server: BlobStandIn) -> None:
    size = 2 * 1024 * 1024 + 5
    path = write_file(tmp_path / "w.enc", size, seed=11)
    progress = ProgressLog()
    backend = resolve_storage(None, chain=devnet_chain(blob_server), policy=FAST)
    assert backend.describe() == f"the devnet blob store at {blob_server.url}"
    url = await backend.upload(path, "model-1.enc", progress)
    assert url == blob_server.object_url("model-1.enc")
    assert blob_server.objects["model-1.enc"] == path.read_bytes()
    put = next(s for s in blob_server.seen if s.method == "PUT")
    assert put.content_length == size  # streamed with a length, not chunked
    progress.assert_monotonic_to(size)
    assert progress.threads == {threading.get_ident()}
    await verify_public(url, size, checksum_of(path), 30)


async def test_explicit_devnet_url(tmp_path: Path, blob_server: BlobStandIn) -> None:
    path = write_file(tmp_path / "w", 1000)
    url = await resolve_storage(f"devnet:{blob_server.url}/", policy=FAST).upload(path, "a.b-c_d")
    assert url == blob_server.object_url("a.b-c_d")


async def test_a_wrong_checksum_from_the_store_is_caught(tmp_path: Path, blob_server: BlobStandIn) -> None:
    blob_server.faults.lie_checksum = True
    path = write_file(tmp_path / "w", 4000)
    with pytest.raises(StorageError) as info:
        await resolve_storage(f"devnet:{blob_server.url}", policy=FAST).upload(path, "w.enc")
    message = str(info.value)
    assert message.startswith(f"the devnet blob store at {blob_server.url} stored 4,000 bytes with checksum ")
    assert f"but 4,000 bytes with checksum {checksum_of(path)} were sent." in message


async def test_too_large_and_refused_names(tmp_path: Path) -> None:
    server = BlobStandIn(max_size=1000).start()
    try:
        backend = resolve_storage(f"devnet:{server.url}", policy=FAST)
        with pytest.raises(StorageError, match=r"refused big\.enc: 4,000 bytes is too large \(HTTP 413\)"):
            await backend.upload(write_file(tmp_path / "w", 4000), "big.enc")
        server.faults.reject_names.add("taken.enc")
        with pytest.raises(StorageError, match=r"refused the name 'taken\.enc' \(HTTP 400\)"):
            await backend.upload(write_file(tmp_path / "s", 10), "taken.enc")
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["", "..", "a/b", "x" * 201, "sp ace", "ü.bin"])
async def test_bad_names_are_refused_before_sending(
    tmp_path: Path, blob_server: BlobStandIn, name: str
) -> None:
    backend = resolve_storage(f"devnet:{blob_server.url}", policy=FAST)
    with pytest.raises(StorageSpecError, match="is not a usable object name"):
        await backend.upload(write_file(tmp_path / "w", 10), name)
    assert blob_server.seen == []


async def test_transient_5xx_is_retried(tmp_path: Path, blob_server: BlobStandIn) -> None:
    blob_server.faults.statuses = [503, 502]
    path = write_file(tmp_path / "w", 50_000, seed=12)
    progress = ProgressLog()
    url = await resolve_storage(f"devnet:{blob_server.url}", policy=FAST).upload(path, "w.enc", progress)
    assert [s.method for s in blob_server.seen] == ["PUT", "PUT", "PUT"]
    progress.assert_monotonic_to(50_000)  # replays from byte 0 never move the bar backwards
    await verify_public(url, 50_000, checksum_of(path), 30)


async def test_persistent_5xx_gives_up_with_one_sentence(tmp_path: Path, blob_server: BlobStandIn) -> None:
    blob_server.faults.statuses = [503] * 10
    with pytest.raises(StorageError) as info:
        await resolve_storage(f"devnet:{blob_server.url}", policy=FAST).upload(
            write_file(tmp_path / "w", 10), "w"
        )
    assert str(info.value) == (
        f"cannot upload w to the devnet blob store at {blob_server.url}: HTTP 503 Service Unavailable "
        "(after 3 attempts). Check that the devnet is running (its blob store listens there)."
    )


async def test_devnet_not_running(tmp_path: Path, unused_tcp_port: int) -> None:
    base = f"http://127.0.0.1:{unused_tcp_port}"
    with pytest.raises(StorageError, match=f"at {base}: connection refused \\(after 3 attempts\\)"):
        await resolve_storage(f"devnet:{base}", policy=FAST).upload(write_file(tmp_path / "w", 10), "w")


async def test_unknown_blob_is_not_readable(blob_server: BlobStandIn) -> None:
    with pytest.raises(NotReadable, match="HTTP 404"):
        await verify_public(blob_server.object_url("nothing-here"), 10, "1" * 32, 30, policy=FAST)


async def test_missing_local_file(tmp_path: Path, blob_server: BlobStandIn) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await resolve_storage(f"devnet:{blob_server.url}", policy=FAST).upload(tmp_path / "nope", "w")
