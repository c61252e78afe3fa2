"""S3-compatible storage against a real S3 server on loopback (moto in server mode).

Uploads go through the production S3Backend (boto3 on worker threads); the public URL is read
back anonymously over HTTP exactly as a validator would, with verify_public.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from soma_console.core.storage import (
    NotReadable,
    StorageError,
    WrongContent,
    WrongSize,
    make_backend,
    parse_storage_spec,
    publish,
    resolve_storage,
    verify_public,
)
from soma_console.core.storage.s3 import S3Backend, S3Transfer
from soma_console.core.storage.targets import S3Target
from tests.storage.conftest import FAST, AuthMoto, AwsCreds, ProgressLog, checksum_of, write_file
from tests.storage.servers import BlobStandIn

MiB = 1024 * 1024
# S3's smallest part is 5 MiB; 11 MiB in 5 MiB parts makes a three-part upload.
SMALL_PARTS = S3Transfer(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=3)


def s3_backend(spec: str, transfer: S3Transfer | None = None) -> S3Backend:
    target = parse_storage_spec(spec)
    assert isinstance(target, S3Target)
    return S3Backend(target, FAST, transfer)


def assert_clean(err: BaseException, *secrets: str) -> None:
    """One sentence, and no credential in the message, the repr or the chained causes."""
    text = f"{err} {err!r} {err.__cause__!r} {err.__context__!r}"
    for secret in secrets:
        assert secret not in text
    assert "\n" not in str(err)


async def test_small_upload_is_publicly_readable_and_verified(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str]
) -> None:
    bucket = new_bucket()
    path = write_file(tmp_path / "w.enc", 300_000, seed=1)
    progress = ProgressLog()
    backend = resolve_storage(f"s3://{bucket}/soma/v1?endpoint={moto_endpoint}", policy=FAST)
    url = await backend.upload(path, "w.enc", progress)
    assert url == f"{moto_endpoint}/{bucket}/soma/v1/w.enc"
    progress.assert_monotonic_to(300_000)
    assert progress.threads == {threading.get_ident()}  # delivered on the event loop's thread
    verified = await verify_public(url, 300_000, checksum_of(path), 30)
    assert (verified.size, verified.checksum) == (300_000, checksum_of(path))


async def test_multipart_upload_reports_progress_and_never_blocks_the_loop(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str], s3_admin: Any
) -> None:
    bucket = new_bucket()
    size = 11 * MiB + 123
    path = write_file(tmp_path / "big.enc", size, seed=2)
    progress = ProgressLog()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    backend = s3_backend(f"s3://{bucket}?endpoint={moto_endpoint}", SMALL_PARTS)
    url = await backend.upload(path, "big.enc", progress)
    tick_task.cancel()

    head = s3_admin.head_object(Bucket=bucket, Key="big.enc")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a three-part multipart upload
    progress.assert_monotonic_to(size)
    assert len(progress.calls) > 3
    assert progress.threads == {threading.get_ident()}
    assert ticks > 0  # the loop kept running while boto3 worked on its threads
    await verify_public(url, size, checksum_of(path), 60)


async def test_publish_uploads_then_reads_back(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str]
) -> None:
    bucket = new_bucket()
    path = write_file(tmp_path / "p.enc", 70_000, seed=3)
    backend = resolve_storage(f"s3://{bucket}?endpoint={moto_endpoint}", policy=FAST)
    verified = await publish(backend, path, "p.enc", checksum=checksum_of(path), policy=FAST)
    assert verified.url.endswith(f"/{bucket}/p.enc")


async def test_acl_public_read_makes_the_object_readable_without_a_bucket_policy(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str]
) -> None:
    bucket = new_bucket(public=False)
    path = write_file(tmp_path / "a.enc", 5_000, seed=4)
    private = resolve_storage(f"s3://{bucket}?endpoint={moto_endpoint}", policy=FAST)
    url = await private.upload(path, "private.enc")
    with pytest.raises(NotReadable) as info:
        await verify_public(url, 5_000, checksum_of(path), 30, policy=FAST)
    assert "is not readable: HTTP 403" in str(info.value)
    assert "Fix this before committing" in str(info.value)

    public = resolve_storage(f"s3://{bucket}?endpoint={moto_endpoint}&acl=public-read", policy=FAST)
    url = await public.upload(path, "public.enc")
    await verify_public(url, 5_000, checksum_of(path), 30)


async def test_a_public_url_serving_different_bytes_is_refused(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str], s3_admin: Any
) -> None:
    """The public base points at another bucket that holds other content under the same key."""
    upload_bucket, decoy_bucket = new_bucket(), new_bucket()
    path = write_file(tmp_path / "w.enc", 200_000, seed=5)
    s3_admin.put_object(Bucket=decoy_bucket, Key="w.enc", Body=b"\x00" * 200_000)  # same size
    s3_admin.put_object(Bucket=decoy_bucket, Key="short.enc", Body=b"\x00" * 1000)
    backend = resolve_storage(
        f"s3://{upload_bucket}?endpoint={moto_endpoint}&public={moto_endpoint}/{decoy_bucket}", policy=FAST
    )
    url = await backend.upload(path, "w.enc")
    assert url == f"{moto_endpoint}/{decoy_bucket}/w.enc"
    with pytest.raises(WrongContent) as info:
        await publish(backend, path, "w.enc", checksum=checksum_of(path), policy=FAST)
    assert "serves different bytes than were uploaded" in str(info.value)
    assert checksum_of(path) in str(info.value)

    # Same story when the size differs: refused on the length header, before reading the body.
    with pytest.raises(WrongSize, match="serves 1,000 bytes, not the 200,000 bytes"):
        await verify_public(f"{moto_endpoint}/{decoy_bucket}/short.enc", 200_000, checksum_of(path), 30)


async def test_missing_object_and_missing_bucket_are_not_readable(moto_endpoint: str) -> None:
    with pytest.raises(NotReadable, match="HTTP 404"):
        await verify_public(f"{moto_endpoint}/no-such-bucket-here/x.enc", 10, "1" * 32, 30, policy=FAST)


async def test_upload_to_a_missing_bucket(tmp_path: Path, moto_endpoint: str, aws_env: AwsCreds) -> None:
    path = write_file(tmp_path / "w.enc", 1000)
    backend = resolve_storage(f"s3://bucket-that-is-not-there?endpoint={moto_endpoint}", policy=FAST)
    with pytest.raises(StorageError) as info:
        await backend.upload(path, "w.enc")
    assert str(info.value).startswith(
        f"the bucket 'bucket-that-is-not-there' does not exist at {moto_endpoint}."
    )
    assert_clean(info.value, aws_env.secret)


async def test_unreachable_endpoint(tmp_path: Path, aws_env: AwsCreds, unused_tcp_port: int) -> None:
    path = write_file(tmp_path / "w.enc", 1000)
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    backend = resolve_storage(f"s3://some-bucket?endpoint={endpoint}", policy=FAST)
    with pytest.raises(StorageError) as info:
        await backend.upload(path, "w.enc")
    assert str(info.value).startswith(f"cannot reach {endpoint} for bucket 'some-bucket'.")
    assert_clean(info.value, aws_env.secret)
    with pytest.raises(NotReadable, match="connection refused"):
        await verify_public(f"{endpoint}/some-bucket/w.enc", 1000, checksum_of(path), 30, policy=FAST)


async def test_no_credentials_at_all(
    tmp_path: Path, moto_endpoint: str, aws_env: AwsCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = resolve_storage(f"s3://b-1?endpoint={moto_endpoint}", policy=FAST)
    with pytest.raises(StorageError, match=r"^no credentials found for s3://b-1\. Set AWS_ACCESS_KEY_ID"):
        await backend.upload(write_file(tmp_path / "w", 10), "w")


async def test_unknown_aws_profile(tmp_path: Path, moto_endpoint: str, aws_env: AwsCreds) -> None:
    backend = resolve_storage(f"s3://b-1?endpoint={moto_endpoint}&profile=nobody", policy=FAST)
    with pytest.raises(StorageError, match="the AWS profile 'nobody' named for s3://b-1 is not in"):
        await backend.upload(write_file(tmp_path / "w", 10), "w")


async def test_credentials_from_a_shared_credentials_profile(
    tmp_path: Path,
    moto_endpoint: str,
    new_bucket: Callable[..., str],
    aws_env: AwsCreds,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    bucket = new_bucket()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    creds = tmp_path / "aws-credentials"
    creds.write_text(
        "[uploader]\naws_access_key_id = AKIAPROFILE0001\naws_secret_access_key = profile-secret-0001\n"
    )
    remember_secret("profile-secret-0001")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    path = write_file(tmp_path / "w.enc", 4096, seed=6)
    backend = resolve_storage(f"s3://{bucket}?endpoint={moto_endpoint}&profile=uploader", policy=FAST)
    url = await backend.upload(path, "w.enc")
    await verify_public(url, 4096, checksum_of(path), 30)


@pytest.mark.parametrize("mistake", ["unknown key id", "wrong secret"])
async def test_rejected_credentials(
    tmp_path: Path,
    auth_moto: AuthMoto,
    aws_env: AwsCreds,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
    mistake: str,
) -> None:
    remember_secret(auth_moto.secret)
    if mistake == "wrong secret":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_moto.key_id)  # a real key, a wrong secret
    backend = resolve_storage(f"s3://{auth_moto.bucket}?endpoint={auth_moto.endpoint}", policy=FAST)
    with pytest.raises(StorageError) as info:
        await backend.upload(write_file(tmp_path / "w", 2000), "w")
    code = "InvalidAccessKeyId" if mistake == "unknown key id" else "SignatureDoesNotMatch"
    assert str(info.value).startswith(
        f"{auth_moto.endpoint} rejected the credentials for bucket '{auth_moto.bucket}' ({code})."
    )
    assert_clean(info.value, aws_env.secret, auth_moto.secret)
    assert aws_env.secret not in repr(backend)


async def test_the_right_credentials_pass_the_authenticating_server(
    tmp_path: Path,
    auth_moto: AuthMoto,
    aws_env: AwsCreds,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    """The same server accepts the real key: the refusals above are about the credentials."""
    remember_secret(auth_moto.secret)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", auth_moto.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", auth_moto.secret)
    backend = resolve_storage(f"s3://{auth_moto.bucket}?endpoint={auth_moto.endpoint}", policy=FAST)
    url = await backend.upload(write_file(tmp_path / "w", 2000), "ok.enc")
    # Anonymous reads of a private object are refused, as they would be on AWS.
    with pytest.raises(NotReadable, match="HTTP 403"):
        await verify_public(url, 2000, checksum_of(tmp_path / "w"), 30, policy=FAST)


async def test_deadline_cancels_and_aborts_the_multipart_upload(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str], s3_admin: Any
) -> None:
    from soma_console.core.storage import RetryPolicy

    bucket = new_bucket()
    path = write_file(tmp_path / "big.enc", 16 * MiB, seed=7)
    target = parse_storage_spec(f"s3://{bucket}?endpoint={moto_endpoint}")
    assert isinstance(target, S3Target)
    backend = S3Backend(target, RetryPolicy(attempts=1, timeout=0.05), SMALL_PARTS)
    with pytest.raises(StorageError, match=r"did not finish within 0\.05 s"):
        await backend.upload(path, "big.enc")
    assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "Contents" not in s3_admin.list_objects_v2(Bucket=bucket)


async def test_presigned_put_through_httpx(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str], s3_admin: Any
) -> None:
    bucket = new_bucket()
    size = 3 * MiB + 7
    path = write_file(tmp_path / "w.enc", size, seed=8)
    signed = s3_admin.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "drop/w.enc"}, ExpiresIn=600
    )
    assert "X-Amz-Signature=" in signed
    progress = ProgressLog()
    backend = resolve_storage(f"put:{signed}", policy=FAST)
    url = await backend.upload(path, "w.enc", progress)
    assert url == f"{moto_endpoint}/{bucket}/drop/w.enc"
    progress.assert_monotonic_to(size)
    assert s3_admin.head_object(Bucket=bucket, Key="drop/w.enc")["ContentLength"] == size
    await verify_public(url, size, checksum_of(path), 30)


@pytest.mark.parametrize(
    ("status", "code", "needle"),
    [
        (403, "SignatureDoesNotMatch", "was refused (HTTP 403, SignatureDoesNotMatch). It may have expired"),
        (403, "AccessDenied", "was refused (HTTP 403, AccessDenied)"),
        (404, "NoSuchBucket", "points at a bucket that does not exist (HTTP 404, NoSuchBucket)"),
        (400, "EntityTooLarge", "refused the upload as too large"),
    ],
)
async def test_presigned_put_refusals(
    tmp_path: Path, blob_server: BlobStandIn, remember_secret: Any, status: int, code: str, needle: str
) -> None:
    """moto does not check presigned signatures (and answers 500 when its authentication is on),
    so the S3-style refusals come from the loopback stand-in answering exactly what S3 sends."""
    signature = "f00dfacef00dface" * 4
    remember_secret(signature)
    blob_server.faults.s3_errors.append((status, code))
    signed = f"{blob_server.url}/blobs/x.enc?X-Amz-Expires=600&X-Amz-Signature={signature}"
    backend = make_backend(parse_storage_spec(f"put:{signed}"), policy=FAST)
    with pytest.raises(StorageError) as info:
        await backend.upload(write_file(tmp_path / "w", 500), "x.enc")
    assert str(info.value).startswith(f"the presigned URL {blob_server.url}/blobs/x.enc?… ")
    assert needle in str(info.value)
    assert_clean(info.value, signature)
    assert signature not in repr(backend)
    assert len(blob_server.seen) == 1  # a refusal is not retried


async def test_cancelling_mid_upload_aborts_the_multipart_upload(
    tmp_path: Path, moto_endpoint: str, new_bucket: Callable[..., str], s3_admin: Any
) -> None:
    bucket = new_bucket()
    path = write_file(tmp_path / "big.enc", 16 * MiB, seed=9)
    started = asyncio.Event()

    def on_progress(done: int, total: int) -> None:
        if done > 0:
            started.set()  # parts are on their way: the multipart upload exists

    backend = s3_backend(f"s3://{bucket}?endpoint={moto_endpoint}", SMALL_PARTS)
    task = asyncio.create_task(backend.upload(path, "big.enc", on_progress))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "Contents" not in s3_admin.list_objects_v2(Bucket=bucket)


async def test_s3_throttling_is_retried_then_explained(
    tmp_path: Path, blob_server: BlobStandIn, aws_env: AwsCreds
) -> None:
    """moto never throttles, so S3's SlowDown answers come from the loopback stand-in (a path-style
    PUT to bucket "blobs" lands on its /blobs/NAME route). Retries are botocore's, configured from
    our RetryPolicy."""
    from soma_console.core.storage import RetryPolicy

    policy = RetryPolicy(attempts=2, connect_timeout=2, read_timeout=5, timeout=60)
    path = write_file(tmp_path / "w.enc", 3000, seed=10)
    target = parse_storage_spec(f"s3://blobs?endpoint={blob_server.url}")
    assert isinstance(target, S3Target)

    blob_server.faults.s3_success = True
    blob_server.faults.s3_errors = [(503, "SlowDown")]
    url = await S3Backend(target, policy).upload(path, "w.enc")
    assert [s.method for s in blob_server.seen] == ["PUT", "PUT"]
    await verify_public(url, 3000, checksum_of(path), 30)

    blob_server.faults.s3_errors = [(503, "SlowDown")] * 2
    with pytest.raises(StorageError) as info:
        await S3Backend(target, policy).upload(path, "w.enc")
    assert str(info.value) == (
        f"{blob_server.url} kept failing while s3://blobs/w.enc was uploaded (SlowDown, after 2 attempts). "
        "The service is throttling or unwell; try again later."
    )
    assert_clean(info.value, aws_env.secret)
