"""The main screen as a user first sees it: panes, status bar, action log; wide and narrow."""

from __future__ import annotations

from soma_console.tui.app import MainScreen
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import pilot_options, screen_text, settle


async def test_wide_terminal_shows_the_four_panes_in_a_grid(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        app.flush_logs()
        app.tick()
        await pilot.pause()
        text = screen_text(app)
        lines = text.splitlines()
        top = "\n".join(lines[:3])
        for title in ("Training", "Checkpoints"):
            assert title in top
        grid_row = next(i for i, line in enumerate(lines) if "Reveal queue" in line)
        assert "Models" in lines[grid_row] and grid_row > 10  # the second row of the 2x2 grid
        assert "preview" in text and "epoch 12" in text and "next in 08:00" in text
        assert "● connected" in text and "1,234.5 SOMA" in text
        assert "READONLY" not in text
        assert "Action log" in text and "digest " in text
        assert not app.main.narrow
        assert app.errors == []


async def test_status_bar_counts_down_to_the_boundary_with_the_injected_clock(
    make_app: AppFactory, clock
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        assert "next in 08:00" in screen_text(app)
        clock.advance(61)
        app.tick()
        await pilot.pause()
        assert "next in 06:59" in screen_text(app)


async def test_narrow_terminal_turns_the_panes_into_tabs(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        screen = app.main
        assert isinstance(screen, MainScreen) and screen.narrow
        text = screen_text(app)
        assert "Training  Checkpoints  Reveal queue  Models" in text
        assert "r2-v1" in text and "★" not in text  # models pane hidden
        await pilot.press("4")
        await pilot.pause()
        assert screen.current_pane == "models"
        assert "★" in screen_text(app)
        # tab walks the panes in order and wraps; the visible tab follows the focus
        seen = []
        for _ in range(6):
            await pilot.press("tab")
            await pilot.pause()
            seen.append(screen.current_pane)
        assert seen[:5] == ["models", "training", "training", "checkpoints", "queue"]


async def test_growing_the_terminal_goes_back_to_side_by_side(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert app.main.narrow
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert not app.main.narrow
        text = screen_text(app)
        assert "Reveal queue" in text and "★" in text


async def test_readonly_shows_a_badge(clock) -> None:
    from soma_console.config import Settings
    from soma_console.tui.app import ConsoleApp

    app = ConsoleApp(
        FakeServices(clock=clock, readonly=True),
        settings=Settings(),
        options=pilot_options(clock=clock, timers=False),
    )
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await settle(pilot)
        assert "READONLY" in screen_text(app)
