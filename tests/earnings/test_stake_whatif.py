"""Stake what-if against the devnet's real assignment: with +0 it must count exactly the targets the
chain assigned to the model; more stake never lowers the share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from soma_console.core.chain import ChainSession
from soma_console.core.onchain.payloads import StakePayload
from soma_console.core.stake_whatif import stake_whatif
from tests.devnet.test_economy import _active_models, _open_targets
from tests.devnet_fixture import Devnet, _new_devnet
from tests.tui.helpers import pilot_options

pytestmark = pytest.mark.asyncio


@pytest.fixture
def tiny_devnet(tmp_path: Path) -> Iterator[Devnet]:
    yield from _new_devnet(tmp_path / "devnet", extra_args=("--model-preset", "tiny"))


async def test_what_if_replays_the_chains_assignment_and_more_stake_means_no_fewer_targets(tiny_devnet):
    client = await tiny_devnet.client()
    ids, _ = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    tiny_devnet.advance()
    targets = await _open_targets(client)
    session = ChainSession(tiny_devnet.profile)
    try:
        for mid in ids:
            actual = sum(mid in t.model_ids for t in targets)
            same = await stake_whatif(session, mid, 0)
            assert (same.targets, same.assigned_now, same.assigned_after) == (len(targets), actual, actual)
            assert same.models_per_target == 3 == max(len(t.model_ids) for t in targets)  # the chain's k
            assert not same.sampled
        weakest = ids[0]
        more = await stake_whatif(session, weakest, 100 * 10**9)
        assert more.assigned_after >= more.assigned_now
        assert more.to_json()["share_after"] == more.assigned_after / len(targets)
        with pytest.raises(Exception, match="not active"):
            await stake_whatif(session, "0x" + "ab" * 32, 0)
        # a sample: the first targets as the chain lists them (open ones, by id), counted exactly
        listed = sorted(targets, key=lambda t: t.id)[:7]
        some = await stake_whatif(session, ids[1], 0, max_targets=7)
        assert (some.targets, some.sampled) == (7, True)
        assert some.assigned_now == sum(ids[1] in t.model_ids for t in listed)
        # the short id the tables print is enough
        short = await stake_whatif(session, ids[2][:14], 0)
        assert short.model_id == ids[2].lower()
    finally:
        await session.close()


async def test_k_comes_from_the_protocol_config_and_defaults_to_three() -> None:
    from types import SimpleNamespace

    from soma_console.core.chain_reads import EpochClock
    from soma_console.core.stake_whatif import models_per_target

    def session(attributes: dict[str, str]) -> object:
        async def clock() -> EpochClock:
            return EpochClock(epoch=1, start_ms=0, protocol_version=3, attributes=attributes)

        return SimpleNamespace(reader=SimpleNamespace(clock=clock))

    assert await models_per_target(session({"target_models_per_target": "5"})) == 5  # type: ignore[arg-type]
    assert await models_per_target(session({})) == 3  # type: ignore[arg-type]
    assert await models_per_target(session({"target_models_per_target": "x"})) == 3  # type: ignore[arg-type]


async def test_the_consoles_stake_plan_shows_what_the_added_stake_does(
    tiny_devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soma_console.context import AppContext
    from soma_console.core.live_services import LiveServices
    from tests.lifecycle.conftest import write_chain_config

    client = await tiny_devnet.client()
    ids, owner = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    created = await client.create_model(owner, stake_amount=1.0, commission_rate=100)  # not active
    tiny_devnet.advance()
    monkeypatch.setenv("SOMA_SECRET_KEY", owner.to_secret_key())
    home = tmp_path / "home"
    write_chain_config(home, tiny_devnet)
    services = LiveServices.open(AppContext.create(home=str(home)))
    session = ChainSession(tiny_devnet.profile)
    try:
        plan = await services.plan_stake(ids[0], 10.0)
        idle = await services.plan_stake(created, 1.0)
        expected = await stake_whatif(session, ids[0], 10 * 10**9)
    finally:
        await services.stop()
        await session.close()
    line = dict(plan.lines)["Expected targets"]
    assert f"({expected.assigned_now} → {expected.assigned_after} of all {expected.targets} " in line
    assert f"{expected.assigned_now / expected.targets:.1%} of targets now" in line
    assert "+10 SOMA" in line and "3 models a target" in line
    assert expected.assigned_after >= expected.assigned_now and expected.targets == 20
    text = plan.render_text()
    assert text.index("Add stake") < text.index("Expected targets")  # shown before the word is typed
    assert plan.payload == StakePayload(ids[0], 10 * 10**9)  # the estimate changes nothing sent
    assert "none until the model is active" in dict(idle.lines)["Expected targets"]


async def test_a_time_budget_stops_at_a_page_boundary_and_says_it_is_a_sample() -> None:
    """A stubbed node with 5 pages of targets: with no time left after the first page, the estimate
    is that page's, marked as a sample (the console's plan then says "of a sample of N")."""
    from types import SimpleNamespace

    import numpy as np

    from soma_console.core.chain_reads import EpochClock
    from soma_console.core.stake_whatif import WhatIf

    rng = np.random.default_rng(3)
    models = [
        SimpleNamespace(model_id=f"0x{i:064x}", embedding=list(rng.normal(size=8)), stake=(i + 1) * 10**9)
        for i in range(6)
    ]
    pages = [
        [SimpleNamespace(id=f"p{p}t{i}", embedding=list(rng.normal(size=8))) for i in range(10)]
        for p in range(5)
    ]
    served: list[int] = []

    async def call(method: str, **kwargs: object) -> object:
        if kwargs["status"] != "open":
            return SimpleNamespace(targets=[], next_page_token=None)
        n = int(str(kwargs.get("page_token") or 0))
        served.append(n)
        return SimpleNamespace(targets=pages[n], next_page_token=str(n + 1) if n + 1 < len(pages) else None)

    async def clock() -> EpochClock:
        k = {"target_models_per_target": "3"}
        return EpochClock(epoch=4, start_ms=0, protocol_version=3, attributes=k)

    async def head() -> object:
        return SimpleNamespace(epoch=4)

    async def system_state_bytes() -> bytes:
        from soma_console.devnet.proto import services_pb2 as svc

        resp = svc.GetEpochResponse()
        registry = resp.epoch.system_state.model_registry
        for m in models:
            entry = registry.models[m.model_id]
            entry.state = "active"
            entry.embedding.extend(m.embedding)
            entry.staking_pool.soma_balance = m.stake
        registry.models["0x" + "ee" * 32].state = "pending"  # not assigned: left out
        return resp.SerializeToString()

    reader = SimpleNamespace(clock=clock, system_state_bytes=system_state_bytes)
    session = SimpleNamespace(call=call, reader=reader, head=head, profile=SimpleNamespace(rpc_url="stub"))
    full = await stake_whatif(session, models[0].model_id, 10**10)  # type: ignore[arg-type]
    assert (full.targets, full.sampled) == (50, False)
    served.clear()
    quick = await stake_whatif(session, models[0].model_id, 10**10, budget_s=0.0)  # type: ignore[arg-type]
    assert (quick.targets, quick.sampled) == (10, True) and served == [0, 1]  # page 1 read, not counted
    line = dict(quick.plan_lines(lambda n: f"{n / 1e9:g} SOMA"))["Expected targets"]
    assert "of a sample of 10 epoch-4 targets" in line and "+10 SOMA" in line
    assert isinstance(quick, WhatIf)


async def test_the_live_consoles_stake_dialog_shows_the_estimate_before_the_word_is_typed(
    tiny_devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`s` on a model in the live console on the devnet: the plan to confirm carries the estimate;
    nothing is sent until the word is typed (escape here: the stake is unchanged)."""
    from soma_console.config import Settings
    from soma_console.context import AppContext
    from soma_console.core.live_services import LiveServices
    from soma_console.tui.app import ConsoleApp
    from soma_console.tui.dialogs import ConfirmPlanScreen
    from tests.lifecycle.conftest import write_chain_config
    from tests.tui.helpers import screen_text, wait_for

    client = await tiny_devnet.client()
    ids, owner = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    tiny_devnet.advance()
    before = {m.model_id: m.stake for m in await client.get_active_models()}
    monkeypatch.setenv("SOMA_SECRET_KEY", owner.to_secret_key())
    home = tmp_path / "home"
    write_chain_config(home, tiny_devnet)
    services = LiveServices.open(AppContext.create(home=str(home)))
    services.session.poll_interval = 0.5
    services.autopilot.set(False)
    app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: ids[0] in app.models.models, timeout=30)
            await pilot.press("4")
            app.models.select(ids[0])
            await pilot.pause()
            await pilot.press("s")
            await pilot.pause(0.3)
            await pilot.press(*"2", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen), timeout=60)
            await pilot.pause(0.3)
            plan = app.screen.plan  # type: ignore[attr-defined]
            text = screen_text(app)
            await pilot.press("escape")
            await pilot.pause(0.3)
    finally:
        await services.stop()
    line = dict(plan.lines)["Expected targets"]
    assert "of targets now →" in line and "+2 SOMA" in line and "of all 20 epoch-" in line
    assert "Expected targets" in text and "of targets now" in text  # on screen, before the word
    assert {m.model_id: m.stake for m in await client.get_active_models()} == before  # nothing sent


async def test_the_cli_stake_plan_shows_the_estimate_too(tiny_devnet: Devnet, tmp_path: Path) -> None:
    import asyncio
    import json

    from tests.conftest import run_cli
    from tests.lifecycle.conftest import write_chain_config

    client = await tiny_devnet.client()
    ids, owner = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    tiny_devnet.advance()
    home = tmp_path / "home"
    write_chain_config(home, tiny_devnet)
    env = {"SOMA_SECRET_KEY": owner.to_secret_key()}
    args = ("--home", str(home), "model", "stake", ids[0][:14], "2", "--yes", "--json")
    r = await asyncio.to_thread(run_cli, *args, env=env)
    assert r.returncode == 0, r.output
    assert "Expected targets" in r.stderr and "of targets now →" in r.stderr and "+2 SOMA" in r.stderr
    assert json.loads(r.stdout)["ok"] is True
