"""Console: log ingest at a given rate while keys are pressed; how fast each key shows.

    python -m bench.tui_log_ingest [--rate 50000] [--seconds 20] [--json out.json]

The console runs as ``run_console`` builds it, with its real terminal driver, on a 160x48
(``--size``) pseudo-terminal; this script is the terminal: it reads everything the console draws and types
keys into it. The console's services are the test world's (bench/firehose.py), whose simulated trainer prints
``--rate`` plain log lines a second into the followed run (plus 5 training steps a second),
delivered in 20 Hz batches as a trainer's pipe delivers them. Every 250 ms the script types a
pane key (4 and 1 alternately) and times how long until the terminal has received the redrawn
pane title ("▶ Models" / "▶ Training"): keyboard to screen, end to end. Reported:

* ``lines_per_s``: log lines that reached the console's log buffer per second;
* ``key_to_screen_ms``: p50 / p95 / max from typing a key to its effect arriving on the terminal;
* ``loop_lag_ms``: how late a 20 ms sleep on the console's event loop wakes up;
* ``full_gc``: full garbage collections in the console during the run, and the longest;
* ``terminal_kib_per_s``: how much the console wrote to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import threading
import time
from typing import Any

from bench.tui_pty import PtyRun, median, spawn


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[int(q * (len(ordered) - 1))]


def child(rate: float, seconds: float, out_path: str) -> None:
    from bench.firehose import firehose_services
    from soma_console.tui.app import ConsoleApp

    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info.get("generation") == 2:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_pauses.append(time.perf_counter() - gc_started[0])

    services = firehose_services(rate=rate, steps_per_s=5.0, history=2_000, backlog=20_000)
    app = ConsoleApp(services)  # the options run_console() uses
    stats: dict[str, Any] = {}
    lags: list[float] = []
    stop = threading.Event()

    async def lag_probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.02)
            lags.append(time.perf_counter() - t - 0.02)

    async def run_for() -> None:
        await asyncio.sleep(1.0)  # history loaded, trainer running
        log = app.training.query_one("#run-log")
        feed = app.training.feed
        asyncio.get_running_loop().create_task(lag_probe())
        gc.callbacks.append(on_gc)
        total0, t0 = feed.buffer.total, time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        stats["lines_per_s"] = (feed.buffer.total - total0) / elapsed
        stats["dropped_notices"] = sum(1 for line in log.lines if "older lines not shown" in line)
        stats["log_lines_kept"] = log.line_count
        stop.set()
        gc.callbacks.remove(on_gc)
        app.exit()

    tasks: list[asyncio.Task[None]] = []

    def start() -> None:
        # Returns None on purpose: Textual awaits whatever an after-refresh callback returns,
        # and awaiting this task would hold up every repaint until the measurement ends.
        tasks.append(asyncio.get_running_loop().create_task(run_for()))

    app.call_after_refresh(start)
    app.run()
    stats.update(
        rate_target=rate,
        seconds=seconds,
        loop_lag_ms={
            "p50": 1000 * median(lags or [0.0]),
            "p99": 1000 * pct(lags, 0.99),
            "max": 1000 * max(lags),
        },
        full_gc={"count": len(gc_pauses), "max_ms": 1000 * max(gc_pauses, default=0.0)},
    )
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(stats, out, indent=2)


def type_keys(run: PtyRun, seconds: float) -> list[float]:
    """Type 4 and 1 alternately every 250 ms; time each until its pane title is redrawn."""
    times: list[float] = []
    keys = [(b"4", "▶ Models".encode()), (b"1", "▶ Training".encode())]
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end:
        key, marker = keys[i % 2]
        i += 1
        before = run.received

        def arrived(out: bytes, before: int = before, marker: bytes = marker) -> bool:
            fresh = run.received - before  # only what the console wrote after the key counts
            return marker in out[-fresh:] if 0 < fresh < len(out) else fresh > 0 and marker in out

        typed = time.perf_counter()
        run.write(key)
        seen = run.read_until(arrived, 5)
        if seen is not None:
            times.append(seen - typed)
        run.drain(max(0.0, 0.25 - (time.perf_counter() - typed)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="160x48", help="terminal size, WIDTHxHEIGHT (default 160x48)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rate, args.seconds, args.child)
        return
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [sys.executable, "-m", "bench.tui_log_ingest", "--rate", str(args.rate)]
        cmd += ["--seconds", str(args.seconds), "--child", tmp.name]
        width, height = (int(v) for v in args.size.lower().split("x"))
        run = spawn(cmd, width=width, height=height)
        started = time.perf_counter()
        run.read_until(lambda out: "▶ Training".encode() in out, 30)
        time.sleep(1.0)  # as the console's own measurement waits for the run to be under way
        run.drain(1.0)
        key_times = type_keys(run, args.seconds - 2.0)
        run.drain(args.seconds + 30)
        elapsed = time.perf_counter() - started
        code = run.close()
        with open(tmp.name, encoding="utf-8") as f:
            text = f.read()
    if not text:
        raise SystemExit(
            f"the console exited with {code} and wrote no figures:\n{bytes(run.output[-2000:])!r}"
        )
    result = json.loads(text)
    result["keys"] = len(key_times)
    result["key_to_screen_ms"] = {
        "p50": 1000 * median(key_times or [0.0]),
        "p95": 1000 * pct(key_times, 0.95),
        "max": 1000 * max(key_times, default=0.0),
    }
    result["terminal_kib_per_s"] = run.received / elapsed / 1024
    result["size"] = args.size
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
