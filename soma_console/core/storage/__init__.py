"""Storage for encrypted weights: upload them somewhere validators can read, and prove it.

Typical use (the commit flow)::

    backend = resolve_storage(spec, settings=ctx.settings, chain=ctx.chain)
    url = await backend.upload(path, object_name, progress)
    await verify_public(url, size, checksum, timeout)     # refuses before anything is committed

``spec`` grammar, credentials and public URLs per provider: docs/storage.md. Nothing here imports
a UI, and nothing blocks an event loop (boto3 runs on worker threads; httpx is async).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from soma_console.config import ChainProfile, Settings
from soma_console.core.storage.common import ProgressCallback, check_object_name, display_url, upload_size
from soma_console.core.storage.errors import (
    NotReadable,
    PublicUrlError,
    StorageError,
    StorageSpecError,
    WrongContent,
    WrongSize,
)
from soma_console.core.storage.fetch import Verified, download, partial_path, verify_public
from soma_console.core.storage.readback import RangesUnsupported, verify_ranges
from soma_console.core.storage.retry import RetryPolicy, within
from soma_console.core.storage.spec import parse_storage_spec
from soma_console.core.storage.targets import (
    DevnetTarget,
    PresignedPutTarget,
    S3Target,
    StorageBackend,
    StorageTarget,
)

__all__ = [
    "DevnetTarget",
    "NotReadable",
    "PresignedPutTarget",
    "ProgressCallback",
    "PublicUrlError",
    "RetryPolicy",
    "S3Target",
    "StorageBackend",
    "StorageError",
    "StorageSpecError",
    "StorageTarget",
    "Verified",
    "WrongContent",
    "WrongSize",
    "check_object_name",
    "display_url",
    "download",
    "make_backend",
    "parse_storage_spec",
    "partial_path",
    "publish",
    "resolve_storage",
    "verify_public",
    "verify_public_fast",
]


def make_backend(target: StorageTarget, *, policy: RetryPolicy | None = None) -> StorageBackend:
    """The uploader for ``target``. boto3 is imported only when an S3 target is used."""
    if isinstance(target, S3Target):
        from soma_console.core.storage.s3 import S3Backend

        return S3Backend(target, policy)
    if isinstance(target, PresignedPutTarget):
        from soma_console.core.storage.presigned import PresignedPutBackend

        return PresignedPutBackend(target, policy)
    from soma_console.core.storage.devnet import DevnetBlobBackend

    return DevnetBlobBackend(target, policy)


def resolve_storage(
    spec: str | None,
    *,
    settings: Settings | None = None,
    chain: ChainProfile | None = None,
    public_url: str | None = None,
    policy: RetryPolicy | None = None,
) -> StorageBackend:
    """Parse ``spec`` (see :func:`parse_storage_spec`) and build its backend. The retry policy
    defaults to ``[storage]`` in config.toml when ``settings`` are given."""
    target = parse_storage_spec(spec, settings=settings, chain=chain, public_url=public_url)
    if policy is None and settings is not None:
        policy = RetryPolicy.from_settings(settings)
    return make_backend(target, policy=policy)


async def publish(
    backend: StorageBackend,
    path: Path,
    object_name: str,
    *,
    checksum: str,
    upload_progress: ProgressCallback | None = None,
    verify_progress: ProgressCallback | None = None,
    verify_timeout: float | None = None,
    policy: RetryPolicy | None = None,
) -> Verified:
    """Upload ``path`` and read it back from its public URL: the step before any commit.

    ``checksum`` is the Blake2b-256 (Base58) of the file, which the encryption pass computed.
    Raises a :class:`StorageError` (upload failed) or a :class:`PublicUrlError` (the URL does not
    serve these bytes); on success the returned URL is safe to commit.
    """
    size = await asyncio.to_thread(upload_size, Path(path))
    url = await backend.upload(Path(path), object_name, upload_progress)
    return await verify_public(url, size, checksum, verify_timeout, progress=verify_progress, policy=policy)


async def verify_public_fast(
    url: str,
    size: int,
    checksum: str,
    *,
    progress: ProgressCallback | None = None,
    policy: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Verified:
    """:func:`verify_public` with several Range requests in flight (see :mod:`.readback`); a
    server that does not serve ranges gets the sequential check."""
    policy = policy or RetryPolicy()
    deadline = timeout if timeout is not None else policy.deadline_for(size)
    try:
        await within(
            deadline,
            f"reading back {display_url(url)}",
            asyncio.to_thread(verify_ranges, url, size, checksum, progress=progress, policy=policy),
        )
    except RangesUnsupported:
        return await verify_public(url, size, checksum, timeout, progress=progress, policy=policy)
    return Verified(url=url, size=size, checksum=checksum)
