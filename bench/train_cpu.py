"""Tokens/s of the tiny preset on this CPU: our trainer vs a loop written the upstream way.

    python -m bench.train_cpu [--steps 40] [--warmup 5]

Both train the same model (tiny preset, same seed) on the same built-in data, in one run:

* ``upstream``: the loop from the upstream training script: fp32, ``torch.optim.Adam``,
  ``compute_loss``, batches built with ``torch.tensor`` from Python lists, ``loss.item()`` after
  every micro-step.
* ``ours --fast off``: the real worker (``python -m soma_console.training.worker``) with the same
  spec and the stock forward, its speed read from its own step events: batches prepared on a
  background thread, loss kept on the device and read once per step.
* ``ours (default)``: the worker as it runs by default: the fast path, which on a CPU is SDPA
  attention and SIGReg's trigonometry computed once, in fp32.
* ``ours --compile``: and ``torch.compile`` (its compile time falls in the warm-up steps).

Step 1..warmup are excluded; the figure is tokens per second over the measured steps, the median
of ``--repeat`` interleaved runs of every loop.
"""

from __future__ import annotations

import argparse
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

import torch


def upstream_loop(spec: Any, steps: int, warmup: int) -> float:
    """The upstream way, on the same sequences the worker sees (same stream, same seed)."""
    from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig, compute_loss

    from soma_console.training.data_heldout import heldout_set
    from soma_console.training.data_open import open_source
    from soma_console.training.data_stream import TrainStream

    source = open_source(spec.data)
    _, split = heldout_set(
        source, spec.max_seq_len, spec.heldout_fraction, spec.eval_batch_size * spec.eval_batches
    )
    stream = TrainStream(source, spec.max_seq_len, split, spec.seed, spec.shuffle_buffer)

    def batches() -> Any:
        while True:
            arr = stream.micro_batch(spec.micro_batch)
            yield arr[:, 0].tolist(), arr[:, 1].tolist()

    torch.manual_seed(spec.seed)
    model = Model(ModelConfig(**spec.model_config()))
    model.train()
    sig_reg = SIGReg(SIGRegConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.learning_rate)
    it = batches()
    times: list[float] = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        accum = 0.0
        for _micro in range(spec.grad_accum):
            ids, tgts = next(it)
            loss, _ = compute_loss(model, sig_reg, torch.tensor(ids), torch.tensor(tgts))
            (loss / spec.grad_accum).backward()
            accum += loss.item()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return spec.tokens_per_step / statistics.mean(times[warmup:])


def worker_rate(spec: Any, out: Path, warmup: int) -> float:
    from soma_console.training import events as ev

    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(spec.to_json())
    proc = subprocess.run(
        [sys.executable, "-m", "soma_console.training.worker", str(out / "spec.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {proc.stderr[-2000:]}")
    asm = ev.LineAssembler()
    steps = [r for r in asm.feed(proc.stdout) + asm.flush() if isinstance(r, ev.Step)]
    measured = [s for s in steps if s.step > warmup]
    # Each step event covers one step (log_every 1); elapsed_s is cumulative from the run start.
    span = measured[-1].elapsed_s - steps[warmup - 1].elapsed_s
    return spec.tokens_per_step * len(measured) / span


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from soma_console.training.spec import FastOptions as F
    from soma_console.training.spec import make_spec

    variants: dict[str, F | None] = {
        "upstream": None,
        "ours --fast off": F(mode="off"),
        "ours (default)": F(),
        "ours --compile": F(compile=True),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    # One checkpoint at the very end only, so checkpoint time does not enter the measured steps.
    base: dict[str, Any] = {"steps": args.steps, "checkpoint_every": args.steps, "seed": 0}
    ref_spec = make_spec(run="bench", preset="tiny", out_dir="/tmp/unused", **base)
    with tempfile.TemporaryDirectory() as tmp:
        # Interleaved repeats: this machine's load changes over minutes, and every loop sees the same.
        for rep in range(args.repeat):
            for name, fast in variants.items():
                if fast is None:
                    rate = upstream_loop(ref_spec, args.steps, args.warmup)
                else:
                    spec = make_spec(
                        run="bench",
                        preset="tiny",
                        out_dir=Path(tmp) / f"{rep}-{len(samples[name])}-{name.replace(' ', '')}",
                        fast=fast,
                        **base,
                    )
                    rate = worker_rate(spec, Path(spec.out_dir), args.warmup)
                samples[name].append(rate)
    results = {k: statistics.median(v) for k, v in samples.items()}

    info = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tokens_per_step": ref_spec.tokens_per_step,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "tokens_per_s": {k: round(v) for k, v in results.items()},
        "samples": {k: [round(x) for x in v] for k, v in samples.items()},
    }
    print(
        f"tiny preset, {ref_spec.tokens_per_step} tokens/step, {args.steps} steps ({args.warmup} warm-up), "
        f"median of {args.repeat}, {info['machine']}"
    )
    print("| loop | tokens/s | vs upstream |")
    print("|---|---:|---:|")
    for name, rate in results.items():
        print(f"| {name} | {rate:,.0f} | {rate / results['upstream']:.2f}x |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
