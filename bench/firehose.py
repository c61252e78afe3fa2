"""The console benchmarks' stand-in world: made-up chain and runs, a trainer that logs on demand.

The console's speed under a firehose of log lines cannot be measured on a real trainer (it prints
a few lines a second), so the benchmarks run the console on the test world
(tests/support/fake_world.py, not part of the package) with its simulated trainer turned up to
``rate`` plain lines a second. The trainer's own history and what it queues for a follower are
capped here, so that the figures are the console's, not the stand-in's.
"""

from __future__ import annotations

from typing import Any


def firehose_services(
    *, rate: float, steps_per_s: float, history: int = 2_000, backlog: int = 20_000, models: int = 40
) -> Any:
    """Services whose one running run prints ``rate`` lines/s and ``steps_per_s`` steps/s."""
    from tests.support import fake_world

    fake_world.HISTORY_LIMIT = history
    fake_world.FOLLOW_BACKLOG = backlog
    world = fake_world.FakeWorld(models=models)
    return fake_world.FakeWorldServices(world, log_rate=rate, steps_per_s=steps_per_s)


def quiet_services(*, models: int) -> Any:
    """Services over ``models`` made-up models and no runs (nothing logs)."""
    from tests.support.fake_world import FakeWorld, FakeWorldServices

    return FakeWorldServices(FakeWorld(models=models, with_history=False))
