"""The commit's read-back check in parallel ranges, against the loopback blob stand-in."""

from __future__ import annotations

import hashlib
import os

import pytest

from soma_console.core.storage import NotReadable, WrongContent, WrongSize, verify_public_fast
from soma_console.core.storage.readback import RangesUnsupported, verify_ranges
from soma_console.encoding import b58encode
from tests.storage.conftest import FAST, ProgressLog
from tests.storage.servers import BlobStandIn

SEGMENT = 64 * 1024


def checksum_of(data: bytes) -> str:
    return b58encode(hashlib.blake2b(data, digest_size=32).digest())


def _put(server: BlobStandIn, name: str, size: int) -> bytes:
    data = os.urandom(size)
    server.objects[name] = data
    return data


def test_many_ranges_in_flight_prove_the_bytes(blob_server: BlobStandIn) -> None:
    data = _put(blob_server, "w", 10 * SEGMENT + 123)
    progress = ProgressLog()
    url = blob_server.object_url("w")
    verify_ranges(url, len(data), checksum_of(data), progress=progress, policy=FAST, segment=SEGMENT)
    progress.assert_monotonic_to(len(data))
    ranges = blob_server.ranges_requested()
    assert len(ranges) == 11 and f"bytes={10 * SEGMENT}-{len(data) - 1}" in ranges


def test_other_bytes_or_another_size_are_refused(blob_server: BlobStandIn) -> None:
    data = _put(blob_server, "w", 3 * SEGMENT)
    url = blob_server.object_url("w")
    other = checksum_of(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(WrongContent):
        verify_ranges(url, len(data), other, policy=FAST, segment=SEGMENT)
    with pytest.raises(WrongSize):
        verify_ranges(url, len(data) + 1, checksum_of(data), policy=FAST, segment=SEGMENT)


def test_a_failing_segment_is_fetched_again_and_a_missing_object_is_not_readable(
    blob_server: BlobStandIn,
) -> None:
    data = _put(blob_server, "w", 4 * SEGMENT)
    blob_server.faults.statuses = [503]
    blob_server.faults.drop_after = [1000]
    verify_ranges(blob_server.object_url("w"), len(data), checksum_of(data), policy=FAST, segment=SEGMENT)
    with pytest.raises(NotReadable):
        verify_ranges(
            blob_server.object_url("nope"), len(data), checksum_of(data), policy=FAST, segment=SEGMENT
        )


async def test_a_server_without_ranges_gets_the_sequential_check(blob_server: BlobStandIn) -> None:
    data = _put(blob_server, "w", 3 * SEGMENT)
    blob_server.faults.ignore_range = True
    url = blob_server.object_url("w")
    with pytest.raises(RangesUnsupported):
        verify_ranges(url, len(data), checksum_of(data), policy=FAST, segment=SEGMENT)
    verified = await verify_public_fast(url, len(data), checksum_of(data), policy=FAST)
    assert verified.checksum == checksum_of(data)
