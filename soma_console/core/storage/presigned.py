"""A plain HTTP PUT to a presigned URL (S3, R2, GCS signed URLs), streamed from disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from soma_console.core.storage.common import (
    MonotonicProgress,
    ProgressCallback,
    check_object_name,
    display_url,
    upload_size,
)
from soma_console.core.storage.errors import StorageError
from soma_console.core.storage.httpio import error_code_from_body, make_client, put_file
from soma_console.core.storage.retry import RetryPolicy, within
from soma_console.core.storage.targets import PresignedPutTarget

# S3's own codes that mean "the signature is no good": expired, wrong secret, wrong method.
_SIGNATURE_CODES = {"SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidAccessKeyId"}


class PresignedPutBackend:
    """The URL names one object, so ``object_name`` is only checked, not used."""

    def __init__(self, target: PresignedPutTarget, policy: RetryPolicy | None = None) -> None:
        self._target = target
        self.policy = policy or RetryPolicy()

    @property
    def target(self) -> PresignedPutTarget:
        return self._target

    def __repr__(self) -> str:
        return f"<PresignedPutBackend {display_url(self._target.put_url.reveal())}>"

    def describe(self) -> str:
        return self._target.describe()

    def public_url(self, object_name: str) -> str:
        return self._target.public_url(object_name)

    async def upload(self, path: Path, object_name: str, progress: ProgressCallback | None = None) -> str:
        check_object_name(object_name)
        path = Path(path)
        size = await asyncio.to_thread(upload_size, path)
        put_url: str = self._target.put_url.reveal()
        shown = display_url(put_url)
        mono = MonotonicProgress(progress, size)

        def give_up(reason: str, attempts: int) -> Exception:
            return StorageError(
                f"cannot upload to the presigned URL {shown}: {reason} (after {attempts} attempts).",
                hint="Check the network and the host of the URL, then try again.",
            )

        async def run() -> None:
            async with make_client(self.policy, follow_redirects=False) as client:
                resp, _ = await put_file(
                    client, put_url, path, size, progress=mono, policy=self.policy, give_up=give_up
                )
            self._accept(resp, shown)

        await within(self.policy.deadline_for(size), f"uploading to {shown}", run())
        mono.finish()
        return self._target.public

    @staticmethod
    def _accept(resp: httpx.Response, shown: str) -> None:
        status = resp.status_code
        if status in (200, 201, 204):
            return
        code = error_code_from_body(resp.content)
        detail = f"HTTP {status}" + (f", {code}" if code else "")
        if status in (401, 403) or code in _SIGNATURE_CODES:
            raise StorageError(
                f"the presigned URL {shown} was refused ({detail}).",
                hint="It may have expired or been signed for another method, key or content type; "
                "make a fresh PUT URL.",
            )
        if status == 404:
            raise StorageError(
                f"the presigned URL {shown} points at a bucket that does not exist ({detail}).",
                hint="Check the bucket in the URL.",
            )
        if status == 413 or code == "EntityTooLarge":
            raise StorageError(
                f"the presigned URL {shown} refused the upload as too large ({detail}).",
                hint="A single PUT is limited to 5 GiB on S3; use an s3:// spec for multipart uploads.",
            )
        raise StorageError(f"the presigned URL {shown} refused the upload ({detail}).", hint="Check the URL.")
