"""The console process itself: no torch, no modal, however long it runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

DRIVE = """
import asyncio, sys
from soma_console.tui.app import ConsoleApp
from soma_console.tui.preview import PreviewServices, PreviewWorld

async def main() -> None:
    services = PreviewServices(PreviewWorld(), log_rate=2000.0, steps_per_s=20.0)
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
