"""Reading weights back from their public URL: the pre-commit check and a resumable download.

Both stream the body (never holding it whole), hash it with Blake2b-256 as it arrives, and resume
an interrupted transfer with an HTTP Range request. The check exists because a URL that validators
cannot read, or that serves other bytes, is only discovered after the commit, when it is too late.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from soma_console.core.storage.common import (
    CHUNK,
    MonotonicProgress,
    ProgressCallback,
    check_checksum,
    display_url,
)
from soma_console.core.storage.errors import NotReadable, WrongContent, WrongSize
from soma_console.core.storage.httpio import make_client
from soma_console.core.storage.retry import (
    TRANSIENT_STATUS,
    RetryPolicy,
    Transient,
    retry_after_seconds,
    with_retries,
    within,
)
from soma_console.encoding import b58encode
from soma_console.fsutil import fsync_dir

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class Verified:
    """What the public URL was shown to serve."""

    url: str
    size: int
    checksum: str


class _Sink:
    """Where the streamed bytes go: always a hasher, for downloads also a file."""

    def __init__(self, fh: IO[bytes] | None = None, done: int = 0, hasher: hashlib.blake2b | None = None):
        self.fh = fh
        self.done = done
        self.hasher = hasher or hashlib.blake2b(digest_size=32)

    def _write(self, data: bytes) -> None:
        if self.fh is not None:
            self.fh.write(data)
        self.hasher.update(data)

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._write, data)
        self.done += len(data)

    async def restart(self) -> None:
        """The server will send from byte 0: drop what we have."""
        if self.fh is not None:
            fh = self.fh
            await asyncio.to_thread(lambda: (fh.seek(0), fh.truncate(0)))
        self.hasher = hashlib.blake2b(digest_size=32)
        self.done = 0

    def checksum(self) -> str:
        return b58encode(self.hasher.digest())


def _status_phrase(resp: httpx.Response) -> str:
    phrase = resp.reason_phrase or ""
    return f"HTTP {resp.status_code} {phrase}".rstrip()


async def _stream_object(
    client: httpx.AsyncClient,
    url: str,
    size: int,
    sink: _Sink,
    progress: MonotonicProgress,
    policy: RetryPolicy,
) -> None:
    """Fill ``sink`` with the ``size`` bytes at ``url``, resuming from ``sink.done`` on each attempt."""
    shown = display_url(url)

    async def attempt(_n: int) -> None:
        headers = {"Accept-Encoding": "identity"}  # hash the stored bytes, not a re-encoding
        if sink.done:
            headers["Range"] = f"bytes={sink.done}-"
        async with client.stream("GET", url, headers=headers) as resp:
            total = await _check_response(resp, url, shown, size, sink)
            buf = bytearray()
            try:
                async for chunk in resp.aiter_raw():
                    if sink.done + len(buf) + len(chunk) > size:
                        raise WrongSize(shown, size, None)
                    buf += chunk
                    if len(buf) >= CHUNK:
                        await sink.write(bytes(buf))
                        buf.clear()
                        progress(sink.done)
            finally:
                # Keep what arrived before a dropped connection, so the resume starts right there.
                if buf:
                    await sink.write(bytes(buf))
                    progress(sink.done)
        if sink.done < size:
            if total is None:
                raise WrongSize(shown, size, sink.done)
            raise Transient("the connection closed before the transfer finished")

    def give_up(reason: str, attempts: int) -> Exception:
        return NotReadable(shown, f"{reason} (after {attempts} attempts)")

    await with_retries(policy, attempt, give_up)


async def _check_response(resp: httpx.Response, url: str, shown: str, size: int, sink: _Sink) -> int | None:
    """Validate the status and length headers; returns the object's total size if announced."""
    status = resp.status_code
    if status in TRANSIENT_STATUS:
        raise Transient(_status_phrase(resp), retry_after_seconds(resp.headers))
    if status == 416 and sink.done:
        # Our partial data is longer than the object now is; start again from the beginning.
        await sink.restart()
        raise Transient("the server refused to resume (HTTP 416)")
    if status not in (200, 206):
        raise NotReadable(shown, _status_phrase(resp))
    total: int | None
    if status == 206:
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("content-range", "").strip())
        if match is None or int(match.group(1)) != sink.done:
            await sink.restart()
            raise Transient("the server resumed at the wrong offset")
        total = None if match.group(3) == "*" else int(match.group(3))
    else:
        if sink.done:
            await sink.restart()  # the server ignored Range and sends everything again
        length = resp.headers.get("content-length")
        total = int(length) if length is not None and length.isdigit() else None
    if total is not None and total != size:
        raise WrongSize(shown, size, total)
    return total


async def verify_public(
    url: str,
    expected_size: int,
    expected_checksum: str,
    timeout: float | None = None,
    *,
    progress: ProgressCallback | None = None,
    policy: RetryPolicy | None = None,
) -> Verified:
    """Download ``url`` as a validator would and prove it is the object we uploaded.

    Raises :class:`NotReadable` (error status or unreachable), :class:`WrongSize` or
    :class:`WrongContent`; nothing is written to disk. ``timeout`` bounds the whole check.
    """
    check_checksum(expected_checksum)
    policy = policy or RetryPolicy()
    deadline = timeout if timeout is not None else policy.deadline_for(expected_size)
    shown = display_url(url)
    sink = _Sink()
    mono = MonotonicProgress(progress, expected_size)

    async def run() -> None:
        async with make_client(policy, follow_redirects=True) as client:
            await _stream_object(client, url, expected_size, sink, mono, policy)

    await within(deadline, f"reading back {shown}", run())
    actual = sink.checksum()
    if actual != expected_checksum:
        raise WrongContent(shown, expected_checksum, actual)
    mono.finish()
    return Verified(url=url, size=expected_size, checksum=actual)


def partial_path(dest: Path, expected_checksum: str) -> Path:
    """Where an unfinished download of ``dest`` lives. Named after the object's checksum, so a
    leftover from a different object is never resumed into this one."""
    return dest.parent / f".{dest.name}.{expected_checksum[:16]}.part"


async def download(
    url: str,
    dest: Path,
    *,
    expected_size: int,
    expected_checksum: str,
    progress: ProgressCallback | None = None,
    policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resumable, verified before it appears.

    Bytes go to a hidden ``.part`` file next to ``dest``; an interrupted download (a dropped
    connection, or a killed process) leaves that file and the next call resumes from its end.
    ``dest`` appears, by an atomic rename, only once size and Blake2b-256 checksum match; a
    download that turns out to hold other bytes is deleted.
    """
    check_checksum(expected_checksum)
    policy = policy or RetryPolicy()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest, expected_checksum)
    deadline = timeout if timeout is not None else policy.deadline_for(expected_size)
    shown = display_url(url)
    mono = MonotonicProgress(progress, expected_size)

    async def run() -> None:
        resumed, actual = await _fetch_into(url, part, expected_size, mono, policy)
        if actual != expected_checksum and resumed:
            # The leftover held other bytes (the object changed since): once more from zero.
            await asyncio.to_thread(_unlink, part)
            resumed, actual = await _fetch_into(url, part, expected_size, mono, policy)
        if actual != expected_checksum:
            await asyncio.to_thread(_unlink, part)
            raise WrongContent(shown, expected_checksum, actual)
        await asyncio.to_thread(_publish, part, dest)

    await within(deadline, f"downloading {shown}", run())
    mono.finish()
    return dest


async def _fetch_into(
    url: str, part: Path, size: int, progress: MonotonicProgress, policy: RetryPolicy
) -> tuple[bool, str]:
    """Complete ``part`` to ``size`` bytes. Returns whether it resumed bytes left by an earlier
    run, and the Blake2b-256 (Base58) of the whole file."""
    fh, hasher = await asyncio.to_thread(_open_part, part, size)
    try:
        start = await asyncio.to_thread(fh.tell)
        sink = _Sink(fh=fh, done=start, hasher=hasher)
        progress(start)
        if start < size:
            async with make_client(policy, follow_redirects=True) as client:
                try:
                    await _stream_object(client, url, size, sink, progress, policy)
                except WrongSize:
                    await asyncio.to_thread(fh.close)
                    await asyncio.to_thread(_unlink, part)  # bytes of an object we do not want
                    raise
        await asyncio.to_thread(_flush, fh)
        return start > 0, sink.checksum()
    finally:
        await asyncio.to_thread(fh.close)


def _open_part(part: Path, size: int) -> tuple[IO[bytes], hashlib.blake2b]:
    """Open the partial file for appending, and hash what it already holds."""
    fh = open(part, "a+b")  # noqa: SIM115 - closed by the caller
    hasher = hashlib.blake2b(digest_size=32)
    if fh.tell() > size:
        fh.truncate(0)
    else:
        fh.seek(0)
        while block := fh.read(CHUNK):
            hasher.update(block)
    return fh, hasher


def _flush(fh: IO[bytes]) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _publish(part: Path, dest: Path) -> None:
    os.replace(part, dest)
    fsync_dir(dest.parent)
