"""``soma-console autopilot``: reveals at every boundary, headless, for cron, systemd or a tmux pane."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import click

from soma_console.cli.common import make_session
from soma_console.cli.output import stderr_console
from soma_console.context import AppContext
from soma_console.core.autoclaim import AutoClaim
from soma_console.core.autopilot import Autopilot, AutopilotConfig, TrainRound
from soma_console.core.chain_identity import adopt_chain_identity
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.targets_index import TargetIndex
from soma_console.core.wallet import load_signer
from soma_console.errors import UsageError
from soma_console.secrets import redact

log = logging.getLogger("soma_console.autopilot")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``6h``, ``1d`` -> seconds."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:])
    number = t[:-1] if unit else t
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise UsageError(f"{text!r} is not a duration.", hint="Use a number of seconds or 90s, 15m, 6h, 1d.")
    return value


@click.command()
@click.option("--once", is_flag=True, help="Run one round (reveal what is due) and exit: for cron.")
@click.option("--interval", default="15s", show_default=True, help="Time between rounds when nothing is due.")
@click.option("--hook", help="A command to run on every warning; the message is in $SOMA_ALERT.")
@click.option("--webhook", help='A URL to POST {"text": message} to on every warning.')
@click.option("--train-run", help="Also run train -> commit rounds on this run.")
@click.option("--train-every", default="6h", show_default=True, help="Time between training rounds.")
@click.option("--train-steps", type=int, default=200, show_default=True, help="Steps per training round.")
@click.option("--model", "model_id", help="Commit training rounds as updates of this model.")
@click.option(
    "--commit-if-better",
    "gate_targets",
    type=click.IntRange(1, 10_000),
    help="Commit an update only if it beats the model's current weights on the last N filled targets.",
)
@click.option(
    "--claim/--no-claim",
    default=True,
    show_default=True,
    help="Claim the wallet's wins when they become claimable (generation epoch + 2).",
)
@click.option("--yes", is_flag=True, help="Agree to reveals, claims (and commits) being sent without asking.")
@click.pass_obj
def autopilot(
    app: AppContext,
    once: bool,
    interval: str,
    hook: str | None,
    webhook: str | None,
    train_run: str | None,
    train_every: str,
    train_steps: int,
    model_id: str | None,
    claim: bool,
    gate_targets: int | None,
    yes: bool,
) -> None:
    """Reveal every commit in its window, warn when a window is closing, optionally train and commit."""
    app.require_writable("autopilot")
    if not yes:
        raise UsageError(
            "autopilot sends reveals (and, with --train-run, commits) without asking.",
            hint="Pass --yes to agree; `soma-console queue` shows what it would reveal.",
        )
    config = AutopilotConfig(interval=parse_duration(interval), hook=hook, webhook=webhook)
    train = (
        TrainRound(
            run=train_run,
            steps=train_steps,
            every=parse_duration(train_every),
            model_id=model_id,
            gate_targets=gate_targets,
        )
        if train_run
        else None
    )
    signer = load_signer(app.home)
    assert signer is not None
    err = stderr_console()
    styles = {"info": "", "warn": "yellow", "alarm": "bold red"}

    def say(level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        style = styles.get(level, "")
        text = redact(message)
        err.print(
            f"[{style}]{stamp} {level.upper():5} {text}[/]" if style else f"{stamp} {level.upper():5} {text}",
            markup=bool(style),
            highlight=False,
        )
        getattr(log, "warning" if level != "info" else "info")(text)

    async def main() -> None:
        journal = Journal.open(app.home.ensure().journal_path)
        index = TargetIndex.open(app.home.data_dir / "targets.sqlite") if claim else None
        session = make_session(app, address=signer.address)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        say("info", f"autopilot on {app.chain.name} for {signer.address}; Ctrl-C stops it")
        try:
            await adopt_chain_identity(session, journal)
            claims = AutoClaim(session, index, signer) if index is not None else None
            await Autopilot(
                Lifecycle(app, session, journal, signer), config, say, train=train, claims=claims
            ).run(stop, once=once)
        finally:
            await session.close()
            journal.close()
            if index is not None:
                index.close()
        if not once:
            say("info", "autopilot stopped")

    asyncio.run(main())
