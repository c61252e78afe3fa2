"""The embedded devnet's blob store: ``PUT/GET <blob_url>/blobs/<name>``.

Contract: a PUT of the raw bytes answers 201 with ``{"url", "size", "checksum"}`` (checksum =
Base58 Blake2b-256); GET streams the bytes and supports Range; 404 unknown, 400 bad name, 413 too
large. The store's own size and checksum are compared with the bytes we sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from soma_console.core.storage.common import (
    MonotonicProgress,
    ProgressCallback,
    check_object_name,
    upload_size,
)
from soma_console.core.storage.errors import StorageError
from soma_console.core.storage.httpio import make_client, put_file
from soma_console.core.storage.retry import RetryPolicy, within
from soma_console.core.storage.streaming import DevnetPutStream, UploadStream, devnet_answer
from soma_console.core.storage.targets import DevnetTarget


class DevnetBlobBackend:
    def __init__(self, target: DevnetTarget, policy: RetryPolicy | None = None) -> None:
        self._target = target
        self.policy = policy or RetryPolicy()

    @property
    def target(self) -> DevnetTarget:
        return self._target

    def __repr__(self) -> str:
        return f"<DevnetBlobBackend {self._target.blob_url}>"

    def describe(self) -> str:
        return self._target.describe()

    def public_url(self, object_name: str) -> str:
        return self._target.public_url(object_name)

    def open_stream(self, object_name: str, size: int) -> UploadStream:
        """A streamed PUT (blocking; see :mod:`.streaming`). The store keeps nothing of a short body."""
        name = check_object_name(object_name)
        return DevnetPutStream(
            self._target.blob_url, self.public_url(name), name, size, timeout=self.policy.read_timeout
        )

    def discard(self, object_name: str) -> None:
        """Nothing to do: the store writes an upload under its name only once it is complete, and
        a complete object nothing was committed with harms no one on a development chain."""

    async def upload(self, path: Path, object_name: str, progress: ProgressCallback | None = None) -> str:
        name = check_object_name(object_name)
        path = Path(path)
        size = await asyncio.to_thread(upload_size, path)
        url = self.public_url(name)
        mono = MonotonicProgress(progress, size)
        base = self._target.blob_url

        def give_up(reason: str, attempts: int) -> Exception:
            return StorageError(
                f"cannot upload {name} to the devnet blob store at {base}: {reason} "
                f"(after {attempts} attempts).",
                hint="Check that the devnet is running (its blob store listens there).",
            )

        async def run() -> str:
            async with make_client(self.policy, follow_redirects=False) as client:
                resp, sent_checksum = await put_file(
                    client,
                    url,
                    path,
                    size,
                    progress=mono,
                    policy=self.policy,
                    give_up=give_up,
                    headers={"Content-Type": "application/octet-stream"},
                )
            return self._accept(resp, name, size, sent_checksum)

        public = await within(self.policy.deadline_for(size), f"uploading {name} to {base}", run())
        mono.finish()
        return public

    def _accept(self, resp: httpx.Response, name: str, size: int, sent_checksum: str) -> str:
        return devnet_answer(
            resp.status_code,
            resp.content,
            name=name,
            size=size,
            checksum=sent_checksum,
            blob_url=self._target.blob_url,
        )
