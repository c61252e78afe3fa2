"""The fast-trainer ladder on a GPU: each optimisation added in turn, then the loss curves.

    python -m bench.train_gpu_ladder                  # V1 on the first CUDA GPU, about 5 minutes
    python -m bench.train_gpu_ladder --preset tiny --device cpu --steps 2 --warmup 1 \\
        --curve-steps 4 --skip compile                # a smoke run anywhere (what the tests do)

Rungs (cumulative; every rung trains the same model from the same initial weights and seed on the
same pre-tokenized sequences, except the last, which feeds itself through the real data loader):

  reference   the upstream loop: fp32, no TF32, micro-batch 2 x 8, tensors built from Python lists,
              ``loss.item()`` after every micro-step, stock ``compute_loss``
  tf32        + TF32 matmuls
  bf16        + bf16 autocast, fp32 master weights, RoPE/SIGReg/cross-entropy in fp32
  sdpa        + ``scaled_dot_product_attention(is_causal=True)`` and SIGReg's trig computed once
  no_sync     + loss accumulated on the device, read once per step; batches already on the device
  fused_adam  + ``Adam(fused=True)``
  micro_batch + the largest micro-batch that fits (probed), gradient accumulation keeping 16
  compile     + ``torch.compile`` of the loss module
  data_loader + the real loader: TrainStream on a background thread, pinned memory, non-blocking copies

Reported per rung: tokens/s, MFU (6N + 12·L·d·T training FLOPs per token, 7.86e9 for V1, against
the GPU's dense bf16 peak, 989 TFLOPS for an H100/H200 SXM unless --peak-tflops says otherwise),
peak memory.

Then three loss curves from the same initial weights, seed and data (dropout 0, so the only
randomness is SIGReg's projections): the fp32 **reference**; the **fast** path at the reference's
micro-batch (every rung up to fused_adam: the same random draws, so only bf16/TF32 rounding differs;
tolerance ``FAST_TOLERANCE`` per step); and the **defaults** (probed micro-batch, compiled: fewer,
larger micro-batches draw fewer SIGReg projections, hence ``DEFAULTS_TOLERANCE``). The curve length
is cut to what fits the time budget (``--budget-s``, 300 by default: a 5-minute GPU window),
measured from the rungs' step times. The model is built once and its initial weights restored for
every rung and curve, and the compiled module is compiled once and reused.

Results go to stdout (markdown) and ``bench/out/train_gpu_ladder.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

V1_FLOPS_PER_TOKEN = 7.86e9
RUNGS = [
    "reference",
    "tf32",
    "bf16",
    "sdpa",
    "no_sync",
    "fused_adam",
    "micro_batch",
    "compile",
    "data_loader",
]


@dataclass
class Config:
    tf32: bool = False
    bf16: bool = False
    sdpa: bool = False
    no_sync: bool = False
    fused_adam: bool = False
    micro_batch: int = 2
    compile: bool = False
    data_loader: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def ladder(skip: set[str], probe: Callable[[Config], int]) -> Iterator[tuple[str, Config]]:
    cfg = Config()
    for rung in RUNGS:
        if rung in skip:  # left out entirely: later rungs do not get it either
            continue
        if rung == "tf32":
            cfg.tf32 = True
        elif rung == "bf16":
            cfg.bf16 = True
        elif rung == "sdpa":
            cfg.sdpa = True
        elif rung == "no_sync":
            cfg.no_sync = True
        elif rung == "fused_adam":
            cfg.fused_adam = True
        elif rung == "micro_batch":
            cfg.micro_batch = probe(cfg)
        elif rung == "compile":
            cfg.compile = True
        elif rung == "data_loader":
            cfg.data_loader = True
        yield rung, Config(**{**cfg.__dict__, "extra": {}})


FAST_TOLERANCE = 0.05  # |fast - reference| at every step, same micro-batch (bf16/TF32 rounding)
DEFAULTS_TOLERANCE = 0.10  # |defaults - reference| at every step (also other SIGReg projections)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from soma_console.training.data_heldout import HeldOut
        from soma_console.training.data_open import open_source
        from soma_console.training.data_stream import TrainStream
        from soma_console.training.spec import make_spec

        self.args = args
        self.device = torch.device(args.device)
        self.spec = make_spec(
            run="bench", preset=args.preset, out_dir="/tmp/unused", data=args.data, dropout=0.0
        )
        self.effective = 16
        self.seq = self.spec.max_seq_len
        need = self.effective * max(args.steps + args.warmup + 1, args.curve_steps)
        source = open_source(args.data)
        stream = TrainStream(source, self.seq, HeldOut(self.spec.heldout_fraction), 0, 256)
        print(f"pre-tokenizing {need} sequences of {self.seq} from {source.label} ...", flush=True)
        self.data = np.stack([next(stream) for _ in range(need)])  # [n, 3, seq] int32
        self.source = source
        cfg = self.spec.model_config()
        from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig

        # One model for every rung and curve: built once, its initial weights restored each time.
        torch.manual_seed(0)
        self.model = Model(ModelConfig(**cfg)).to(self.device)
        self.sig = SIGReg(SIGRegConfig()).to(self.device)
        self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.compiled: dict[tuple[bool, bool], Any] = {}
        n = sum(p.numel() for p in self.model.parameters())
        # 6N + 12·L·d·T: 7.86e9 for V1 at T=1024 (the figure the issue quotes).
        self.flops_per_token = 6 * n + 12 * cfg["num_layers"] * cfg["embedding_dim"] * self.seq

    # -- building blocks --------------------------------------------------------------------------

    def reset(self) -> None:
        """The initial weights and the seed again: every rung and curve starts from the same state."""
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(self.initial[k])
        self.model.train()
        for p in self.model.parameters():
            p.grad = None
        torch.manual_seed(0)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def batches(self, cfg: Config) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        mb = cfg.micro_batch
        if cfg.data_loader:
            from soma_console.training.data_heldout import HeldOut
            from soma_console.training.data_prefetch import Prefetcher
            from soma_console.training.data_stream import TrainStream

            stream = TrainStream(self.source, self.seq, HeldOut(self.spec.heldout_fraction), 0, 256)
            pin = self.device.type == "cuda"

            def convert(a: np.ndarray) -> torch.Tensor:
                t = torch.from_numpy(a)
                return t.pin_memory() if pin else t

            pre = Prefetcher(stream, mb, convert, depth=4)
            try:
                while True:
                    b = pre.next().batch.to(self.device, non_blocking=True).long()
                    yield b[:, 0], b[:, 1]
            finally:
                pre.close()
        elif cfg.no_sync:
            # Resident on the device: the host never waits on a copy.
            all_ids = torch.from_numpy(self.data).to(self.device).long()
            i = 0
            while True:
                b = all_ids[i : i + mb]
                i = (i + mb) % (len(all_ids) - mb)
                yield b[:, 0], b[:, 1]
        else:
            i = 0
            while True:  # the upstream way: Python lists -> tensors every micro-step
                chunk = self.data[i : i + mb]
                i = (i + mb) % (len(self.data) - mb)
                yield (
                    torch.tensor(chunk[:, 0].tolist(), device=self.device),
                    torch.tensor(chunk[:, 1].tolist(), device=self.device),
                )

    def loss_module(self, cfg: Config) -> Any:
        from soma_console.training.fast import LossModule

        fast = cfg.bf16 or cfg.sdpa
        mod: Any = LossModule(
            self.model, self.sig, fast=fast, sdpa=cfg.sdpa, amp_dtype=torch.bfloat16 if cfg.bf16 else None
        )
        if not cfg.compile:
            return mod
        key = (cfg.bf16, cfg.sdpa)
        if key not in self.compiled:  # compiled once; later rungs and the curve reuse it
            self.compiled[key] = torch.compile(mod)
        return self.compiled[key]

    def step_fn(self, cfg: Config) -> tuple[Callable[[], float | torch.Tensor], Any]:
        from soma_models.v1.torch import compute_loss

        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
        self.reset()
        model, sig = self.model, self.sig
        fast = cfg.bf16 or cfg.sdpa
        loss_mod = self.loss_module(cfg)
        kwargs: dict[str, Any] = {"lr": 1e-4}
        if cfg.fused_adam:
            kwargs["fused"] = True
        opt = torch.optim.Adam(model.parameters(), **kwargs)
        accum = self.effective // cfg.micro_batch
        data = self.batches(cfg)

        def step() -> float | torch.Tensor:
            opt.zero_grad(set_to_none=True)
            if not fast and not cfg.no_sync:  # the reference: stock compute_loss and .item() per micro-step
                total = 0.0
                for _ in range(accum):
                    ids, tgt = next(data)
                    loss, _ = compute_loss(model, sig, ids, tgt)
                    (loss / accum).backward()
                    total += loss.item()
                opt.step()
                return total / accum
            acc = torch.zeros((), device=self.device)
            for _ in range(accum):
                ids, tgt = next(data)
                loss, _, _ = loss_mod(ids, tgt)
                (loss / accum).backward()
                if cfg.no_sync:
                    acc += loss.detach()
                else:
                    acc += loss.item()
            opt.step()
            return acc / accum

        return step, data

    def probe(self, cfg: Config) -> int:
        if self.device.type != "cuda":
            return 4
        from soma_console.training.fast import LossModule
        from soma_console.training.torch_device import Resolved, probe_micro_batch

        self.reset()
        mod = LossModule(
            self.model, self.sig, fast=True, sdpa=cfg.sdpa, amp_dtype=torch.bfloat16 if cfg.bf16 else None
        )
        res = Resolved(
            device=self.device,
            fast=True,
            amp_dtype=torch.bfloat16,
            sdpa=True,
            fused_adam=True,
            tf32=True,
            compile=False,
            prefetch=0,
            pin_memory=True,
            pos_ids=False,
            log_every=1,
        )
        try:
            return probe_micro_batch(mod, self.spec, res, self.effective)
        finally:
            torch.cuda.empty_cache()

    # -- measurements -----------------------------------------------------------------------------

    def rung(self, name: str, cfg: Config) -> dict[str, Any]:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        step, data = self.step_fn(cfg)
        try:
            for _ in range(self.args.warmup):
                float(step())
            self._sync()
            times = []
            begin = time.perf_counter()
            for _ in range(self.args.steps):
                start = time.perf_counter()
                out = step()
                if isinstance(out, torch.Tensor) and self.args.sync_each_step:
                    float(out)
                times.append(time.perf_counter() - start)
            self._sync()
            total = time.perf_counter() - begin
            last = float(step())
        finally:
            with contextlib.suppress(Exception):
                data.close()
        # Without per-step syncs the loop runs ahead of the GPU: the time from the first measured
        # step to the device being idle after the last one is what counts.
        per_step = total / len(times)
        tokens = self.effective * self.seq / per_step
        peak = (
            torch.cuda.max_memory_allocated(self.device) / 2**30
            if self.device.type == "cuda"
            else float("nan")
        )
        return {
            "rung": name,
            "micro_batch": cfg.micro_batch,
            "tokens_per_s": tokens,
            "mfu": tokens * self.flops_per_token / (self.args.peak_tflops * 1e12),
            "peak_mem_gib": peak,
            "step_s": per_step,
            "step_s_median_host": statistics.median(times),
            "loss_after": last,
        }

    def curve(self, cfg: Config, steps: int) -> list[float]:
        step, data = self.step_fn(cfg)
        try:
            losses = [step() for _ in range(steps)]
        finally:
            with contextlib.suppress(Exception):
                data.close()  # type: ignore[attr-defined]
        return [float(x) for x in losses]


def compare(reference: list[float], other: list[float], tolerance: float) -> dict[str, Any]:
    diffs = [abs(a - b) for a, b in zip(reference, other, strict=True)]
    tail = diffs[-10:]
    return {
        "max_abs_diff": max(diffs),
        "mean_abs_diff_last_10": sum(tail) / len(tail),
        "tolerance": tolerance,
        "within_tolerance": max(diffs) <= tolerance,
    }


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="v1")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default="builtin", help="builtin, fineweb, or a local path (pre-tokenized once)")
    p.add_argument("--steps", type=int, default=6, help="measured optimizer steps per rung")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--curve-steps", type=int, default=30, help="at most this many; fewer if the budget says so"
    )
    p.add_argument("--budget-s", type=float, default=300.0, help="wall-clock budget for the whole ladder")
    p.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM 989, A100 312)"
    )
    p.add_argument("--skip", default="", help="comma-separated rungs to leave out (e.g. compile)")
    p.add_argument(
        "--sync-each-step", action="store_true", help="read the loss every step even on no-sync rungs"
    )
    p.add_argument("--out", type=Path, default=Path("bench/out/train_gpu_ladder.json"))
    args = p.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}

    def left() -> float:
        return args.budget_s - (time.monotonic() - started)

    bench = Bench(args)
    gpu = torch.cuda.get_device_name(bench.device) if bench.device.type == "cuda" else "cpu"
    print(f"{args.preset} on {gpu}, torch {torch.__version__}, 16 x {bench.seq} tokens per step", flush=True)
    rows: list[dict[str, Any]] = []
    configs: dict[str, Config] = {}
    skipped: list[str] = []
    for name, cfg in ladder(skip, bench.probe):
        # Compiling takes about a minute on V1; any other rung a few seconds per step.
        if left() < (90 if name == "compile" else 30):
            skipped.append(name)
            continue
        row = bench.rung(name, cfg)
        rows.append(row)
        configs[name] = cfg
        print(
            f"  {name:<12} mb {row['micro_batch']:>2}  {row['tokens_per_s']:>10,.0f} tok/s  "
            f"MFU {row['mfu'] * 100:5.1f}%  peak {row['peak_mem_gib']:.1f} GiB",
            flush=True,
        )
    if skipped:
        print(f"  out of time budget, skipped: {', '.join(skipped)}", flush=True)

    # The curves: as many steps as the budget allows, from the rungs' own step times.
    step_s = {r["rung"]: r["step_s"] for r in rows}
    fast_rung = next((n for n in ("fused_adam", "no_sync", "sdpa", "bf16") if n in configs), None)
    final_rung = rows[-1]["rung"] if rows else None
    curves: dict[str, list[float]] = {}
    comparisons: dict[str, Any] = {}
    if "reference" in configs and fast_rung is not None and final_rung is not None:
        per_curve_step = step_s["reference"] + step_s[fast_rung] + step_s[final_rung]
        n = min(args.curve_steps, int((left() - 15) / per_curve_step))
        if n >= 3:
            print(f"loss curves: reference, fast, defaults; {n} steps, same seed and data ...", flush=True)
            defaults_cfg = Config(**{**configs[final_rung].__dict__, "data_loader": False})
            curves["reference"] = bench.curve(Config(), n)
            curves["fast"] = bench.curve(configs[fast_rung], n)
            curves["defaults"] = bench.curve(defaults_cfg, n)
            comparisons["fast"] = compare(curves["reference"], curves["fast"], FAST_TOLERANCE)
            comparisons["defaults"] = compare(curves["reference"], curves["defaults"], DEFAULTS_TOLERANCE)
        else:
            print(f"loss curves skipped: {left():.0f} s left of the budget", flush=True)

    print("\n| rung | micro-batch | tokens/s | MFU | peak memory |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['rung']} | {r['micro_batch']} | {r['tokens_per_s']:,.0f} | {r['mfu'] * 100:.1f}% | "
            f"{r['peak_mem_gib']:.1f} GiB |"
        )
    if curves:
        ref = curves["reference"]
        marks = sorted({0, len(ref) // 4, len(ref) // 2, len(ref) - 1})
        print("\n| step | reference (fp32) | fast (same micro-batch) | defaults |")
        print("|---:|---:|---:|---:|")
        for i in marks:
            print(f"| {i + 1} | {ref[i]:.4f} | {curves['fast'][i]:.4f} | {curves['defaults'][i]:.4f} |")
        for name, c in comparisons.items():
            verdict = "within" if c["within_tolerance"] else "OUTSIDE"
            print(
                f"{name}: max |reference - {name}| {c['max_abs_diff']:.4f} ({verdict} the tolerance "
                f"{c['tolerance']}); mean over the last 10 steps {c['mean_abs_diff_last_10']:.4f}"
            )
    elapsed = time.monotonic() - started
    print(f"ladder took {elapsed:.0f} s (budget {args.budget_s:.0f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "device": gpu,
                "preset": args.preset,
                "torch": torch.__version__,
                "rungs": rows,
                "skipped": skipped,
                "best_rung": max(rows, key=lambda r: r["tokens_per_s"]) if rows else None,
                "curves": curves,
                "comparisons": comparisons,
                "elapsed_s": elapsed,
                "budget_s": args.budget_s,
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
