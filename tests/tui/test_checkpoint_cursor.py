"""The Checkpoints pane's cursor: on the newest checkpoint until the user moves it, on its row
after that, back on the newest when the run finishes; Home/End; one row per checkpoint.

The pane is mounted on its own (it is a view: it draws what it is handed); the checkpoints come
from a real run directory written by the trainer's own checkpoint code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual.app import App, ComposeResult

from soma_console.core.console_services import CheckpointInfo
from soma_console.core.live_runs import LocalRuns
from soma_console.training.checkpoint import CheckpointRecord, TensorEntry, publish_final, save_checkpoint
from soma_console.tui import app as app_module
from soma_console.tui.checkpoints_pane import CheckpointsPane
from tests.tui.helpers import screen_text


def _info(step: int, *, final: bool = False) -> CheckpointInfo:
    return CheckpointInfo(
        run="r",
        path=f"/runs/r/checkpoints/checkpoint-{step:08d}.safetensors",
        step=step,
        created=1_700_000_000.0 + step,
        loss=1.0,
        eval_loss=1.0,
        size=1000,
        status="",
        final=final,
    )


class PaneApp(App[None]):
    CSS_PATH = str(Path(app_module.__file__).with_name("console.tcss"))  # the console's own styles

    def compose(self) -> ComposeResult:
        yield CheckpointsPane()


async def test_the_cursor_stays_on_the_newest_checkpoint_while_a_run_saves_more() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(CheckpointsPane)
        pane.query_one("#checkpoint-table").focus()
        shown: list[CheckpointInfo] = []
        for step in (50, 100, 150):
            shown.append(_info(step))
            pane.show("r", list(reversed(shown)))
            await pilot.pause()
            selected = pane.selected()
            assert selected is not None and selected.step == step


async def test_a_row_the_user_chose_keeps_the_cursor_as_rows_arrive() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(CheckpointsPane)
        pane.query_one("#checkpoint-table").focus()
        pane.show("r", [_info(100), _info(50)])
        await pilot.pause()
        await pilot.press("down")  # the user picks step 50
        assert pane.selected().step == 50  # type: ignore[union-attr]
        pane.show("r", [_info(150), _info(100), _info(50)])  # a new row lands above it
        await pilot.pause()
        assert pane.selected().step == 50  # type: ignore[union-attr]
        # The run finishes: its newest checkpoint is the one to commit.
        pane.show("r", [_info(200, final=True), _info(150), _info(100), _info(50)], newest=True)
        await pilot.pause()
        assert pane.selected().step == 200  # type: ignore[union-attr]


async def test_home_and_end_go_to_the_first_and_last_checkpoint() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(CheckpointsPane)
        pane.query_one("#checkpoint-table").focus()
        pane.show("r", [_info(s) for s in (200, 150, 100, 50)])
        await pilot.pause()
        await pilot.press("end")
        assert pane.selected().step == 50  # type: ignore[union-attr]
        await pilot.press("home")
        assert pane.selected().step == 200  # type: ignore[union-attr]


def _entries() -> list[TensorEntry]:
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    return [TensorEntry("w.weight", a.shape, a.dtype, lambda: a)]


def _record(step: int) -> CheckpointRecord:
    return CheckpointRecord(
        step=step,
        loss=1.5,
        eval_loss=1.25,
        eval_ce=1.2,
        embedding=[0.5, -0.25, 1.0],
        config={"embedding_dim": 3, "num_layers": 1},
        architecture="small",
        spec={"run": "r", "preset": "tiny"},
        data_position={},
        framework="torch",
        run="r",
        tokens=step,
    )


async def test_the_final_weights_are_one_row_marked_final(tmp_path: Path) -> None:
    cdir = tmp_path / "runs" / "r" / "checkpoints"
    save_checkpoint(cdir, _record(50), _entries(), None)
    last, _ = save_checkpoint(cdir, _record(100), _entries(), None)
    publish_final(cdir, last)
    runs = LocalRuns(tmp_path / "runs", home_env={})
    found = runs.checkpoints("r", lambda path: ("", None))
    assert [(c.step, c.final) for c in found] == [(100, True), (50, False)]
    assert found[0].path.endswith("checkpoint-00000100.safetensors")

    app = PaneApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(CheckpointsPane)
        pane.show("r", found)
        await pilot.pause()
        screen = screen_text(app)
        assert "100 final" in screen
        assert screen.count("100") == 1


async def test_the_selected_row_reads_without_colour(monkeypatch: object) -> None:
    import os

    os.environ["NO_COLOR"] = "1"
    try:
        app = PaneApp()
        async with app.run_test(size=(80, 20)) as pilot:
            pane = app.query_one(CheckpointsPane)
            table = pane.query_one("#checkpoint-table")
            pane.show("r", [_info(s) for s in (150, 100, 50)])
            for focused in (False, True):
                if focused:
                    table.focus()
                await pilot.pause()
                rows = [table.render_line(y) for y in range(1, 4)]  # line 0 is the header
                reversed_rows = [
                    i for i, strip in enumerate(rows) if any(s.style and s.style.reverse for s in strip)
                ]
                assert reversed_rows == [0], (focused, reversed_rows)  # the cursor row, and only it
    finally:
        del os.environ["NO_COLOR"]


async def test_enter_in_the_training_dialog_starts_the_defaults() -> None:
    from soma_console.tui.dialogs import TrainDialog

    results: list[object] = []

    class DialogApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(TrainDialog(["tiny", "v1"]), results.append)

    app = DialogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # from the dialog's first focus, nothing else
        await pilot.pause()
    assert results and isinstance(results[0], dict)
    assert results[0]["preset"] == "tiny" and results[0]["steps"] == 200 and results[0]["backend"] == "local"
