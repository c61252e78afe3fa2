"""verify_public and the resumable download, against a loopback server we can make misbehave
(drop the connection after N bytes, answer 503, ignore Range): the network boundary, stood in."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from soma_console.core.storage import (
    NotReadable,
    RetryPolicy,
    WrongContent,
    WrongSize,
    download,
    partial_path,
    verify_public,
)
from soma_console.encoding import b58encode
from tests.storage.conftest import FAST, ProgressLog
from tests.storage.servers import BlobStandIn

SIZE = 3 * 1024 * 1024 + 321
DATA = hashlib.shake_256(b"weights").digest(SIZE)
CHECKSUM = b58encode(hashlib.blake2b(DATA, digest_size=32).digest())
ONE_TRY = RetryPolicy(attempts=1, connect_timeout=2, read_timeout=5, timeout=60)


@pytest.fixture
def served(blob_server: BlobStandIn) -> str:
    blob_server.objects["w.enc"] = DATA
    return blob_server.object_url("w.enc")


async def test_verify_passes_and_reports_progress(served: str) -> None:
    progress = ProgressLog()
    verified = await verify_public(served, SIZE, CHECKSUM, 30, progress=progress)
    assert (verified.url, verified.size, verified.checksum) == (served, SIZE, CHECKSUM)
    progress.assert_monotonic_to(SIZE)


async def test_verify_resumes_after_a_dropped_connection(served: str, blob_server: BlobStandIn) -> None:
    blob_server.faults.drop_after = [1_000_000, 500_000]
    await verify_public(served, SIZE, CHECKSUM, 30, policy=FAST)
    assert blob_server.ranges_requested() == [None, "bytes=1000000-", "bytes=1500000-"]


async def test_verify_restarts_when_the_server_ignores_range(served: str, blob_server: BlobStandIn) -> None:
    blob_server.faults.drop_after = [1_000_000]
    blob_server.faults.ignore_range = True
    await verify_public(served, SIZE, CHECKSUM, 30, policy=FAST)
    assert blob_server.ranges_requested() == [None, "bytes=1000000-"]


async def test_verify_wrong_bytes_wrong_size_and_errors(served: str, blob_server: BlobStandIn) -> None:
    other = b58encode(hashlib.blake2b(b"x", digest_size=32).digest())
    with pytest.raises(WrongContent) as content:
        await verify_public(served, SIZE, other, 30)
    assert str(content.value).startswith(
        f"the public URL {served} serves different bytes than were uploaded (Blake2b-256 {CHECKSUM}, "
        f"expected {other})."
    )
    with pytest.raises(
        WrongSize, match=f"serves {SIZE:,} bytes, not the {SIZE - 1:,} bytes that were uploaded"
    ):
        await verify_public(served, SIZE - 1, CHECKSUM, 30)
    blob_server.faults.statuses = [403]
    with pytest.raises(NotReadable, match=r"is not readable: HTTP 403 Forbidden\."):
        await verify_public(served, SIZE, CHECKSUM, 30, policy=FAST)
    blob_server.faults.statuses = [503] * 5
    with pytest.raises(NotReadable, match=r"HTTP 503 Service Unavailable \(after 3 attempts\)"):
        await verify_public(served, SIZE, CHECKSUM, 30, policy=FAST)


async def test_verify_never_holds_a_query_string_in_its_message(served: str) -> None:
    with pytest.raises(NotReadable) as info:
        await verify_public(
            served.replace("w.enc", "gone") + "?X-Amz-Signature=abcdef123456", 5, CHECKSUM, 30
        )
    assert "abcdef123456" not in str(info.value)
    assert "/blobs/gone?…" in str(info.value)


async def test_download_resumes_within_one_call(
    tmp_path: Path, served: str, blob_server: BlobStandIn
) -> None:
    dest = tmp_path / "out" / "w.enc"
    blob_server.faults.drop_after = [1_234_567]
    progress = ProgressLog()
    seen_dest: list[bool] = []

    def watch(done: int, total: int) -> None:
        progress(done, total)
        seen_dest.append(dest.exists())

    assert (
        await download(served, dest, expected_size=SIZE, expected_checksum=CHECKSUM, progress=watch) == dest
    )
    assert dest.read_bytes() == DATA
    assert blob_server.ranges_requested() == [None, "bytes=1234567-"]
    assert not any(seen_dest)  # the final path never existed while bytes were arriving
    assert not partial_path(dest, CHECKSUM).exists()
    progress.assert_monotonic_to(SIZE)


async def test_interrupted_download_leaves_only_a_part_and_the_next_call_resumes(
    tmp_path: Path, served: str, blob_server: BlobStandIn
) -> None:
    dest = tmp_path / "w.enc"
    blob_server.faults.drop_after = [2_000_000]
    with pytest.raises(NotReadable, match="closed before the transfer finished"):
        await download(served, dest, expected_size=SIZE, expected_checksum=CHECKSUM, policy=ONE_TRY)
    part = partial_path(dest, CHECKSUM)
    assert not dest.exists()
    assert part.stat().st_size == 2_000_000
    assert sorted(os.listdir(tmp_path)) == [part.name]

    progress = ProgressLog()
    await download(served, dest, expected_size=SIZE, expected_checksum=CHECKSUM, progress=progress)
    assert dest.read_bytes() == DATA
    assert blob_server.ranges_requested() == [None, "bytes=2000000-"]
    assert progress.calls[0] == (2_000_000, SIZE)  # it picked up where the last run stopped
    assert sorted(os.listdir(tmp_path)) == ["w.enc"]


async def test_a_corrupt_leftover_part_is_redone_from_zero(
    tmp_path: Path, served: str, blob_server: BlobStandIn
) -> None:
    dest = tmp_path / "w.enc"
    partial_path(dest, CHECKSUM).write_bytes(b"\xff" * 1000)  # not the object's first bytes
    await download(served, dest, expected_size=SIZE, expected_checksum=CHECKSUM, policy=FAST)
    assert dest.read_bytes() == DATA
    assert blob_server.ranges_requested() == ["bytes=1000-", None]


async def test_wrong_bytes_never_reach_the_final_path(tmp_path: Path, served: str) -> None:
    dest = tmp_path / "w.enc"
    dest.write_bytes(b"previous good file")
    other = b58encode(hashlib.blake2b(b"x", digest_size=32).digest())
    with pytest.raises(WrongContent):
        await download(served, dest, expected_size=SIZE, expected_checksum=other)
    assert dest.read_bytes() == b"previous good file"
    assert sorted(os.listdir(tmp_path)) == ["w.enc"]  # the bad download was deleted
    with pytest.raises(WrongSize):
        await download(served, dest, expected_size=SIZE + 10, expected_checksum=CHECKSUM)
    assert sorted(os.listdir(tmp_path)) == ["w.enc"]


async def test_download_of_a_missing_object(tmp_path: Path, blob_server: BlobStandIn) -> None:
    with pytest.raises(NotReadable, match="HTTP 404"):
        await download(
            blob_server.object_url("nope"), tmp_path / "x", expected_size=5, expected_checksum=CHECKSUM
        )
    assert not (tmp_path / "x").exists()


async def test_a_bad_expected_checksum_is_a_usage_error(tmp_path: Path, served: str) -> None:
    from soma_console.core.storage import StorageSpecError

    with pytest.raises(StorageSpecError, match="is not a Blake2b-256 checksum"):
        await verify_public(served, SIZE, "0OIl", 30)
