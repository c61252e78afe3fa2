"""Storage throughput and memory: upload a large file to a loopback S3 server, read it back.

Proves the S3 upload, the public read-back check and the download stream: peak RSS grows by a
bounded amount (parts in flight, buffers), not by the file's size. The S3 server (moto) runs in a
separate process so its copy of the object does not count against ours.

Run: python -m bench.storage_upload [--size-mib 256]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024

_SERVER = """
import json, logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
import boto3
from moto.server import ThreadedMotoServer
s = ThreadedMotoServer("127.0.0.1", 0, verbose=False); s.start()
host, port = s.get_host_and_port(); ep = f"http://{host}:{port}"
c = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
c.create_bucket(Bucket="bench-weights")
rule = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bench-weights/*"}
c.put_bucket_policy(Bucket="bench-weights", Policy=json.dumps({"Version": "2012-10-17", "Statement": [rule]}))
print(ep, flush=True)
sys.stdin.read()
s.stop()
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_file(path: Path, size: int) -> str:
    hasher = hashlib.blake2b(digest_size=32)
    with open(path, "wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, MiB))
            hasher.update(block)
            fh.write(block)
            left -= len(block)
    from soma_console.encoding import b58encode

    return b58encode(hasher.digest())


async def run(size: int, endpoint: str, workdir: Path) -> dict[str, float]:
    from soma_console.core.storage import RetryPolicy, download, parse_storage_spec, verify_public
    from soma_console.core.storage.s3 import S3Backend
    from soma_console.core.storage.targets import S3Target

    src = workdir / "weights.enc"
    checksum = make_file(src, size)
    target = parse_storage_spec(f"s3://bench-weights/bench?endpoint={endpoint}")
    assert isinstance(target, S3Target)
    backend = S3Backend(target, RetryPolicy())
    out: dict[str, float] = {"size_mib": size / MiB, "rss_before_mib": peak_rss_mib()}

    t0 = time.perf_counter()
    url = await backend.upload(src, "weights.enc")
    out["upload_s"] = time.perf_counter() - t0
    out["rss_after_upload_mib"] = peak_rss_mib()

    t0 = time.perf_counter()
    await verify_public(url, size, checksum, 600)
    out["verify_s"] = time.perf_counter() - t0
    out["rss_after_verify_mib"] = peak_rss_mib()

    t0 = time.perf_counter()
    await download(url, workdir / "back.enc", expected_size=size, expected_checksum=checksum)
    out["download_s"] = time.perf_counter() - t0
    out["rss_after_download_mib"] = peak_rss_mib()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    size = args.size_mib * MiB
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIABENCH",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(
        {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    )
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run(size, endpoint, Path(tmp)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    mib = result["size_mib"]
    result["upload_mib_s"] = mib / result["upload_s"]
    result["verify_mib_s"] = mib / result["verify_s"]
    result["download_mib_s"] = mib / result["download_s"]
    print(json.dumps({k: round(v, 2) for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
