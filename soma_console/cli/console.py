"""``soma-console [console]`` and ``soma-console demo``: the console on live services.

``console`` opens the console on the configured chain. ``demo`` runs a devnet with its built-in
data submitter as a child process (state under the home's devnet dir, kept across demos unless
``--fresh``; the child, not the console, loads torch for scoring), makes and funds a local wallet
if there is none, turns autopilot on and opens the console with the tiny preset first, so the
whole loop (train, commit, the epoch turns, reveal, targets won, claims) runs here in minutes with
no network and no account.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from soma_console.config import DEVNET_HOST, DEVNET_PORTS, ChainProfile
from soma_console.context import AppContext
from soma_console.errors import UserError
from soma_console.fsutil import atomic_write_text, ensure_dir

DEMO_EPOCH_SECONDS = 90.0
# Enough for the default stake (1 SOMA) of several models and every fee of the demo.
DEMO_FUNDS_SOMA = 50.0
DEMO_MIN_BALANCE_SOMA = 5.0
DEMO_FILE = "demo.json"


@contextlib.contextmanager
def logs_to_file(app: AppContext) -> Iterator[Path]:
    """While the console owns the terminal, log lines go to ``logs/console.log``, not stderr
    (a line written to the terminal under the console would be drawn over its screen)."""
    from soma_console.secrets import RedactingFilter

    path = app.home.logs_dir / "console.log"
    ensure_dir(path.parent, private=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield path
    finally:
        root.handlers = saved
        handler.close()


def _open_console(app: AppContext, *, mouse: bool) -> int:
    from soma_console.core.live_services import LiveServices
    from soma_console.tui.terminal import run_console

    services = LiveServices.open(app)
    with logs_to_file(app):
        return run_console(services, settings=app.settings, mouse=mouse)


@click.command()
@click.option("--no-mouse", is_flag=True, help="Leave the mouse to the terminal (select and copy text).")
@click.pass_obj
def console(app: AppContext, no_mouse: bool) -> None:
    """Open the console on the configured chain (also: soma-console with no command)."""
    code = _open_console(app, mouse=not no_mouse)
    if code:
        raise SystemExit(code)


def _ports_free(host: str, ports: list[int]) -> bool:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _profile(endpoints: Any) -> ChainProfile:
    urls = endpoints.as_dict()
    return ChainProfile(
        name="devnet",
        rpc_url=urls["rpc_url"],
        faucet_url=urls["faucet_url"],
        admin_url=urls["admin_url"],
        scoring_url=urls["scoring_url"],
        blob_url=urls["blob_url"],
        is_devnet=True,
    )


def _remove_unused_state(state_dir: Path) -> None:
    """Delete the demo chain, unless a devnet is running on it (it holds the state's lock)."""
    from soma_console.devnet.engine.store import LOCK_NAME

    lock = state_dir / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"a devnet is running on {state_dir}; --fresh would delete its chain.",
                hint="Quit the other demo (or devnet) first.",
            ) from None
        shutil.rmtree(state_dir)
    finally:
        os.close(fd)


def start_demo_devnet(
    app: AppContext, *, epoch_seconds: float, fresh: bool, any_ports: bool, fund: str | None = None
) -> Any:
    """Start the demo chain (the devnet and its built-in submitter) as a child process on the
    demo's state directory; the localnet ports when free, otherwise free ones. ``fund``: an address
    given DEMO_FUNDS_SOMA while it holds less than DEMO_MIN_BALANCE_SOMA."""
    from soma_console.cli.demo_chain import DemoChain

    state_dir = app.home.devnet_dir
    if fresh and state_dir.exists():
        _remove_unused_state(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    defaults = [DEVNET_PORTS[k] for k in ("rpc", "faucet", "scoring", "admin", "blob")]
    use_defaults = not any_ports and _ports_free(DEVNET_HOST, defaults)
    ports = defaults if use_defaults else [0, 0, 0, 0, 0]
    args = ["-v", "devnet", "--json", "--exit-with-parent", "--host", DEVNET_HOST]  # -v: its log in node.err
    for flag, port in zip(
        ("--port", "--faucet-port", "--scoring-port", "--admin-port", "--blob-port"), ports, strict=True
    ):
        args += [flag, str(port)]
    args += ["--epoch-seconds", f"{epoch_seconds:g}", "--state", str(state_dir)]
    args += ["--model-preset", "tiny", "--submitter"]
    if fund:
        args += ["--fund", fund, "--fund-soma", f"{DEMO_FUNDS_SOMA:g}"]
        args += ["--fund-below", f"{DEMO_MIN_BALANCE_SOMA:g}"]
    return DemoChain(state_dir, args).start()


@click.command()
@click.option(
    "--epoch-seconds",
    type=click.FloatRange(min=10),
    default=DEMO_EPOCH_SECONDS,
    show_default=True,
    help="Epoch length of the demo chain: a commit's reveal window opens one epoch later.",
)
@click.option("--fresh", is_flag=True, help="Start the demo chain from scratch (forget its models).")
@click.option("--no-mouse", is_flag=True, help="Leave the mouse to the terminal.")
@click.option("--any-ports", is_flag=True, hidden=True, help="Never use the localnet ports (tests).")
@click.pass_obj
def demo(app: AppContext, epoch_seconds: float, fresh: bool, no_mouse: bool, any_ports: bool) -> None:
    """Try the whole loop on a private devnet: train, commit, watch the epoch turn, reveal."""
    from soma_console.core.wallet import create_key_file, load_signer

    if app.readonly:
        raise UserError("the demo sends transactions; run it without --readonly.")
    app.home.ensure()
    signer = load_signer(app.home, required=False) or create_key_file(app.home)
    node = start_demo_devnet(
        app, epoch_seconds=epoch_seconds, fresh=fresh, any_ports=any_ports, fund=signer.address
    )
    info_path = app.home.data_dir / DEMO_FILE
    try:
        profile = _profile(node.endpoints)
        live = replace(app, chain=profile)
        atomic_write_text(
            info_path,
            json.dumps(
                {**node.endpoints.as_dict(), "address": signer.address, "started": time.time()}, indent=2
            )
            + "\n",
        )
        from soma_console.core.live_services import LiveServices
        from soma_console.tui.terminal import run_console

        services = LiveServices.open(live, presets=("tiny", "v1"), signer=signer)
        services.autopilot.set(True)
        with logs_to_file(app):
            code = run_console(services, settings=app.settings, mouse=not no_mouse)
    finally:
        node.stop()
        Path(info_path).unlink(missing_ok=True)
    if code:
        raise SystemExit(code)


__all__ = ["console", "demo"]
