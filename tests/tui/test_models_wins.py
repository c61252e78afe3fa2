"""The Models pane's wins and earnings columns: every model's, read through the services off the
UI loop, readable at 80x24 and 160x48, updated in place when the index changes."""

from __future__ import annotations

import threading

from textual.widgets import DataTable

from soma_console.tui.models_pane import compact_soma
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import screen_text, settle, wait_for


def _wins_for(services: FakeServices) -> dict[str, tuple[int, int]]:
    """Wins for one of the wallet's models and two others' (the column is not only mine)."""
    ids = sorted(services.world.models)
    mine = next(m for m in ids if services.world.models[m].owner == services.address)
    others = [m for m in ids if services.world.models[m].owner != services.address][:2]
    return {mine: (3, 18_927_000), others[0]: (41, 512_400_000_000), others[1]: (7, 12_500_000_000_000)}


def _cells(app: object, model_id: str) -> tuple[str, str]:
    row = app.models.table.rows[model_id]  # type: ignore[attr-defined]
    return row[4].text.plain, row[5].text.plain


async def test_every_models_wins_and_earnings_at_80x24_and_160x48(
    make_app: AppFactory, services: FakeServices
) -> None:
    wins = _wins_for(services)
    threads: list[str] = []

    def model_wins() -> dict[str, tuple[int, int]]:
        threads.append(threading.current_thread().name)
        return wins

    services.model_wins = model_wins  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.models.wins == wins)
        await settle(pilot)
        assert threads and threading.main_thread().name not in threads  # never on the UI loop
        for model_id, (won, earned) in wins.items():
            assert _cells(app, model_id) == (str(won), compact_soma(earned))
        assert compact_soma(18_927_000) == "0.0189" and compact_soma(512_400_000_000) == "512.40"
        assert compact_soma(12_500_000_000_000) == "12.5k"
        no_wins = next(m for m in services.world.models if m not in wins)
        assert _cells(app, no_wins) == ("-", "-")
        text = screen_text(app)
        assert "wins" in text and "earned" in text and "12.5k" in text

        await pilot.resize_terminal(80, 24)
        await pilot.press("4")
        await settle(pilot)
        text = screen_text(app)
        header = next(line for line in text.splitlines() if "status" in line and "wins" in line)
        # every column fits the pane at 80 columns, the owner's last
        for label in ("model", "status", "stake", "wins", "earned", "comm", "owner"):
            assert label in header, header
        assert "12.5k" in text or "512.40" in text or "0.0189" in text

        # sorted by wins, largest first: the model with 41 wins is on top
        table = app.models.query_one(DataTable)
        app.models.sort_by("wins", reverse=True)
        await pilot.pause()
        top = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert wins[top][0] == 41


async def test_new_figures_change_only_the_rows_whose_wins_moved(
    make_app: AppFactory, services: FakeServices
) -> None:
    wins = _wins_for(services)
    answers = [wins]
    services.model_wins = lambda: answers[-1]  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.models.wins == wins)
        before = dict(app.models.all_rows)
        moved = next(iter(wins))
        answers.append({**wins, moved: (wins[moved][0] + 1, wins[moved][1] + 1_000_000_000)})
        app.load_model_wins()
        await wait_for(pilot, lambda: app.models.wins is answers[-1])
        after = app.models.all_rows
        assert [k for k in after if after[k] is not before[k]] == [moved]
        assert _cells(app, moved)[0] == str(wins[moved][0] + 1)


async def test_a_failed_index_read_leaves_the_columns_and_the_console_running(
    make_app: AppFactory, services: FakeServices
) -> None:
    def broken() -> dict[str, tuple[int, int]]:
        raise OSError("disk went away")

    services.model_wins = broken  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.load_model_wins()
        await settle(pilot)
        assert app.models.wins == {} and not app.errors and app.is_running


async def test_wins_that_arrive_while_a_filter_hides_the_row_show_when_it_is_cleared(
    make_app: AppFactory, services: FakeServices
) -> None:
    wins = _wins_for(services)
    other = next(m for m in wins if services.world.models[m].owner != services.address)
    answers = [{}, wins]
    services.model_wins = lambda: answers[0]  # type: ignore[attr-defined]
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.models.set_filter("mine")
        await pilot.pause()
        assert other not in app.models.table.rows  # filtered out
        answers.pop(0)
        app.load_model_wins()
        await wait_for(pilot, lambda: app.models.wins is wins)
        assert other not in app.models.table.rows
        app.models.set_filter("")
        await pilot.pause()
        assert _cells(app, other) == (str(wins[other][0]), compact_soma(wins[other][1]))
        app.models.sort_by("wins", reverse=True)
        await pilot.pause()
        assert app.models.query_one(DataTable).coordinate_to_cell_key((0, 0)).row_key.value in wins
