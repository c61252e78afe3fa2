"""``soma-console train``: start a training run from the command line (listing them: ``cli.runs``).

``train`` writes ``<home>/runs/<run>/spec.json``, starts the worker as a subprocess (the same
LocalProcess backend the console uses) and shows its progress. It does not import torch at import
time, only to time a CPU step before a v1 run without a GPU.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from pathlib import Path
from typing import Any

import click

from soma_console.cli.output import confirm, stdout_console
from soma_console.context import AppContext
from soma_console.errors import Aborted, UsageError, UserError
from soma_console.training import events as ev
from soma_console.training.run_info import ACTIVE
from soma_console.training.runs import (
    SPEC_FILE,
    read_run,
    read_status,
    run_path,
    write_spec,
)
from soma_console.training.spec import FastOptions, TrainSpec, get_preset, make_spec

V1_FLOPS_PER_TOKEN = 7.86e9


def _fmt_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _cpu_step_estimate(spec: TrainSpec) -> tuple[float, float]:
    """(seconds per optimizer step, measured GFLOP/s) for this spec on this CPU.

    Times fp32 matrix multiplies of the model's shape for a moment and assumes the training step
    reaches that rate (an optimistic bound: the real step also pays attention and SIGReg).
    """
    import torch

    d = get_preset(spec.preset).embedding_dim
    a, b = torch.randn(512, d), torch.randn(d, d)
    torch.mm(a, b)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.5:
        torch.mm(a, b)
        n += 1
    flops = n * 2 * 512 * d * d / (time.perf_counter() - start)
    return V1_FLOPS_PER_TOKEN * spec.tokens_per_step / flops, flops / 1e9


def _gpu_visible() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class _Progress:
    """The live view: a rich progress bar with step, loss, tokens/s and ETA."""

    def __init__(self, spec: TrainSpec) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = stdout_console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} tok/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task = self.progress.add_task(spec.run, total=spec.steps, loss="-", rate="-")
        self.started = False

    def handle(self, rec: ev.AnyRecord) -> None:
        p = self.progress

        def say(text: str) -> None:
            # Paths must stay whole (copy-pasteable) and are not rich markup.
            p.console.print(text, soft_wrap=True, markup=False, highlight=False)

        if isinstance(rec, ev.Started):
            # The bar appears only once the worker is up, so a run that fails at once shows just the error.
            self.progress.start()
            self.started = True
            p.update(self.task, total=rec.total_steps, completed=rec.start_step)
            where = f"resuming at step {rec.start_step}" if rec.start_step else "starting"
            say(
                f"{where}: {rec.preset} preset, {rec.params:,} parameters, {rec.framework} on {rec.device}, "
                f"data {rec.data}"
            )
            say(f"checkpoints go to {rec.checkpoint_dir}")
            fast = rec.fast or {}
            reasons = fast.get("reasons") or {}
            if rec.device.startswith("cuda") and reasons:
                say(
                    f"fast path: micro-batch {fast.get('micro_batch')} x {fast.get('grad_accum')} "
                    f"({reasons.get('micro_batch', '')}); compile {reasons.get('compile', '')}"
                )
        elif isinstance(rec, ev.Step):
            p.update(self.task, completed=rec.step, loss=f"{rec.loss:.4f}", rate=f"{rec.tokens_per_s:,.0f}")
        elif isinstance(rec, ev.CheckpointSaved):
            label = "final weights" if rec.final else f"checkpoint at step {rec.step}"
            eval_txt = f", eval loss {rec.eval_loss:.4f}" if rec.eval_loss is not None else ""
            say(f"{label}: {rec.path}{eval_txt}")
        elif isinstance(rec, ev.Finished):
            say(f"finished at step {rec.step} in {_fmt_duration(rec.elapsed_s)}: {rec.final_path}")

    def close(self) -> None:
        if self.started:
            self.progress.stop()


async def _drive(run_dir: Path, spec: TrainSpec, resume: bool, raw: bool) -> tuple[int, ev.Error | None]:
    from soma_console.training.backends import LocalProcess

    backend = LocalProcess(run_dir)
    await backend.start(resume=resume)
    view = None if raw else _Progress(spec)
    error: ev.Error | None = None

    def handle(rec: ev.AnyRecord) -> None:
        nonlocal error
        if isinstance(rec, ev.Error):
            error = rec
        if raw:
            if isinstance(rec, ev.Event):
                click.echo(rec.to_line())
        elif view is not None:
            view.handle(rec)

    try:
        async for rec in backend.records():
            handle(rec)
        code = await backend.wait()
    except (KeyboardInterrupt, asyncio.CancelledError):
        if view is not None:
            view.progress.console.print("stopping: the worker finishes its step and saves a checkpoint…")
        stopper = asyncio.ensure_future(backend.stop(grace=120.0))
        async for rec in backend.records():  # its checkpoint and "interrupted" events
            handle(rec)
        await stopper
        raise
    finally:
        if view is not None:
            view.close()
    return code, error


@click.command()
@click.option(
    "--preset", default="tiny", show_default=True, help="v1 (the on-chain model) or tiny (CPU rehearsal)."
)
@click.option("--run", "run_name", help="Run name (default: PRESET-YYYYmmdd-HHMMSS).")
@click.option(
    "--data",
    default="builtin",
    show_default=True,
    help="builtin, fineweb, stack-v2[:LANGUAGE] (HF_TOKEN), or a local file/folder.",
)
@click.option("--steps", type=int, help="Optimizer steps in total (a resumed run continues up to this).")
@click.option("--lr", "learning_rate", type=float, help="Learning rate (Adam).")
@click.option("--dropout", type=float)
@click.option("--micro-batch", type=int, help="Sequences per forward pass.")
@click.option("--grad-accum", type=int, help="Micro-batches per optimizer step.")
@click.option("--checkpoint-every", type=int, help="Steps between checkpoints.")
@click.option("--eval-every", type=int, help="Steps between extra evaluations (0: only with checkpoints).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--framework", type=click.Choice(["torch", "flax"]), default="torch", show_default=True)
@click.option("--gpus", type=int, default=1, show_default=True, help="Processes for data-parallel training.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--fast",
    "fast_mode",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="The fast path (bf16, SDPA, fused Adam, ...): auto = on with a GPU.",
)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True)
@click.option(
    "--compile/--no-compile",
    "use_compile",
    default=None,
    help="torch.compile the training step (default: on a GPU when the run is long enough to repay it).",
)
@click.option("--pos-ids", is_flag=True, help="Train with the tokenizer's pos_ids (as on-chain scoring).")
@click.option(
    "--auto-micro-batch/--no-auto-micro-batch",
    default=None,
    help="Find the largest micro-batch that fits the GPU (default: on a GPU unless --micro-batch is given).",
)
@click.option(
    "--scoring-objective",
    is_flag=True,
    help="Train on the chain's scoring loss: pos_ids, and CE over all positions (PAD counted as 0).",
)
@click.option("--log-every", type=int, default=1, show_default=True, help="Steps between loss reports.")
@click.option("--resume", is_flag=True, help="Continue the run from its newest complete checkpoint.")
@click.option("--json", "raw", is_flag=True, help="Print the worker's event lines instead of a progress bar.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (a v1 run on a CPU).")
@click.option(
    "--backend",
    type=click.Choice(["local", "modal"]),
    default="local",
    show_default=True,
    help="Train here, or on Modal's GPUs (see docs/modal.md).",
)
@click.option("--gpu", "modal_gpu", help="Modal GPU type (A100, A100-80GB, H100); default from config.")
@click.option(
    "--detach", is_flag=True, help="With --backend modal: launch and return; do not stream the log."
)
@click.pass_obj
def train(app: AppContext, **opts: Any) -> None:
    """Train weights: start the worker and watch its loss, speed and checkpoints."""
    runs_dir = app.home.runs_dir
    name = opts["run_name"] or f"{opts['preset']}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = run_path(runs_dir, name)
    resume = bool(opts["resume"])
    if resume and (opts["backend"] == "local" or (run_dir / SPEC_FILE).exists()):
        spec = _resume_spec(run_dir, opts)
    else:
        if run_dir.exists() and (run_dir / SPEC_FILE).exists():
            raise UserError(
                f"run {name!r} already exists.", hint="Pass --resume to continue it, or pick another --run."
            )
        spec = make_spec(
            run=name,
            preset=opts["preset"],
            out_dir=run_dir,
            data=_data_arg(opts["data"]),
            framework=opts["framework"],
            seed=opts["seed"],
            fast=FastOptions(
                mode=opts["fast_mode"],
                precision=opts["precision"],
                compile=_switch(opts["use_compile"]),
                pos_ids=opts["pos_ids"],
                scoring_objective=opts["scoring_objective"],
                auto_micro_batch=_switch(
                    opts["auto_micro_batch"], default="off" if opts["micro_batch"] else "auto"
                ),
                log_every=opts["log_every"],
            ),
            learning_rate=opts["learning_rate"],
            dropout=opts["dropout"],
            micro_batch=opts["micro_batch"],
            grad_accum=opts["grad_accum"],
            steps=opts["steps"],
            checkpoint_every=opts["checkpoint_every"],
            eval_every=opts["eval_every"],
            gpus=opts["gpus"],
            device=opts["device"],
        )
    if opts["backend"] == "modal":
        from soma_console.cli.modal_cmds import _settings, launch_on_modal

        settings = _settings(app, gpu=opts["modal_gpu"])
        code = launch_on_modal(
            app,
            spec.to_dict(),
            settings,
            gpus=spec.gpus,
            resume=resume,
            follow=not opts["detach"],
            as_json=opts["raw"],
        )
        if code:
            raise UserError(f"the Modal run ended with status {code}.", hint=_see(run_dir))
        return
    if spec.preset == "v1" and spec.device != "cuda" and not _gpu_visible():
        per_step, gflops = _cpu_step_estimate(spec)
        left = spec.steps
        try:
            confirm(
                f"No GPU is visible: a v1 step ({spec.tokens_per_step:,} tokens) takes at least "
                f"{_fmt_duration(per_step)} on this CPU ({gflops:.0f} GFLOP/s measured), so {left} steps "
                f"take {_fmt_duration(per_step * left)} or more. Train anyway?",
                yes=opts["yes"],
            )
        except Aborted:
            raise Aborted("no training was started") from None
    status = read_status(run_dir)
    if status.get("status") in ACTIVE and read_run(run_dir).status in ACTIVE:
        raise UserError(f"run {name!r} is already running (pid {status.get('pid')}).", hint="Stop it first.")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_spec(run_dir, spec)
    try:
        code, error = asyncio.run(_drive(run_dir, spec, resume, opts["raw"]))
    except KeyboardInterrupt:
        raise Aborted(
            f"the run stopped; continue it with `soma-console train --run {name} --resume`"
        ) from None
    if code != 0:
        if error is not None:
            raise UserError(
                error.summary.rstrip(".") + ".", hint=None if error.error == "data" else _see(run_dir)
            )
        raise UserError(f"the trainer exited with status {code}.", hint=_see(run_dir))


def _see(run_dir: Path) -> str:
    return f"See `soma-console logs {run_dir.name}`."


def _data_arg(data: str) -> str:
    from soma_console.training.spec import is_named_source

    if is_named_source(data):
        return data
    path = Path(data).expanduser()
    if not path.exists():  # refused before a run directory exists: no "failed" run is left behind
        raise UsageError(
            f"the data path {data} does not exist.",
            hint="Use builtin, fineweb, or an existing file or folder.",
        )
    return str(path.resolve())


def _switch(flag: bool | None, default: str = "auto") -> str:
    """A --x/--no-x flag as a FastOptions switch: on, off, or the default when not given."""
    return default if flag is None else ("on" if flag else "off")


def _resume_spec(run_dir: Path, opts: dict[str, Any]) -> TrainSpec:
    path = run_dir / SPEC_FILE
    if not path.exists():
        raise UserError(f"there is no run {run_dir.name!r} to resume.", hint="Check `soma-console runs`.")
    spec = TrainSpec.load(path)
    changes = {
        k: opts[k] for k in ("steps", "checkpoint_every", "eval_every", "learning_rate") if opts.get(k)
    }
    return spec.with_changes(**changes) if changes else spec


__all__ = ["train"]
