"""The real console process in a real terminal (tmux), driven with keys, read from the screen.

These run ``python -m tests.support.fake_world``; the helper in ``tests/tui/tmux.py`` takes any
command, so the same checks can run against ``soma-console`` on a devnet.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.tui.tmux import TmuxTerminal, tmux_available, wait_for_exit

pytestmark = [
    pytest.mark.skipif(not tmux_available(), reason="tmux is not installed"),
    pytest.mark.slow,
]

FAKE_WORLD = [sys.executable, "-m", "tests.support.fake_world", "--no-mouse"]


def world_env(**extra: str) -> dict[str, str]:
    env = {"PYTHONPATH": str(REPO), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def test_a_user_session_at_80x24(tmp_path: Path) -> None:
    record = tmp_path / "exit.txt"
    with TmuxTerminal(
        [*FAKE_WORLD, "--record-exit", str(record)], width=80, height=24, env=world_env(), cwd=REPO
    ) as term:
        screen = term.wait_for("Reveal queue")
        assert "Training  Checkpoints  Reveal queue  Models" in screen  # tabs at 80 columns
        assert "preview" in screen and "epoch 12" in screen

        term.type("4/mine")  # one burst: jump to Models, open the filter, type
        screen = term.wait_for("3 of 40")
        assert screen.count("★ 0x") == 3
        term.press("Escape")
        term.wait_for("40 models, 3 yours")

        term.press("?")
        screen = term.wait_for("binding id")
        assert "This pane: Models" in screen and "filter_models" in screen
        term.press("Escape")

        term.press("3")
        screen = term.wait_for("autopilot: OFF")
        assert re.search(r"● OPEN\s+\d\d:\d\d\s+now", screen)

        term.press("q")
        screen = term.wait_for("A reveal window is open")
        term.press("Escape")
        term.wait_until(lambda s: "A reveal window is open" not in s)
        term.press("q")
        term.wait_for("again to quit anyway")
        term.press("q")
        assert term.wait_exit() in (0, None)
        screen = term.screen()
        assert "Traceback" not in screen
    assert record.read_text().strip() == "exit 0"


def test_no_color_in_tmux_uses_no_colours(tmp_path: Path) -> None:
    with TmuxTerminal(FAKE_WORLD, width=100, height=30, env=world_env(NO_COLOR="1"), cwd=REPO) as term:
        term.wait_for("Reveal queue")
        ansi = term.screen(ansi=True)
        truecolour = re.findall(r"[34]8;2;(\d+);(\d+);(\d+)", ansi)
        indexed = re.findall(r"[34]8;5;(\d+)", ansi)
        basic = [
            c
            for c in re.findall(r"\x1b\[([0-9;]*)m", ansi)
            for p in c.split(";")
            if p in {"31", "32", "33", "34", "35", "36", "41", "42", "43", "44", "45", "46"}
        ]
        assert all(r == g == b for r, g, b in truecolour), truecolour[:5]
        # 256-colour indexes: only the greyscale ramp (232-255) and black/white
        assert all(int(i) >= 232 or int(i) in (0, 7, 8, 15, 16, 231) for i in indexed), sorted(set(indexed))
        assert basic == []


def test_terminal_going_away_ends_the_process_quietly(tmp_path: Path) -> None:
    record = tmp_path / "exit.txt"
    term = TmuxTerminal(
        [*FAKE_WORLD, "--record-exit", str(record)], width=100, height=30, env=world_env(), cwd=REPO
    )
    with term:
        term.wait_for("Reveal queue")
        pid = term.pid
        assert pid is not None
        term.hang_up()  # like a dropped SSH connection: the terminal is gone
        assert wait_for_exit(pid, timeout=15), "the console kept running after its terminal went away"
    assert record.read_text().strip() == "exit 129"


def test_sighup_with_the_terminal_still_there_restores_it(tmp_path: Path) -> None:
    record = tmp_path / "exit.txt"
    command = [*FAKE_WORLD, "--record-exit", str(record)]
    with TmuxTerminal(command, width=100, height=30, env=world_env(), cwd=REPO) as term:
        term.wait_for("Reveal queue")
        pid = term.pid
        assert pid is not None
        os.kill(pid, signal.SIGHUP)
        assert term.wait_exit() in (129, None)
        assert record.read_text().strip() == "exit 129"
        screen = term.screen()
        assert "Reveal queue" not in screen  # back from the alternate screen
        assert "Traceback" not in screen and "Error" not in screen
