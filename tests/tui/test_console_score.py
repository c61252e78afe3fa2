"""The score key on a checkpoint: a worker asks the services, the verdict shows beside it."""

from __future__ import annotations

from soma_console.tui.app import CheckpointsPane
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import settle, shows, wait_for


async def test_w_scores_the_highlighted_checkpoint_and_shows_the_verdict(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("2", "w")
        await shows(pilot, "Score: would win 2 of 5 targets (preview data).")
        pane = app.query_one(CheckpointsPane)
        selected = pane.selected()
        assert selected is not None
        await wait_for(pilot, lambda: pane.verdicts.get(selected.path) == "wins 2/5")
        if not selected.status:
            await shows(pilot, "wins 2/5")
