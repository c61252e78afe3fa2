"""Read-only refusals and remappable keys."""

from __future__ import annotations

from soma_console.config import Settings
from soma_console.tui.app import ConsoleApp
from soma_console.tui.dialogs import ConfirmPlanScreen, HelpScreen
from soma_console.tui.keymap import ALL_KEYS, BINDING_IDS, keymap_from_settings
from tests.tui.conftest import REPO_ROOT, AppFactory
from tests.tui.fake_services import FakeClock, FakeServices
from tests.tui.helpers import pilot_options, screen_text, settle, shows, wait_for

SENDS = {
    "plan_commit",
    "plan_reveal",
    "plan_stake",
    "plan_commission",
    "plan_deactivate",
    "execute",
    "set_autopilot",
}


async def test_readonly_refuses_every_transaction_and_says_so(clock: FakeClock) -> None:
    services = FakeServices(clock=clock, readonly=True)
    app = ConsoleApp(services, settings=Settings(), options=pilot_options(clock=clock, timers=False))
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        refusals = {
            "c": "refusing to commit",
            "r": "refusing to reveal",
            "s": "refusing to add stake",
            "m": "refusing to set commission",
            "d": "refusing to deactivate",
            "a": "refusing to turn autopilot on",
        }
        await pilot.press("2")  # a checkpoint is selected, so commit has something to send
        for key, message in refusals.items():
            await pilot.press(key)
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmPlanScreen)
            assert any(message in e and "read-only mode" in e for e in app.errors), (key, app.errors)
        await shows(pilot, "read-only mode")
        assert SENDS.isdisjoint(name for name, _ in services.calls), services.calls
        assert "READONLY" in screen_text(app)


async def test_keys_can_be_remapped_by_binding_id(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app(settings={"keys": {"commit": "C", "help": "f1", "bogus": "x", "quit": 5}})
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await shows(pilot, "[keys] bogus is not a binding id")
        await shows(pilot, "[keys] quit must be a key")
        await pilot.press("2", "c")
        await settle(pilot)
        assert services.called("plan_commit") == []  # c no longer commits
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmPlanScreen))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "C" in screen_text(app) and "commit" in screen_text(app)


def test_keymap_reads_the_keys_table() -> None:
    keymap, warnings = keymap_from_settings(Settings(raw={"keys": {"reveal": " R , ctrl+r ", "nope": "n"}}))
    assert keymap == {"reveal": "R,ctrl+r"}
    assert warnings == ["[keys] nope is not a binding id; see docs/console.md for the list."]
    assert keymap_from_settings(None) == ({}, [])


def test_every_binding_has_a_unique_id_and_is_documented() -> None:
    ids = [spec.id for spec in ALL_KEYS]
    assert len(ids) == len(set(ids)) == len(BINDING_IDS)
    guide = (REPO_ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    missing = [i for i in ids if f"`{i}`" not in guide]
    assert missing == [], f"binding ids missing from docs/console.md: {missing}"


async def test_a_remapped_quit_key_also_confirms_the_quit_warning(make_app: AppFactory) -> None:
    from soma_console.tui.dialogs import QuitWarningScreen

    app = make_app(settings={"keys": {"quit": "Q"}})
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitWarningScreen)  # q no longer quits
        await pilot.press("Q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitWarningScreen))
        assert "Press Q again" in screen_text(app)
        await pilot.press("Q")
        await pilot.pause()
    assert app.return_code == 0


async def test_colon_opens_the_command_palette_and_shift_tab_goes_back(make_app: AppFactory) -> None:
    from textual.command import CommandPalette

    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("shift+tab")  # from the runs table back to the action log
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "action-log"
        await pilot.press("shift+tab")
        await pilot.pause()
        assert app.main.current_pane == "models"
        await pilot.press("colon")
        await wait_for(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not CommandPalette.is_open(app))


async def test_ctrl_q_goes_through_the_same_quit_warning(make_app: AppFactory) -> None:
    from soma_console.tui.dialogs import QuitWarningScreen

    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitWarningScreen))
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
