"""The training worker: ``python -m soma_console.training.worker SPEC.json [--resume]``.

It runs as its own process (locally under :mod:`backends`, or inside a Modal container) and
talks only through event lines on stdout (see :mod:`events`). Anything else that would reach
stdout (library prints) is sent to stderr, so the event stream stays clean.

Exit status: 0 finished; 1 bad input (data, spec); 3 out of memory; 4 the loss diverged;
130/143 interrupted by SIGINT/SIGTERM after writing a checkpoint; 70 an internal error. Every
failure is also an ``error`` event with one readable sentence, and every one leaves the run
resumable from its newest complete checkpoint.

With ``gpus`` > 1 the worker is rank 0 and starts ranks 1..N-1 as copies of itself (they join
through a rendezvous file; only rank 0 prints and writes). Under ``torchrun`` (RANK/WORLD_SIZE in
the environment) it uses that instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from soma_console.errors import UserError
from soma_console.training import events as ev
from soma_console.training.control import Interrupted
from soma_console.training.data_open import open_source
from soma_console.training.data_sources import DataError
from soma_console.training.manifest import Manifest
from soma_console.training.spec import TrainSpec

EXIT_OK = 0
EXIT_USER = 1
EXIT_OOM = 3
EXIT_DIVERGED = 4
EXIT_INTERNAL = 70
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class _Out:
    """The event channel: the original stdout, opened once, flushed per line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def emit(self, event: ev.Event) -> None:
        # If nobody is listening any more, keep training and checkpointing.
        with self.lock, contextlib.suppress(BrokenPipeError, OSError):
            ev.emit(event, self.stream)


def _claim_stdout(quiet: bool) -> IO[str]:
    """Keep fd 1 for events; point everything else that writes to stdout at stderr."""
    events_fd = os.dup(1)
    os.dup2(2 if not quiet else os.open(os.devnull, os.O_WRONLY), 1)
    sys.stdout = sys.stderr
    return os.fdopen(events_fd, "w", buffering=1, encoding="utf-8")


def _die_with_parent() -> None:
    """Ranks > 0 must not outlive rank 0 (a SIGKILLed rank 0 cannot clean up)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Ranks:
    """Rank 0's helpers: ranks 1..N-1 as child processes, watched every step."""

    def __init__(self, spec_path: Path, spec: TrainSpec, resume: bool) -> None:
        self.tmp = tempfile.mkdtemp(prefix="soma-ddp-")
        self.init_method = f"file://{self.tmp}/rendezvous"
        self.procs: list[subprocess.Popen[bytes]] = []
        for rank in range(1, spec.gpus):
            cmd = [
                sys.executable, "-m", "soma_console.training.worker", str(spec_path),
                "--rank", str(rank), "--world", str(spec.gpus), "--init-method", self.init_method,
            ]  # fmt: skip
            if resume:
                cmd.append("--resume")
            self.procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))

    def watch(self) -> None:
        for rank, proc in enumerate(self.procs, start=1):
            code = proc.poll()
            if code not in (None, 0):
                raise RuntimeError(f"rank {rank} of the distributed run exited with status {code}")

    def close(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            for name in os.listdir(self.tmp):
                os.unlink(os.path.join(self.tmp, name))
            os.rmdir(self.tmp)


_OOM_MARKERS = ("RESOURCE_EXHAUSTED", "can't allocate memory", "out of memory")


def _is_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (CUDA), a CPU allocator failure, MemoryError, or XLA's RESOURCE_EXHAUSTED."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)[:500]
    return isinstance(exc, RuntimeError | ValueError) and any(m in text for m in _OOM_MARKERS)


def run(spec_path: Path, *, resume: bool, rank: int, world: int, init_method: str | None, out: _Out) -> int:
    started = time.monotonic()
    try:
        spec = TrainSpec.load(spec_path)
    except UserError as exc:
        out.emit(ev.Error(error="config", summary=str(exc), resumable=False))
        return EXIT_USER
    if "WORLD_SIZE" in os.environ and spec.gpus > 1:  # launched by torchrun
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"])
    emit = out.emit if rank == 0 else (lambda _e: None)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: stop now, the last complete checkpoint stands
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    step: int | None = None
    ranks: _Ranks | None = None
    try:
        if rank == 0:
            open_source(spec.data)  # a missing or empty path fails here, before torch/jax load
        if spec.framework == "flax":
            from soma_console.training.flax_trainer import FlaxTrainer

            manifest: Manifest | None = FlaxTrainer(spec, resume=resume, emit=emit, stop=stop).run()
        else:
            from soma_console.training.torch_device import default_threads, quiet_threads
            from soma_console.training.torch_dist import Dist
            from soma_console.training.torch_trainer import Trainer

            if world == 1 and spec.gpus > 1 and "WORLD_SIZE" not in os.environ:
                ranks = _Ranks(spec_path, spec, resume)
                world, init_method = spec.gpus, ranks.init_method
            trainer = Trainer(
                spec,
                resume=resume,
                emit=emit,
                stop=stop,
                d=Dist(rank, world),
                init_method=init_method,
                watch=ranks.watch if ranks else None,
            )
            with quiet_threads(default_threads(world)):
                manifest = trainer.run()
        if manifest is None:  # a rank > 0: rank 0 reports
            return EXIT_OK
        emit(
            ev.Finished(
                step=manifest.step,
                final_path=str(spec.checkpoint_dir / manifest.weights),
                elapsed_s=time.monotonic() - started,
                tokens=manifest.tokens,
            )
        )
        return EXIT_OK
    except Interrupted as exc:
        emit(
            ev.Error(
                error="interrupted",
                step=exc.step,
                summary=f"stopped at step {exc.step} after saving a checkpoint; continue with --resume.",
            )
        )
        return EXIT_SIGTERM
    except DataError as exc:
        emit(ev.Error(error="data", summary=str(exc), step=step))
        return EXIT_USER
    except UserError as exc:
        emit(ev.Error(error="config", summary=str(exc), step=step))
        return EXIT_USER
    except KeyboardInterrupt:
        emit(
            ev.Error(
                error="interrupted",
                summary="stopped at once; resume from the newest checkpoint with --resume.",
            )
        )
        return EXIT_SIGTERM
    except FloatingPointError as exc:
        emit(
            ev.Error(
                error="diverged",
                summary=f"{exc}; lower the learning rate and resume from the newest checkpoint.",
            )
        )
        return EXIT_DIVERGED
    except BaseException as exc:
        if _is_oom(exc):
            emit(
                ev.Error(
                    error="oom",
                    summary=(
                        f"out of memory with micro-batch {spec.micro_batch}; lower --micro-batch (raise "
                        "--grad-accum to keep the effective batch) and resume from the newest checkpoint."
                    ),
                    detail=_short(exc),
                )
            )
            return EXIT_OOM
        emit(
            ev.Error(
                error="internal",
                summary=f"the trainer failed: {type(exc).__name__}: {_short(exc)}",
                detail="".join(traceback.format_exception(exc))[-8000:],
            )
        )
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if ranks is not None:
            ranks.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else "")[:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soma_console.training.worker")
    parser.add_argument("spec", type=Path, help="the TrainSpec JSON file")
    parser.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    parser.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--world", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--init-method", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank > 0:
        _die_with_parent()
    out = _Out(_claim_stdout(quiet=args.rank > 0))
    return run(
        args.spec, resume=args.resume, rank=args.rank, world=args.world, init_method=args.init_method, out=out
    )


if __name__ == "__main__":
    sys.exit(main())
