"""Scoring benchmark: the chain's scoring computation on tiny models, on this machine's CPU.

    python -m bench.scoring_cpu [--models 3] [--sizes 1024,65536] [--repeat 2]

Scores random data against ``--models`` random tiny-preset models with
:class:`soma_console.scoring.scorer.Scorer` (plaintext files, no download), the models already
loaded (the first, warm-up score is not counted). Prints tokens/s (sequence positions evaluated
per second, over all models) and the time per target (one data item against all of a target's
models), and writes bench/out/scoring_cpu.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from soma_console.scoring.arch import arch_for_preset
from soma_console.scoring.scorer import Scorer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=3)
    ap.add_argument("--sizes", default="1024,65536")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    from soma_models.v1.configs import ModelConfig
    from soma_models.v1.torch.modules.model import Model

    arch = arch_for_preset("tiny")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.models):
            torch.manual_seed(i)
            p = Path(tmp) / f"m{i}.safetensors"
            Model(ModelConfig(**arch.model_config_kwargs())).save(p)  # type: ignore[arg-type]
            files.append(p)
        scorer = Scorer(arch, Path(tmp) / "cache", device=args.device, cpu_threads=args.threads or None)
        target = [1.0] * arch.embedding_dim
        scorer.score_files(b"warm-up", files, target)
        for size in (int(s) for s in args.sizes.split(",")):
            data = os.urandom(size)
            times = []
            tokens = 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                out = scorer.score_files(data, files, target)
                times.append(time.perf_counter() - t0)
                tokens = out.tokens
            per_target = statistics.median(times)
            row = {
                "data_bytes": size,
                "models": args.models,
                "positions_per_model": tokens,
                "seconds_per_target": round(per_target, 3),
                "tokens_per_s": round(tokens * args.models / per_target),
            }
            rows.append(row)
            print(json.dumps(row))
        scorer.close()
    out_dir = REPO / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    (out_dir / "scoring_cpu.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
