"""``soma-console score``'s engine on tiny models: time per target and tokens/s, on this CPU.

    python -m bench.score_versus [--targets 10] [--bytes 1024] [--winners 3] [--threads 1]

Builds ``--targets`` pieces of random data and ``--winners`` + 1 random tiny-preset weights files,
then runs :func:`soma_console.scoring.versus.evaluate_all` as ``score`` does with ``--against
winners``: the checkpoint on every piece, each winner on the pieces it won (round robin), every
model loaded once. Downloads are not included (the devnet serves them from loopback). Prints time
per target (checkpoint + winner), tokens/s (positions evaluated per second over all models) and
writes bench/out/score_versus.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from soma_console.scoring.arch import arch_for_preset
from soma_console.scoring.versus import VersusStats, evaluate_all

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--bytes", type=int, default=1024)
    ap.add_argument("--winners", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    from tests.scoring.reference import tiny_weights

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for i in range(args.winners + 1):
            p = Path(tmp) / f"m{i}.safetensors"
            p.write_bytes(tiny_weights(1000 + i))
            files["checkpoint" if i == 0 else f"w{i}"] = p
        pieces = {f"t{k}": os.urandom(args.bytes) for k in range(args.targets)}
        plan: dict[str, list[str]] = {"checkpoint": list(pieces)}
        for k, name in enumerate(pieces):
            plan.setdefault(f"w{1 + k % args.winners}", []).append(name)
        stats = VersusStats()
        started = time.perf_counter()
        evaluate_all(
            arch_for_preset("tiny"),
            files,
            pieces,
            plan,
            device=args.device,
            cpu_threads=args.threads,
            stats=stats,
        )
        wall = time.perf_counter() - started
    result = {
        "targets": args.targets,
        "bytes": args.bytes,
        "models_loaded": stats.loads,
        "seconds_total": round(wall, 3),
        "seconds_per_target": round(wall / args.targets, 3),
        "tokens_per_s": round(stats.tokens / stats.seconds, 1),
        "device": stats.device,
        "load_avg": os.getloadavg()[0],
        "machine": platform.machine(),
    }
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "score_versus.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
