"""A training worker run as a subprocess of this machine (:class:`LocalProcess`).

It launches ``python -m soma_console.training.worker SPEC.json [--resume]`` and
gives back its records, exit status and a way to stop it::

    backend = LocalProcess(run_dir)          # run_dir holds spec.json
    await backend.start(resume=False)
    async for record in backend.records():  # events.Event or events.LogLine, in order
        ...
    code = await backend.wait()             # exit status (0 = finished)
    await backend.stop()                    # SIGTERM (the worker checkpoints), then SIGKILL

* ``start(resume)`` launches the worker and records ``run.json`` (status, pid, backend).
* ``records()`` is an async iterator over parsed stdout lines; it ends when the worker's stdout
  closes. It never blocks the event loop. Every stdout byte is also appended to
  ``events.jsonl`` (the tee), so ``logs`` and a restarted console can replay the run.
* ``stop(grace)`` asks the worker to stop (it finishes the step and writes a checkpoint), keeps
  teeing its output meanwhile, and kills it if it has not exited within ``grace`` seconds.
* ``wait()`` returns the exit status; ``returncode`` is None while it runs.

A Modal run is driven by :mod:`soma_console.training.modal.backend` instead. This module never
imports textual or torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from soma_console.training.events import AnyRecord, LineAssembler
from soma_console.training.runs import EVENTS_FILE, SPEC_FILE, STDERR_FILE, write_status

READ_CHUNK = 64 * 1024


class LocalProcess:
    """The worker as a subprocess of this machine, in its own process group."""

    name = "local"

    def __init__(
        self, run_dir: Path, *, python: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.python = python or sys.executable
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None
        self._stderr: IO[bytes] | None = None
        self._stopping = False
        self._reading = False
        self._asm = LineAssembler()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self, *, resume: bool = False) -> None:
        spec = self.run_dir / SPEC_FILE
        args = [self.python, "-m", "soma_console.training.worker", str(spec)]
        if resume:
            args.append("--resume")
        env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        # A local append-open takes microseconds; the file is closed in wait().
        self._stderr = open(self.run_dir / STDERR_FILE, "ab")  # noqa: SIM115, ASYNC230
        self.proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,  # its own process group: stop() reaches DDP ranks too
        )
        write_status(
            self.run_dir,
            status="running",
            pid=self.proc.pid,
            backend=self.name,
            started=time.time(),
            ended=None,
            exit_code=None,
            resume=resume,
        )

    async def records(self) -> AsyncIterator[AnyRecord]:
        """Parsed stdout records until it closes. Called again (after the first iterator was
        cancelled, say) it continues where that one stopped; a partial line carries over."""
        assert self.proc is not None, "start() first"
        assert self.proc.stdout is not None
        self._reading = True
        try:
            # Appending a few KiB to a local file per chunk does not stall the loop measurably.
            with open(self.run_dir / EVENTS_FILE, "ab") as tee:  # noqa: ASYNC230
                while True:
                    chunk = await self.proc.stdout.read(READ_CHUNK)
                    if not chunk:
                        break
                    tee.write(chunk)
                    tee.flush()
                    for rec in self._asm.feed(chunk):
                        yield rec
                for rec in self._asm.flush():
                    yield rec
        finally:
            self._reading = False

    async def wait(self) -> int:
        assert self.proc is not None, "start() first"
        code = await self.proc.wait()
        if self.returncode is None:
            self.returncode = code
            if self._stderr is not None:
                self._stderr.close()
            status = (
                "finished" if code == 0 else "stopped" if self._stopping or code in (130, 143) else "failed"
            )
            write_status(self.run_dir, status=status, exit_code=code, ended=time.time())
        return code

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def stop(self, grace: float = 30.0) -> int:
        """SIGTERM the process group; SIGKILL it if it is still there after ``grace`` seconds."""
        assert self.proc is not None, "start() first"
        if self.proc.returncode is None:
            self._stopping = True
            self._signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._drain_and_wait(), timeout=grace)
            except TimeoutError:
                self._signal(signal.SIGKILL)
        return await self.wait()

    async def _drain_and_wait(self) -> None:
        # The worker's last words (its checkpoint and "interrupted" events) must reach events.jsonl,
        # and a full pipe would block it: keep reading unless another task already is.
        if not self._reading:
            async for _ in self.records():
                pass
        assert self.proc is not None
        await self.proc.wait()
