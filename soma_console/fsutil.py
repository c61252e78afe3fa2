"""Crash-safe file writing.

Everything soma-console writes that a later step relies on (keys, manifests, checkpoints, encrypted
weights, config) goes through here: write a temp file in the same directory, fsync it, rename it
over the target, fsync the directory. A reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename inside it survives a power cut."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_dir(path: Path, *, private: bool = False) -> Path:
    """Create ``path`` (and parents) if missing; tighten its mode when ``private``."""
    path.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_writer(path: Path, *, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Yield a file object; on clean exit its contents replace ``path`` atomically.

    On any exception the temp file is removed and ``path`` is left untouched. ``mode`` is applied
    to the temp file before a single byte is written, so a secret never sits in a world-readable
    file even for a moment.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    with atomic_writer(path, mode=mode) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def write_private_text(path: Path, text: str) -> None:
    """Write a file only the owner can read (mode 0600), atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=PRIVATE_FILE_MODE)
