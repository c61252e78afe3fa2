"""The test world answers what the live services answer, wherever the console can see a difference.

tests/support/fake_world.py is a second, made-up implementation of the chain and the trainer; these
tests hold it to the live services: the same presets and defaults, plans with the live confirmation
words, flags and payload keys (tests/support/plan_contract.py, which the devnet test checks too),
reveal sends every open window, and only a running run can be stopped.
"""

from __future__ import annotations

import pytest

from soma_console.core.onchain.base import DEFAULT_COMMISSION_BPS
from soma_console.errors import UserError
from soma_console.training.spec import presets
from tests.support import fake_world
from tests.support.fake_world import FakeWorld, FakeWorldServices
from tests.support.plan_contract import check_plan, documented_word
from tests.tui.fake_services import FakeClock, FakeServices

TASKS = {
    "commit": "Commit a checkpoint",
    "reveal": "Reveal",
    "stake": "Add stake",
    "commission": "Set commission",
    "deactivate": "Deactivate",
}


def test_the_world_offers_the_trainers_presets_and_the_live_default_commission() -> None:
    assert set(fake_world.PRESETS) == set(presets())
    assert fake_world.DEFAULT_COMMISSION_BPS == DEFAULT_COMMISSION_BPS


async def test_every_plan_has_the_live_shape_and_the_documented_word(clock: FakeClock) -> None:
    world = FakeWorld(clock=clock)
    mine = [m for m in world.models.values() if m.owner == world.address]
    active = next(m for m in mine if m.status == "active")
    ckpt = world.checkpoint_infos("r1-tiny")[0]
    plans = [
        world.plan_commit(ckpt.path, None, None, None),
        world.plan_reveal(None),
        world.plan_stake(active.model_id, 1.0),
        world.plan_commission(active.model_id, 300),
        world.plan_deactivate(active.model_id),
    ]
    assert [p.action for p in plans] == list(TASKS)
    for plan in plans:
        check_plan(plan)
        assert plan.confirm_word == documented_word(TASKS[plan.action])
    commit = plans[0]
    assert ("Commission", "1000 bps (10%)") in commit.lines
    assert "This cannot be undone." not in commit.warning_texts()


async def test_reveal_sends_every_open_window_in_one_plan(clock: FakeClock) -> None:
    services = FakeWorldServices(FakeWorld(clock=clock), tx_delay_s=0.0)
    world = services.world
    mine = [m for m in world.models.values() if m.owner == world.address]
    world.add_commit(mine[2].model_id, "runs/r1-tiny/step-000100.safetensors", world.epoch - 1)
    plan = await services.plan_reveal()
    open_ids = [i.id for i in world.intents if i.commit_epoch == world.epoch - 1]
    assert len(open_ids) == 2 and sorted(plan.payload["intents"]) == open_ids
    assert plan.title == "Reveal 2 commits"
    result = await services.execute(plan, lambda _text: None)
    assert result.ok
    assert [i.state for i in world.intents if i.id in open_ids] == ["revealed", "revealed"]
    assert [a.kind for a in world.audit[-2:]] == ["reveal", "reveal"]
    with pytest.raises(UserError, match="no pending commit to reveal"):
        await services.plan_reveal()


async def test_only_a_running_run_can_be_stopped(clock: FakeClock) -> None:
    services = FakeServices(clock=clock)
    with pytest.raises(UserError, match="run 'r1-tiny' is not running"):
        await services.stop_training("r1-tiny")  # finished
    await services.stop_training("r2-v1")
    with pytest.raises(UserError, match="run 'r2-v1' is not running"):
        await services.stop_training("r2-v1")
    with pytest.raises(UserError, match="there is no run named 'r7'"):
        await services.stop_training("r7")

    simulated = FakeWorldServices(FakeWorld(clock=clock))  # the simulated trainer, as the tmux tests run it
    await simulated.start()
    try:
        await simulated.stop_training("r2-v1")
        with pytest.raises(UserError, match="run 'r2-v1' is not running"):
            await simulated.stop_training("r2-v1")
    finally:
        await simulated.stop()
