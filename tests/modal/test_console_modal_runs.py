"""The console's Modal runs (``core.live_runs.ModalRuns``) through the run registry, end to end:
the unmodified modal client, the fake control plane, the real container code and the stand-in
worker. The runs list, the checkpoints, following and stopping say the same as the CLI."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from soma_console.config import Home, Settings
from soma_console.core.live_runs import ModalRuns
from soma_console.training import events as ev
from soma_console.training.run_registry import all_runs
from tests.fake_modal.server import FakeModal
from tests.modal.conftest import APP, VOLUME


def _settings() -> Settings:
    return Settings(raw={"modal": {"app": APP, "volume": VOLUME, "timeout_seconds": 10}})


def _spec(run: str, **kw: Any) -> dict[str, Any]:
    return {"run": run, "preset": "tiny", "steps": 6, "checkpoint_every": 2, **kw}


async def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_console_lists_follows_and_lists_checkpoints_of_a_modal_run(
    deployed: FakeModal, tmp_path: Path
) -> None:
    home = Home(tmp_path, tmp_path)
    runs = ModalRuns(home, _settings(), refresh_s=0.2)
    runs.start()
    try:
        name = await runs.start_run(_spec("console-ok"))
        assert [(r.name, r.backend, r.status) for r in runs.runs()] == [(name, "modal", "running")]
        seen: list[ev.AnyRecord] = []
        async for batch in runs.follow(name):
            seen.extend(batch)
        assert [r.kind for r in seen if not isinstance(r, ev.LogLine)][-1] == "finished"
        await runs.refresh()
        assert runs.runs()[0].status == "finished"
        # Checkpoints come from the Volume, in the background; the runs row then shows the step.
        runs.checkpoints(name, lambda path: ("", None))
        await _until(lambda: runs.checkpoints(name, lambda path: ("", None)))
        found = runs.checkpoints(
            name,
            lambda path: (
                ("committed", "0xab") if path.endswith("checkpoint-00000004.safetensors") else ("", None)
            ),
        )
        assert [(c.step, c.final, c.status) for c in found] == [
            (6, True, ""),
            (4, False, "committed"),
            (2, False, ""),
        ]
        assert all(c.path.startswith(f"modal://{VOLUME}/runs/{name}/") for c in found)
        assert ("committed", "0xab") in [(c.status, c.model_id) for c in found]
        row = runs.runs()[0]
        assert (row.step, row.total_steps) == (6, 6)
        # The CLI's list reads the same record without asking Modal: the run is there, as launched.
        (cli_row,) = all_runs(home)
        assert (cli_row.name, cli_row.backend, cli_row.status, cli_row.call_id) == (
            name,
            "modal",
            "launched",
            row.call_id,
        )
    finally:
        await runs.stop()


async def test_console_stops_a_modal_run_and_keeps_saying_stopped(
    deployed: FakeModal, tmp_path: Path
) -> None:
    home = Home(tmp_path, tmp_path)
    runs = ModalRuns(home, _settings(), refresh_s=0.2)
    runs.start()
    try:
        name = await runs.start_run(_spec("console-stop", steps=400, sleep_s=0.05))
        call_id = runs.runs()[0].call_id
        assert call_id is not None
        await _until(lambda: deployed.calls[call_id].state == "running")
        await runs.stop_run(name)
        await _until(lambda: deployed.calls[call_id].state == "cancelled")
        await runs.refresh()
        assert runs.runs()[0].status == "stopped"
    finally:
        await runs.stop()
