"""A chain that answers but whose model list cannot be read is not "offline"."""

from __future__ import annotations

from soma_console.core.chain_errors import ModelListUnavailable
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import screen_text, settle


async def test_an_unreadable_model_list_keeps_the_console_connected(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        rows = len(app.models.models)
        assert rows > 0
        services.push_chain(
            ModelListUnavailable(
                "the model list cannot be read: the chain's system state is 1,230.5 MiB, more than "
                "the 1,024 MiB this console accepts.",
                hint="Raise chain.max_state_mib in config.toml.",
            )
        )
        await settle(pilot)
        text = screen_text(app)
        assert "connected, no model list" in text and "offline" not in text
        assert any("chain.max_state_mib" in e for e in app.errors)  # said once, in one sentence
        assert len(app.models.models) == rows  # the last list stays on screen
        services.push_chain()
        await settle(pilot)
        assert "no model list" not in screen_text(app) and "● connected" in screen_text(app)
