"""The Models pane: mine marked and first, filter with /, sort by column, refreshed in place."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable

from soma_console.core.chainstate import ModelRow
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import screen_text, settle


async def test_mine_are_marked_with_a_symbol_and_listed_first(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        keys = list(app.models.table.rows)
        table = app.models.query_one(DataTable)
        first_three = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(3)]
        mine = {m.model_id for m in services.world.models.values() if m.owner == services.address}
        assert set(first_three) == mine and len(keys) == 40
        assert screen_text(app).count("★ 0x") == 3
        assert "40 models, 3 yours" in screen_text(app)


async def test_filter_with_slash_and_clear_with_escape(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4", "slash")
        await pilot.pause()
        await pilot.press(*"mine")
        await pilot.pause()
        assert len(app.models.table.rows) == 3
        assert "filter 'mine': 3 of 40" in screen_text(app)
        await pilot.press("enter")  # back to the table, filter kept
        await pilot.pause()
        assert app.focused is app.models.query_one(DataTable)
        assert len(app.models.table.rows) == 3
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert len(app.models.table.rows) == 40 and app.models.filter_text == ""
        await pilot.press("slash", *"pending")
        await pilot.pause()
        pending = [m for m in app.models.models.values() if m.status == "pending"]
        assert len(app.models.table.rows) == len(pending) > 2


async def test_sort_by_column_and_reverse(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await pilot.press("o", "o", "o")  # mine -> model -> status -> stake (largest first)
        await pilot.pause()
        assert app.models.table.sort_column == "stake" and app.models.table.sort_reverse
        stakes = [m.stake or 0 for m in services.world.models.values()]
        table = app.models.query_one(DataTable)
        top = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert services.world.models[top].stake == max(stakes)
        assert "stake▼" in screen_text(app)
        await pilot.press("O")
        await pilot.pause()
        top = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert services.world.models[top].stake == min(stakes)
        assert "stake▲" in screen_text(app)


async def test_refresh_updates_rows_in_place_and_keeps_the_cursor(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        table = app.models.query_one(DataTable)
        cleared: list[bool] = []
        original_clear = table.clear

        def spy_clear(columns: bool = False) -> DataTable:
            cleared.append(columns)
            return original_clear(columns)

        table.clear = spy_clear  # type: ignore[method-assign]
        await pilot.press("4", "o", "o", "o")  # by stake, largest first
        for _ in range(5):
            await pilot.press("down")
        await pilot.pause()
        chosen = app.models.selected()
        assert chosen is not None
        world = services.world
        # the chosen model becomes the biggest; another model changes commission; one is new
        world.models[chosen.model_id] = replace(chosen, stake=10**15)
        other = next(
            m for m in world.models.values() if m.model_id != chosen.model_id and m.owner != world.address
        )
        world.models[other.model_id] = replace(other, commission_rate=9000)
        newcomer = replace(other, model_id="0x" + "ee" * 32, stake=1)
        world.models[newcomer.model_id] = newcomer
        services.push_chain()
        await settle(pilot)
        assert cleared == []  # never clear + reload on refresh
        assert app.models.selected() == world.models[chosen.model_id]  # cursor followed the model
        assert table.cursor_row == 0  # which is now on top
        assert table.get_cell(other.model_id, "commission").text.plain == "90%"
        assert len(app.models.table.rows) == 41
        del world.models[newcomer.model_id]
        services.push_chain()
        await settle(pilot)
        assert len(app.models.table.rows) == 40 and cleared == []


async def test_refresh_with_nothing_changed_touches_no_cell(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        snap = services.world.snapshot()
        stats = app.models.table.sync({m.model_id: app.models._row(m) for m in snap.models})
        assert (stats.added, stats.removed, stats.updated_cells, stats.resorted) == (0, 0, 0, False)


def test_model_rows_are_plain_data() -> None:
    # The pane compares ModelRow values to find what changed; they must compare by value.
    a = ModelRow("0x1", "o", "active", 1, 5, 0, None)
    assert a == ModelRow("0x1", "o", "active", 1, 5, 0, None) and a != replace(a, stake=6)
