"""The demo's chain: ``soma-console devnet`` with its built-in submitter, as a child process.

The devnet's scoring service and submitter load the models with torch, and the console must never
import torch (nor share its event loop's process with a scorer), so the demo does not run the node
in its own process: it starts ``python -m soma_console devnet --json --submitter`` on the demo's
state directory, waits for the one JSON line that gives the endpoints, and stops it (SIGTERM, then
SIGKILL) when the console quits. ``--exit-with-parent`` makes the child stop by itself should the
console die without stopping it. The child's output goes to ``node.out``/``node.err`` in the
state directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soma_console.errors import UserError

START_TIMEOUT_S = 120.0  # the child imports torch and builds the scoring model before it answers
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ChildEndpoints:
    urls: dict[str, str]

    def as_dict(self) -> dict[str, str]:
        return dict(self.urls)


@dataclass
class DemoChain:
    """A devnet child process; ``endpoints`` once :meth:`start` returned."""

    state_dir: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    endpoints: ChildEndpoints | None = None
    epoch: int | None = None

    @property
    def out_path(self) -> Path:
        return self.state_dir / "node.out"

    @property
    def err_path(self) -> Path:
        return self.state_dir / "node.err"

    def start(self, timeout: float = START_TIMEOUT_S) -> DemoChain:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "soma_console", *self.args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # Ctrl-C in the console's terminal is the console's, not the node's
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self._ready_line()
            if ready is not None:
                self.endpoints = ChildEndpoints({k: v for k, v in ready.items() if k.endswith("_url")})
                self.epoch = ready.get("epoch")
                return self
            if self.proc.poll() is not None:
                raise UserError(self._failure(), hint=f"The node's output is in {self.err_path}.")
            time.sleep(0.05)
        self.stop()
        raise UserError(
            f"the demo chain did not start in {timeout:.0f} s.",
            hint=f"The node's output is in {self.err_path}.",
        )

    def _ready_line(self) -> dict[str, Any] | None:
        try:
            with open(self.out_path, encoding="utf-8", errors="replace") as fh:
                first = fh.readline()
        except FileNotFoundError:
            return None
        if not first.endswith("\n") or not first.startswith("{"):
            return None
        data = json.loads(first)
        return data if isinstance(data, dict) and data.get("event") == "ready" else None

    def _failure(self) -> str:
        """The child's own one-sentence error (``error: ...``), or its exit status."""
        text = _tail(self.err_path)
        for line in reversed(text.splitlines()):
            if line.startswith("error: "):
                return line.removeprefix("error: ").strip()
        assert self.proc is not None
        return f"the demo chain stopped at start (exit status {self.proc.returncode})."

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode


def _tail(path: Path, limit: int = 8192) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
