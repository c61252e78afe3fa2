"""Drive a real terminal program the way a user does: in tmux, with keys, reading the screen.

``TmuxTerminal`` starts a command in a detached tmux session of a fixed size on a private tmux
server (``-L``), so tests never touch the user's own tmux and can run in parallel. Point it at
``python -m tests.support.fake_world`` or at the real ``soma-console``::

    with TmuxTerminal([sys.executable, "-m", "tests.support.fake_world"], width=100, height=30) as term:
        term.wait_for("Reveal queue")
        term.press("4")
        term.type("/mine")
        assert "3 of 40" in term.wait_for("3 of 40")

Keys use tmux's names (``Enter``, ``Escape``, ``Tab``, ``C-q``, ``PageUp``); ``type`` sends text
literally.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


class TmuxTerminal:
    def __init__(
        self,
        command: Sequence[str],
        *,
        width: int = 100,
        height: int = 30,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stderr_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.command = list(command)
        self.width = width
        self.height = height
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd else Path.cwd()
        self.stderr_path = Path(stderr_path) if stderr_path else None
        tag = uuid.uuid4().hex[:10]
        self.server = f"soma-test-{tag}"
        self.session = f"console-{tag}"
        self._started = False

    # -- running --------------------------------------------------------------------------------
    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.server, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=check,
        )

    def start(self) -> TmuxTerminal:
        # A tmux server started without a terminal (as under pytest) hands its sessions a stale
        # COLUMNS=80 / LINES=24, which programs prefer to the pane's real size: drop them.
        shell_command = "unset COLUMNS LINES; exec " + shlex.join(self.command)
        if self.stderr_path is not None:
            shell_command += " 2>" + shlex.quote(str(self.stderr_path))
        args = ["new-session", "-d", "-s", self.session, "-x", str(self.width), "-y", str(self.height)]
        args += ["-c", str(self.cwd)]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        self._tmux(*args, shell_command)
        self._started = True
        # Keep the pane after the program exits so its exit status can be read; pass Escape on
        # at once (tmux otherwise holds it 500 ms to see whether a sequence follows).
        self._tmux("set-option", "-t", self.session, "remain-on-exit", "on", check=False)
        self._tmux("set-option", "-s", "escape-time", "0", check=False)
        return self

    def __enter__(self) -> TmuxTerminal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Kill the session and its private server (the program gets SIGHUP, as over SSH)."""
        if self._started:
            self._tmux("kill-server", check=False)
            self._started = False

    def hang_up(self) -> None:
        """Close the terminal under the program, like a dropped SSH connection."""
        self._tmux("kill-session", "-t", self.session, check=False)

    # -- input ------------------------------------------------------------------------------------
    def press(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            # A person's pace. After Escape, wait out the terminal's escape-sequence timeout, or
            # the next key reads as alt+key.
            time.sleep(0.3 if key in ("Escape", "C-[") else 0.05)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.05)

    # -- output ------------------------------------------------------------------------------------
    def screen(self, *, ansi: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", self.session]
        if ansi:
            args.append("-e")
        return self._tmux(*args).stdout

    def wait_for(self, text: str, *, timeout: float = 15.0) -> str:
        return self.wait_until(lambda screen: text in screen, timeout=timeout, what=repr(text))

    def wait_until(self, predicate: Callable[[str], bool], *, timeout: float = 15.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or 'the screen'}; the terminal shows:\n{screen}")

    # -- the program -------------------------------------------------------------------------------
    def _pane(self, fmt: str) -> str:
        result = self._tmux("display-message", "-p", "-t", self.session, fmt, check=False)
        return result.stdout.strip()

    @property
    def pid(self) -> int | None:
        value = self._pane("#{pane_pid}")
        return int(value) if value.isdigit() else None

    def wait_exit(self, *, timeout: float = 15.0) -> int | None:
        """Wait for the program to exit (the pane stays, dead); return its exit status when tmux
        reports one (tmux sometimes marks a pane dead without collecting the status)."""
        deadline = time.monotonic() + timeout
        dead_since: float | None = None
        while time.monotonic() < deadline:
            fields = self._pane("#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}").split("|")
            dead, status, sig = ([*fields, "", "", ""])[:3]
            if dead == "1":
                if status.strip():
                    return int(status)
                if sig.strip():
                    return 128 + int(sig)
                dead_since = dead_since or time.monotonic()
                if time.monotonic() - dead_since > 1.0:
                    return None
            time.sleep(0.1)
        raise AssertionError("the program did not exit; the terminal shows:\n" + self.screen())


def wait_for_exit(pid: int, *, timeout: float = 15.0) -> bool:
    """True once process ``pid`` is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
