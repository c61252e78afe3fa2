"""The last ``score`` verdict of each checkpoint, kept beside it for the console and the commit plan.

``checkpoint-00000060.safetensors`` gets ``checkpoint-00000060.score.json`` (written atomically):
the chain it was scored on, when, how many targets, how many it would have won, and the summary
line. Reading never raises: a missing or unreadable file is no verdict. No torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soma_console.errors import UserError
from soma_console.fsutil import atomic_write_text

SUFFIX = ".score.json"


@dataclass(frozen=True)
class Verdict:
    chain: str
    at: float
    scored: int
    would_win: int
    summary: str

    @property
    def short(self) -> str:
        """For a table cell: ``wins 3/10``."""
        return f"wins {self.would_win}/{self.scored}" if self.scored else "no targets"


def verdict_path(weights: Path) -> Path:
    return Path(weights).with_suffix(SUFFIX)


def save_verdict(weights: Path, chain: str, report: Any) -> Verdict:
    v = Verdict(chain, time.time(), int(report.scored), int(report.would_win), str(report.summary()))
    atomic_write_text(verdict_path(weights), json.dumps(v.__dict__, sort_keys=True))
    return v


def load_verdict(weights: Path | str) -> Verdict | None:
    try:
        d = json.loads(verdict_path(Path(weights)).read_text())
        return Verdict(
            str(d["chain"]), float(d["at"]), int(d["scored"]), int(d["would_win"]), str(d["summary"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def score_in_child(
    checkpoint_path: str, chain: str, home_env: dict[str, str], *, timeout: float = 3600.0
) -> Verdict:
    """Run ``soma-console score`` on the checkpoint in a child process (torch stays out of the
    caller) and return the verdict it saved. Blocking: call it from a worker thread."""
    argv = [sys.executable, "-m", "soma_console", "--chain", chain, "score", checkpoint_path, "--json"]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, **home_env}, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"scoring {Path(checkpoint_path).name} took more than {timeout:.0f} s; stopped."
        ) from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise UserError(f"scoring failed: {lines[-1] if lines else 'no output'}")
    verdict = load_verdict(checkpoint_path)
    if verdict is None:
        raise UserError("scoring finished but left no verdict beside the checkpoint.")
    return verdict
