"""Console: memory while a run logs 1,000,000 lines.

    python -m bench.tui_log_memory [--lines 1000000] [--rate 50000] [--json out.json]

The console runs as ``run_console`` builds it (real terminal driver, on a 160x48 pseudo-terminal
this script reads) on the test world's services (bench/firehose.py), whose simulated trainer prints
``--rate`` plain log lines a second into the followed run, until ``--lines`` lines have gone through
the log. The console's resident memory (VmRSS) is sampled every half second; the report gives it
against the number of lines seen, so a leak would show as growth with the line count. The log keeps
its newest 5,000 lines (the console's default); the simulated trainer's own history is capped at
2,000 records, and what it queues for a follower at 5,000, so that what is measured is the console.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from typing import Any

from bench.tui_pty import spawn


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(lines: int, rate: float, out_path: str) -> None:
    from bench.firehose import firehose_services
    from soma_console.tui.app import ConsoleApp

    # Slow steps: the running run has 860 steps to go and must outlast the longest measurement.
    services = firehose_services(rate=rate, steps_per_s=0.4, history=2_000, backlog=5_000)
    app = ConsoleApp(services)  # the options run_console() uses
    samples: list[tuple[float, int, float]] = []
    tasks: list[asyncio.Task[None]] = []

    async def sample() -> None:
        await asyncio.sleep(1.0)
        feed = app.training.feed
        start = time.perf_counter()
        base = feed.buffer.total
        while True:
            seen = feed.buffer.total - base
            samples.append((time.perf_counter() - start, seen, rss_mib()))
            if seen >= lines:
                break
            await asyncio.sleep(0.5)
        app.exit()

    def start() -> None:
        tasks.append(asyncio.get_running_loop().create_task(sample()))

    app.call_after_refresh(start)
    app.run()
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"samples": samples, "log_lines_kept": app.options.log_lines}, out)


def summarise(samples: list[list[float]], lines: int) -> dict[str, Any]:
    def at(fraction: float) -> float:
        target = lines * fraction
        return next(rss for _, seen, rss in samples if seen >= target)

    rss = [s[2] for s in samples]
    marks = {f"{int(lines * f):,} lines": round(at(f), 1) for f in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)}
    # Slope of RSS against lines over the second half (after the log and caches have filled).
    half = [s for s in samples if s[1] >= lines / 2]
    slope = (half[-1][2] - half[0][2]) / max(1.0, (half[-1][1] - half[0][1]) / 1e6) if len(half) > 1 else 0.0
    return {
        "lines": lines,
        "seconds": round(samples[-1][0], 1),
        "rss_mib_at": marks,
        "rss_mib_min": round(min(rss), 1),
        "rss_mib_max": round(max(rss), 1),
        "second_half_growth_mib_per_million_lines": round(slope, 2),
        "samples": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.lines, args.rate, args.child)
        return
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [sys.executable, "-m", "bench.tui_log_memory", "--lines", str(args.lines)]
        cmd += ["--rate", str(args.rate), "--child", tmp.name]
        run = spawn(cmd, width=160, height=48)
        run.drain(args.lines / args.rate * 3 + 60)
        code = run.close()
        with open(tmp.name, encoding="utf-8") as f:
            text = f.read()
    if not text:
        raise SystemExit(f"the console exited with {code} and wrote no figures")
    data = json.loads(text)
    result = summarise(data["samples"], args.lines)
    result["rate_target"] = args.rate
    result["log_lines_kept"] = data["log_lines_kept"]
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({**result, "raw": data["samples"]}, out, indent=2)


if __name__ == "__main__":
    main()
