"""The reveal queue: countdowns from the injected clock, the alarm, and how both read in NO_COLOR."""

from __future__ import annotations

import re

import pytest

from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeClock, FakeServices
from tests.tui.helpers import screen_text, settle, shows

# The fixtures' world: epoch 12 began 120 s before T0 and lasts 600 s, so the boundary is 480 s
# away. One commit (epoch 11) is in its reveal window, closing at that boundary; another (epoch
# 12) waits for it and closes 600 s later.


async def test_countdowns_tick_with_the_injected_clock(make_app: AppFactory, clock: FakeClock) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert re.search(r"● OPEN\s+08:00\s+now", text)
        assert re.search(r"◷ waiting\s+18:00\s+08:00", text)
        clock.advance(100)
        app.tick()
        await pilot.pause()
        text = screen_text(app)
        assert re.search(r"● OPEN\s+06:20\s+now", text)
        assert re.search(r"◷ waiting\s+16:20\s+06:20", text)
        assert "next in 06:20" in text


async def test_a_waiting_window_opens_when_the_chain_turns_the_epoch(
    make_app: AppFactory, clock: FakeClock, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        clock.advance(481)
        app.tick()  # past the boundary by this clock; the chain has not reported the new epoch
        await pilot.pause()
        text = screen_text(app)
        # One clock for both: the queue says due (not OPEN, a reveal would be refused) and the
        # status bar says the epoch is turning (not "next in 00:00").
        assert re.search(r"◷ waiting\s+09:59\s+due", text), text
        assert "epoch turning" in text and "next in 00:00" not in text
        services.push_chain()  # the chain reports the new epoch: the queue is read again
        await settle(pilot)
        assert re.search(r"● OPEN\s+09:59\s+now", screen_text(app))


async def test_alarm_when_an_open_window_runs_out(
    make_app: AppFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    bells: list[int] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(1))
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        app.tick()
        assert bells == [] and "CLOSING" not in screen_text(app)
        clock.advance(430)  # 50 s left of a 600 s window: under the 10 % alarm line
        app.tick()
        text = await shows(pilot, "!! Reveal now")
        assert "!! CLOSING" in text
        assert "!! REVEAL 0x3d99fc…45e6 NOW: window" in text and "closes in 00:50 · press r" in text
        assert "!! REVEAL NOW" in text.splitlines()[0]  # the status bar says it too
        assert bells == [1]
        clock.advance(1)
        app.tick()
        await pilot.pause()
        assert bells == [1]  # once per window, not every second
        assert "00:49" in screen_text(app)


async def test_alarm_is_readable_without_colour(
    clock: FakeClock, services: FakeServices, monkeypatch: pytest.MonkeyPatch, make_app: AppFactory
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    assert app.no_color
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        clock.advance(430)
        app.tick()
        text = await shows(pilot, "!! CLOSING")
        assert "!! REVEAL NOW" in text and "★" in text
        svg = app.export_screenshot()
    chrome = {"#28c840", "#febc2e", "#ff5f57", "#c5c8c6"}  # the screenshot's window frame
    colours = set(re.findall(r"#([0-9a-fA-F]{6})", svg)) - {c[1:] for c in chrome}
    assert colours
    greys = {c for c in colours if c[0:2] == c[2:4] == c[4:6]}
    assert colours == greys, f"colours under NO_COLOR: {sorted(colours - greys)}"
