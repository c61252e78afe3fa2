"""The console process itself: no torch, no modal, however long it runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO
from tests.tui.helpers import pilot_options

DRIVE = """
import asyncio, sys
from soma_console.tui.app import ConsoleApp
from tests.support.fake_world import FakeWorldServices, FakeWorld

async def main() -> None:
    services = FakeWorldServices(FakeWorld(), log_rate=2000.0, steps_per_s=20.0)
    app = ConsoleApp(services)  # live timers, simulated trainer, chain poller
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        await pilot.press("4", "slash", *"mine", "escape", "3", "1", "tab", "question_mark")
        await pilot.pause(0.5)
        await pilot.press("escape", "t")
        await pilot.pause(0.3)

asyncio.run(main())
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "modal", "jax", "flax"})
print("HEAVY", ",".join(heavy) or "none")
"""


def test_the_console_never_imports_torch_or_modal() -> None:
    result = subprocess.run(
        [sys.executable, "-c", DRIVE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEAVY none" in result.stdout, result.stdout[-2000:]


async def test_quitting_while_everything_runs_ends_cleanly() -> None:
    """Timers, a 5,000 lines/s log, polls and workers all live when the console exits: Textual takes
    the widgets down before it stops them, and none of them may trip over the missing panes."""
    from soma_console.tui.app import AuditLoaded, ChainUpdate, ConsoleApp, QueueLoaded, RunsLoaded
    from tests.support.fake_world import FakeWorld, FakeWorldServices

    services = FakeWorldServices(FakeWorld(), log_rate=5000.0, steps_per_s=20.0, poll_s=0.05)
    app = ConsoleApp(services, options=pilot_options())  # live timers, poller and trainer
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.6)
        app.exit()  # run_test re-raises anything that failed on the way out
    assert app.return_code == 0
    # What arrives late (a tick, a flush, a worker's result, a poll) finds no panes: it must be
    # ignored, not raise.
    app.tick()
    app.flush_logs()
    app.on_queue_loaded(QueueLoaded([]))
    app.on_runs_loaded(RunsLoaded([]))
    app.on_audit_loaded(AuditLoaded([]))
    app.on_chain_update(ChainUpdate(services.world.snapshot(), None))
    app.load_audit()
