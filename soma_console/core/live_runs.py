"""Training runs for the live console: list, launch, follow and stop them, local and on Modal.

Local runs are the trainer's own run directories (``<home>/runs/<run>/``, see
``soma_console.training.runs``). A run started from the console is launched exactly as a user
would: ``soma-console train --json`` in its own session (so the worker is the LocalProcess of that
command, its events are teed to ``events.jsonl``, and it keeps training when the console exits or
the SSH link drops). The console then only reads files: the runs list from ``run.json`` and the
events tail, the log by tailing ``events.jsonl``.

Modal runs are those launched from this machine (``modal_backend.list_modal_runs``). Every Modal
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
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import soma_console
from soma_console.core.console_services import CheckpointInfo, RunInfo
from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.manifest import FINAL_STEM, list_checkpoints, one_per_checkpoint
from soma_console.training.runs import (
    ACTIVE,
    EVENTS_FILE,
    SPEC_FILE,
    list_runs,
    pid_alive,
    read_run,
    read_status,
    run_path,
)
from soma_console.training.spec import get_preset, make_spec

log = logging.getLogger(__name__)

LAUNCH_LOG = "launcher.stderr.log"
READ_CHUNK = 1 << 20
TAIL_POLL_S = 0.25
# A finished run's log is complete once nothing new arrived for this long after its status ended.
SETTLE_S = 1.0
# Plain lines handed to the UI in one batch at most; the UI keeps 5,000 lines anyway.
MAX_LINES_PER_BATCH = 5000
LAUNCH_TIMEOUT_S = 60.0
MODAL_REFRESH_S = 30.0
# Where this soma_console lives: the launched trainer must run the same code.
PKG_ROOT = str(Path(soma_console.__file__).resolve().parent.parent)

StatusOf = Callable[[str], tuple[str, str | None]]
"""``checkpoint path -> (status, model_id)``, from the journal."""


def _trim(records: list[ev.AnyRecord], limit: int = MAX_LINES_PER_BATCH) -> list[ev.AnyRecord]:
    """Keep every event and the newest ``limit`` plain lines; say how many were dropped."""
    plain = sum(1 for r in records if isinstance(r, ev.LogLine))
    extra = plain - limit
    if extra <= 0:
        return records
    out: list[ev.AnyRecord] = [ev.LogLine(f"… {extra:,} older log lines skipped")]
    for rec in records:
        if isinstance(rec, ev.LogLine) and extra > 0:
            extra -= 1
            continue
        out.append(rec)
    return out


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


def _to_run_info(info: Any) -> RunInfo:
    status = info.status
    if status == "unknown":  # spec.json written, the launcher has not reported yet
        status = "created"
    created = info.started
    if created is None:
        with contextlib.suppress(OSError):
            created = (info.path / SPEC_FILE).stat().st_mtime
    return RunInfo(
        name=info.name,
        backend="local",
        status=status,
        preset=info.preset,
        step=info.step,
        total_steps=info.total_steps,
        created=float(created or 0.0),
        last_loss=info.loss,
    )


async def tail_events(
    path: Path, *, is_active: Callable[[], bool]
) -> AsyncGenerator[list[ev.AnyRecord], None]:
    """The records of an events file: its history, then what is appended, until the run is over.

    Reads happen in a thread (never on the loop); between reads it sleeps. It reads only when
    the consumer asks for more, so the file itself is the buffer and nothing queues in memory.
    """
    asm = ev.LineAssembler()
    fh: IO[bytes] | None = None
    idle_since = time.monotonic()
    try:
        while True:
            if fh is None:
                with contextlib.suppress(FileNotFoundError):
                    fh = await asyncio.to_thread(open, path, "rb")
            chunk = b""
            if fh is not None:
                chunk = await asyncio.to_thread(fh.read, READ_CHUNK)
            if chunk:
                idle_since = time.monotonic()
                records = asm.feed(chunk)
                if records:
                    yield _trim(records)
                continue
            if time.monotonic() - idle_since >= SETTLE_S and not await asyncio.to_thread(is_active):
                rest = asm.flush()
                if rest:
                    yield rest
                return
            await asyncio.sleep(TAIL_POLL_S)
    finally:
        if fh is not None:
            fh.close()


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
        return [_to_run_info(r) for r in list_runs(self.runs_dir)]

    def has(self, run: str) -> bool:
        try:
            return (run_path(self.runs_dir, run) / SPEC_FILE).is_file()
        except UserError:
            return False

    def checkpoints(self, run: str, status_of: StatusOf) -> list[CheckpointInfo]:
        out = []
        run_dir = run_path(self.runs_dir, run)
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
        return read_run(run_path(self.runs_dir, run)).status in ACTIVE

    async def follow(self, run: str) -> AsyncGenerator[list[ev.AnyRecord], None]:
        run_dir = run_path(self.runs_dir, run)

        def active() -> bool:
            if run in self._launched:  # launched but maybe not yet reporting
                self.reap()
                if run in self._launched:
                    return True
            return read_run(run_dir).status in ACTIVE

        async for batch in tail_events(run_dir / EVENTS_FILE, is_active=active):
            yield batch

    async def stop(self, run: str) -> None:
        run_dir = run_path(self.runs_dir, run)
        status = await asyncio.to_thread(read_status, run_dir)
        pid = status.get("pid")
        if not pid or status.get("status") not in ACTIVE or not pid_alive(pid):
            raise UserError(f"run {run!r} is not running.")
        try:
            # The worker leads its own process group (LocalProcess): SIGTERM reaches every rank,
            # each finishes its step and the run saves a checkpoint before exiting.
            os.killpg(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            raise UserError(f"run {run!r} is not running.") from None
        except PermissionError:
            raise UserError(f"run {run!r} belongs to another user; it was not stopped.") from None


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

_MODAL_STATUS = {"succeeded": "finished", "stopping": "running"}


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
        from soma_console.training.modal_client import find_credentials

        return find_credentials() is not None

    def _modal_settings(self) -> Any:
        from soma_console.training.modal_client import ModalSettings

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
        from soma_console.training.modal_backend import ModalRun, list_modal_runs

        records = await asyncio.to_thread(list_modal_runs, self.home)
        settings = self._modal_settings()
        with self._lock:
            self._records = {r.run: r for r in records if r.run}
            known = dict(self._states)
        for record in records:
            if not record.run or known.get(record.run) in ("finished", "failed", "stopped", "expired"):
                continue
            try:
                state = (await ModalRun(record, settings=settings).status(tail=False)).state
            except UserError as exc:
                state = "unknown"
                self.last_error = str(exc)
            with self._lock:
                self._states[record.run] = _MODAL_STATUS.get(state, state)

    def request_checkpoints(self, run: str) -> None:
        """From any thread: refresh this run's checkpoints in the background."""
        loop, wanted = self._loop, self._wanted
        if loop is not None and wanted is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wanted.put_nowait, run)

    async def _checkpoint_loop(self) -> None:
        from soma_console.training.modal_backend import checkpoints_of

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
            out.append(
                RunInfo(
                    name=r.run,
                    backend="modal",
                    status=states.get(r.run, "unknown"),
                    preset=str(r.spec.get("preset", "?")),
                    step=latest.step if latest else 0,
                    total_steps=int(r.spec.get("steps", 0) or 0),
                    created=r.launched_at,
                    last_loss=latest.loss if latest else None,
                )
            )
        return out

    def checkpoints(self, run: str, status_of: StatusOf) -> list[CheckpointInfo]:
        self.request_checkpoints(run)
        with self._lock:
            found = list(self._checkpoints.get(run, []))
            record = self._records.get(run)
        volume = record.volume_name if record is not None else "?"
        out = []
        for c in sorted(found, key=lambda c: (c.step, c.final), reverse=True):
            path = f"modal://{volume}/{c.weights_path.lstrip('/')}"
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

    async def start_run(self, spec: dict[str, Any]) -> str:
        from soma_console.training.modal_backend import launch_modal_run
        from soma_console.training.modal_client import require_credentials

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
        from soma_console.training.modal_backend import ModalRun

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
        from soma_console.training.modal_backend import ModalRun, ModalRunRegistry

        with self._lock:
            record = self._records.get(run)
        if record is None:
            raise UserError(f"there is no Modal run named {run!r}.")
        await ModalRun(record, settings=self._modal_settings(), registry=ModalRunRegistry(self.home)).stop()
        with self._lock:
            self._states[run] = "stopped"


def merge_runs(local: Sequence[RunInfo], remote: Sequence[RunInfo]) -> list[RunInfo]:
    """Local runs win a name clash (the directory is what commits read); newest first."""
    names = {r.name for r in local}
    merged = [*local, *(r for r in remote if r.name not in names)]
    merged.sort(key=lambda r: (r.created, r.name), reverse=True)
    return merged
