"""``soma-console score``: would this checkpoint have won the network's recent targets?"""

from __future__ import annotations

from collections.abc import Callable

import click

from soma_console.cli.common import run_with_session, short_id
from soma_console.cli.output import print_json, print_table, stderr_console, stdout_console
from soma_console.context import AppContext
from soma_console.core.chain import ChainSession
from soma_console.core.score_check import DEFAULT_TARGETS, MODES, ScoreReport, score_checkpoint


def _progress(quiet: bool) -> Callable[[str], None]:
    err = stderr_console()
    quiet = quiet or not err.is_terminal
    last = [""]

    def report(line: str) -> None:
        if quiet or line == last[0]:
            return
        last[0] = line
        err.print(f"[dim]… {line}[/]")

    return report


@click.command()
@click.argument("checkpoint")
@click.option(
    "--targets",
    "count",
    type=click.IntRange(1, 10_000),
    help=f"The N most recent filled targets (default {DEFAULT_TARGETS}).",
)
@click.option("--epoch", type=click.IntRange(0), help="Every filled target generated in this epoch instead.")
@click.option(
    "--against",
    multiple=True,
    metavar="winners|assigned|MODEL",
    help="Compete with each target's winner (default), all its assigned models, or these model ids.",
)
@click.option(
    "--model", "model_id", help="Also score this model's current revealed weights (the one you would update)."
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="SIGReg noise seed (the chain audits with 0).",
)
@click.option("--device", help="torch device (default: cuda when present, else cpu).")
@click.option("--wide", is_flag=True, help="Show target and model ids whole.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON on stdout.")
@click.pass_obj
def score(
    app: AppContext,
    checkpoint: str,
    count: int | None,
    epoch: int | None,
    against: tuple[str, ...],
    model_id: str | None,
    seed: int,
    device: str | None,
    wide: bool,
    as_json: bool,
) -> None:
    """Score CHECKPOINT with the chain's scoring loss on recently filled targets."""
    from soma_console.core.commit_prep import resolve_checkpoint
    from soma_console.errors import UserError

    if count is not None and epoch is not None:
        raise UserError("give --targets or --epoch, not both.")
    home = app.home.ensure()
    src = resolve_checkpoint(checkpoint, home.runs_dir)
    cache_gb = app.settings.number("score.cache_gb", 16.0, minimum=0.1)

    async def job(session: ChainSession) -> ScoreReport:
        from soma_console.cli.common import full_model_ids

        named = [a for a in against if a not in MODES]
        resolved = dict(zip(named, await full_model_ids(session, named), strict=True))
        own = None if model_id is None else (await full_model_ids(session, [model_id]))[0]
        client = await session.client()
        return await score_checkpoint(
            client,
            app.chain.rpc_url,
            src.weights,
            src.manifest,
            home.data_dir / "score-cache",
            count=None if epoch is not None else (count or DEFAULT_TARGETS),
            epoch=epoch,
            against=tuple(resolved.get(a, a) for a in against),
            model_id=own,
            seed=seed,
            device=device,
            cache_bytes=int(cache_gb * 1024**3),
            progress=_progress(as_json),
        )

    report = run_with_session(app, job)
    from soma_console.core.score_verdicts import save_verdict

    save_verdict(src.weights, app.chain.name, report)
    if as_json:
        print_json(report.to_json())
        return
    show(report, src.label, wide=wide)


def show(report: ScoreReport, label: str, *, wide: bool = False) -> None:
    con = stdout_console()
    rows = [
        {
            "target": short_id(t.target_id, wide=wide),
            "my loss": f"{t.my_loss:.4f}",
            "winner loss": f"{t.winner_loss:.4f}",
            "winner": short_id(t.winner_model_id, wide=wide),
            "would win": "yes" if t.would_win else "no",
            "distance": f"{t.distance:.4f}",
            "current loss": None if t.current_loss is None else f"{t.current_loss:.4f}",
        }
        for t in report.targets
    ]
    columns = ["target", "my loss", "winner loss", "winner", "would win", "distance"]
    if report.has_current:
        columns.append("current loss")
    if rows:
        print_table(rows, columns, keep=("target", "winner"))
    con.print(f"{label}: {report.summary()}.", markup=False, highlight=False)
    for line in report.skipped:
        con.print(f"skipped {line}", markup=False, highlight=False)
