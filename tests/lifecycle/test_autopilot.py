"""Autopilot against the real devnet: it reveals at the boundary, rides out a node that goes down
mid-window, and raises the alarm (hook command) when an open window is closing unrevealed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soma_console.context import AppContext
from soma_console.core.autopilot import Autopilot, AutopilotConfig
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.wallet import load_signer
from tests.conftest import assert_one_line_error
from tests.lifecycle.conftest import Owner

pytestmark = pytest.mark.slow


def _wait_for(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def _status(owner: Owner) -> str:
    r = owner.cli("models", "--mine", "--json")
    if r.returncode != 0:
        return "unknown"
    import json

    models = json.loads(r.stdout)["models"]
    return models[0]["status"] if models else "none"


def test_autopilot_reveals_after_the_node_comes_back(own_chain_owner: Owner, tmp_path: Path) -> None:
    owner = own_chain_owner
    assert_one_line_error(owner.cli("autopilot"), "--yes")  # never sends without consent
    owner.json("commit", owner.checkpoint(2), "--yes")
    log = tmp_path / "autopilot.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "soma_console",
                "--home",
                str(owner.home),
                "autopilot",
                "--yes",
                "--interval",
                "1s",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        owner.chain.advance()
        owner.chain.kill()  # the node dies as the window opens
        time.sleep(3)  # autopilot rounds fail meanwhile, and it keeps going
        assert proc.poll() is None, log.read_text()
        owner.chain.start()
        _wait_for(lambda: _status(owner) == "active")
    finally:
        proc.terminate()
        proc.wait(20)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "round failed" in text and "revealed" in text, text
    assert "Traceback" not in text


def test_autopilot_sounds_the_alarm_when_a_window_is_closing(own_chain_owner: Owner, tmp_path: Path) -> None:
    owner = own_chain_owner
    owner.json("commit", owner.checkpoint(2), "--yes")
    owner.chain.advance()
    alerts = tmp_path / "alerts.txt"
    script = tmp_path / "hook.py"
    script.write_text(f"import os\nopen({str(alerts)!r}, 'a').write(os.environ['SOMA_ALERT'] + '\\n')\n")
    hook = f"{sys.executable} {script}"

    async def main() -> list[str]:
        app = AppContext.create(home=str(owner.home))
        signer = load_signer(app.home)
        assert signer is not None
        journal = Journal.open(app.home.journal_path)
        session = ChainSession(app.chain, address=signer.address)
        lc = Lifecycle(app, session, journal, signer)
        snap = await session.snapshot()
        closing = snap.next_boundary_ms / 1000.0 - 0.02 * snap.epoch_duration_ms / 1000.0  # 2% left

        async def node_refuses(*_a: object, **_k: object) -> object:
            raise ChainError("the chain at 127.0.0.1 does not answer.")

        lc.execute = node_refuses  # type: ignore[method-assign]
        said: list[str] = []
        pilot = Autopilot(
            lc,
            AutopilotConfig(hook=hook),
            lambda level, msg: said.append(f"{level}: {msg}"),
            clock=lambda: closing,
        )
        with pytest.raises(ChainError):
            await pilot.round()
        with pytest.raises(ChainError):
            await pilot.round()  # the same alarm is not raised twice
        await session.close()
        journal.close()
        return said

    said = asyncio.run(main())
    alarms = [s for s in said if s.startswith("alarm:")]
    assert len(alarms) == 1 and "NOT revealed" in alarms[0], said
    assert alerts.read_text().count("NOT revealed") == 1
