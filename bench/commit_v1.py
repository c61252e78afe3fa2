"""Commit a V1-size checkpoint as a user would, against one Blake2b pass over the same file.

    python -m bench.commit_v1 [--dir /tmp] [--storage devnet,s3] [--repeat 1]

Builds a checkpoint from soma_models' default V1 config (4,838,779,992 bytes, random init,
streamed to disk, with a manifest) in a fresh directory under ``--dir``, starts a devnet in a
subprocess, and runs ``soma-console -v commit CKPT --yes --json`` in a subprocess of its own
(wall time, and that process's peak RSS from ``wait4``). Around each commit it times one plain
Blake2b-256 pass over the same file (one core, page cache warm): the floor, since the ciphertext
must be hashed at least once, and a yardstick that moves with the machine's load as the commit
does. ``s3`` commits to a moto S3 server on loopback (in its own process: it keeps objects in
memory and its temp files) and reports the time spent inside upload calls. Everything written
(checkpoint, devnet state, moto's copy) is deleted at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.checkpoint_builder import build_checkpoint
from bench.devnet_bench import fund, start_devnet

REPO = Path(__file__).resolve().parent.parent
V1_BYTES = 4_838_779_992


def blake_pass(path: Path) -> float:
    started = time.perf_counter()
    h = hashlib.blake2b(digest_size=32)
    buf = bytearray(4 << 20)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(memoryview(buf)[:n])
    return time.perf_counter() - started


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, float, float]:
    """Run the CLI; return (rc, stdout, stderr, wall seconds, peak RSS MiB of that process)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "soma_console", "-v", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=REPO,
    )
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    # communicate() reaped it; ru_maxrss of RUSAGE_CHILDREN is the largest child so far, so each
    # commit runs before any bigger child could (the devnet and moto are never waited for).
    import resource

    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return proc.returncode, out.decode(), err.decode(), wall, rss


def make_home(root: Path, urls: dict[str, str]) -> Path:
    home = root / f"home-{time.monotonic_ns()}"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        '[chain]\ndefault = "devnet"\n\n[chain.profiles.devnet]\n'
        f'rpc_url = "{urls["rpc_url"]}"\nfaucet_url = "{urls["faucet_url"]}"\n'
        f'admin_url = "{urls["admin_url"]}"\nblob_url = "{urls["blob_url"]}"\nis_devnet = true\n',
        encoding="utf-8",
    )
    rc, out, err, *_ = cli(home, "wallet", "new", "--json")
    if rc:
        raise SystemExit(f"wallet new failed: {err}")
    fund(urls, json.loads(out)["address"], 100.0)
    return home


def start_moto(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    code = (
        "import logging,sys,time\n"
        "from moto.server import ThreadedMotoServer\n"
        "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
        "s=ThreadedMotoServer('127.0.0.1',0,verbose=False);s.start()\n"
        "h,p=s.get_host_and_port();print(f'http://{h}:{p}',flush=True)\n"
        "sys.stdin.read()\n"
    )
    env = {**os.environ, "TMPDIR": str(root)}  # moto spools objects to temp files
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


def public_bucket(endpoint: str) -> str:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="weights")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::weights/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket="weights", Policy=json.dumps(policy))
    return "weights"


def _seconds(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def commit_once(home: Path, ckpt: Path, storage: str | None, env: dict[str, str] | None) -> dict[str, Any]:
    before = blake_pass(ckpt)
    args = ["commit", str(ckpt), "--yes", "--json"] + (["--storage", storage] if storage else [])
    load_before = load()
    rc, out, err, wall, rss = cli(home, *args, env=env)
    if rc:
        raise SystemExit(f"the commit failed ({rc}): {err[-2000:]}")
    after = blake_pass(ckpt)
    blake = (before + after) / 2
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(rss, 1),
        "blake2b_pass_s": round(blake, 2),
        "blake2b_before_after_s": [round(before, 2), round(after, 2)],
        "ratio": round(wall / blake, 2),
        "pass_s": _seconds(r"commit pass: \d+ bytes in ([\d.]+) s", err),
        "upload_calls_s": _seconds(r"upload calls ([\d.]+) s", err),
        "readback_s": _seconds(r"read-back check: \d+ bytes in ([\d.]+) s", err),
        "load_before": load_before,
        "load_after": load(),
        "weights_url": json.loads(out).get("weights_url"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--storage", default="devnet,s3")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="A 26 MB V1-family checkpoint instead.")
    parser.add_argument(
        "--layers", type=int, default=None, help="V1 dimensions with this many layers (24: the real V1)."
    )
    args = parser.parse_args()
    kinds = [k for k in args.storage.split(",") if k]
    free = shutil.disk_usage(args.dir).free
    need = V1_BYTES * 3
    if free < need:
        raise SystemExit(f"{args.dir} has {free / 1e9:.1f} GB free; this needs {need / 1e9:.1f} GB.")
    root = Path(tempfile.mkdtemp(prefix="commit-v1-", dir=args.dir))
    results: dict[str, Any] = {"uptime_before": load()}
    devnet = moto = None
    try:
        started = time.perf_counter()
        dims = {"embedding_dim": 512, "num_layers": 2, "ffn": 2048, "vocab": 264} if args.smoke else None
        if args.layers is not None:
            from soma_console.core.weights.layout import v1_dims

            dims = {**v1_dims(), "num_layers": args.layers}
        ckpt = build_checkpoint(root / "run" / "checkpoints", dims)
        results["checkpoint"] = {
            "bytes": ckpt.stat().st_size,
            "build_s": round(time.perf_counter() - started, 1),
        }
        print(json.dumps(results), flush=True)
        devnet, urls = start_devnet(root / "devnet")
        runs: dict[str, list[dict[str, Any]]] = {}
        for kind in kinds:
            for _ in range(args.repeat):
                home = make_home(root, urls)
                if kind == "s3":
                    if moto is None:
                        moto, endpoint = start_moto(root)
                        aws = {
                            "AWS_ACCESS_KEY_ID": "AKIABENCH",
                            "AWS_SECRET_ACCESS_KEY": "bench",
                            "AWS_DEFAULT_REGION": "us-east-1",
                        }
                        os.environ.update(aws)
                        bucket = public_bucket(endpoint)
                    spec = f"s3://{bucket}/w?endpoint={endpoint}"
                    run = commit_once(home, ckpt, spec, None)
                else:
                    run = commit_once(home, ckpt, None, None)
                runs.setdefault(kind, []).append(run)
                print(kind, json.dumps(run), flush=True)
                for blob in (root / "devnet").rglob("*"):
                    if blob.is_file() and blob.stat().st_size > 1 << 30:
                        blob.unlink()  # the devnet's copy; keeps the disk use to one extra copy
        results["runs"] = runs
        results["uptime_after"] = load()
        out = REPO / "bench" / "out"
        out.mkdir(exist_ok=True)
        (out / "commit_v1.json").write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))
    finally:
        for proc in (devnet, moto):
            if proc is not None:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
