"""The one place runs are listed, their checkpoints found, followed and stopped: local and Modal.

``soma-console runs | checkpoints | logs`` and ``modal runs``, and the console's runs and
checkpoints panes (``core.live_runs``, which adds a cache and launching), all go through here:

* local runs are the run directories under ``<home>/runs`` (``training.runs``); their
  checkpoints are the manifested files there (``training.manifest``);
* Modal runs are those this machine launched (``ModalRunRegistry``'s records); their state is
  asked of Modal (:func:`modal_states`), their checkpoints read from the Volume.

Nothing here imports ``modal`` at import time.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.manifest import FINAL_STEM, list_checkpoints, one_per_checkpoint
from soma_console.training.run_follow import MAX_LINES_PER_BATCH, tail_events
from soma_console.training.run_info import ACTIVE, CheckpointInfo, RunInfo, merge_runs
from soma_console.training.runs import (
    EVENTS_FILE,
    SPEC_FILE,
    list_runs,
    pid_alive,
    read_run,
    read_status,
    run_path,
)

if TYPE_CHECKING:
    from soma_console.config import Home
    from soma_console.training.modal.backend import ModalRunRecord
    from soma_console.training.modal.client import ModalSettings
    from soma_console.training.modal.volume import RemoteCheckpoint

StatusOf = Callable[[str], tuple[str, str | None]]
"""``checkpoint path -> (on-chain status, model_id)``, from the journal."""

MODAL_STATE_READS = 8  # Modal state reads in flight at once


def _no_status(path: str) -> tuple[str, str | None]:
    return "", None


# ---- listing -------------------------------------------------------------------------------------


def modal_records(home: Home) -> list[ModalRunRecord]:
    """Modal runs launched from this machine, oldest first (no network)."""
    from soma_console.training.modal.backend import ModalRunRegistry

    return ModalRunRegistry(home).all()


def modal_run_info(
    record: ModalRunRecord, state: str = "launched", latest: RemoteCheckpoint | None = None
) -> RunInfo:
    """A Modal run as a runs-list row: ``state`` as last read (``launched``: not read), step and
    loss from its newest checkpoint on the Volume when that was read."""
    return RunInfo(
        name=record.run,
        backend="modal",
        status=state,
        preset=str(record.spec.get("preset", "?")),
        step=latest.step if latest else 0,
        total_steps=int(record.spec.get("steps", 0) or 0),
        created=record.launched_at,
        last_loss=latest.loss if latest else None,
        eval_loss=latest.eval_loss if latest else None,
        framework=str(record.spec.get("framework", "torch")),
        call_id=record.call_id,
        gpu=f"{record.gpu} x{record.gpus}",
    )


def all_runs(
    home: Home,
    *,
    records: Iterable[ModalRunRecord] | None = None,
    states: Mapping[str, str] | None = None,
    latest: Mapping[str, RemoteCheckpoint] | None = None,
) -> list[RunInfo]:
    """Every run, local and Modal, newest first; a local run wins a name clash.

    Modal runs take their state from ``states`` (run name -> state; ``launched`` when absent) and
    their step and loss from ``latest`` (their newest checkpoint, when known).
    """
    states, latest = states or {}, latest or {}
    remote = [
        modal_run_info(r, states.get(r.run, "launched"), latest.get(r.run))
        for r in (modal_records(home) if records is None else records)
        if r.run
    ]
    return merge_runs(list_runs(home.runs_dir), remote)


async def modal_state(record: ModalRunRecord, settings: ModalSettings) -> str:
    """Where a Modal run stands (one of ``RUN_STATUSES``); UserError when Modal cannot say."""
    from soma_console.training.modal.backend import ModalRun

    return (await ModalRun(record, settings=settings).status(tail=False)).state


async def modal_states(
    records: Sequence[ModalRunRecord], settings: ModalSettings
) -> list[tuple[str, UserError | None]]:
    """Each record's state, read concurrently: ``(state, None)`` or ``("unknown", why)``."""
    sem = asyncio.Semaphore(MODAL_STATE_READS)

    async def one(record: ModalRunRecord) -> tuple[str, UserError | None]:
        async with sem:
            try:
                return await modal_state(record, settings), None
            except UserError as exc:
                return "unknown", exc

    return list(await asyncio.gather(*(one(r) for r in records)))


# ---- checkpoints ---------------------------------------------------------------------------------


def has_local_run(runs_dir: Path, run: str) -> bool:
    try:
        return (run_path(runs_dir, run) / SPEC_FILE).is_file()
    except UserError:
        return False


def local_checkpoints(runs_dir: Path, run: str, status_of: StatusOf = _no_status) -> list[CheckpointInfo]:
    """A local run's checkpoints, one per step (the final weights fold into theirs), newest first."""
    out = []
    run_dir = run_path(runs_dir, run)
    for c in one_per_checkpoint(list_checkpoints(run_dir)):
        m = c.manifest
        status, model_id = status_of(str(c.path))
        if m.final and not status:  # committed under its model-final name
            status, model_id = status_of(str(run_dir / "checkpoints" / f"{FINAL_STEM}.safetensors"))
        out.append(
            CheckpointInfo(
                run=run,
                path=str(c.path),
                step=m.step,
                created=m.created,
                loss=m.loss,
                eval_loss=m.eval_loss,
                size=m.size,
                status=status,
                model_id=model_id,
                final=m.final,
            )
        )
    return out


def modal_checkpoint_path(volume: str, c: RemoteCheckpoint) -> str:
    return f"modal://{volume}/{c.weights_path.lstrip('/')}"


def modal_checkpoints(
    run: str, volume: str, found: Iterable[RemoteCheckpoint], status_of: StatusOf = _no_status
) -> list[CheckpointInfo]:
    """A Modal run's checkpoints (as read from ``volume``), newest first."""
    out = []
    for c in sorted(found, key=lambda c: (c.step, c.final), reverse=True):
        path = modal_checkpoint_path(volume, c)
        status, model_id = status_of(path)
        out.append(
            CheckpointInfo(
                run=run,
                path=path,
                step=c.step,
                created=float(c.manifest.get("created") or c.mtime),
                loss=c.loss,
                eval_loss=c.eval_loss,
                size=c.size,
                status=status,
                model_id=model_id,
                final=c.final,
            )
        )
    return out


# ---- follow and stop (local) ---------------------------------------------------------------------


def local_run_active(runs_dir: Path, run: str) -> bool:
    return read_run(run_path(runs_dir, run)).status in ACTIVE


async def follow_local(
    runs_dir: Path,
    run: str,
    *,
    launching: Callable[[], bool] | None = None,
    limit: int | None = MAX_LINES_PER_BATCH,
) -> AsyncGenerator[list[ev.AnyRecord], None]:
    """A local run's records in batches: its history, then live ones, until it is over.

    ``launching``: true while a launcher this process started has not reported yet (the run
    counts as active then). ``limit``: see ``run_follow.tail_events``.
    """
    run_dir = run_path(runs_dir, run)
    if not (run_dir / SPEC_FILE).is_file():
        raise UserError(f"there is no run {run!r}.", hint="Check `soma-console runs`.")

    def active() -> bool:
        if launching is not None and launching():
            return True
        return read_run(run_dir).status in ACTIVE

    async for batch in tail_events(run_dir / EVENTS_FILE, is_active=active, limit=limit):
        yield batch


def stop_local(runs_dir: Path, run: str) -> None:
    """Ask a local run to stop: SIGTERM to its worker's process group (every rank finishes its
    step and the run saves a checkpoint before exiting). UserError if it is not running."""
    status: dict[str, Any] = read_status(run_path(runs_dir, run))
    pid = status.get("pid")
    if not pid or status.get("status") not in ACTIVE or not pid_alive(pid):
        raise UserError(f"run {run!r} is not running.")
    try:
        os.killpg(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        raise UserError(f"run {run!r} is not running.") from None
    except PermissionError:
        raise UserError(f"run {run!r} belongs to another user; it was not stopped.") from None
