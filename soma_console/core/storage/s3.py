"""S3-compatible buckets (AWS S3, Cloudflare R2, GCS interop, MinIO) through boto3.

boto3's transfer manager does the multipart upload (parts read from disk as they are sent, a few
in flight at once) and botocore retries throttling, 5xx and dropped connections with backoff. It
is synchronous, so it runs on its own threads: progress and completion are handed to the event
loop with ``call_soon_threadsafe`` and the loop never waits on a lock or a socket.

Credentials come only from boto3's standard chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, the shared config and
credentials files, instance roles). This module never reads, stores or prints them; errors are
built from S3 error codes, never from the text of botocore's exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import boto3
import botocore.exceptions
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from s3transfer.subscribers import BaseSubscriber

from soma_console.core.storage.common import (
    MonotonicProgress,
    ProgressCallback,
    check_object_name,
    display_url,
    upload_size,
)
from soma_console.core.storage.errors import StorageError
from soma_console.core.storage.retry import RetryPolicy
from soma_console.core.storage.targets import S3Target

log = logging.getLogger(__name__)
MiB = 1024 * 1024

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
    "Unauthorized",
}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
}


@dataclass(frozen=True)
class S3Transfer:
    """Multipart settings. S3 allows 10,000 parts of at least 5 MiB; 64 MiB parts put a V1
    checkpoint (4.84 GB) in 73 parts, and 4 in flight keep a long link busy with ~256 MiB of
    buffered bytes at most."""

    part_size: int = 64 * MiB
    multipart_threshold: int = 64 * MiB
    concurrency: int = 4
    # The commit's streamed upload holds its parts in memory: 8 MiB parts (605 for a V1
    # checkpoint), two in flight and one filling, keep that under 32 MiB.
    stream_part_size: int = 8 * MiB
    stream_concurrency: int = 2


class _Reporter(BaseSubscriber):
    """Runs on transfer threads; forwards progress and completion to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, progress: MonotonicProgress) -> None:
        self._loop = loop
        self._progress = progress
        self._sent = 0
        self._lock = threading.Lock()
        self.done: asyncio.Future[None] = loop.create_future()

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        # A retried part reports negative bytes; MonotonicProgress holds the bar still meanwhile.
        with self._lock:
            self._sent += bytes_transferred
            sent = self._sent
        self._loop.call_soon_threadsafe(self._progress, sent)

    def on_done(self, future: Any, **kwargs: Any) -> None:
        self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class S3Backend:
    def __init__(
        self,
        target: S3Target,
        policy: RetryPolicy | None = None,
        transfer: S3Transfer | None = None,
    ) -> None:
        self._target = target
        self.policy = policy or RetryPolicy()
        self.transfer = transfer or S3Transfer()
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def target(self) -> S3Target:
        return self._target

    def __repr__(self) -> str:
        return f"<S3Backend {self._target.describe()}>"

    def describe(self) -> str:
        return self._target.describe()

    def public_url(self, object_name: str) -> str:
        return self._target.public_url(object_name)

    # -- the client (built on a worker thread: it reads config files) --------------------------

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        t = self._target
        try:
            session = boto3.session.Session(profile_name=t.aws_profile)
        except botocore.exceptions.ProfileNotFound:
            raise StorageError(
                f"the AWS profile {t.aws_profile!r} named for s3://{t.bucket} is not in the shared "
                "config or credentials files.",
                hint="Check profile= in the storage spec and ~/.aws/config (or AWS_CONFIG_FILE).",
            ) from None
        if session.get_credentials() is None:
            raise StorageError(
                f"no credentials found for s3://{t.bucket}.",
                hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with profile=.",
            )
        custom = t.endpoint is not None
        addressing = t.addressing or ("path" if custom else "auto")
        config = Config(
            connect_timeout=self.policy.connect_timeout,
            read_timeout=self.policy.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.policy.attempts},
            s3={"addressing_style": addressing},
            signature_version="s3v4",
            max_pool_connections=self.transfer.concurrency + 2,
            user_agent_extra="soma-console",
            # Non-AWS stores (GCS interop, older MinIO and R2) reject the newer default of
            # streaming CRC32 trailers; the read-back check covers integrity end to end anyway.
            request_checksum_calculation="when_required" if custom else "when_supported",
            response_checksum_validation="when_required" if custom else "when_supported",
        )
        region = t.region or ("us-east-1" if custom else session.region_name)
        return session.client("s3", endpoint_url=t.endpoint, region_name=region, config=config)

    # -- upload ---------------------------------------------------------------------------------

    async def upload(self, path: Path, object_name: str, progress: ProgressCallback | None = None) -> str:
        check_object_name(object_name)
        path = Path(path)
        size = await asyncio.to_thread(upload_size, path)
        key = self._target.key(object_name)
        mono = MonotonicProgress(progress, size)
        loop = asyncio.get_running_loop()
        reporter = _Reporter(loop, mono)
        what = f"uploading {path.name} to s3://{self._target.bucket}/{key}"
        deadline = asyncio.timeout(self.policy.deadline_for(size))
        # Starting (building the client, submitting the transfer) runs on a thread that a
        # cancellation cannot stop, so it is shielded and awaited before the transfer is abandoned.
        starter = asyncio.ensure_future(asyncio.to_thread(self._start, path, key, reporter))
        try:
            async with deadline:
                _, future = await asyncio.shield(starter)
                await reporter.done
                future.result()  # already finished: raises the transfer's error, if any
        except TimeoutError:
            if not deadline.expired():
                raise
            await self._abandon(starter)
            raise StorageError(
                f"{what} did not finish within {self.policy.deadline_for(size):g} s.",
                hint="Check the network, or raise [storage] timeout_seconds in config.toml.",
            ) from None
        except asyncio.CancelledError:
            await self._abandon(starter)
            raise
        except StorageError:
            raise
        except Exception as exc:
            log.debug("S3 upload of %s failed: %s", key, type(exc).__name__, exc_info=True)
            raise self._explain(exc, key) from None
        finally:
            if starter.done() and not starter.cancelled() and starter.exception() is None:
                manager, _ = starter.result()
                await asyncio.to_thread(manager.shutdown)
        mono.finish()
        return self.public_url(object_name)

    def _start(self, path: Path, key: str, reporter: _Reporter) -> tuple[Any, Any]:
        client = self._get_client()
        config = TransferConfig(
            multipart_threshold=self.transfer.multipart_threshold,
            multipart_chunksize=self.transfer.part_size,
            max_concurrency=self.transfer.concurrency,
            preferred_transfer_client="classic",
        )
        manager = create_transfer_manager(client, config)
        extra: dict[str, str] = {"ContentType": "application/octet-stream"}
        if self._target.acl:
            extra["ACL"] = self._target.acl
        future = manager.upload(str(path), self._target.bucket, key, extra_args=extra, subscribers=[reporter])
        return manager, future

    # -- streamed upload (the commit's encryption pass feeds it) ---------------------------------

    def open_stream(self, object_name: str, size: int) -> _S3Stream:
        """An upload that parts are sent to as they are produced (blocking). Objects up to one
        part go up with a single PUT at the end, like the transfer manager does below its
        multipart threshold."""
        key = self._target.key(object_name)
        return _S3Stream(self, self._get_client(), key, self.public_url(object_name))

    def _extra(self) -> dict[str, str]:
        extra: dict[str, str] = {"ContentType": "application/octet-stream"}
        if self._target.acl:
            extra["ACL"] = self._target.acl
        return extra

    def discard(self, object_name: str) -> None:
        """Abort every unfinished multipart upload of ``object_name`` and delete the object if a
        finished one exists (blocking; used for an attempt nothing was committed with)."""
        key = self._target.key(object_name)
        bucket = self._target.bucket
        try:
            client = self._get_client()
            listing = client.list_multipart_uploads(Bucket=bucket, Prefix=key)
            for upload in listing.get("Uploads", []):
                if upload.get("Key") == key:
                    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            log.debug("cleaning up %s failed", key, exc_info=True)
            raise self._explain(exc, key) from None

    @staticmethod
    async def _abandon(starter: asyncio.Future[tuple[Any, Any]]) -> None:
        """Cancel the transfer and wait for its threads to wind down; a cancelled multipart upload
        is aborted by the transfer manager, so no orphaned parts stay billed in the bucket."""
        with contextlib.suppress(Exception):
            manager, future = await asyncio.shield(starter)
            # future.cancel(), not manager.shutdown(cancel=True): the latter passes its arguments
            # on in the wrong order in s3transfer 0.19 and fails without cancelling anything.
            future.cancel()
            await asyncio.shield(asyncio.to_thread(manager.shutdown))

    def _explain(self, exc: BaseException, key: str) -> StorageError:
        """One sentence for a botocore/s3transfer failure, from its error code only."""
        t = self._target
        where = f"s3://{t.bucket}/{key}"
        endpoint = display_url(t.endpoint) if t.endpoint else "AWS S3"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "")) or str(
                exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
            )
            if code in ("NoSuchBucket", "404"):
                return StorageError(
                    f"the bucket {t.bucket!r} does not exist at {endpoint}.",
                    hint="Check the bucket name and endpoint= / region= in the storage spec.",
                )
            if code in _REGION_CODES:
                return StorageError(
                    f"{endpoint} says bucket {t.bucket!r} is in another region ({code}).",
                    hint="Set region= in the storage spec to the bucket's region.",
                )
            if code in _CREDENTIAL_CODES:
                return StorageError(
                    f"{endpoint} rejected the credentials for bucket {t.bucket!r} ({code}).",
                    hint="Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile, and that "
                    "they belong to this endpoint.",
                )
            if code in ("AccessDenied", "AllAccessDisabled", "403"):
                return StorageError(
                    f"access denied writing {where} ({code}).",
                    hint="The credentials need s3:PutObject (and the multipart actions) on this bucket.",
                )
            if code in ("AccessControlListNotSupported", "InvalidRequest") and t.acl:
                return StorageError(
                    f"the bucket {t.bucket!r} does not accept the {t.acl!r} ACL ({code}).",
                    hint="Drop acl= from the storage spec and make objects public with a bucket policy "
                    "or the provider's public-access setting.",
                )
            if code in _TRANSIENT_CODES:
                return StorageError(
                    f"{endpoint} kept failing while {where} was uploaded ({code}, after "
                    f"{self.policy.attempts} attempts).",
                    hint="The service is throttling or unwell; try again later.",
                )
            return StorageError(
                f"{endpoint} refused the upload of {where} ({code or 'unknown error'}).",
                hint="Check the bucket's settings and the credentials' permissions.",
            )
        if isinstance(
            exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
        ):
            return StorageError(
                f"cannot reach {endpoint} for bucket {t.bucket!r}.",
                hint="Check endpoint= in the storage spec and the network.",
            )
        if isinstance(exc, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectionClosedError):
            return StorageError(
                f"{endpoint} stopped responding while {where} was uploaded, after "
                f"{self.policy.attempts} attempts.",
                hint="Check the network and try again.",
            )
        if isinstance(
            exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
        ):
            return StorageError(
                f"no complete credentials found for s3://{t.bucket}.",
                hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with profile=.",
            )
        if isinstance(exc, OSError):
            return StorageError(
                f"cannot read the file being uploaded to {where}: {exc.strerror or type(exc).__name__}.",
                hint="Check the weights file.",
            )
        return StorageError(
            f"uploading {where} to {endpoint} failed ({type(exc).__name__}).",
            hint="Run with -v for details, and check the storage spec.",
        )


class _S3Stream:
    """Parts of ``S3Transfer.stream_part_size`` go out as soon as they are filled, at most
    ``stream_concurrency`` at once; ``write`` blocks when that many are in flight. An object of
    one part or less goes up with a single PUT."""

    def __init__(self, backend: S3Backend, client: Any, key: str, url: str) -> None:
        self.url = url
        self.busy_seconds = 0.0
        self._backend, self._client, self._key = backend, client, key
        self._bucket = backend.target.bucket
        self._upload_id: str | None = None
        self._part_size = backend.transfer.stream_part_size
        # One buffer filling and one per part in flight; a part's buffer comes back when it is sent.
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(backend.transfer.stream_concurrency):
            self._free.put(bytearray(self._part_size))
        self._buffer = bytearray(self._part_size)
        self._filled = 0
        self._parts: list[Future[dict[str, Any]]] = []
        self._pool = ThreadPoolExecutor(
            max_workers=backend.transfer.stream_concurrency, thread_name_prefix="s3-part"
        )

    def write(self, data: memoryview) -> None:
        started = time.perf_counter()
        while len(data):
            if self._filled == self._part_size:  # full, and more is coming: send it
                self._send()
            n = min(len(data), self._part_size - self._filled)
            self._buffer[self._filled : self._filled + n] = data[:n]
            self._filled += n
            data = data[n:]
        self.busy_seconds += time.perf_counter() - started

    def _send(self) -> None:
        """Send the filled buffer as the next part and take a free buffer (waits for one)."""
        for f in self._parts:
            if f.done() and f.exception() is not None:
                self._raise(f.exception())
        try:
            if self._upload_id is None:
                answer = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, **self._backend._extra()
                )
                self._upload_id = answer["UploadId"]
        except Exception as exc:
            self._raise(exc)
        body, size = self._buffer, self._filled
        number = len(self._parts) + 1
        # botocore takes a bytearray as it is; only a short last part is copied out.
        payload = body if size == len(body) else bytes(memoryview(body)[:size])
        future = self._pool.submit(self._upload_part, number, payload)
        future.add_done_callback(lambda _f: self._free.put(body))
        self._parts.append(future)
        self._buffer, self._filled = self._free.get(), 0

    def _upload_part(self, number: int, body: bytes | bytearray) -> dict[str, Any]:
        resp = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": resp["ETag"]}

    def _raise(self, exc: BaseException | None) -> NoReturn:
        if isinstance(exc, StorageError):
            raise exc
        log.debug("uploading %s failed", self._key, exc_info=exc)
        raise self._backend._explain(exc or RuntimeError(), self._key) from None

    def finish(self, checksum: str) -> str:
        started = time.perf_counter()
        try:
            if self._upload_id is None:
                body = bytes(memoryview(self._buffer)[: self._filled])
                self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=body, **self._backend._extra()
                )
            else:
                if self._filled:
                    self._send()
                parts = [f.result() for f in self._parts]
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except Exception as exc:
            self._raise(exc)
        finally:
            self._pool.shutdown(wait=True)
        self.busy_seconds += time.perf_counter() - started
        return self.url

    def abort(self) -> None:
        """Stop sending and abort the multipart upload, so no parts stay billed in the bucket."""
        for f in self._parts:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._upload_id is not None:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
