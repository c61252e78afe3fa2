"""The fast-trainer ladder on a GPU: each optimisation added in turn, then the loss curves.

    python -m bench.train_gpu_ladder                  # V1 on the first CUDA GPU (one command)
    python -m bench.train_gpu_ladder --preset tiny --device cpu --steps 2 --warmup 1 \\
        --curve-steps 4 --skip compile                # a smoke run anywhere (what the tests do)

Rungs (cumulative; every rung trains the same model from the same seed on the same pre-tokenized
sequences, except the last, which feeds itself through the real data loader):

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
the GPU's dense bf16 peak, 989 TFLOPS for an H100 SXM unless --peak-tflops says otherwise), peak
memory. Then the
reference and the full fast path train ``--curve-steps`` (200) steps from the same seed on the same
data and their loss curves are written side by side. Results go to stdout (markdown) and
``bench/out/train_gpu_ladder.json``.
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


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from soma_console.training.data import HeldOut, TrainStream, open_source
        from soma_console.training.spec import make_spec

        self.args = args
        self.device = torch.device(args.device)
        self.spec = make_spec(
            run="bench", preset=args.preset, out_dir="/tmp/unused", data=args.data, dropout=0.0
        )
        self.effective = 16
        self.seq = self.spec.max_seq_len
        need = self.effective * max(args.steps + args.warmup, args.curve_steps)
        source = open_source(args.data)
        stream = TrainStream(source, self.seq, HeldOut(self.spec.heldout_fraction), 0, 256)
        print(f"pre-tokenizing {need} sequences of {self.seq} from {source.label} ...", flush=True)
        self.data = np.stack([next(stream) for _ in range(need)])  # [n, 3, seq] int32
        self.source = source
        cfg = self.spec.model_config()
        model, _ = self.model()
        n = sum(p.numel() for p in model.parameters())
        del model
        # 6N + 12·L·d·T: 7.86e9 for V1 at T=1024 (the figure the issue quotes).
        self.flops_per_token = 6 * n + 12 * cfg["num_layers"] * cfg["embedding_dim"] * self.seq

    # -- building blocks --------------------------------------------------------------------------

    def model(self) -> tuple[Any, Any]:
        from soma_models.v1.torch import Model, ModelConfig, SIGReg, SIGRegConfig

        torch.manual_seed(0)
        model = Model(ModelConfig(**self.spec.model_config())).to(self.device)
        model.train()
        return model, SIGReg(SIGRegConfig()).to(self.device)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def batches(self, cfg: Config) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        mb = cfg.micro_batch
        if cfg.data_loader:
            from soma_console.training.data import HeldOut, Prefetcher, TrainStream

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

    def step_fn(self, cfg: Config) -> tuple[Callable[[], float | torch.Tensor], Any]:
        from soma_models.v1.torch import compute_loss

        from soma_console.training.fast import LossModule

        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
        model, sig = self.model()
        fast = cfg.bf16 or cfg.sdpa
        loss_mod: Any = LossModule(
            model, sig, fast=fast, sdpa=cfg.sdpa, amp_dtype=torch.bfloat16 if cfg.bf16 else None
        )
        if cfg.compile:
            loss_mod = torch.compile(loss_mod)
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
        from soma_console.training.torch_trainer import Resolved, probe_micro_batch

        model, sig = self.model()
        mod = LossModule(model, sig, fast=True, sdpa=cfg.sdpa, amp_dtype=torch.bfloat16 if cfg.bf16 else None)
        res = Resolved(self.device, True, torch.bfloat16, True, True, True, False, 0, True, False, 1)
        try:
            return probe_micro_batch(mod, self.spec, res, self.effective)
        finally:
            del model, sig, mod
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
            for _ in range(self.args.steps):
                start = time.perf_counter()
                out = step()
                if isinstance(out, torch.Tensor) and self.args.sync_each_step:
                    float(out)
                times.append(time.perf_counter() - start)
            self._sync()
            last = float(step())
        finally:
            with contextlib.suppress(Exception):
                data.close()
        # Without per-step syncs the loop runs ahead of the GPU; the total over all steps is exact.
        per_step = sum(times) / len(times)
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
            "step_s_median": statistics.median(times),
            "loss_after": last,
        }

    def curve(self, cfg: Config) -> list[float]:
        step, data = self.step_fn(cfg)
        losses = [step() for _ in range(self.args.curve_steps)]
        with contextlib.suppress(Exception):
            data.close()  # type: ignore[attr-defined]
        return [float(x) for x in losses]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="v1")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default="builtin", help="builtin, fineweb, or a local path (pre-tokenized once)")
    p.add_argument("--steps", type=int, default=10, help="measured optimizer steps per rung")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--curve-steps", type=int, default=200)
    p.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM 989, A100 312)"
    )
    p.add_argument("--skip", default="", help="comma-separated rungs to leave out (e.g. compile)")
    p.add_argument(
        "--sync-each-step", action="store_true", help="read the loss every step even on no-sync rungs"
    )
    p.add_argument("--out", type=Path, default=Path("bench/out/train_gpu_ladder.json"))
    args = p.parse_args()
    skip = {s for s in args.skip.split(",") if s}

    bench = Bench(args)
    gpu = torch.cuda.get_device_name(bench.device) if bench.device.type == "cuda" else "cpu"
    print(f"{args.preset} on {gpu}, torch {torch.__version__}, 16 x {bench.seq} tokens per step", flush=True)
    rows = []
    final_cfg = Config()
    for name, cfg in ladder(skip, bench.probe):
        row = bench.rung(name, cfg)
        rows.append(row)
        final_cfg = cfg
        print(
            f"  {name:<12} mb {row['micro_batch']:>2}  {row['tokens_per_s']:>10,.0f} tok/s  "
            f"MFU {row['mfu'] * 100:5.1f}%  peak {row['peak_mem_gib']:.1f} GiB",
            flush=True,
        )
    print(f"loss curves: reference vs fast, {args.curve_steps} steps, same seed and data ...", flush=True)
    reference = bench.curve(Config())
    fast = bench.curve(Config(**{**final_cfg.__dict__, "data_loader": False}))
    diffs = [abs(a - b) for a, b in zip(reference, fast, strict=True)]
    print("\n| rung | micro-batch | tokens/s | MFU | peak memory |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['rung']} | {r['micro_batch']} | {r['tokens_per_s']:,.0f} | {r['mfu'] * 100:.1f}% | "
            f"{r['peak_mem_gib']:.1f} GiB |"
        )
    marks = sorted({0, len(reference) // 4, len(reference) // 2, len(reference) - 1})
    print("\n| step | reference loss | fast loss |")
    print("|---:|---:|---:|")
    for i in marks:
        print(f"| {i + 1} | {reference[i]:.4f} | {fast[i]:.4f} |")
    print(
        f"\nmax |reference - fast| over the curve: {max(diffs):.4f}; "
        f"over the last 20 steps: {max(diffs[-20:]):.4f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "device": gpu,
                "preset": args.preset,
                "torch": torch.__version__,
                "rungs": rows,
                "curves": {"reference": reference, "fast": fast},
            },
            indent=2,
        )
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
