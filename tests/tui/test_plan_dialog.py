"""A plan's confirmation shows the warnings and the money first, within an 80x24 screen, and
takes no confirmation while part of the plan has not been on screen."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Input

from soma_console.core.actions import ActionPlan
from soma_console.tui.dialogs import ConfirmPlanScreen
from tests.tui.helpers import screen_text

HEX = "ab" * 32


def commit_plan(extra_lines: int = 0) -> ActionPlan:
    """The lines a new model's commit plan carries (core/lifecycle.py plan_commit), in its order."""
    # Values as a real devnet commit shows them: a long path, a base58 blob id, times with
    # their countdowns.
    run = "tiny-20261130-021627"
    lines = [
        (
            "Checkpoint",
            f"step 60 of run {run} (/tmp/pytest-of-root/pytest-41/test_the_readme_tour_commits_a0/home/"
            f"runs/{run}/checkpoints/checkpoint-00000060.safetensors)",
        ),
        ("Model", "a new model (create_model, then commit_model)"),
        ("Stake", "1 SOMA"),
        ("Commission", "1000 bps (10%)"),
        ("Create fee", "0.0005019 SOMA (simulated)"),
        ("Weights URL", "http://127.0.0.1:33355/blobs/3ga9qNfkA2QegPh8a8JRbvQ2EwqVnH5s7dKe1XyZbq3t"),
        ("Size", "536,912 bytes (encrypted)"),
        ("Weights commitment", HEX),
        ("Key commitment", HEX),
        ("Embedding", f"64 floats, commitment {HEX}"),
        ("Architecture", "1"),
        ("Commit fee", "charged after create (about the create fee)"),
        ("Commit epoch", "19 (if sent before the boundary at 02:21:26 UTC (in 00:09))"),
        ("Reveal window", "epoch 20: opens 02:21:26 UTC (in 00:09), closes 02:21:41 UTC (in 00:24)"),
        ("Balance", "50 SOMA → about 48.9989962 SOMA"),
    ]
    lines += [(f"Note {i}", "x" * 60) for i in range(extra_lines)]
    return ActionPlan(
        "commit",
        f"Commit step 60 of run {run} as a new model",
        tuple(lines),
        ("the reveal must be sent during epoch 20; a missed first reveal costs half the stake.",),
        False,
        "commit",
    )


class PlanApp(App[None]):
    def __init__(self, plan: ActionPlan) -> None:
        super().__init__()
        self.plan = plan
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(ConfirmPlanScreen(self.plan), self.results.append)


async def test_the_commit_plan_shows_what_matters_within_80x24() -> None:
    app = PlanApp(commit_plan())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        screen = screen_text(app)
        for needed in (
            "a missed first reveal costs half",
            "Stake  ",
            "Commit epoch",
            "Reveal window",
            "Type commit",
        ):
            assert needed in screen, (needed, screen)
        assert "Balance" in screen and "Create fee" in screen
        # What matters comes before the technical proof.
        assert screen.index("Reveal window") < screen.index("Weights commitment")
        assert "checkpoint-00000060.safetensors" in screen


async def test_a_plan_taller_than_the_screen_takes_no_word_until_it_was_read() -> None:
    app = PlanApp(commit_plan(extra_lines=20))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmPlanScreen)
        box = dialog.query_one("#confirm-word", Input)
        assert box.disabled and "More below" in screen_text(app)
        await pilot.press(*"commit", "enter")
        await pilot.pause()
        assert app.results == [] and app.screen is dialog  # nothing confirmed
        await pilot.press("end")
        await pilot.pause()
        await pilot.pause()
        assert not box.disabled and box.has_focus
        await pilot.press(*"commit", "enter")
        await pilot.pause()
    assert app.results == [True]


async def test_a_plan_that_fits_takes_the_word_at_once() -> None:
    app = PlanApp(commit_plan())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        await pilot.press(*"commit", "enter")
        await pilot.pause()
    assert app.results == [True]


async def test_amount_and_rate_dialogs_refuse_what_the_command_line_refuses() -> None:
    from soma_console.tui.dialogs import ValueDialog, parse_bps, parse_soma

    class ValueApp(App[None]):
        def __init__(self, parse: object) -> None:
            super().__init__()
            self.parse = parse
            self.results: list[object] = []

        def on_mount(self) -> None:
            self.push_screen(ValueDialog("t", "p", self.parse), self.results.append)  # type: ignore[arg-type]

    for parse, bad, good, value in (
        (parse_soma, ("inf", "nan", "-1", "1e400"), "2.5", 2.5),
        (parse_bps, ("inf", "2.555%", "-1"), "2.5%", 250),
    ):
        app = ValueApp(parse)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for text in bad:
                await pilot.press(*text, "enter")
                await pilot.pause()
                assert app.results == [], text
                assert "Error" not in screen_text(app) and "Traceback" not in screen_text(app)
                await pilot.press(*["backspace"] * len(text))
            await pilot.press(*good, "enter")
            await pilot.pause()
        assert app.results == [value]
