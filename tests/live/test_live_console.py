"""The console on LiveServices: Pilot on a real devnet and trainer; ``demo`` for real in tmux."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from soma_console.config import Settings
from soma_console.core.live_services import LiveServices
from soma_console.tui.app import ConsoleApp
from soma_console.tui.dialogs import ConfirmPlanScreen
from tests.conftest import REPO
from tests.tui.helpers import pilot_options, screen_text, wait_for
from tests.tui.tmux import TmuxTerminal, tmux_available, wait_for_exit


async def start_run(pilot: Pilot[Any], name: str, *, steps: int) -> None:
    """t, then the training dialog filled in and sent."""
    await pilot.press("t")
    await wait_for(pilot, lambda: "Start training" in screen_text(pilot.app))
    dialog = pilot.app.screen
    dialog.query_one("#steps", Input).value = str(steps)
    dialog.query_one("#name", Input).value = name
    dialog.query_one("#steps", Input).focus()
    await pilot.press("enter")


@pytest.mark.slow
async def test_the_console_on_live_services_trains_and_shows_the_chain(
    live: LiveServices, shared_devnet: Any, owner: Any
) -> None:
    client = await shared_devnet.client()
    model_id = await client.create_model(owner, 300, 1.0)
    epoch = (await client.get_latest_system_state()).epoch
    app = ConsoleApp(live, settings=Settings(raw={}), options=pilot_options())
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.epoch >= epoch, timeout=20)
        screen = screen_text(app)
        for title in ("Training", "Checkpoints", "Reveal queue", "Models"):
            assert title in screen
        assert f"epoch {app.snapshot.epoch}" in screen  # type: ignore[union-attr]
        assert "autopilot: OFF" in screen
        await wait_for(pilot, lambda: model_id[2:8] in screen_text(app), timeout=10)
        assert "★" in screen_text(app)  # the test's own model is marked as mine

        await start_run(pilot, "pilot-run", steps=3)

        await wait_for(pilot, lambda: "pilot-run" in app.training.runs, timeout=30)
        await wait_for(pilot, lambda: app.training.followed == "pilot-run", timeout=10)
        await wait_for(pilot, lambda: app.training.runs["pilot-run"].status == "finished", timeout=120)
        await wait_for(pilot, lambda: "step 3/3" in screen_text(app), timeout=10)
        # Its checkpoints arrive in the Checkpoints pane.
        pane = app.checkpoints_pane
        await wait_for(pilot, lambda: len(getattr(pane, "checkpoints", {})) == 1, timeout=10)
        # one row for step 3, which is also the final weights (the same file)
        assert [(c.step, c.final) for c in pane.checkpoints.values()] == [(3, True)]
        assert all(Path(path).parent.parent.name == "pilot-run" for path in pane.checkpoints)
        assert app.errors == []


@pytest.mark.slow
async def test_the_console_on_live_services_stops_a_run_and_answers_the_palette(
    live: LiveServices, shared_devnet: Any, owner: Any
) -> None:
    """Stopping a running run (x, typed word), refusing to stop it twice, and the command palette."""
    client = await shared_devnet.client()
    model_id = await client.create_model(owner, 300, 1.0)
    app = ConsoleApp(live, settings=Settings(raw={}), options=pilot_options())
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await wait_for(
            pilot, lambda: app.snapshot is not None and app.snapshot.model(model_id) is not None, timeout=20
        )

        # ctrl+p: the palette's commands act on the live services
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"show only mine")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: list(app.models.table.rows) == [model_id], timeout=10)
        await pilot.press("enter")  # from the filter box back to the table, the filter kept
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"autopilot turn on")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "autopilot: ON" in screen_text(app), timeout=10)
        assert live.autopilot_enabled()

        # t: a run long enough to be stopped; x stops it once the trainer has taken a step
        await pilot.press("1")
        await start_run(pilot, "long-run", steps=100_000)
        await wait_for(pilot, lambda: app.training.followed == "long-run", timeout=30)
        await wait_for(
            pilot,
            lambda: "long-run" in app.training.runs and app.training.runs["long-run"].step >= 1,
            timeout=120,
        )
        assert app.training.selected_run() == "long-run"
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen), timeout=10)
        await pilot.press(*"stop", "enter")
        await wait_for(pilot, lambda: app.training.runs["long-run"].status == "stopped", timeout=120)
        await wait_for(pilot, lambda: "■ stopped" in screen_text(app), timeout=10)
        # a stopped run is not stopped again
        await pilot.press("x")
        await wait_for(pilot, lambda: "Run long-run is not running (stopped)." in screen_text(app), timeout=5)
        assert not isinstance(app.screen, ConfirmPlanScreen)
        assert app.errors == []


def _ended(pid: int, timeout: float = 10.0) -> bool:
    """Gone, or a zombie that tmux has not reaped yet (it has exited either way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return wait_for_exit(pid, timeout=0.1)
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")
def test_demo_runs_for_real_and_quits_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        "PYTHONPATH": str(REPO),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "SOMA_CONSOLE_HOME": str(home),
        "SOMA_CONFIG_DIR": str(tmp_path / "no-soma-cli"),
        "SOMA_SECRET_KEY": "",
        "MODAL_CONFIG_PATH": str(tmp_path / "no-modal.toml"),
    }
    command = [sys.executable, "-m", "soma_console", "demo", "--any-ports", "--no-mouse"]
    with TmuxTerminal(command, width=100, height=30, env=env, cwd=REPO) as term:
        screen = term.wait_until(lambda s: "● connected" in s, timeout=60, what="the demo connected")
        for title in ("Training", "Checkpoints", "Reveal queue", "Models"):
            assert title in screen
        assert "devnet" in screen and "epoch 0" in screen
        assert "50 SOMA" in screen  # the new wallet was funded
        info = json.loads((home / "demo.json").read_text())
        port = int(info["rpc_url"].rsplit(":", 1)[1])
        assert info["address"][:4] in screen
        term.press("3")  # the Reveal queue (a tab when the terminal is narrow)
        term.wait_for("autopilot: ON")
        assert not _port_free(port)
        key = (home / "keys" / "signer.key").stat()
        assert key.st_mode & 0o077 == 0

        # A second demo on the same home must not delete the running one's chain.
        second = subprocess.run(
            [*command, "--fresh"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
        )
        assert second.returncode != 0 and "Traceback" not in second.stderr
        assert second.stderr.strip().startswith("error: a devnet is running on"), second.stderr
        assert (home / "devnet").is_dir()

        pid = term.pid
        term.press("q")
        code = term.wait_exit(timeout=20)
        # tmux sometimes loses the status (None); demo.json's removal below shows the clean path ran.
        assert code in (0, None), term.screen()
        assert pid is not None and _ended(pid)
    deadline = time.monotonic() + 10
    while not _port_free(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _port_free(port)
    assert not (home / "demo.json").exists()
    assert (home / "devnet").is_dir()  # kept for the next demo
