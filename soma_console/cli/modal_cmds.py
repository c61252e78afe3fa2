"""``soma-console modal ...``: runs on Modal's GPUs (the scheduled loop is ``cli.cron_cmds``)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from soma_console.cli.output import confirm, print_json, print_table, stderr_console
from soma_console.context import AppContext
from soma_console.errors import UsageError
from soma_console.training.event_text import format_record

if TYPE_CHECKING:
    from soma_console.training.events import AnyRecord
    from soma_console.training.modal.backend import ModalRun
    from soma_console.training.modal.client import ModalSettings

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _settings(app: AppContext, **overrides: Any) -> ModalSettings:
    from soma_console.training.modal.client import ModalSettings

    return ModalSettings.load(app.settings, **overrides)


def _read_spec(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the spec file {path}: {exc.strerror}.") from None


def _when(t: float | None) -> str:
    if not t:
        return ""
    return _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _record_json(record: AnyRecord) -> str:
    from soma_console.training.events import Event

    if isinstance(record, Event):
        return record.to_line()
    return json.dumps({"log": record.text})


async def _follow(run: ModalRun, *, as_json: bool, history: bool) -> int:
    from soma_console.training.events import Error, Finished

    code = 0
    async for record in run.events(history=history):
        click.echo(_record_json(record) if as_json else format_record(record))
        if isinstance(record, Error):
            code = 1
        elif isinstance(record, Finished):
            code = 0
    return code


# ---- modal ---------------------------------------------------------------------------------------


@click.group("modal")
def modal_group() -> None:
    """Train on Modal's cloud GPUs: deploy, launch, watch, stop, and fetch checkpoints."""


_app_opt = click.option(
    "--app", "app_name", metavar="NAME", help="Modal app name (default from config, soma-console)."
)
_volume_opt = click.option(
    "--volume", "volume_name", metavar="NAME", help="Modal Volume for runs (default soma-console-runs)."
)
_gpu_opt = click.option(
    "--gpu", metavar="TYPE", help="GPU type: A100, A100-80GB, H100, H200 (default from config, A100)."
)


@modal_group.command("deploy")
@_app_opt
@_volume_opt
@_gpu_opt
@click.option("--flax", is_flag=True, help="Also install jax/flax in the image.")
@click.pass_obj
def modal_deploy(
    app: AppContext, app_name: str | None, volume_name: str | None, gpu: str | None, flax: bool
) -> None:
    """Deploy (or update) the training app; do it again after upgrading soma-console."""
    from soma_console.training.modal.launch import deploy_train_app

    settings = _settings(app, app_name=app_name, volume_name=volume_name, gpu=gpu)
    name = _run(deploy_train_app(settings, flax=flax))
    click.echo(f"deployed Modal app {name} (Volume {settings.volume_name}, default GPU {settings.gpu}).")


@modal_group.command("launch")
@click.argument("spec_file", type=click.Path(dir_okay=False))
@_app_opt
@_volume_opt
@_gpu_opt
@click.option("--gpus", type=int, default=1, show_default=True, help="GPUs in the one container (DDP).")
@click.option("--resume", is_flag=True, help="Continue the run from its newest checkpoint on the Volume.")
@click.option("-f", "--follow", is_flag=True, help="Stay and stream the run's events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with -f: one event per line).")
@click.pass_obj
def modal_launch(
    app: AppContext,
    spec_file: str,
    app_name: str | None,
    volume_name: str | None,
    gpu: str | None,
    gpus: int,
    resume: bool,
    follow: bool,
    as_json: bool,
) -> None:
    """Launch a training run (a TrainSpec JSON file) on Modal, detached."""
    spec = _read_spec(spec_file)
    settings = _settings(app, app_name=app_name, volume_name=volume_name, gpu=gpu)
    sys.exit(launch_on_modal(app, spec, settings, gpus=gpus, resume=resume, follow=follow, as_json=as_json))


def launch_on_modal(
    app: AppContext,
    spec: str | dict[str, Any],
    settings: ModalSettings,
    *,
    gpus: int,
    resume: bool,
    follow: bool,
    as_json: bool,
) -> int:
    """Launch ``spec`` on Modal (``modal launch`` and ``train --backend modal``); follow it if asked."""
    from soma_console.training.modal.launch import launch_modal_run

    async def go() -> int:
        run = await launch_modal_run(
            spec,
            gpus=gpus,
            resume=resume,
            home=app.home,
            settings=settings,
            # --json keeps stdout for JSON: deploy quietly rather than stream the image build there
            on_deploy=None if as_json else (lambda msg: stderr_console().print(msg)),
        )
        if as_json and not follow:
            print_json(
                {
                    "run": run.run,
                    "call_id": run.call_id,
                    "app": run.record.app_name,
                    "gpu": run.record.gpu,
                    "gpus": gpus,
                }
            )
        elif not as_json:
            click.echo(f"launched run {run.run} on Modal as {run.call_id} ({run.record.gpu} x{gpus}).")
        if follow:
            return await _follow(run, as_json=as_json, history=True)
        return 0

    return int(_run(go()))


def _attach(app: AppContext, ref: str, **overrides: Any) -> ModalRun:
    from soma_console.training.modal.backend import ModalRun

    return ModalRun.attach(ref, home=app.home, settings=_settings(app, **overrides))


@modal_group.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def modal_runs(app: AppContext, as_json: bool) -> None:
    """Modal runs launched from this machine, with their state."""
    from soma_console.training.modal.client import require_credentials
    from soma_console.training.run_registry import modal_records, modal_states

    records = modal_records(app.home)
    settings = _settings(app)

    async def states() -> list[str]:
        if not records:
            return []
        require_credentials()
        return [s if exc is None else f"{s} ({exc})" for s, exc in await modal_states(records, settings)]

    rows = [
        {**r.to_json(), "state": s, "launched": _when(r.launched_at)}
        for r, s in zip(records, _run(states()), strict=True)
    ]
    if as_json:
        print_json([{k: v for k, v in row.items() if k != "spec"} for row in rows])
        return
    if not rows:
        click.echo("no Modal runs launched from this machine yet.")
        return
    print_table(
        rows, ["run", "call_id", "state", "gpu", "gpus", "launched", "volume_name"], title="Modal runs"
    )


@modal_group.command("status")
@click.argument("ref", metavar="RUN|fc-ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def modal_status(app: AppContext, ref: str, as_json: bool) -> None:
    """Where a run stands; a failed run shows its last error event."""
    run = _attach(app, ref)
    status = _run(run.status())
    if as_json:
        err = status.last_error
        print_json(
            {
                "run": run.run,
                "call_id": run.call_id,
                "state": status.state,
                "detail": status.detail,
                "result": status.result,
                "last_error": json.loads(err.to_line()) if err else None,
            }
        )
        return
    line = f"{run.run or run.call_id} ({run.call_id}): {status.state}"
    if status.last_error is not None:
        line += f"; last error event: {format_record(status.last_error)}"
    elif status.detail:
        line += f"; {status.detail}"
    click.echo(line)


@modal_group.command("logs")
@click.argument("ref", metavar="RUN|fc-ID")
@click.option(
    "-f", "--follow", is_flag=True, help="Keep streaming until the run ends (reconnects after drops)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
@click.pass_obj
def modal_logs(app: AppContext, ref: str, follow: bool, as_json: bool) -> None:
    """A run's events and log lines, from its start."""
    run = _attach(app, ref)
    if follow:
        sys.exit(_run(_follow(run, as_json=as_json, history=True)))
    for record in _run(run.history()):
        click.echo(_record_json(record) if as_json else format_record(record))


@modal_group.command("checkpoints")
@click.argument("run_name", metavar="RUN")
@_volume_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def modal_checkpoints(app: AppContext, run_name: str, volume_name: str | None, as_json: bool) -> None:
    """The run's checkpoints on the Volume (only those with a manifest)."""
    from soma_console.training.modal.backend import checkpoints_of

    ckpts = _run(checkpoints_of(run_name, settings=_settings(app, volume_name=volume_name)))
    if as_json:
        print_json([c.to_json() for c in ckpts])
        return
    if not ckpts:
        click.echo(f"run {run_name} has no manifested checkpoints on the Volume yet.")
        return
    rows = [
        {
            "checkpoint": c.stem,
            "step": c.step if c.step >= 0 else "",
            "loss": f"{c.loss:.4f}" if c.loss is not None else "",
            "eval_loss": f"{c.eval_loss:.4f}" if c.eval_loss is not None else "",
            "size": f"{c.size / 1e6:,.1f} MB",
            "saved": _when(c.mtime),
        }
        for c in ckpts
    ]
    print_table(
        rows, ["checkpoint", "step", "loss", "eval_loss", "size", "saved"], title=f"{run_name} on Modal"
    )


@modal_group.command("download")
@click.argument("run_name", metavar="RUN")
@click.argument("which", default="latest", metavar="[STEP|latest|final]")
@click.option("--to", "dest", type=click.Path(file_okay=False), help="Folder to put it in.")
@_volume_opt
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def modal_download(
    app: AppContext, run_name: str, which: str, dest: str | None, volume_name: str | None, as_json: bool
) -> None:
    """Download a checkpoint and its manifest (resumable: run it again after an interruption)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from soma_console.training.modal.backend import download_of

    settings = _settings(app, volume_name=volume_name)
    target = Path(dest) if dest else None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=stderr_console(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(f"{run_name} {which}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        path = _run(download_of(run_name, which, target, settings=settings, progress=progress, home=app.home))
    if as_json:
        print_json(
            {"weights": str(path), "manifest": str(path.with_suffix(".json")), "size": path.stat().st_size}
        )
    else:
        click.echo(f"downloaded {path} ({path.stat().st_size:,} bytes) and its manifest.")


@modal_group.command("stop")
@click.argument("ref", metavar="RUN|fc-ID")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_obj
def modal_stop(app: AppContext, ref: str, yes: bool) -> None:
    """Stop a run; its committed checkpoints stay on the Volume (resume with --resume)."""
    run = _attach(app, ref)
    confirm(f"Stop Modal run {run.run or run.call_id} ({run.call_id})?", yes=yes)
    _run(run.stop())
    click.echo(f"asked Modal to stop {run.run or run.call_id}; checkpoints already saved stay on the Volume.")
