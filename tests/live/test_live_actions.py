"""Every transaction key of the console, pressed as a user presses it, against a real devnet through the
real SDK: commit (typed confirmation) -> reveal -> commission -> stake -> deactivate, autopilot, and the
read-only refusal. The checkpoints are a real tiny training run's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from soma_sdk import Keypair
from textual.pilot import Pilot

from soma_console.config import Settings
from soma_console.core.live_services import LiveServices
from soma_console.core.wallet import load_signer
from soma_console.tui.app import ConsoleApp
from soma_console.tui.dialogs import ConfirmPlanScreen, QuitWarningScreen, ValueDialog
from tests.live.conftest import live_ctx
from tests.support.plan_contract import check_plan, documented_word
from tests.tui.helpers import pilot_options, screen_text, settle, wait_for

pytestmark = pytest.mark.slow


async def confirm(pilot: Pilot[object], word: str, *, task: str | None = None) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmPlanScreen), timeout=60)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmPlanScreen)
    assert dialog.plan.confirm_word == word
    check_plan(dialog.plan)  # the shape the test world copies (tests/support/plan_contract.py)
    if task is not None:  # the docs name the word the dialog asks for
        assert documented_word(task) == word, f"docs/console.md: {task}"
    await pilot.press(*word, "enter")
    await settle(pilot)


def _row(services: LiveServices, model_id: str) -> Any:
    snap = services.session.latest
    return None if snap is None else snap.model(model_id)


async def test_every_transaction_key_against_the_devnet(
    home: Path,
    devnet: Any,
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    kp = Keypair.generate()
    remember_secret(kp.to_secret_key())
    devnet.fund(kp.address(), soma=30)
    monkeypatch.setenv("SOMA_SECRET_KEY", kp.to_secret_key())
    shutil.copytree(tiny_run, home / "runs" / "r1")
    ctx = live_ctx(home, devnet)
    services = LiveServices.open(ctx, signer=load_signer(ctx.home))
    services.session.poll_interval = 0.3
    app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
    try:
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, timeout=20)
            await wait_for(
                pilot, lambda: len(getattr(app.checkpoints_pane, "checkpoints", {})) >= 2, timeout=20
            )

            # c: commit the selected checkpoint; the dialog shows what will be sent;
            # a wrong word sends nothing
            await pilot.press("2", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen), timeout=60)
            text = screen_text(app)
            assert "as a new model" in text and "Weights URL" in text and devnet.blob_url in text
            assert "This cannot be undone" not in text  # a commit is not marked irreversible
            await pilot.press(*"comit", "enter")
            await pilot.pause()
            assert "Nothing was sent" in screen_text(app)
            assert services.journal.intents() == []
            await pilot.press(*["backspace"] * 5)
            await confirm(pilot, "commit", task="Commit a checkpoint")
            await wait_for(
                pilot, lambda: any(i.state == "confirmed" for i in services.journal.intents()), timeout=60
            )
            [intent] = services.journal.intents(kinds=("commit",))
            model_id = intent.model_id
            assert model_id is not None
            await wait_for(
                pilot, lambda: intent.digest is not None and intent.digest in screen_text(app), timeout=20
            )
            await wait_for(pilot, lambda: len(app.queue_pane.entries) == 1, timeout=20)

            # r: the window opens at the boundary; reveal it
            devnet.advance()
            await wait_for(
                pilot,
                lambda: app.snapshot is not None and app.snapshot.epoch == intent.commit_epoch + 1,
                timeout=20,
            )
            # q while the window is open warns first; escape keeps the console running
            await pilot.press("3", "q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitWarningScreen), timeout=10)
            assert "A reveal window is open" in screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, QuitWarningScreen))
            assert app.is_running

            await pilot.press("r")
            await confirm(pilot, "reveal", task="Reveal")
            await wait_for(pilot, lambda: services.journal.intent(intent.id).state == "revealed", timeout=60)
            await wait_for(
                pilot,
                lambda: (_row(services, model_id) or object()).__dict__.get("status") == "active",
                timeout=20,
            )

            # m, s, d on my model in the Models pane
            await pilot.press("4")
            await wait_for(pilot, lambda: app.models.selected() is not None, timeout=10)
            assert app.models.selected().model_id == model_id  # type: ignore[union-attr]
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, ValueDialog))
            await pilot.press(*["backspace"] * 8, *"250", "enter")
            await confirm(pilot, "commission", task="Set commission")
            await wait_for(pilot, lambda: _row(services, model_id).next_commission_rate == 250, timeout=30)

            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ValueDialog))
            await pilot.press(*["backspace"] * 8, *"1.5", "enter")
            await confirm(pilot, "stake", task="Add stake")
            await wait_for(pilot, lambda: services.journal.audit_log()[-1].kind == "stake", timeout=30)

            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen), timeout=30)
            assert "cannot be reactivated" in screen_text(app)
            await confirm(pilot, "deactivate", task="Deactivate")
            await wait_for(pilot, lambda: _row(services, model_id).status == "inactive", timeout=30)
            # s and m on the inactive model say so at once, without asking for a value first
            for key in ("s", "m"):
                await pilot.press(key)
                await settle(pilot)
                assert not isinstance(app.screen, ValueDialog), key
            assert "is inactive" in screen_text(app)

            kinds = [(a.kind, a.status) for a in services.journal.audit_log()]
            assert kinds == [
                ("create_model", "success"),
                ("commit", "success"),
                ("reveal", "success"),
                ("commission", "success"),
                ("stake", "success"),
                ("deactivate", "success"),
            ]
            shown = screen_text(app)
            for entry in services.journal.audit_log()[-3:]:  # the visible action log's newest lines
                assert entry.digest and entry.digest[:12] in shown

            # a: autopilot on and off, remembered
            await pilot.press("a")
            await settle(pilot)
            assert "autopilot: ON" in screen_text(app)
            await pilot.press("a")
            await settle(pilot)
            assert "autopilot: OFF" in screen_text(app)
            assert app.errors == []
    finally:
        await services.stop()


async def test_readonly_console_refuses_and_sends_nothing(
    home: Path,
    devnet: Any,
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kp = Keypair.generate()
    monkeypatch.setenv("SOMA_SECRET_KEY", kp.to_secret_key())
    shutil.copytree(tiny_run, home / "runs" / "r1")
    ctx = live_ctx(home, devnet, readonly=True)
    services = LiveServices.open(ctx, signer=load_signer(ctx.home))
    app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
    try:
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await wait_for(
                pilot, lambda: len(getattr(app.checkpoints_pane, "checkpoints", {})) >= 2, timeout=20
            )
            assert "READONLY" in screen_text(app)
            await wait_for(pilot, lambda: app.autopilot is not None, timeout=10)
            assert "a turns it on" not in screen_text(app)  # the key is refused here: not offered
            await pilot.press("2", "c")
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmPlanScreen)
            assert "read-only" in screen_text(app).lower()
            assert services.journal.intents() == [] and services.journal.artifacts() == []
    finally:
        await services.stop()
