"""httpx plumbing shared by the HTTP backends and the read-back check."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import httpx

from soma_console import __version__
from soma_console.core.storage.common import CHUNK, MonotonicProgress
from soma_console.core.storage.errors import StorageError
from soma_console.core.storage.retry import (
    TRANSIENT_STATUS,
    RetryPolicy,
    Transient,
    retry_after_seconds,
    with_retries,
)
from soma_console.encoding import b58encode


def make_client(policy: RetryPolicy, *, follow_redirects: bool) -> httpx.AsyncClient:
    # A streamed PUT body cannot be replayed to a redirect target, so uploads never follow one.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=policy.connect_timeout,
            read=policy.read_timeout,
            write=policy.read_timeout,
            pool=policy.connect_timeout,
        ),
        follow_redirects=follow_redirects,
        headers={"User-Agent": f"soma-console/{__version__}"},
    )


def _read_and_hash(fh: IO[bytes], n: int, hasher: hashlib.blake2b | None) -> bytes:
    data = fh.read(n)
    if hasher is not None:
        hasher.update(data)  # hashlib drops the GIL for large buffers; this runs in a worker thread
    return data


async def file_body(
    path: Path,
    size: int,
    *,
    progress: MonotonicProgress,
    hasher: hashlib.blake2b | None = None,
) -> AsyncIterator[bytes]:
    """Stream ``size`` bytes of ``path`` in 1 MiB chunks, reading (and hashing) off the event loop."""
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        sent = 0
        while sent < size:
            data = await asyncio.to_thread(_read_and_hash, fh, min(CHUNK, size - sent), hasher)
            if not data:
                raise StorageError(
                    f"{path} became shorter while it was being uploaded.",
                    hint="Make sure nothing else writes to the weights file, then upload again.",
                )
            sent += len(data)
            progress(sent)
            yield data
    finally:
        await asyncio.to_thread(fh.close)


def error_code_from_body(body: bytes) -> str | None:
    """The ``<Code>`` of an S3-style XML error body, if any; nothing else from the body is used
    (a SignatureDoesNotMatch body echoes the request's signature)."""
    import re

    match = re.search(rb"<Code>([A-Za-z0-9_.-]{1,64})</Code>", body[:4096])
    return match.group(1).decode() if match else None


async def put_file(
    client: httpx.AsyncClient,
    url: str,
    path: Path,
    size: int,
    *,
    progress: MonotonicProgress,
    policy: RetryPolicy,
    give_up: Callable[[str, int], Exception],
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, str]:
    """PUT ``path`` to ``url`` as a streamed body with a Content-Length (presigned S3 URLs refuse
    chunked uploads), retrying transient failures from byte 0.

    Returns the final response (any non-transient status; the caller judges it) and the
    Blake2b-256 (Base58) of the bytes sent by the attempt that produced it.
    """

    async def attempt(_n: int) -> tuple[httpx.Response, str]:
        hasher = hashlib.blake2b(digest_size=32)
        body = file_body(path, size, progress=progress, hasher=hasher)
        resp = await client.request(
            "PUT",
            url,
            content=body,
            headers={"Content-Length": str(size), **(headers or {})},
        )
        if resp.status_code in TRANSIENT_STATUS:
            raise Transient(
                f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(), retry_after_seconds(resp.headers)
            )
        return resp, b58encode(hasher.digest())

    return await with_retries(policy, attempt, give_up)
