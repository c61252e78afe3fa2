"""Shared test fixtures.

* Every test runs with its own temporary home (``SOMA_CONSOLE_HOME``) so nothing touches the
  real user's config or journal.
* ``cli`` runs the real ``soma-console`` in a subprocess, as a user would.
* The secret audit: every secret a test creates is remembered (``remember_secret``, plus every
  ``Secret`` made in this process), and every byte of output the suite captured (subprocess
  output, pytest's captured stdout/stderr/logs, failure reports) is grepped for them when the
  session ends. A leak fails the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.devnet_fixture"]

REPO = Path(__file__).resolve().parent.parent
# Subprocesses (the CLI, the trainer worker, the devnet) must import the code under test, not
# whatever copy an editable install points at.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
_CAPTURED: list[str] = []
_SECRETS: set[str] = set()


def remember_captured(text: str) -> None:
    _CAPTURED.append(text)


@pytest.fixture
def remember_secret() -> object:
    def _remember(value: str | bytes) -> None:
        if isinstance(value, bytes):
            from soma_console.encoding import b58encode

            _SECRETS.update({value.hex(), b58encode(value)})
        elif len(value) >= 8:
            _SECRETS.add(value)
            if value.startswith("0x"):
                _SECRETS.add(value[2:])

    return _remember


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("SOMA_CONSOLE_HOME", str(h))
    monkeypatch.delenv("SOMA_SECRET_KEY", raising=False)
    monkeypatch.setenv("SOMA_CONFIG_DIR", str(tmp_path / "no-soma-cli-wallet"))
    monkeypatch.delenv("SOMA_CONSOLE_CHAIN", raising=False)
    return h


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> object:
        import json

        return json.loads(self.stdout)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> CliResult:
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.run(
        [sys.executable, "-m", "soma_console", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
        cwd=cwd,
    )
    result = CliResult(list(args), proc.returncode, proc.stdout, proc.stderr)
    remember_captured(result.output)
    return result


@pytest.fixture
def cli(home: Path) -> object:
    """Run ``soma-console ARGS`` in a subprocess against the test's home."""
    return run_cli


def assert_one_line_error(result: CliResult, *needles: str) -> None:
    """A user error: non-zero exit, no traceback, one 'error:' line that names the problem."""
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for _name, content in report.sections:
        _CAPTURED.append(content)
    if report.longrepr is not None:
        _CAPTURED.append(str(report.longrepr))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    try:
        from soma_console import secrets as secrets_mod

        _SECRETS.update(secrets_mod._registry)
    except ImportError:
        pass
    leaks = sorted({s[:6] + "…" for s in _SECRETS for text in _CAPTURED if s and s in text})
    if leaks:
        sys.stderr.write(
            f"\nSECRET AUDIT FAILED: {len(leaks)} secret value(s) appeared in captured output "
            f"(prefixes: {', '.join(leaks)})\n"
        )
        session.exitstatus = 1
    else:
        sys.stderr.write(
            f"\nsecret audit: {len(_SECRETS)} secrets checked against {len(_CAPTURED)} captured outputs\n"
        )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny training run (worker subprocess) with checkpoints at steps 2 and 4 and a final one."""
    home = tmp_path_factory.mktemp("train-home")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "soma_console",
            "--home",
            str(home),
            "train",
            "--preset",
            "tiny",
            "--steps",
            "4",
            "--checkpoint-every",
            "2",
            "--data",
            "builtin",
            "--run",
            "r1",
            "--micro-batch",
            "2",
            "--grad-accum",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = home / "runs" / "r1"
    assert (run / "checkpoints" / "checkpoint-00000002.safetensors").is_file()
    return run
