"""The ``soma-console`` command.

With no subcommand it opens the console; every job is also a headless subcommand. Subcommands
are imported lazily (see ``COMMANDS``) so that ``soma-console wallet show`` never pays for torch,
textual or modal.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from typing import Any

import click

from soma_console import __version__
from soma_console.cli.output import die_with
from soma_console.context import AppContext

# name -> "module:attribute"; each module owns its command (or command group).
COMMANDS: dict[str, str] = {
    "console": "soma_console.cli.console:console",
    "demo": "soma_console.cli.console:demo",
    "doctor": "soma_console.cli.doctor:doctor",
    "wallet": "soma_console.cli.wallet:wallet",
    "devnet": "soma_console.cli.devnet:devnet",
    "train": "soma_console.cli.train:train",
    "runs": "soma_console.cli.runs:runs",
    "checkpoints": "soma_console.cli.runs:checkpoints",
    "logs": "soma_console.cli.runs:logs",
    "modal": "soma_console.cli.modal_cmds:modal_group",
    "cron": "soma_console.cli.cron_cmds:cron_group",
    "commit": "soma_console.cli.onchain:commit",
    "queue": "soma_console.cli.onchain:queue",
    "reveal": "soma_console.cli.onchain:reveal",
    "models": "soma_console.cli.onchain:models",
    "model": "soma_console.cli.onchain:model",
    "autopilot": "soma_console.cli.autopilot:autopilot",
    "weights": "soma_console.cli.weights:weights",
    "targets": "soma_console.cli.earnings:targets",
    "earnings": "soma_console.cli.earnings:earnings",
    "claim": "soma_console.cli.earnings:claim",
    "stake": "soma_console.cli.earnings:stake",
    "score": "soma_console.cli.score:score",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
            assert isinstance(cmd, click.Command)
            return cmd
        return super().get_command(ctx, name)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="SOMA_CONSOLE_HOME",
    help="Keep config and state under this directory (env: SOMA_CONSOLE_HOME).",
)
@click.option(
    "--chain",
    metavar="devnet|localnet|testnet|URL",
    envvar="SOMA_CONSOLE_CHAIN",
    help="Network to use (default from config.toml, else devnet).",
)
@click.option("--readonly", is_flag=True, help="Refuse every command that would send a transaction.")
@click.option("-v", "--verbose", count=True, help="Log more (to stderr).")
@click.version_option(__version__, prog_name="soma-console")
@click.pass_context
def cli(ctx: click.Context, home: str | None, chain: str | None, readonly: bool, verbose: int) -> None:
    """A terminal operator console for SOMA model owners.

    Run with no command to open the console; every job is also a subcommand for scripts and cron.
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from soma_console.secrets import RedactingFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    ctx.obj = AppContext.create(home=home, chain=chain, readonly=readonly)
    if ctx.invoked_subcommand is None:
        console_cmd = LazyGroup.get_command(cli, ctx, "console")
        if console_cmd is None:
            click.echo(ctx.get_help())
            return
        ctx.invoke(console_cmd)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: turn every user error into one line and a non-zero exit, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="soma-console", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except BaseException as exc:  # the one place every failure is turned into a line
        code = die_with(exc)
    _exit(code)


def _exit(code: int) -> None:
    """Exit with ``code``. Once the SDK has run, skip interpreter teardown: its tokio runtime's
    worker threads can panic ("panic in a function that cannot unwind") while Python finalizes,
    which would add a Rust backtrace to a clean error line and turn the exit code into an abort."""
    if "soma_sdk" not in sys.modules:
        sys.exit(code)
    import logging

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)
