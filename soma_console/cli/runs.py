"""``soma-console runs | checkpoints | logs``: the runs this machine knows, read from the run registry.

They only read (run directories, the Modal run records); none of them imports torch or modal.
"""

from __future__ import annotations

import asyncio

import click

from soma_console.cli.common import checkpoint_ref
from soma_console.cli.output import print_json, print_table, stdout_console
from soma_console.context import AppContext
from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.event_text import format_record
from soma_console.training.manifest import list_all_checkpoints, list_checkpoints, one_per_checkpoint
from soma_console.training.run_follow import read_events
from soma_console.training.run_registry import all_runs, follow_local
from soma_console.training.runs import EVENTS_FILE, SPEC_FILE, run_path


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def runs(app: AppContext, as_json: bool) -> None:
    """List training runs with their status, step and loss."""
    # Modal runs show the state they were launched in: `modal runs` asks Modal for the live one.
    found = all_runs(app.home)
    if as_json:
        print_json([r.row() for r in found])
        return
    if not found:
        stdout_console().print(f"no runs yet under {app.home.runs_dir}; start one with `soma-console train`.")
        return
    rows = [
        {
            "run": r.name,
            "status": r.status,
            "step": f"{r.step}/{r.total_steps}" if r.backend == "local" else f"-/{r.total_steps or '?'}",
            "loss": f"{r.last_loss:.4f}" if r.last_loss is not None else None,
            "eval loss": f"{r.eval_loss:.4f}" if r.eval_loss is not None else None,
            "preset": r.preset,
            "framework": r.framework,
            "backend": r.backend,
            "error": r.error,
        }
        for r in found
    ]
    print_table(
        rows,
        ["run", "status", "step", "loss", "eval loss", "preset", "framework", "backend", "error"],
        keep=("run",),
    )


@click.command()
@click.option("--run", "run_name", help="Only this run.")
@click.option("--wide", is_flag=True, help="Add each checkpoint's file path.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def checkpoints(app: AppContext, run_name: str | None, wide: bool, as_json: bool) -> None:
    """List complete checkpoints (newest first): path, step, loss, eval loss, embedding size."""
    if run_name:
        run_dir = run_path(app.home.runs_dir, run_name)
        if not run_dir.is_dir():
            raise UserError(f"there is no run {run_name!r}.", hint="Check `soma-console runs`.")
        found = list_checkpoints(run_dir)
    else:
        found = list_all_checkpoints(app.home.runs_dir)
    if as_json:
        print_json([c.row() for c in found])
        return
    if not found:
        stdout_console().print("no checkpoints yet.")
        return
    table = []
    # One line per checkpoint: the final weights are the last step's file, marked "final".
    for r in (c.row() for c in one_per_checkpoint(found)):
        cfg = r["config"]
        table.append(
            {
                **r,
                "checkpoint": checkpoint_ref(r["run"], r["step"]),
                "step": f"{r['step']} final" if r["final"] else r["step"],
                "loss": f"{r['loss']:.4f}" if r["loss"] is not None else None,
                "eval_loss": f"{r['eval_loss']:.4f}" if r["eval_loss"] is not None else None,
                "config": f"{r['architecture']} d{cfg.get('embedding_dim')} L{cfg.get('num_layers')} "
                f"H{cfg.get('num_heads')}",
                "size": f"{r['size'] / 1e6:.1f} MB",
            }
        )
    columns = ["checkpoint", "step", "loss", "eval_loss", "config", "size"] + (["path"] if wide else [])
    print_table(table, columns, keep=("checkpoint", "path"))


def _echo(records: list[ev.AnyRecord], raw: bool) -> None:
    for rec in records:
        click.echo(rec.to_line() if raw and isinstance(rec, ev.Event) else format_record(rec, stamp=True))


@click.command()
@click.argument("run_name", metavar="RUN")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option("--raw", is_flag=True, help="Print the event lines as the worker wrote them.")
@click.pass_obj
def logs(app: AppContext, run_name: str, follow: bool, raw: bool) -> None:
    """Show a run's log (its events), optionally following it."""
    run_dir = run_path(app.home.runs_dir, run_name)
    if not (run_dir / SPEC_FILE).is_file():
        raise UserError(f"there is no run {run_name!r}.", hint="Check `soma-console runs`.")
    if not follow:
        for batch in read_events(run_dir / EVENTS_FILE):
            _echo(batch, raw)
        return

    async def tail() -> None:
        async for batch in follow_local(app.home.runs_dir, run_name, limit=None):
            _echo(batch, raw)

    asyncio.run(tail())


__all__ = ["checkpoints", "logs", "runs"]
