"""Console: time from the command to its first frame, and the import time inside it.

    python -m bench.tui_startup [--runs 7] [--json out.json]

* **first frame**: ``python -m tests.support.fake_world`` is launched on a 160x48 pseudo-terminal;
  the clock runs from the launch (fork/exec included) until the terminal has received a complete
  first screen (the four pane titles and the status bar's chain name).
* **imports**: in a fresh interpreter, the time to import the console (``soma_console.tui.app``
  and the test world's services), and a bare ``python -c pass`` for the interpreter itself.

Made-up data stands in for the chain: the live services add their own connection time, but the
console draws its first frame before it waits for the network (services start after it).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time

from bench.tui_pty import median, spawn

ANSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]|\x1b[()][A-Z0-9]|\x1b[=>]")
MARKERS = (b"Training", b"Checkpoints", b"Reveal queue", b"Models", b"preview")


def first_frame_seconds() -> float:
    run = spawn([sys.executable, "-m", "tests.support.fake_world"], width=160, height=48)
    try:

        def complete(output: bytes) -> bool:
            plain = ANSI.sub(b"", output)
            return all(marker in plain for marker in MARKERS)

        seen = run.read_until(complete, timeout=30)
        if seen is None:
            raise RuntimeError("the console drew no complete frame in 30 s")
        return seen - run.started
    finally:
        run.proc.send_signal(signal.SIGHUP)
        run.drain(0.5)
        run.close()


def python_seconds(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return float(out.stdout.strip())


IMPORT_CODE = (
    "import time; t = time.perf_counter(); import soma_console.tui.app, tests.support.fake_world; "
    "print(time.perf_counter() - t)"
)
BARE_CODE = "import time, subprocess, sys; t = time.perf_counter(); "
BARE_CODE += "subprocess.run([sys.executable, '-c', 'pass']); print(time.perf_counter() - t)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    first_frame_seconds()  # warm the page cache and .pyc files once
    frames = [first_frame_seconds() for _ in range(args.runs)]
    imports = [python_seconds(IMPORT_CODE) for _ in range(args.runs)]
    bare = [python_seconds(BARE_CODE) for _ in range(args.runs)]
    result = {
        "runs": args.runs,
        "first_frame_s": {"median": median(frames), "max": max(frames), "min": min(frames)},
        "console_import_s": {"median": median(imports), "max": max(imports)},
        "bare_python_s": {"median": median(bare), "max": max(bare)},
        "when": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
