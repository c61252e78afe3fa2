"""Every action key, driven the way a user drives it, against the services fixture.

Each transaction goes plan -> dialog showing exactly what will be sent -> typed word -> execute;
the tests check what the user sees at each step and what reached the services.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from soma_console.core.chain_errors import TransactionFailed
from soma_console.tui.commands import context_commands
from soma_console.tui.dialogs import (
    ConfirmPlanScreen,
    HelpScreen,
    QuitWarningScreen,
    TrainDialog,
    ValueDialog,
)
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import pilot_options, screen_text, settle, shows, wait_for


async def type_text(pilot: Pilot[object], text: str) -> None:
    await pilot.press(*text)


async def confirm(pilot: Pilot[object], word: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmPlanScreen))
    await type_text(pilot, word)
    await pilot.press("enter")
    await settle(pilot)


async def test_commit_shows_the_plan_refuses_a_wrong_word_then_sends(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("2", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        text = screen_text(app)
        assert "Commit step 100 of run r2-v1 as a new model" in text
        assert "runs/r2-v1/step-000100.safetensors" in text
        assert "Reveal window" in text and "epoch 13: opens" in text and "(in 08:00)" in text
        assert "a missed first reveal costs half the stake" in text
        assert "This cannot be undone" not in text  # as live: a commit is not marked irreversible
        assert "Type commit and press enter" in text

        await type_text(pilot, "comit")
        await pilot.press("enter")
        await pilot.pause()
        assert "You typed 'comit', not 'commit'. Nothing was sent." in screen_text(app)
        assert isinstance(app.screen, ConfirmPlanScreen)
        assert services.called("execute") == []

        await confirm(pilot, "commit")
        assert not isinstance(app.screen, ConfirmPlanScreen)
        (plan,) = services.called("execute")[0]
        assert plan.action == "commit" and plan.payload["path"] == "runs/r2-v1/step-000100.safetensors"
        digest = services.world.audit[-1].digest
        assert digest and digest in screen_text(app)  # the action log shows what was sent
        assert "◷ committed" in screen_text(app)  # the checkpoint's status
        assert len(app.queue_pane.entries) == 3


async def test_escape_cancels_a_commit_and_nothing_is_sent(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("2", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        # preparing the commit reports its phases where the console shows action progress
        assert app.action_log.border_subtitle == "checking the header and layout"
        await pilot.press("escape")
        await settle(pilot)
        assert services.called("plan_commit") and services.called("execute") == []
        await shows(pilot, "Cancelled; nothing was sent")


async def test_commit_with_no_checkpoint_selected_says_what_to_do(clock) -> None:
    from soma_console.config import Settings
    from soma_console.tui.app import ConsoleApp

    services = FakeServices(clock=clock, with_history=False)
    app = ConsoleApp(services, settings=Settings(), options=pilot_options(clock=clock, timers=False))
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        await shows(pilot, "Select a checkpoint")
        assert services.called("plan_commit") == []


async def test_reveal_the_open_window(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await pilot.pause()
        entry = app.queue_pane.selected()
        assert entry is not None and entry.state == "open"
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        text = screen_text(app)
        assert "Reveal 1 commit" in text and "window closes" in text and "in 08:00" in text
        await confirm(pilot, "reveal")
        assert services.called("plan_reveal") == [(entry.model_id,)]
        (plan,) = services.called("execute")[0]
        assert plan.payload == {"intents": [entry.intent_id]}
        assert "✓ revealed" in screen_text(app)
        assert services.world.audit[-1].kind == "reveal"


async def test_stake_asks_for_an_amount_and_rejects_nonsense(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await pilot.pause()
        model = app.models.selected()
        assert model is not None
        before = model.stake or 0
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ValueDialog))
        await type_text(pilot, "lots")
        await pilot.press("enter")
        await pilot.pause()
        assert "'lots' is not an amount" in screen_text(app)
        assert services.called("plan_stake") == []
        await pilot.press(*["backspace"] * 4)
        await type_text(pilot, "2.5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        assert "Add 2.5 SOMA of stake" in screen_text(app)
        await confirm(pilot, "stake")
        assert services.called("plan_stake") == [(model.model_id, 2.5)]
        (plan,) = services.called("execute")[0]
        assert plan.payload == {"model_id": model.model_id, "amount": 2_500_000_000}  # live's keys
        after = services.world.models[model.model_id].stake
        assert after == before + 2_500_000_000
        row = app.models.table.rows[model.model_id]
        assert row[3].sort == pytest.approx(after / 1e9)  # the stake cell changed in place


async def test_commission_takes_percent_or_bps(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4", "m")  # a pending model: its commission cannot change yet
        await pilot.pause()
        assert not isinstance(app.screen, ValueDialog) and "is pending" in screen_text(app)
        await pilot.press("down", "down", "m")  # the active one
        await wait_for(pilot, lambda: isinstance(app.screen, ValueDialog))
        await pilot.press(*["backspace"] * 6)
        await type_text(pilot, "120%")
        await pilot.press("enter")
        await pilot.pause()
        assert "120% is outside 0..10000 bps" in screen_text(app)
        await pilot.press(*["backspace"] * 4)
        await type_text(pilot, "3%")
        await pilot.press("enter")
        await confirm(pilot, "commission")
        model_id = services.called("plan_commission")[0][0]
        assert services.called("plan_commission") == [(model_id, 300)]
        assert services.world.models[model_id].next_commission_rate == 300


async def test_deactivate_needs_the_typed_word(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4")
        # the third of my models is the active one (the others are pending reveals)
        await pilot.press("down", "down")
        await pilot.pause()
        model = app.models.selected()
        assert model is not None and model.status == "active" and model.owner == services.address
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        assert "This cannot be undone" in screen_text(app)
        await type_text(pilot, "yes")
        await pilot.press("enter")
        await pilot.pause()
        assert "Nothing was sent" in screen_text(app)
        assert services.called("execute") == []
        await pilot.press(*["backspace"] * 3)
        await confirm(pilot, "deactivate")
        assert services.world.models[model.model_id].status == "inactive"
        assert app.models.table.rows[model.model_id][2].text.plain == "inactive"


async def test_deactivating_a_model_you_do_not_own_is_an_error_not_a_crash(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4", "ctrl+end")  # the last row is someone else's model
        await pilot.pause()
        await pilot.press("d")
        await settle(pilot)
        assert any("you do not own model" in e for e in app.errors)
        await shows(pilot, "Could not deactivate")
        assert services.called("execute") == []
        assert app.is_running


async def test_autopilot_toggles_and_shows_its_state(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert "autopilot: OFF" in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert services.called("set_autopilot") == [(True,)]
        assert "autopilot: ON" in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        assert services.called("set_autopilot") == [(True,), (False,)]
        assert "autopilot: OFF" in screen_text(app)


async def test_train_dialog_starts_a_run_and_selects_it(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainDialog))
        text = screen_text(app)
        assert "Start training" in text and "Backend" in text and "local" in text
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "shift+tab")  # start -> ... -> steps
        await pilot.press(*["backspace"] * 3)
        await type_text(pilot, "0")
        await pilot.press("enter")
        await pilot.pause()
        assert "Steps must be a whole number above 0" in screen_text(app)
        await pilot.press("backspace")
        await type_text(pilot, "50")
        await pilot.press("tab", "tab")  # steps -> data -> name
        await type_text(pilot, "r9-test")
        await pilot.press("enter")
        await settle(pilot)
        (spec,) = services.called("start_training")[0]
        assert spec == {
            "preset": "tiny",
            "steps": 50,
            "data": "builtin",
            "name": "r9-test",
            "backend": "local",
        }
        await wait_for(pilot, lambda: app.training.followed == "r9-test")
        assert "r9-test" in screen_text(app)


async def test_train_dialog_shows_the_services_error(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainDialog))
        await pilot.press("shift+tab", "shift+tab")  # start -> backend -> name
        await type_text(pilot, "r1-tiny")  # that name is taken
        await pilot.press("enter")
        await settle(pilot)
        assert any("a run named 'r1-tiny' already exists" in e for e in app.errors)
        assert app.is_running


async def test_stop_a_running_run(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert app.training.selected_run() == "r2-v1"
        await pilot.press("x")
        await confirm(pilot, "stop")
        assert services.called("stop_training") == [("r2-v1",)]
        await wait_for(pilot, lambda: "■ stopped" in screen_text(app))
        # a stopped run cannot be stopped again (the live services refuse it too)
        await wait_for(pilot, lambda: app.training.runs["r2-v1"].status == "stopped")
        await pilot.press("x")
        await shows(pilot, "Run r2-v1 is not running (stopped).")
        assert not isinstance(app.screen, ConfirmPlanScreen)
        assert services.called("stop_training") == [("r2-v1",)]


async def test_help_lists_the_focused_panes_keys_with_binding_ids(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        assert "This pane: Training" in text
        assert "Follow log" in text and "follow_log" in text
        assert "Commit" in text and "commit" in text and "Everywhere" in text
        assert "Filter" not in text  # a Models key, not this pane's
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("4", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        assert "This pane: Models" in text and "filter_models" in text and "sort_models" in text
        assert "follow_log" not in text


async def test_command_palette_offers_context_commands(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        titles = [c.title for c in context_commands(app)]
        assert "Commit checkpoint step 100 of r2-v1 as a new model" in titles
        assert any(t.startswith("Reveal 0x") for t in titles)
        assert "Autopilot: turn on" in titles
        assert "Stop run r2-v1" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "autopilot turn on")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert services.called("set_autopilot") == [(True,)]


async def test_quit_warns_while_a_reveal_window_is_open(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitWarningScreen))
        text = screen_text(app)
        assert "A reveal window is open" in text and "closes in 08:00" in text
        assert "Press q again to quit anyway" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, QuitWarningScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitWarningScreen))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert services.stopped


async def test_quit_is_immediate_when_nothing_is_waiting(clock) -> None:
    from soma_console.config import Settings
    from soma_console.tui.app import ConsoleApp

    services = FakeServices(clock=clock, with_history=False)
    app = ConsoleApp(services, settings=Settings(), options=pilot_options(clock=clock, timers=False))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and services.stopped


async def test_execute_failure_is_reported_and_logged_not_fatal(
    make_app: AppFactory, services: FakeServices
) -> None:
    services.fail("execute", TransactionFailed("the chain rejected the transaction (ModelInvalidState)."))
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("3", "r")
        await confirm(pilot, "reveal")
        text = screen_text(app)
        assert "✗ reveal failed: the chain rejected the transaction (ModelInvalidState)." in text
        assert any("ModelInvalidState" in e for e in app.errors)
        assert app.is_running and app.executing is None
        # the console still works after the failure
        await pilot.press("a")
        await settle(pilot)
        assert services.called("set_autopilot") == [(True,)]


async def test_a_failing_read_becomes_a_notification(make_app: AppFactory, services: FakeServices) -> None:
    services.fail("queue", RuntimeError("database is locked"))
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert any("RuntimeError: database is locked" in e for e in app.errors)
        await shows(pilot, "failed unexpectedly")
        assert app.is_running


async def test_chain_outage_shows_offline_then_recovers(make_app: AppFactory, services: FakeServices) -> None:
    from soma_console.core.chain_errors import NodeUnreachable

    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        services.push_chain(NodeUnreachable("the chain at http://127.0.0.1:9000 does not answer."))
        await settle(pilot)
        text = screen_text(app)
        assert "✗ offline" in text and "does not answer" in text
        services.push_chain()
        await settle(pilot)
        assert "● connected" in screen_text(app)


async def test_a_secret_never_reaches_the_screen(
    make_app: AppFactory, services: FakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soma_console.core.actions import ActionPlan
    from soma_console.secrets import Secret

    key = "5Kd3NBUAdUnhyzenEwVLy9pBKxSwXvE9FMPyR4UKZvpe6E3AgLr"
    Secret(key, label="decryption key")  # registered like every unrevealed key
    leaky = ActionPlan(
        action="reveal",
        title="Reveal",
        lines=(("Key", key),),
        confirm_word="reveal",
        payload={"model_id": "x"},
    )

    async def plan_reveal(model_id: str | None = None) -> ActionPlan:
        return leaky

    monkeypatch.setattr(services, "plan_reveal", plan_reveal)
    services.fail("execute", TransactionFailed(f"rejected with key {key}"))
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("3", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        assert key not in screen_text(app) and "[REDACTED]" in screen_text(app)
        await confirm(pilot, "reveal")
        text = await shows(pilot, "reveal failed")
        assert key not in text
        assert all(key not in e for e in app.errors)
