"""Devnet benchmark: commit_model round trips and a full system-state read with many models.

    python -m bench.devnet_bench [--commits 300] [--models 10000] [--signers 16]

Starts a devnet in a subprocess (as ``soma-console devnet`` runs), drives it with the real
soma_sdk, prints the figures and writes them to bench/out/devnet.json. Not part of the test
suite: timings belong here, not in assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from soma_sdk import Keypair, SomaClient

REPO = Path(__file__).resolve().parent.parent


def start_devnet(state: Path, wait_s: float = 30.0) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    out = state / "devnet.out"
    state.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "soma_console",
        "devnet",
        "--json",
        "--epoch-seconds",
        "0",
        "--state",
        str(state),
    ]
    for flag in ("--port", "--faucet-port", "--scoring-port", "--admin-port", "--blob-port"):
        args += [flag, "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(out, "wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    for _ in range(int(wait_s / 0.02)):
        lines = out.read_text().splitlines()
        if lines:
            return proc, json.loads(lines[0])
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("the devnet did not start")


def admin(url: str, method: str, payload: bytes) -> bytes:
    import grpc

    with grpc.insecure_channel(url.removeprefix("http://")) as ch:
        call = ch.unary_unary(
            f"/admin.Admin/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        return bytes(call(payload, timeout=30))


def fund(urls: dict[str, str], address: str, soma: float) -> None:
    raw = address.encode()
    admin(urls["admin_url"], "Fund", bytes([len(raw)]) + raw + round(soma * 1e9).to_bytes(8, "little"))


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


async def bench_commits(urls: dict[str, str], n: int) -> dict[str, Any]:
    client = await SomaClient(rpc_url=urls["rpc_url"])
    kp = Keypair.generate()
    fund(urls, kp.address(), 50)
    model_id = await client.create_model(kp, 100, 1.0)
    enc, key = SomaClient.encrypt_weights(os.urandom(64 * 1024))
    emb = [0.1] * 2048
    url = f"{urls['blob_url']}/blobs/bench"
    await client.commit_model(kp, model_id, url, enc, key, emb)
    admin(urls["admin_url"], "AdvanceEpoch", b"")
    await client.reveal_model(kp, model_id, key, emb)
    samples = []
    for i in range(n + 20):  # an active model takes any number of update commits
        t = time.perf_counter()
        await client.commit_model(kp, model_id, url, enc, key, emb)
        if i >= 20:
            samples.append((time.perf_counter() - t) * 1000)
    return {
        "commits": n,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(pct(samples, 99), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "max_ms": round(max(samples), 2),
    }


async def bench_registry(urls: dict[str, str], models: int, signers: int) -> dict[str, Any]:
    before = len(
        vars(
            (
                await (await SomaClient(rpc_url=urls["rpc_url"])).get_latest_system_state()
            ).model_registry.models
        )
    )
    per = -(-models // signers)
    keys = [Keypair.generate() for _ in range(signers)]
    for kp in keys:
        fund(urls, kp.address(), per * 1.01 + 1)  # one coin: create_model stakes from the gas coin
    created = 0

    async def create(kp: Keypair, count: int) -> None:
        nonlocal created
        client = await SomaClient(rpc_url=urls["rpc_url"])
        for _ in range(count):
            await client.create_model(kp, 100, 1.0)
            created += 1

    t = time.perf_counter()
    counts = [min(per, models - i * per) for i in range(signers)]
    await asyncio.gather(*(create(kp, c) for kp, c in zip(keys, counts, strict=True) if c > 0))
    fill_s = time.perf_counter() - t
    client = await SomaClient(rpc_url=urls["rpc_url"])
    reads = []
    for _ in range(10):
        t = time.perf_counter()
        state = await client.get_latest_system_state()
        reads.append((time.perf_counter() - t) * 1000)
    assert len(vars(state.model_registry.models)) == before + created
    raw_ms, size = raw_get_epoch(urls)
    return {
        "models": before + created,
        "fill_seconds": round(fill_s, 1),
        "creates_per_second": round(created / fill_s, 1),
        "system_state_read_p50_ms": round(statistics.median(reads), 1),
        "system_state_read_max_ms": round(max(reads), 1),
        "first_read_ms": round(reads[0], 1),
        "raw_grpc_get_epoch_p50_ms": round(raw_ms, 1),
        "get_epoch_response_bytes": size,
    }


def raw_get_epoch(urls: dict[str, str]) -> tuple[float, int]:
    """The same GetEpoch without the SDK: what the node costs, apart from the client's decoding."""
    import grpc
    from google.protobuf import field_mask_pb2

    from soma_console.devnet.proto import services_pb2, services_pb2_grpc

    req = services_pb2.GetEpochRequest(read_mask=field_mask_pb2.FieldMask(paths=["system_state", "epoch"]))
    options = [("grpc.max_receive_message_length", 512 * 1024 * 1024)]
    with grpc.insecure_channel(urls["rpc_url"].removeprefix("http://"), options=options) as ch:
        stub = services_pb2_grpc.LedgerServiceStub(ch)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            resp = stub.GetEpoch(req, timeout=60)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), resp.ByteSize()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--signers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, urls = start_devnet(Path(tmp) / "state")
        try:
            commits = await bench_commits(urls, args.commits)
            print("commit_model round trip:", commits, flush=True)
            registry = await bench_registry(urls, args.models, args.signers)
            print("system state with many models:", registry, flush=True)
        finally:
            proc.kill()
            proc.wait()
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "commit_model": commits,
        "registry": registry,
    }
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "devnet.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
