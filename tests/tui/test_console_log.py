"""The training log: follows the newest line, pauses when you scroll up, counts what arrives,
resumes with f; bounded however much the trainer prints."""

from __future__ import annotations

from soma_console.training.events import LogLine, Step
from soma_console.tui.log_view import FollowLog
from tests.tui.conftest import AppFactory
from tests.tui.fake_services import FakeServices
from tests.tui.helpers import screen_text, settle, wait_for


def lines(prefix: str, n: int) -> list[LogLine]:
    return [LogLine(f"{prefix} {i}") for i in range(n)]


async def test_follow_pause_and_resume(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app(log_lines=500)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        log = app.training.query_one(FollowLog)
        app.flush_logs()
        services.emit("r2-v1", lines("live", 50))
        await pilot.pause()
        app.flush_logs()
        await pilot.pause()
        assert log.lines[-1] == "live 49"
        assert log.is_vertical_scroll_end
        assert "live 49" in screen_text(app) and "following" in screen_text(app)

        await pilot.press("tab")  # runs -> log
        await pilot.pause()
        assert app.focused is log
        await pilot.press("pageup")
        await wait_for(pilot, lambda: not app.training.feed.following)
        top = log.scroll_y
        count = log.line_count
        assert "⏸ paused · 0 new lines · f to follow" in screen_text(app)

        services.emit("r2-v1", lines("late", 30))
        await pilot.pause()
        app.flush_logs()
        await pilot.pause()
        assert log.line_count == count and log.scroll_y == top  # the view holds still
        assert "30 new lines" in screen_text(app)
        assert "late 29" not in screen_text(app)

        await pilot.press("f")
        await pilot.pause()
        assert app.training.feed.following and log.lines[-1] == "late 29"
        await pilot.pause()
        assert "late 29" in screen_text(app) and "following" in screen_text(app)


async def test_scrolling_back_to_the_end_resumes_following(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app(log_lines=500)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        app.flush_logs()
        await pilot.press("tab", "pageup")
        await wait_for(pilot, lambda: not app.training.feed.following)
        services.emit("r2-v1", lines("while paused", 5))
        await pilot.pause()
        app.flush_logs()
        await pilot.press("end")
        await wait_for(pilot, lambda: app.training.feed.following)
        log = app.training.query_one(FollowLog)
        assert log.lines[-1] == "while paused 4"


async def test_memory_is_bounded_by_max_lines(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app(log_lines=200)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        log = app.training.query_one(FollowLog)
        for _ in range(5):
            services.emit("r2-v1", lines("flood", 1000))
            await pilot.pause()
        assert len(app.training.feed.buffer) <= 200
        app.flush_logs()
        await pilot.pause()
        assert log.line_count <= 200
        assert log.lines[-1] == "flood 999"
        assert any("older lines not shown" in line for line in log.lines)
        # paused, the waiting lines are bounded too, and all of them are counted
        await pilot.press("tab", "pageup")
        await wait_for(pilot, lambda: not app.training.feed.following)
        services.emit("r2-v1", lines("more", 5000))
        await pilot.pause()
        app.flush_logs()
        assert len(app.training.feed.buffer) <= 200
        assert app.training.feed.new_lines == 5000
        assert "5,000 new lines" in screen_text(app)


async def test_trainer_events_update_step_speed_eta_and_loss(
    make_app: AppFactory, services: FakeServices
) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        step = Step(
            step=500,
            total_steps=1000,
            loss=2.5,
            ce=2.45,
            sigreg=0.05,
            lr=3e-4,
            tokens_per_s=51234.0,
            elapsed_s=250.0,
        )
        services.emit("r2-v1", [step])
        await pilot.pause()
        app.flush_logs()
        await pilot.pause()
        text = screen_text(app)
        assert "step 500/1000 · 51,234 tok/s · ETA" in text and "04:10 · loss 2.5000" in text
        assert "step 500/1000  loss 2.5000" in text  # the event's own log line
        assert app.training.query_one("#loss-curve").data[-1] == 2.5


async def test_selecting_another_run_shows_its_log(make_app: AppFactory, services: FakeServices) -> None:
    app = make_app()
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("down")  # r2-v1 -> r1-tiny
        await wait_for(pilot, lambda: app.training.followed == "r1-tiny")
        await settle(pilot)
        await pilot.pause()
        app.flush_logs()
        await pilot.pause()
        log = app.training.query_one(FollowLog)
        assert log.lines[-1].startswith("finished at step 300")
        assert all("r2-v1" not in line for line in log.lines)
        assert app.checkpoints_pane.run == "r1-tiny"
        assert "300" in screen_text(app)
