"""The Earnings screen on the live services: a tiny model wins targets on a devnet with the built-in
submitter, the owner opens Earnings (`e`), claims (`c`, typed `claim`) and the wins are paid."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from soma_console.config import Settings
from soma_console.context import AppContext
from soma_console.core.live_services import LiveServices
from soma_console.tui.app import ConsoleApp
from soma_console.tui.dialogs import ConfirmPlanScreen
from soma_console.tui.earnings_pane import EarningsScreen
from tests.devnet_fixture import Devnet
from tests.earnings.test_earnings_devnet import (  # noqa: F401 - a fixture
    _balance,
    _claim_rows,
    _claimable,
    submitter_devnet,
)
from tests.support.plan_contract import documented_word
from tests.tui.helpers import pilot_options, screen_text, settle, wait_for

pytestmark = pytest.mark.slow


def _claimable_ids(app: ConsoleApp) -> set[str]:
    screen = app.screen
    if not isinstance(screen, EarningsScreen) or screen.view is None:
        return set()
    return {w["target_id"] for w in screen.view.claimable}


def test_the_console_opens_earnings_and_claims_the_wins_with_the_typed_word(
    tmp_path: Path,
    submitter_devnet: Devnet,  # noqa: F811
    tiny_run: Path,
) -> None:
    owner, _epoch, due = _claimable(tmp_path, submitter_devnet, tiny_run)
    due_ids = {w["target_id"] for w in due}
    before = _balance(owner)

    async def main() -> str:
        services = LiveServices.open(AppContext.create(home=str(owner.home)))
        services.autopilot.set(False)  # the claim is the user's, not autopilot's
        app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
        try:
            async with app.run_test(size=(160, 48), notifications=True) as pilot:
                await wait_for(pilot, lambda: app.snapshot is not None, timeout=30)
                await pilot.press("e")
                await wait_for(pilot, lambda: isinstance(app.screen, EarningsScreen), timeout=10)
                for _ in range(60):  # the index is synced by the services; r reloads the screen
                    if due_ids <= _claimable_ids(app):
                        break
                    await pilot.press("r")
                    await settle(pilot, timeout=30)
                    await pilot.pause(1.0)
                assert due_ids <= _claimable_ids(app), screen_text(app)
                assert "per epoch" in screen_text(app)

                await pilot.press("c")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen), timeout=60)
                dialog = app.screen
                assert isinstance(dialog, ConfirmPlanScreen)
                word = documented_word("See what your models earn")
                assert dialog.plan.action == "claim" and dialog.plan.confirm_word == word == "claim"
                await pilot.press(*"yes", "enter")
                await pilot.pause()
                assert "Nothing was sent" in screen_text(app)
                await pilot.press(*["backspace"] * 3, *word, "enter")
                # the notification says what was sent; the claims are journaled in the index
                await wait_for(pilot, lambda: "✓ claimed" in screen_text(app), timeout=180)
                await settle(pilot, timeout=60)
                assert app.errors == [], app.errors
                return screen_text(app)
        finally:
            await services.stop()

    shown = asyncio.run(main())
    assert "Nothing was sent" not in shown
    claimed = {row["target_id"] for row in _claim_rows(owner)}
    assert due_ids <= claimed, claimed
    assert _balance(owner) > before  # paid: the owner's shares exceed the fees
