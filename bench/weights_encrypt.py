"""Encrypt + commit a large file: our streaming ``encrypt_file`` vs the SDK's in-memory path.

Both produce the same encrypted file (checked: same commitment) from the same bytes with the same
key. The SDK path is what users run today: read the whole file, ``SomaClient.encrypt_weights``,
``SomaClient.commitment`` of the result, write it out (fsync'd, like ours). Ours also hashes the
plaintext in the same pass. Each run is its own subprocess, so ``ru_maxrss`` is that path's peak
RSS alone. The source is read once first so both start from a warm page cache.

Run: python -m bench.weights_encrypt [--size-mib 1024] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(method: str, src: Path, dst: Path, key_text: str) -> None:
    from soma_console.core.weights import encrypt_file, key_from_b58
    from soma_console.fsutil import atomic_write_bytes

    if method == "sdk":
        from soma_sdk import SomaClient
    baseline = _rss_mib()
    start = time.perf_counter()
    if method == "ours":
        commitment = encrypt_file(src, dst, key_from_b58(key_text)).commitment
    else:
        data = src.read_bytes()
        encrypted, _ = SomaClient.encrypt_weights(data, key=key_text)
        commitment = SomaClient.commitment(encrypted)
        atomic_write_bytes(dst, encrypted, mode=0o600)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {"seconds": seconds, "rss_mib": _rss_mib(), "baseline_mib": baseline, "commitment": commitment}
        )
    )


def _run(method: str, src: Path, dst: Path, key_text: str) -> dict[str, float | str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.weights_encrypt", "--child", method, str(src), str(dst)],
        input=key_text,
        capture_output=True,
        text=True,
        check=True,
    )
    dst.unlink()
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Where to put the files (default: a temp dir)."
    )
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, src, dst = args.child
        _child(method, Path(src), Path(dst), sys.stdin.read().strip())
        return

    # The parent stays small: Linux carries a parent's peak RSS into a child's ru_maxrss at fork.
    from soma_console.encoding import b58encode

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="weights-bench-") as tmp:
        src, dst = Path(tmp) / "weights.bin", Path(tmp) / "weights.enc"
        with open(src, "wb") as fh:
            for _ in range(args.size_mib):
                fh.write(os.urandom(MiB))
        with open(src, "rb") as fh:  # warm the page cache for both paths
            while fh.read(4 * MiB):
                pass
        key_text = b58encode(os.urandom(32))
        results: dict[str, list[dict[str, float | str]]] = {"ours": [], "sdk": []}
        for _ in range(args.repeat):
            for method in ("sdk", "ours"):  # alternate, so drift affects both alike
                results[method].append(_run(method, src, dst, key_text))
        commitments = {r["commitment"] for rs in results.values() for r in rs}
        assert len(commitments) == 1, "the two paths produced different ciphertexts"
    size_mb = args.size_mib * MiB / 1e6
    print(
        f"{args.size_mib} MiB, {args.repeat} runs each, same key and bytes (commitment {commitments.pop()})"
    )
    print("| Path | Median time | Throughput (median) | Best | Peak RSS (max) | RSS before the work |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for method, label in (
        ("ours", "ours: `encrypt_file`, streamed"),
        ("sdk", "SDK: read + encrypt_weights + commitment + write"),
    ):
        times = [float(r["seconds"]) for r in results[method]]
        med = statistics.median(times)
        medians[method] = med
        rss = max(float(r["rss_mib"]) for r in results[method])
        base = max(float(r["baseline_mib"]) for r in results[method])
        print(
            f"| {label} | {med:.2f} s | {size_mb / med:.0f} MB/s | {size_mb / min(times):.0f} MB/s "
            f"| {rss:.0f} MiB | {base:.0f} MiB |"
        )
    print(f"speed-up (median): {medians['sdk'] / medians['ours']:.2f}x")


if __name__ == "__main__":
    main()
