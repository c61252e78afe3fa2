"""`soma-console logs` and `runs` on big inputs: time and peak memory of the real command.

    python -m bench.runs_registry [--lines 1000000] [--runs 2000] [--json out.json]

Builds a home with one run whose events.jsonl holds ``--lines`` step events, and ``--runs`` small
finished runs, then runs ``soma-console logs RUN`` (output to /dev/null) and ``soma-console runs
--json`` as subprocesses and reports each one's wall time and peak resident memory (ru_maxrss of
the child, from wait4). ``logs`` reads the file in 1 MiB chunks, so its memory should not grow with the file.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from soma_console.training import events as ev


def build(home: Path, lines: int, runs: int) -> None:
    runs_dir = home / "runs"
    big = runs_dir / "big"
    big.mkdir(parents=True)
    (big / "spec.json").write_text(json.dumps({"run": "big", "preset": "tiny", "steps": lines}))
    (big / "run.json").write_text(json.dumps({"status": "finished", "backend": "local", "started": 1.0}))
    with open(big / "events.jsonl", "w", encoding="utf-8") as fh:
        for n in range(1, lines + 1):
            rec = ev.Step(step=n, total_steps=lines, loss=1.0, ce=0.9, sigreg=0.1, lr=1e-3, tokens_per_s=1e4)
            fh.write(rec.to_line() + "\n")
    for i in range(runs):
        d = runs_dir / f"r{i:05d}"
        d.mkdir()
        (d / "spec.json").write_text(json.dumps({"run": d.name, "preset": "tiny", "steps": 10}))
        (d / "run.json").write_text(
            json.dumps({"status": "finished", "backend": "local", "started": 2.0 + i})
        )
        step = ev.Step(step=10, total_steps=10, loss=1.0, ce=0.9, sigreg=0.1, lr=1e-3, tokens_per_s=1e4)
        (d / "events.jsonl").write_text(step.to_line() + "\n")


def measure(home: Path, *args: str) -> dict[str, Any]:
    """Wall time and peak RSS of one command (its own rusage, from wait4)."""
    env = {**os.environ, "SOMA_CONSOLE_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "soma_console", *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited with {proc.returncode}")
    return {"command": " ".join(args), "wall_s": round(wall, 2), "peak_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2_000)
    parser.add_argument("--json", dest="out")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        build(home, opts.lines, opts.runs)
        size = (home / "runs" / "big" / "events.jsonl").stat().st_size
        results = [measure(home, "runs", "--json"), measure(home, "logs", "big")]
    report = {
        "lines": opts.lines,
        "events_mib": round(size / 2**20, 1),
        "runs": opts.runs + 1,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    if opts.out:
        Path(opts.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
