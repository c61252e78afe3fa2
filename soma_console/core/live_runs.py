"""Training runs for the live console: list, launch, follow and stop them, local and on Modal.

Listing, checkpoints, following and stopping are the run registry's
(``soma_console.training.run_registry``, which the CLI uses too); this module adds what only the
console needs: launching from a dialog, a cache of Modal states kept fresh in the background, and
a bounded backlog between a Modal log stream and the UI.

Local runs are the trainer's own run directories (``<home>/runs/<run>/``). A run started from
the console is launched exactly as a user would: ``soma-console train --json`` in its own session
(so the worker is the LocalProcess of that command, its events are teed to ``events.jsonl``, and
it keeps training when the console exits or the SSH link drops). The console then only reads
files: the runs list from ``run.json`` and the events tail, the log by tailing ``events.jsonl``.

Modal runs are those launched from this machine (``run_registry.modal_records``). Every Modal
call runs on the event loop through the ``.aio`` API under the modal module's own timeouts, in a
background task: the blocking reads the UI makes (worker threads) only ever read the cache. With
no Modal credentials nothing Modal is shown and nothing touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import importlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import soma_console
from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.run_info import ENDED, CheckpointInfo, RunInfo, merge_runs
from soma_console.training.run_registry import (
    StatusOf,
    follow_local,
    has_local_run,
    local_checkpoints,
    local_run_active,
    modal_checkpoints,
    modal_records,
    modal_run_info,
    modal_states,
    stop_local,
)
from soma_console.training.runs import SPEC_FILE, list_runs, run_path
from soma_console.training.spec import get_preset, make_spec

__all__ = ["Backlog", "LocalRuns", "ModalRuns", "check_train_spec", "default_run_name", "merge_runs"]

log = logging.getLogger(__name__)

LAUNCH_LOG = "launcher.stderr.log"
LAUNCH_TIMEOUT_S = 60.0
MODAL_REFRESH_S = 30.0
# Where this soma_console lives: the launched trainer must run the same code.
PKG_ROOT = str(Path(soma_console.__file__).resolve().parent.parent)


class Backlog:
    """Records pushed by a producer task, taken in batches; bounded: when the
    UI falls behind, the oldest plain lines go (and it is told how many), never the events."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._items: deque[ev.AnyRecord] = deque()
        self._plain = 0
        self._dropped = 0
        self._ready = asyncio.Event()
        self.closed = False
        self.error: BaseException | None = None

    def put(self, rec: ev.AnyRecord) -> None:
        self._items.append(rec)
        if isinstance(rec, ev.LogLine):
            self._plain += 1
            if self._plain > self.limit:
                self._drop_oldest_plain()
        self._ready.set()

    def _drop_oldest_plain(self) -> None:
        for i, old in enumerate(self._items):
            if isinstance(old, ev.LogLine):
                del self._items[i]
                self._plain -= 1
                self._dropped += 1
                return

    def close(self, error: BaseException | None = None) -> None:
        self.closed, self.error = True, error
        self._ready.set()

    async def get(self) -> list[ev.AnyRecord] | None:
        """The next batch, or None once closed and empty."""
        while not self._items:
            if self.closed:
                if self.error is not None:
                    raise self.error
                return None
            self._ready.clear()
            await self._ready.wait()
        batch = list(self._items)
        self._items.clear()
        self._plain = 0
        if self._dropped:
            batch.insert(0, ev.LogLine(f"… {self._dropped:,} lines dropped: the console fell behind"))
            self._dropped = 0
        return batch


# ---- local runs ----------------------------------------------------------------------------------


class LocalRuns:
    """The local half: run directories under ``runs_dir``."""

    def __init__(self, runs_dir: Path, *, home_env: dict[str, str]) -> None:
        self.runs_dir = runs_dir
        self.home_env = home_env
        self._launched: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def reap(self) -> None:
        """Collect launchers that exited (no zombies while the console runs)."""
        with self._lock:
            for name, proc in list(self._launched.items()):
                if proc.poll() is not None:
                    del self._launched[name]

    def runs(self) -> list[RunInfo]:
        self.reap()
        return list_runs(self.runs_dir)

    def has(self, run: str) -> bool:
        return has_local_run(self.runs_dir, run)

    def checkpoints(self, run: str, status_of: StatusOf) -> list[CheckpointInfo]:
        return local_checkpoints(self.runs_dir, run, status_of)

    async def start(self, *, preset: str, steps: int, data: str, name: str) -> str:
        run_dir = run_path(self.runs_dir, name)
        if (run_dir / SPEC_FILE).exists():
            raise UserError(f"run {name!r} already exists.", hint="Pick another run name.")
        # The same checks `train` makes, here, so a bad spec is refused before anything starts.
        make_spec(run=name, preset=preset, out_dir=run_dir, data=data, steps=steps)
        await asyncio.to_thread(run_dir.mkdir, parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "soma_console",
            "train",
            "--run",
            name,
            "--preset",
            preset,
            "--steps",
            str(steps),
            "--data",
            data,
            "--json",
            "--yes",  # the user asked for this run in the dialog; there is no terminal to ask on
        ]
        env = {**os.environ, **self.home_env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PKG_ROOT, env.get("PYTHONPATH")) if p)

        def launch() -> subprocess.Popen[bytes]:
            with open(run_dir / LAUNCH_LOG, "ab") as err:
                return subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    # Its own session: the run outlives the console, a hang-up and Ctrl-C there.
                    start_new_session=True,
                )

        proc = await asyncio.to_thread(launch)
        with self._lock:
            self._launched[name] = proc
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        while not (run_dir / SPEC_FILE).exists():
            if proc.poll() is not None:
                raise UserError(self._launch_failure(run_dir, proc.returncode))
            if time.monotonic() > deadline:
                break  # slow disk or import: it is launched; the runs list will show it
            await asyncio.sleep(0.1)
        return name

    @staticmethod
    def _launch_failure(run_dir: Path, code: int | None) -> str:
        try:
            lines = (run_dir / LAUNCH_LOG).read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        last = next((ln for ln in reversed(lines) if ln.strip()), "")
        if last.startswith("error: "):
            return last[len("error: ") :]
        return f"the trainer could not start (exit status {code}); see {run_dir / LAUNCH_LOG}."

    def is_active(self, run: str) -> bool:
        return local_run_active(self.runs_dir, run)

    def _launching(self, run: str) -> bool:
        """True while a launcher this console started for ``run`` is still alive."""
        if run in self._launched:
            self.reap()
        return run in self._launched

    async def follow(self, run: str) -> AsyncGenerator[list[ev.AnyRecord], None]:
        async for batch in follow_local(self.runs_dir, run, launching=lambda: self._launching(run)):
            yield batch

    async def stop(self, run: str) -> None:
        await asyncio.to_thread(stop_local, self.runs_dir, run)


def default_run_name(preset: str) -> str:
    return f"{preset}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_train_spec(spec: dict[str, Any]) -> tuple[str, int, str, str, str]:
    """(preset, steps, data, name, backend) from the console's spec dict, or a UserError."""
    preset = str(spec.get("preset") or "")
    get_preset(preset)
    try:
        steps = int(spec.get("steps") or 0)
    except (TypeError, ValueError):
        steps = 0
    if steps <= 0:
        raise UserError(f"steps must be a whole number above 0, not {spec.get('steps')!r}.")
    data = str(spec.get("data") or "").strip()
    if not data:
        raise UserError("say where the training data comes from (builtin uses the offline corpus).")
    from soma_console.training.spec import is_named_source

    if not is_named_source(data):
        path = Path(data).expanduser()
        if not path.exists():
            raise UserError(
                f"the data path {data} does not exist.", hint="Use builtin, fineweb, or an existing file."
            )
        data = str(path.resolve())
    name = str(spec.get("name") or "") or default_run_name(preset)
    backend = str(spec.get("backend") or "local")
    if backend not in ("local", "modal"):
        raise UserError(f"unknown backend {backend!r}; use local or modal.")
    return preset, steps, data, name, backend


# ---- Modal runs ----------------------------------------------------------------------------------


class ModalRuns:
    """Modal runs launched from this machine, seen through a cache a background task refreshes."""

    def __init__(self, home: Any, settings: Any, *, refresh_s: float = MODAL_REFRESH_S) -> None:
        self.home = home
        self.settings = settings
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        self._checkpoints: dict[str, list[Any]] = {}
        self._records: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wanted: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.last_error: str | None = None

    @staticmethod
    def available() -> bool:
        from soma_console.training.modal.client import find_credentials

        return find_credentials() is not None

    def _modal_settings(self) -> Any:
        from soma_console.training.modal.client import ModalSettings

        return ModalSettings.load(self.settings)

    def start(self) -> None:
        if not self.available():
            return
        self._loop = asyncio.get_running_loop()
        self._wanted = asyncio.Queue()
        self._tasks = [
            self._loop.create_task(self._refresh_loop(), name="modal-runs"),
            self._loop.create_task(self._checkpoint_loop(), name="modal-checkpoints"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _refresh_loop(self) -> None:
        # `import modal` takes a while: never on the loop.
        await asyncio.to_thread(importlib.import_module, "modal")
        while True:
            try:
                await self.refresh()
                self.last_error = None
            except Exception as exc:  # shown as "unknown" states; never fatal
                self.last_error = str(exc)
                log.info("refreshing Modal runs failed: %s", exc)
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> None:
        records = await asyncio.to_thread(modal_records, self.home)
        settings = self._modal_settings()
        with self._lock:
            self._records = {r.run: r for r in records if r.run}
            known = dict(self._states)
        pending = [r for r in records if r.run and known.get(r.run) not in ENDED]
        for record, (state, error) in zip(pending, await modal_states(pending, settings), strict=True):
            if error is not None:
                self.last_error = str(error)
            with self._lock:
                self._states[record.run] = state

    def request_checkpoints(self, run: str) -> None:
        """From any thread: refresh this run's checkpoints in the background."""
        loop, wanted = self._loop, self._wanted
        if loop is not None and wanted is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wanted.put_nowait, run)

    async def _checkpoint_loop(self) -> None:
        from soma_console.training.modal.backend import checkpoints_of

        assert self._wanted is not None
        while True:
            run = await self._wanted.get()
            try:
                found = await checkpoints_of(run, settings=self._modal_settings())
            except Exception as exc:
                self.last_error = str(exc)
                continue
            with self._lock:
                self._checkpoints[run] = found

    def has(self, run: str) -> bool:
        with self._lock:
            return run in self._records

    def runs(self) -> list[RunInfo]:
        with self._lock:
            records = list(self._records.values())
            states = dict(self._states)
            ckpts = dict(self._checkpoints)
        out = []
        for r in records:
            latest = max(ckpts.get(r.run, []), key=lambda c: c.step, default=None)
            out.append(modal_run_info(r, states.get(r.run, "launched"), latest))
        return out

    def checkpoints(self, run: str, status_of: StatusOf) -> list[CheckpointInfo]:
        self.request_checkpoints(run)
        with self._lock:
            found = list(self._checkpoints.get(run, []))
            record = self._records.get(run)
        return modal_checkpoints(run, record.volume_name if record is not None else "?", found, status_of)

    async def start_run(self, spec: dict[str, Any]) -> str:
        from soma_console.training.modal.client import require_credentials
        from soma_console.training.modal.launch import launch_modal_run

        require_credentials()
        await asyncio.to_thread(importlib.import_module, "modal")
        run = await launch_modal_run(
            spec, home=self.home, settings=self._modal_settings(), deploy_if_missing=False
        )
        with self._lock:
            self._records[run.run] = run.record
            self._states[run.run] = "running"
        return run.run

    async def follow(self, run: str) -> AsyncGenerator[list[ev.AnyRecord], None]:
        from soma_console.training.modal.backend import ModalRun

        with self._lock:
            record = self._records.get(run)
        if record is None:
            raise UserError(f"there is no Modal run named {run!r}.")
        backlog = Backlog()

        async def produce() -> None:
            try:
                async for rec in ModalRun(record, settings=self._modal_settings()).events(history=True):
                    backlog.put(rec)
            except BaseException as exc:
                backlog.close(exc if isinstance(exc, Exception) else None)
                raise
            backlog.close()

        task = asyncio.get_running_loop().create_task(produce(), name=f"modal-follow-{run}")
        try:
            while (batch := await backlog.get()) is not None:
                yield batch
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop_run(self, run: str) -> None:
        from soma_console.training.modal.backend import ModalRun, ModalRunRegistry

        with self._lock:
            record = self._records.get(run)
        if record is None:
            raise UserError(f"there is no Modal run named {run!r}.")
        await ModalRun(record, settings=self._modal_settings(), registry=ModalRunRegistry(self.home)).stop()
        with self._lock:
            self._states[run] = "stopped"
