"""What runs inside the Modal container: the trainer worker, supervised, with its checkpoints made durable.

The Modal function (see :mod:`soma_console.training.modal.app`) is a thin shell around
:func:`train_entry` and :func:`cron_entry`; everything here is plain Python with the Volume commit
passed in as a callable, so it runs the same way in a container, in the local fake Modal server and
in a test.

The worker is the same ``python -m soma_console.training.worker SPEC.json [--resume]`` a local run
uses. Its stdout lines are copied to the container's stdout as they come (Modal's log stream is how
the console watches the run), its stderr to the container's stderr. The worker writes checkpoints
atomically, manifest last; whenever a new manifest appears (announced by a ``checkpoint`` event, or
found by a scan every ``poll_s`` seconds) the Volume is committed, and once more when the worker
exits however it exits, so a checkpoint the console can list is one that survives the container.

``--gpus N``: the container gets N GPUs and the spec's ``gpus`` key is set to N. The worker owns
DDP: it reads the world size from the spec and starts its own ranks (rank 0 alone prints events and
writes checkpoints), so there is one worker process to supervise whatever N is.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from soma_console.fsutil import atomic_write_text
from soma_console.training.events import CheckpointSaved, Error, Finished, LineAssembler, Step
from soma_console.training.modal.spec import (
    CHECKPOINTS_DIR,
    FINAL_STEM,
    MANIFEST_SUFFIX,
    SPEC_FILE,
    SPEC_GPUS,
    SPEC_OUT_DIR,
    SPEC_RUN,
    WEIGHTS_SUFFIX,
    CheckpointName,
    manifest_step,
    parse_spec,
    run_dir,
)

Commit = Callable[[], None]
Reload = Callable[[], None]


class WorkerFailed(RuntimeError):
    """The worker did not finish; the message is the one sentence the console shows."""


def default_worker_cmd() -> list[str]:
    return [sys.executable, "-m", "soma_console.training.worker"]


# What the trainer never needs and must never see: the signer, the storage credentials, tokens.
_SECRET_NAME = re.compile(
    r"^(SOMA_SECRET_KEY|SOMA_STORAGE.*|SOMA_ALERT_WEBHOOK|AWS_.*|R2_.*|B2_.*|GOOGLE_APPLICATION_CREDENTIALS"
    r"|AZURE_.*|MODAL_TOKEN_.*|.*(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|API_KEY|ACCESS_KEY).*)$",
    re.IGNORECASE,
)


def package_root() -> str:
    """The folder that holds the ``soma_console`` package (``/root`` in a Modal container)."""
    import soma_console

    return str(Path(soma_console.__file__).resolve().parent.parent)


# Credentials that belong to the trainer itself (a gated dataset), passed through.
WORKER_ALLOWED = frozenset({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})


def worker_env(
    base: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The worker's environment: the container's, stripped of every secret, with an explicit
    PYTHONPATH (the package's own folder, whatever the working directory)."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k in WORKER_ALLOWED or not _SECRET_NAME.match(k)
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=package_root())
    env.update(extra or {})
    return env


@dataclass
class WorkerOutcome:
    returncode: int
    step: int | None = None
    checkpoint: str | None = None
    finished: bool = False
    last_error: str | None = None
    commits: int = 0
    stopped: bool = False


class ManifestWatcher:
    """Notices new or rewritten manifests under a run folder."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._seen = self._scan()

    def _scan(self) -> frozenset[tuple[str, int, int]]:
        found = []
        candidates = [self._folder / f"{FINAL_STEM}{MANIFEST_SUFFIX}"]
        ckpt_dir = self._folder / CHECKPOINTS_DIR
        if ckpt_dir.is_dir():
            candidates += ckpt_dir.glob(f"*{MANIFEST_SUFFIX}")
        for path in candidates:
            with contextlib.suppress(FileNotFoundError):
                st = path.stat()
                found.append((str(path), st.st_mtime_ns, st.st_size))
        return frozenset(found)

    def changed(self) -> bool:
        return self._scan() != self._seen

    def acknowledge(self) -> None:
        self._seen = self._scan()


def _pump(pipe: IO[bytes], tag: str, sink: queue.Queue[tuple[str, bytes | None]]) -> None:
    try:
        for line in iter(pipe.readline, b""):
            sink.put((tag, line))
    finally:
        sink.put((tag, None))


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _end(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the worker's process group (it and its DDP ranks), SIGKILL it after ``grace_s``."""
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _try_commit(commit: Commit, err: TextIO) -> bool:
    try:
        commit()
    except Exception as exc:  # a failed commit is retried at the next checkpoint or scan
        err.write(f"soma-console: Volume commit failed ({type(exc).__name__}: {exc}); will retry.\n")
        err.flush()
        return False
    return True


def supervise_worker(
    cmd: Sequence[str],
    *,
    folder: Path,
    commit: Commit,
    out: TextIO,
    err: TextIO,
    stop: threading.Event | None = None,
    poll_s: float = 30.0,
    grace_s: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> WorkerOutcome:
    """Run the worker, copy its output, commit the Volume on every new manifest; always end it.

    The worker runs in ``folder`` (the run's folder) with :func:`worker_env`: no secrets, an explicit
    PYTHONPATH."""
    watcher = ManifestWatcher(folder)
    outcome = WorkerOutcome(returncode=-1)
    lines: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=folder,
        env=worker_env(extra=env),
        start_new_session=True,  # its own process group, so its DDP ranks end with it
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "out", lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "err", lines), daemon=True),
    ]
    for t in pumps:
        t.start()
    assembler = LineAssembler()
    open_streams, commit_due, last_scan = 2, False, time.monotonic()

    def commit_if_new() -> None:
        if watcher.changed() and _try_commit(commit, err):
            watcher.acknowledge()
            outcome.commits += 1

    stopped_at: float | None = None
    exited_at: float | None = None
    try:
        while open_streams:
            try:
                tag, data = lines.get(timeout=min(1.0, poll_s))
            except queue.Empty:
                tag, data = "", b""
            now = time.monotonic()
            if stop is not None and stop.is_set() and stopped_at is None:
                outcome.stopped, stopped_at = True, now
                _signal_group(proc, signal.SIGTERM)
            if stopped_at is not None and now - stopped_at > grace_s:
                _signal_group(proc, signal.SIGKILL)
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 5.0:
                # The worker is gone but something it started still holds its pipes open.
                _signal_group(proc, signal.SIGKILL)
                break
            if data is None:
                open_streams -= 1
            elif data and tag == "out":
                text = data.decode("utf-8", errors="replace")
                out.write(text)
                out.flush()
                for record in assembler.feed(text):
                    if isinstance(record, CheckpointSaved):
                        commit_due = True
                        outcome.checkpoint = record.path
                    elif isinstance(record, Step):
                        outcome.step = record.step
                    elif isinstance(record, Finished):
                        outcome.finished, outcome.step = True, record.step
                    elif isinstance(record, Error):
                        outcome.last_error = record.summary
            elif data:
                err.write(data.decode("utf-8", errors="replace"))
                err.flush()
            if commit_due or time.monotonic() - last_scan >= poll_s:
                commit_if_new()
                commit_due, last_scan = False, time.monotonic()
        outcome.returncode = proc.wait()
    finally:
        _end(proc, grace_s)
        if outcome.returncode == -1:
            outcome.returncode = proc.returncode
        commit_if_new()
    return outcome


def reload_volume(reload: Reload) -> None:
    """``Volume.reload()``, or one sentence saying why the round cannot trust what it would read."""
    try:
        reload()
    except Exception as exc:
        raise WorkerFailed(
            f"could not reload the Volume ({type(exc).__name__}: {exc}); refusing to read a stale view of it."
        ) from None


def prepare_spec(spec: Mapping[str, Any] | str, volume_root: Path, gpus: int) -> dict[str, Any]:
    """The spec as the container runs it: output on the Volume, the GPU count it was given."""
    if gpus < 1:
        raise ValueError("gpus must be at least 1")
    prepared = parse_spec(spec)
    prepared[SPEC_OUT_DIR] = str(run_dir(volume_root, prepared[SPEC_RUN]))
    prepared[SPEC_GPUS] = gpus
    return prepared


def _failure_sentence(outcome: WorkerOutcome) -> str:
    if outcome.stopped:
        return "the run was stopped."
    if outcome.last_error:
        return outcome.last_error
    return f"the trainer exited with code {outcome.returncode} without saying why (see the run's stderr)."


def train_entry(
    spec: Mapping[str, Any] | str,
    *,
    resume: bool,
    gpus: int,
    volume_root: Path,
    commit: Commit,
    out: TextIO,
    err: TextIO,
    stop: threading.Event | None = None,
    worker_cmd: Sequence[str] | None = None,
    poll_s: float = 30.0,
    reload: Reload | None = None,
) -> dict[str, Any]:
    """Train one spec to its end on the Volume; raise :class:`WorkerFailed` if the worker did not finish.

    ``reload`` (``Volume.reload``) runs first: a warm container reused for a later call otherwise
    sees the Volume as it was when the container started, and would resume from an older checkpoint
    and overwrite the newer ones."""
    if reload is not None:
        reload_volume(reload)
    prepared = prepare_spec(spec, volume_root, gpus)
    folder = Path(prepared[SPEC_OUT_DIR])
    spec_path = folder / SPEC_FILE
    # A call Modal restarts (preemption) finds its own checkpoints: continue from them, never overwrite.
    resume = resume or newest_checkpoint(folder) is not None
    atomic_write_text(spec_path, json.dumps(prepared, indent=2, sort_keys=True))
    _try_commit(commit, err)
    cmd = [*(worker_cmd or default_worker_cmd()), str(spec_path), *(["--resume"] if resume else [])]
    outcome = supervise_worker(cmd, folder=folder, commit=commit, out=out, err=err, stop=stop, poll_s=poll_s)
    if outcome.returncode != 0 or not outcome.finished:
        raise WorkerFailed(_failure_sentence(outcome))
    return {"run": prepared[SPEC_RUN], **asdict(outcome)}


@dataclass(frozen=True)
class LocalCheckpoint:
    weights: Path
    manifest: Path
    step: int
    final: bool


def newest_checkpoint(folder: Path) -> LocalCheckpoint | None:
    """The newest manifested checkpoint of a run folder (the final model wins a tie)."""
    best: LocalCheckpoint | None = None
    candidates = [folder / f"{FINAL_STEM}{MANIFEST_SUFFIX}"]
    if (folder / CHECKPOINTS_DIR).is_dir():
        candidates += sorted((folder / CHECKPOINTS_DIR).glob(f"*{MANIFEST_SUFFIX}"))
    for manifest in candidates:
        name = CheckpointName.parse(manifest.name)
        weights = manifest.with_suffix(WEIGHTS_SUFFIX)
        if name is None or not manifest.is_file() or not weights.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        step = manifest_step(data if isinstance(data, dict) else {}, name.step)
        found = LocalCheckpoint(weights, manifest, step, name.final)
        if best is None or (found.step, found.final) > (best.step, best.final):
            best = found
    return best
