"""`w` in the console on the live services: the highlighted checkpoint of a real training run is
scored by the real `score` child against the filled targets of a tiny devnet, and the verdict the
child saved is what the Checkpoints pane shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from soma_console.config import Settings
from soma_console.context import AppContext
from soma_console.core.live_services import LiveServices
from soma_console.core.score_verdicts import load_verdict
from soma_console.tui.app import ConsoleApp
from tests.scoring.conftest import fill_world, start_tiny_devnet
from tests.scoring.reference import tiny_weights
from tests.scoring.test_score_training import _train
from tests.tui.helpers import pilot_options, screen_text, wait_for

pytestmark = pytest.mark.slow


def test_w_scores_the_highlighted_checkpoint_on_a_devnet_and_shows_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "train"
    ckpts = _train(home)
    node = start_tiny_devnet(tmp_path / "devnet")
    try:
        assert node.endpoints is not None
        urls = node.endpoints.as_dict()
        newest = Path(ckpts[max(ckpts)])
        asyncio.run(fill_world(urls, [newest.read_bytes(), tiny_weights(101), tiny_weights(202)]))
        monkeypatch.delenv("SOMA_SECRET_KEY", raising=False)

        async def main() -> tuple[str, str]:
            ctx = AppContext.create(home=str(home), chain=urls["rpc_url"])
            services = LiveServices.open(ctx)
            app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
            try:
                async with app.run_test(size=(160, 48), notifications=True) as pilot:
                    pane = app.checkpoints_pane
                    await wait_for(pilot, lambda: len(getattr(pane, "checkpoints", {})) >= 2, timeout=30)
                    await pilot.press("2")
                    await wait_for(pilot, lambda: pane.selected() is not None, timeout=10)
                    selected = pane.selected()
                    assert selected is not None
                    await pilot.press("w")
                    await wait_for(pilot, lambda: selected.path in pane.verdicts, timeout=600)
                    await wait_for(pilot, lambda: pane.verdicts[selected.path] in screen_text(app))
                    assert app.errors == [], app.errors
                    return selected.path, pane.verdicts[selected.path]
            finally:
                await services.stop()

        path, shown = asyncio.run(main())
        verdict = load_verdict(Path(path))  # what the score child saved beside the checkpoint
        assert verdict is not None and verdict.scored >= 3, verdict
        assert shown == verdict.short == f"wins {verdict.would_win}/{verdict.scored}"
    finally:
        node.stop()
