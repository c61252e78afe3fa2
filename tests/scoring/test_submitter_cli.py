"""`soma-console devnet --submitter` as a user runs it: a pass at start and after each epoch."""

from __future__ import annotations

import re
import signal

from tests.conftest import run_cli
from tests.devnet.test_cli_and_node import FREE_PORTS, _start_cli, stop_cleanly


def _read_until(proc, lines: list[str], needle: str) -> None:
    while True:
        line = proc.stdout.readline()
        assert line, "\n".join(lines)
        lines.append(line.rstrip("\n"))
        if needle in line:
            return


def test_devnet_submitter_runs_a_pass_every_epoch(home):
    proc, lines = _start_cli(home, *FREE_PORTS, "--epoch-seconds", "0", "--submitter")
    try:
        text = "\n".join(lines)
        admin = re.search(r"admin\s+(http://127\.0\.0\.1:\d+)", text)
        assert admin, text
        _read_until(proc, lines, "submitter: epoch 0:")
        assert any(re.search(r"submitter: signing as 0x[0-9a-f]{64}", ln) for ln in lines), lines
        assert run_cli("devnet", "advance", "--admin-url", admin.group(1)).returncode == 0
        _read_until(proc, lines, "submitter: epoch 1:")
        stop_cleanly(proc, signal.SIGTERM, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    # without targets on the chain a pass scores nothing; with them it reports what it did
    assert re.search(r"submitter: epoch 1: \d+ open targets, \d+ scores, \d+ submitted", "\n".join(lines))
