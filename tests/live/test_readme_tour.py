"""README's five-minute tour, keys exactly as written, in a real terminal at 80x24 and 160x48:
``t`` enter, wait, ``2`` ``c``, type ``commit``; autopilot reveals when the epoch turns. The newest
checkpoint is the one committed and revealed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from soma_console.core.journal import Journal
from tests.conftest import REPO
from tests.tui.tmux import TmuxTerminal, tmux_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not tmux_available(), reason="tmux is not installed")]


def tour_env(tmp_path: Path, home: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": str(REPO),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "SOMA_CONSOLE_HOME": str(home),
        "SOMA_CONFIG_DIR": str(tmp_path / "no-soma-cli"),
        "SOMA_SECRET_KEY": "",
        "MODAL_CONFIG_PATH": str(tmp_path / "no-modal.toml"),
    }


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_the_readme_tour_commits_and_reveals_the_newest_checkpoint(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    home = tmp_path / "home"
    command = [
        sys.executable,
        "-m",
        "soma_console",
        "demo",
        "--any-ports",
        "--no-mouse",
        "--epoch-seconds",
        "15",
    ]
    width, height = size
    # A short run (the dialog's default steps, from config.toml): the machine running the
    # tests is slow and shared; the keys are the README's.
    home.mkdir()
    (home / "config.toml").write_text("[console]\ntrain_steps = 60\n")
    with TmuxTerminal(command, width=width, height=height, env=tour_env(tmp_path, home), cwd=REPO) as term:
        term.wait_until(lambda s: "● connected" in s, timeout=90, what="the demo connected")
        term.press("t")
        term.wait_for("Start training")
        term.press("Enter")
        screen = term.wait_until(lambda s: "✓ finished" in s, timeout=600, what="the run finished")
        footer = screen.rstrip("\n").splitlines()[-1]
        assert "Keys" in footer and "Quit" in footer, footer  # never cut off, at 80 columns too
        assert not re.search("[▏▎▍▌▋▊▉]", screen), screen  # no stray scrollbar block under a log
        if width >= 120:  # the wide layout: nothing cut to a stub
            assert re.search(r"tiny-\d{8}-\d{6}\s", screen), screen  # the whole run name
            for header in ("saved", "size", "owner", "closes in"):
                assert header in screen, (header, screen)
        term.press("2", "c")
        term.wait_for("Type commit", timeout=120)
        term.type("commit")
        term.press("Enter")
        screen = term.wait_until(lambda s: "✓ revealed" in s, timeout=180, what="the reveal")
        assert "Traceback" not in screen
        term.press("q")
        term.wait_exit(timeout=30)

    with Journal.open(next(home.rglob("journal.sqlite")), create=False) as journal:
        commits = journal.intents(kinds=["commit"])
        assert [c.state for c in commits] == ["revealed"], commits
        artifact = journal.artifact(commits[0].artifact_id)  # type: ignore[arg-type]
        assert artifact is not None
        assert Path(artifact.source_path).name == "checkpoint-00000060.safetensors", artifact.source_path


def test_the_demo_uses_the_whole_terminal_with_stdout_piped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = [sys.executable, "-m", "soma_console", "demo", "--any-ports", "--no-mouse"]
    command = ["sh", "-c", " ".join(demo) + " | cat"]  # as `make demo | tee log`
    with TmuxTerminal(command, width=160, height=48, env=tour_env(tmp_path, home), cwd=REPO) as term:
        screen = term.wait_until(lambda s: "● connected" in s, timeout=90, what="the demo connected")
        widest = max(len(line.rstrip()) for line in screen.splitlines())
        assert widest > 150, screen  # drawn at 160 columns, not 80
        assert "Training" in screen and "Models" in screen and "Training  Checkpoints" not in screen
        term.press("q")
        term.wait_exit(timeout=30)
