"""One command for a short GPU window: the ladder, then the real worker with its defaults; one JSON.

    python -m bench.gpu_check                          # V1 on the first CUDA GPU, about 8 minutes
    python -m bench.gpu_check --preset tiny --device cpu --ladder-args="--steps 1 --warmup 1 \\
        --curve-steps 3 --skip compile" --worker-steps 8 --checkpoint-every 4   # smoke run (the tests)

1. ``bench.train_gpu_ladder`` with its own time budget (``--ladder-budget-s``, 300 s): tokens/s and
   MFU per rung, and the loss curves of the reference, the fast path and the defaults.
2. The worker exactly as ``soma-console train --preset v1`` starts it (``python -m
   soma_console.training.worker`` on a ``make_spec`` spec with every fast-path option at its
   default), with the ladder's dropout (0) so that the two measure the same computation, and
   ``--worker-steps`` (10,000) so that the compile decision is a real run's. It trains until its
   share of the budget is spent, then gets SIGTERM, which makes it write a last checkpoint and exit
   (SIGKILL if it overruns). Older checkpoints are deleted as newer ones complete, so the disk holds
   at most two (V1: 14.5 GB each with the optimizer state).
3. ``bench/out/gpu_check.json``: the ladder's results, the worker's steady tokens/s (median over the
   steps after the first ``--settle-steps``), MFU, the same over the whole run including checkpoints,
   every checkpoint's stall and write speed, the fast-path choices and their reasons, and each target
   of issue 20 with its verdict: worker >= 95% of the ladder's best rung, >= 55% MFU, checkpoint stall
   under 2 s, loss curves within their tolerance.

The whole run stays inside ``--budget-s`` (480 s) of wall time, startup of each part included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
V1_FLOPS_PER_TOKEN = 7.86e9
TARGETS = {"vs_best_rung": 0.95, "mfu": 0.55, "stall_s": 2.0}


def run_ladder(args: argparse.Namespace, out: Path, budget: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.train_gpu_ladder", "--preset", args.preset, "--device", args.device]
    cmd += ["--budget-s", f"{budget:.0f}", "--peak-tflops", str(args.peak_tflops), "--out", str(out)]
    cmd += shlex.split(args.ladder_args)
    print("$ " + " ".join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=REPO, timeout=budget + 120)
    except subprocess.TimeoutExpired:
        return {"error": f"the ladder overran its budget of {budget:.0f} s and was stopped"}
    if proc.returncode != 0 or not out.exists():
        return {"error": f"the ladder exited with status {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _drop_older_checkpoints(cdir: Path, newest: int) -> None:
    """Delete complete checkpoints older than ``newest`` (manifest first: then they no longer exist)."""
    from soma_console.training.manifest import list_checkpoints

    for info in list_checkpoints(cdir.parent, include_final=False):
        if info.step < newest:
            files = [info.manifest_path, info.path]
            if info.manifest.state:
                files.append(cdir / info.manifest.state)
            for f in files:
                with contextlib.suppress(OSError):
                    f.unlink()


def run_worker(args: argparse.Namespace, folder: Path, budget: float) -> dict[str, Any]:
    from soma_console.training import events as ev
    from soma_console.training.spec import make_spec

    spec = make_spec(
        run="gpu-check",
        preset=args.preset,
        out_dir=folder / "run",
        data=args.data,
        dropout=args.worker_dropout,
        steps=args.worker_steps,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
    )
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec_path = spec.run_dir / "spec.json"
    spec_path.write_text(spec.to_json())
    cmd = [sys.executable, "-m", "soma_console.training.worker", str(spec_path)]
    print("$ " + " ".join(cmd), flush=True)
    started = time.monotonic()
    stderr = open(folder / "worker.stderr.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
    assert proc.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    asm = ev.LineAssembler()
    records: list[ev.AnyRecord] = []
    stop_sent: float | None = None
    killed = False
    while True:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            line = b""
            if proc.poll() is not None and not reader.is_alive() and lines.empty():
                break
        for rec in asm.feed(line) if line else []:
            records.append(rec)
            if isinstance(rec, ev.Step) and rec.step % 20 == 0:
                print(f"  step {rec.step}: loss {rec.loss:.3f}, {rec.tokens_per_s:,.0f} tok/s", flush=True)
            elif isinstance(rec, ev.CheckpointSaved) and not rec.final:
                stall, write = rec.stall_s or 0.0, rec.write_s or 0.0
                print(f"  checkpoint {rec.step}: stall {stall:.2f} s, write {write:.1f} s", flush=True)
                _drop_older_checkpoints(spec.checkpoint_dir, rec.step)
            elif isinstance(rec, ev.Started):
                print(f"  started: {json.dumps(rec.fast.get('reasons', {}))}", flush=True)
        elapsed = time.monotonic() - started
        up = any(isinstance(r, ev.Started) for r in records)  # its SIGTERM handler is installed
        if stop_sent is None and up and proc.poll() is None and elapsed > budget - args.stop_grace_s:
            print(f"  {elapsed:.0f} s: SIGTERM (a last checkpoint, then exit)", flush=True)
            proc.send_signal(signal.SIGTERM)
            stop_sent = time.monotonic()
        overran = stop_sent is not None and time.monotonic() - stop_sent > args.stop_grace_s
        if (overran or elapsed > budget + args.stop_grace_s) and not killed and proc.poll() is None:
            print("  the worker overran its time: SIGKILL", flush=True)
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    proc.wait()
    records += asm.flush()
    stderr.close()
    summary = summarize_worker(records, proc.returncode, time.monotonic() - started, killed, args)
    # The worker's log (the fast-path choices, warnings, a traceback) goes away with the temp folder.
    summary["stderr_tail"] = (folder / "worker.stderr.log").read_text(errors="replace")[-4000:]
    return summary


def summarize_worker(
    records: list[Any], code: int | None, wall: float, killed: bool, args: argparse.Namespace
) -> dict[str, Any]:
    from soma_console.training import events as ev

    started = next((r for r in records if isinstance(r, ev.Started)), None)
    steps = [r for r in records if isinstance(r, ev.Step)]
    saved = [r for r in records if isinstance(r, ev.CheckpointSaved) and not r.final]
    errors = [r for r in records if isinstance(r, ev.Error)]
    settled = [s for s in steps if s.step > args.settle_steps]
    # Steady: the median step window's rate (checkpoint steps fall out as outliers). Overall: all
    # tokens over all time after settling, checkpoints and their stalls included.
    steady = statistics.median(s.tokens_per_s for s in settled) if settled else None
    overall = None
    if len(settled) >= 2:
        span = settled[-1].elapsed_s - settled[0].elapsed_s
        overall = (settled[-1].tokens - settled[0].tokens) / span if span > 0 else None
    flops = V1_FLOPS_PER_TOKEN if args.preset == "v1" else None
    peak = args.peak_tflops * 1e12

    def mb_s(c: Any) -> float | None:
        return (c.written_bytes / c.write_s / 1e6) if (c.written_bytes and c.write_s) else None

    return {
        "exit_code": code,
        "killed": killed,
        "wall_s": wall,
        "device": started.device if started else None,
        "params": started.params if started else None,
        "fast": started.fast if started else None,
        "steps_done": steps[-1].step if steps else 0,
        "steady_tokens_per_s": steady,
        "overall_tokens_per_s": overall,
        "steady_mfu": steady * flops / peak if (steady and flops) else None,
        "overall_mfu": overall * flops / peak if (overall and flops) else None,
        "checkpoints": [
            {
                "step": c.step,
                "stall_s": c.stall_s,
                "write_s": c.write_s,
                "written_bytes": c.written_bytes,
                "write_mb_s": (c.written_bytes / c.write_s / 1e6)
                if (c.written_bytes and c.write_s)
                else None,
            }
            for c in saved
        ],
        "errors": [{"error": e.error, "summary": e.summary} for e in errors],
    }


def verdicts(ladder: dict[str, Any], worker: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    best = (ladder.get("best_rung") or {}).get("tokens_per_s")
    steady = worker.get("steady_tokens_per_s")
    if best and steady:
        ratio = steady / best
        out["vs_best_rung"] = {"value": ratio, "target": TARGETS["vs_best_rung"], "met": ratio >= 0.95}
    if worker.get("steady_mfu") is not None:
        mfu = worker["steady_mfu"]
        out["mfu"] = {"value": mfu, "target": TARGETS["mfu"], "met": mfu >= TARGETS["mfu"]}
    stalls = [c["stall_s"] for c in worker.get("checkpoints", []) if c.get("stall_s") is not None]
    if stalls:
        worst = max(stalls)
        out["stall_s"] = {"value": worst, "target": TARGETS["stall_s"], "met": worst < TARGETS["stall_s"]}
    for name, comp in (ladder.get("comparisons") or {}).items():
        out[f"curve_{name}"] = {
            "value": comp["max_abs_diff"],
            "target": comp["tolerance"],
            "met": comp["within_tolerance"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    began = time.monotonic()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="v1")
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", default="builtin")
    p.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget for everything")
    p.add_argument("--ladder-budget-s", type=float, default=300.0, help="the ladder's share of --budget-s")
    p.add_argument("--ladder-args", default="", help="extra arguments for bench.train_gpu_ladder")
    p.add_argument("--worker-steps", type=int, default=10_000, help="the spec's steps (decides compile)")
    p.add_argument("--worker-dropout", type=float, default=0.0, help="0: the ladder's computation")
    p.add_argument("--checkpoint-every", type=int, default=80)
    p.add_argument("--settle-steps", type=int, default=10, help="steps left out of the steady rate")
    p.add_argument("--stop-grace-s", type=float, default=60.0, help="time allowed for the last checkpoint")
    p.add_argument("--peak-tflops", type=float, default=989.0)
    p.add_argument("--out", type=Path, default=Path("bench/out/gpu_check.json"))
    args = p.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU is visible; run this on a GPU machine (or --device cpu for a smoke run).")
            return 1
        gpu = torch.cuda.get_device_name(0)
    else:
        gpu = "cpu"
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        folder = Path(tmp)
        ladder = run_ladder(args, folder / "ladder.json", args.ladder_budget_s)
        left = args.budget_s - (time.monotonic() - began)
        print(f"worker: {left:.0f} s left of the budget", flush=True)
        worker = run_worker(args, folder, left - 10)
    result = {
        "gpu": gpu,
        "budget_s": args.budget_s,
        "elapsed_s": time.monotonic() - began,
        "ladder": ladder,
        "worker": worker,
        "targets": verdicts(ladder, worker),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print("\ntargets:")
    for name, v in result["targets"].items():
        print(f"  {name:<16} {v['value']:.4g} (target {v['target']}): {'met' if v['met'] else 'NOT met'}")
    print(f"took {result['elapsed_s']:.0f} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
