"""Fixtures for the storage tests: a real S3-compatible server (moto, server mode) on loopback,
an authenticating one in its own process, the devnet blob stand-in, and AWS credentials that exist
only for the test."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from soma_console.core.storage import RetryPolicy
from tests.conftest import REPO
from tests.storage.servers import BlobStandIn

# Small backoff so that retry paths take milliseconds; the logic is the production one.
FAST = RetryPolicy(
    attempts=3, backoff_base=0.01, backoff_max=0.05, connect_timeout=2, read_timeout=5, timeout=60
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    # moto logs every request line (presigned URLs included) through werkzeug's logger.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class AwsCreds:
    key_id: str
    secret: str


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remember_secret: Any) -> AwsCreds:
    """Credentials in the standard environment variables, and nothing from the real user's ~/.aws."""
    creds = AwsCreds(key_id="AKIA" + secrets.token_hex(8).upper(), secret=secrets.token_urlsafe(30))
    remember_secret(creds.secret)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return creds


@pytest.fixture
def s3_admin(moto_endpoint: str, aws_env: AwsCreds) -> Any:
    """A plain boto3 client for arranging buckets (never used for the code under test)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def public_read_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


@pytest.fixture
def new_bucket(s3_admin: Any) -> Callable[..., str]:
    """``new_bucket(public=True)`` -> a fresh bucket name; public ones carry a public-read policy."""

    def make(public: bool = True) -> str:
        name = f"weights-{uuid.uuid4().hex[:12]}"
        s3_admin.create_bucket(Bucket=name)
        if public:
            s3_admin.put_bucket_policy(Bucket=name, Policy=public_read_policy(name))
        return name

    return make


@dataclass
class AuthMoto:
    endpoint: str
    key_id: str
    secret: str
    bucket: str


@pytest.fixture(scope="module")
def auth_moto() -> Iterator[AuthMoto]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.moto_auth_server"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            pytest.fail("the authenticating moto server did not start")
        info = json.loads(line)
        yield AuthMoto(info["endpoint"], info["key_id"], info["secret"], info["bucket"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def blob_server() -> Iterator[BlobStandIn]:
    server = BlobStandIn().start()
    yield server
    server.stop()


def write_file(path: Path, size: int, seed: int = 0) -> Path:
    """Deterministic, incompressible-looking content without holding much memory."""
    block = hashlib_stream(seed)
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = next(block)[: min(left, 1 << 20)]
            fh.write(chunk)
            left -= len(chunk)
    return path


def hashlib_stream(seed: int) -> Iterator[bytes]:
    import hashlib

    counter = 0
    while True:
        # 1 MiB of pseudo-random bytes per step: a SHAKE stream keyed by seed and counter.
        yield hashlib.shake_256(f"{seed}:{counter}".encode()).digest(1 << 20)
        counter += 1


def checksum_of(path: Path) -> str:
    import hashlib

    from soma_console.encoding import b58encode

    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return b58encode(h.digest())


class ProgressLog:
    """A progress callback that records every call and the thread it came on."""

    def __init__(self) -> None:
        import threading

        self.calls: list[tuple[int, int]] = []
        self.threads: set[int] = set()
        self._threading = threading

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        self.threads.add(self._threading.get_ident())

    def assert_monotonic_to(self, total: int) -> None:
        assert self.calls, "progress was never reported"
        dones = [d for d, _ in self.calls]
        assert dones == sorted(dones), dones
        assert all(t == total for _, t in self.calls)
        assert self.calls[-1] == (total, total)
