"""``soma-console cron ...``: the scheduled loop on Modal (deploy, status, remove, pull)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from soma_console.cli.modal_cmds import _gpu_opt, _read_spec, _run, _settings, _volume_opt, _when
from soma_console.cli.output import confirm, print_json, print_table, stderr_console
from soma_console.context import AppContext
from soma_console.errors import UsageError, UserError


@click.group("cron")
def cron_group() -> None:
    """The scheduled loop on Modal: resume, train N steps, commit, reveal in the next epoch."""


_cron_app_opt = click.option(
    "--app", "cron_app_name", metavar="NAME", help="Cron app name (default soma-console-cron)."
)


@cron_group.command("deploy")
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(dir_okay=False),
    help="TrainSpec JSON for the run the rounds continue.",
)
@click.option(
    "--run", "run_name", metavar="NAME", help="Use the spec of a Modal run launched from this machine."
)
@click.option(
    "--every", default=None, metavar="PERIOD", help="Period between rounds: 30m, 6h, 1d (default 6h)."
)
@click.option(
    "--cron",
    "cron_expr",
    default=None,
    metavar="EXPR",
    help='A cron expression instead, e.g. "0 */6 * * *" (UTC).',
)
@click.option("--steps", type=int, default=500, show_default=True, help="Steps each round trains.")
@click.option("--gpus", type=int, default=1, show_default=True, help="GPUs per round (DDP in one container).")
@click.option("--hook", help="A command the rounds run on every alarm (message in $SOMA_ALERT).")
@click.option("--webhook", help='A URL the rounds POST {"text": message} to on every alarm.')
@click.option(
    "--commit-if-better",
    "gate_targets",
    type=click.IntRange(1, 10_000),
    help="Commit an update only if it beats the model's current weights on the last N filled targets.",
)
@_gpu_opt
@_cron_app_opt
@_volume_opt
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_obj
def cron_deploy(
    app: AppContext,
    spec_file: str | None,
    run_name: str | None,
    every: str | None,
    cron_expr: str | None,
    steps: int,
    gpus: int,
    hook: str | None,
    webhook: str | None,
    gate_targets: int | None,
    gpu: str | None,
    cron_app_name: str | None,
    volume_name: str | None,
    yes: bool,
) -> None:
    """Deploy the scheduled rounds: reveals on their own CPU schedule, training on yours."""
    from soma_console.config import BUILTIN_CHAINS
    from soma_console.training.cron_schedule import check_train_cron, parse_every, reveal_schedule
    from soma_console.training.modal.backend import ModalRunRegistry
    from soma_console.training.modal.cron import check_cron_chain, deploy_cron

    if (spec_file is None) == (run_name is None):
        raise UsageError("give exactly one of --spec FILE or --run NAME.")
    if spec_file is not None:
        spec: Any = _read_spec(spec_file)
    else:
        assert run_name is not None
        record = ModalRunRegistry(app.home).find(run_name)
        if record is None or not record.spec:
            raise UserError(
                f"no Modal run named {run_name!r} was launched from this machine.", hint="Use --spec FILE."
            )
        spec = record.spec
    settings = _settings(app, cron_app_name=cron_app_name, volume_name=volume_name, gpu=gpu)
    schedule = f"cron {cron_expr!r} (UTC)" if cron_expr else f"every {every or '6h'}"
    if every and cron_expr:
        raise UsageError("give --every or --cron, not both.")
    if cron_expr:
        check_train_cron(cron_expr)
    else:
        parse_every(every or "6h")
    chain = app.chain.name if app.chain.name in BUILTIN_CHAINS else app.chain.rpc_url
    check_cron_chain(chain)
    epoch_s = _epoch_seconds(app)
    reveal = reveal_schedule(epoch_s)
    confirm(
        f"Deploy {settings.cron_app_name} on {chain} (epochs of {epoch_s / 3600:g} h): reveals on a CPU "
        f"schedule, cron {reveal.cron!r} (UTC, {reveal.attempts_per_window} attempts per window); training "
        f"rounds of {steps} steps on {settings.gpu} x{gpus} {schedule}, each committing its weights"
        f"{_gate_words(gate_targets)}? It "
        "keeps sending transactions and using GPU time until `soma-console cron remove`.",
        yes=yes,
    )
    dep = _run(
        deploy_cron(
            spec,
            every=every,
            cron=cron_expr,
            steps=steps,
            gpus=gpus,
            chain=chain,
            epoch_s=epoch_s,
            settings=settings,
            home=app.home,
            hook=hook,
            webhook=webhook,
            gate_targets=gate_targets,
        )
    )
    for warning in dep.warnings:
        stderr_console().print(f"warning: {warning}")
    click.echo(
        f"deployed {dep.app_name}: run {dep.run}, {dep.steps} steps per round, {dep.schedule}, "
        f"chain {dep.chain}; reveals on cron {dep.reveal_cron!r}{_gate_words(dep.gate_targets)}."
    )
    if dep.reveal_now:
        click.echo(f"reveals were pending: a reveal round started at once ({dep.reveal_now}).")


def _gate_words(gate_targets: int | None) -> str:
    if not gate_targets:
        return ""
    return f" (an update only if it beats the current weights on the last {gate_targets} filled targets)"


def _epoch_seconds(app: AppContext) -> float:
    """The chain's epoch length, which the reveal schedule is derived from."""
    from soma_console.cli.common import run_with_session

    async def read(session: Any) -> float:
        snap = await session.snapshot()
        return float(snap.epoch_duration_ms) / 1000.0

    try:
        return float(run_with_session(app, read))
    except UserError as exc:
        raise UserError(
            f"cannot read the epoch length, which the reveal schedule is derived from: "
            f"{exc.message.rstrip('.')}.",
            hint=exc.hint or "Check the network and --chain, then deploy again.",
        ) from None


@cron_group.command("status")
@_cron_app_opt
@_volume_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def cron_status_cmd(
    app: AppContext, cron_app_name: str | None, volume_name: str | None, as_json: bool
) -> None:
    """Is the schedule deployed, what did the last rounds do, what is pending."""
    from soma_console.training.modal.cron import cron_status

    st = _run(
        cron_status(
            settings=_settings(app, cron_app_name=cron_app_name, volume_name=volume_name), home=app.home
        )
    )
    if as_json:
        print_json(st.to_json())
        return
    if st.deployed:
        click.echo(
            f"{st.app_name}: deployed, training schedule {st.schedule or 'unknown'}, reveal schedule "
            f"{st.reveal_schedule or 'none (deployed by an older version: deploy again)'}."
        )
    else:
        click.echo(f"{st.app_name}: not deployed (no rounds will run).")
    if not st.volume_found:
        click.echo("the Volume does not exist yet, so no round has run.")
    rows = [
        {
            "round": r.get("round"),
            "started": _when(r.get("started")),
            "state": r.get("state"),
            "step": r.get("step", ""),
            "kind": r.get("kind", "train"),
            "note": r.get("error") or r.get("note") or r.get("chain_skipped") or "",
        }
        for r in st.summary.rounds
    ]
    if st.lease is not None:
        click.echo(f"a {st.lease.purpose} round ({st.lease.holder}) holds the journal lease now.")
    if rows:
        print_table(rows, ["round", "kind", "started", "state", "step", "note"], title="recent rounds")
    elif st.volume_found:
        click.echo("no round has run yet.")
    if st.summary.pending:
        click.echo(f"pending on-chain: {json.dumps(st.summary.pending)}")


@cron_group.command("remove")
@_cron_app_opt
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_obj
def cron_remove(app: AppContext, cron_app_name: str | None, yes: bool) -> None:
    """Stop the scheduled app (the Volume, its checkpoints and journal stay)."""
    from soma_console.training.modal.cron import remove_cron

    settings = _settings(app, cron_app_name=cron_app_name)
    confirm(
        f"Stop {settings.cron_app_name}? Pending reveals are then not done by Modal: bring the journal "
        "home with `soma-console cron pull` and reveal them yourself before their window closes.",
        yes=yes,
    )
    _run(remove_cron(settings=settings, home=app.home))
    click.echo(
        f"stopped {settings.cron_app_name}; no more rounds will run. Take over its reveals: "
        "`soma-console cron pull`."
    )


@cron_group.command("pull")
@_cron_app_opt
@_volume_opt
@click.option(
    "--to", "dest", type=click.Path(file_okay=False), help="Folder for the journal (a soma-console home)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def cron_pull(
    app: AppContext, cron_app_name: str | None, volume_name: str | None, dest: str | None, as_json: bool
) -> None:
    """Bring the cron's journal (its unrevealed keys) home, to reveal from this machine."""
    from soma_console.training.cron_pull import pull_cron_journal

    settings = _settings(app, cron_app_name=cron_app_name, volume_name=volume_name)
    folder = Path(dest) if dest else app.home.data_dir / "cron" / settings.cron_app_name
    res = _run(pull_cron_journal(settings=settings, dest_dir=folder))
    chain = app.chain.name
    command = f"SOMA_SECRET_KEY=... soma-console --home {folder} --chain {chain} reveal"
    if as_json:
        print_json(
            {"journal": str(res.path), "size": res.size, "intents": res.intents, "replaced": res.replaced}
        )
        return
    click.echo(f"pulled the cron's journal to {res.path} ({res.size:,} bytes, {res.intents} intents).")
    click.echo(f"reveal from it: `{command}` (or `queue` instead of `reveal` to look first).")
