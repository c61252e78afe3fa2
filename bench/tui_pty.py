"""Run a program on a pseudo-terminal of a given size and read everything it draws.

The console benchmarks use it so that what they time includes the real terminal driver: escape
sequences written, a reader on the other end, the same path as over SSH.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

KEEP = 1 << 20  # bytes of output kept (the newest): enough for a few full frames


@dataclass
class PtyRun:
    proc: subprocess.Popen[bytes]
    master: int
    started: float  # perf_counter when the command was launched
    output: bytearray = field(default_factory=bytearray)
    received: int = 0  # bytes read in all

    def read_until(self, done: Callable[[bytes], bool], timeout: float) -> float | None:
        """Drain output until ``done(output)``; return the perf_counter time it became true."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                try:
                    chunk = os.read(self.master, 1 << 16)
                except OSError:
                    return None
                if not chunk:
                    return None
                self.received += len(chunk)
                self.output.extend(chunk)
                if len(self.output) > 2 * KEEP:
                    del self.output[:-KEEP]
                if done(bytes(self.output)):
                    return time.perf_counter()
            elif self.proc.poll() is not None:
                return None
        return None

    def drain(self, seconds: float) -> None:
        """Read output for ``seconds`` (or until the program exits), keeping only the newest."""
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.received += len(chunk)
            self.output.extend(chunk)
            if len(self.output) > 2 * KEEP:
                del self.output[:-KEEP]

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        os.close(self.master)
        return self.proc.returncode


def spawn(
    command: Sequence[str], *, width: int = 160, height: int = 48, env: Mapping[str, str] | None = None
) -> PtyRun:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(command), stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True
    )
    os.close(slave)
    return PtyRun(proc=proc, master=master, started=started)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
