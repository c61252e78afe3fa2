"""Checkpoints on the Modal Volume: list the manifested ones, download one safely.

Only a checkpoint whose manifest exists is listed (the worker writes the manifest after the
weights, so weights alone may be half-written or abandoned). A download goes to ``<name>.part``
beside the destination and becomes the real file only after its size (and the manifest's sha256,
when it has one) check out: the final path holds a whole checkpoint or nothing.

An interrupted download keeps its ``.part`` and a small ``.part.json`` describing what it is a part
of (Volume path, size, mtime). Running the download again continues it with a ranged read from the
byte the part ends at (fresh download links, so an expired link never sends a resume back to byte
0); the part's bytes are hashed from disk, and if the whole then does not match the manifest's
sha256 (a damaged part), one full pass compares every byte with the stream and rewrites from the
first difference. If the checkpoint changed on the Volume meanwhile, the part is discarded and the
download starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from soma_console.errors import UserError
from soma_console.fsutil import atomic_write_text, fsync_dir
from soma_console.training.modal.spec import (
    CHECKPOINTS_DIR,
    FINAL_STEM,
    MANIFEST_SUFFIX,
    WEIGHTS_SUFFIX,
    CheckpointName,
    manifest_step,
    volume_run_path,
)

MAX_MANIFEST_BYTES = 16 << 20
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VolumeFile:
    path: str
    is_dir: bool
    size: int
    mtime: float


class VolumeReader(Protocol):
    """The reads this module needs from a Volume (a ``modal.Volume`` in production)."""

    async def listdir(self, path: str) -> list[VolumeFile] | None:
        """Entries under ``path``; None when the path does not exist."""
        ...

    def read_file(self, path: str) -> AsyncIterator[bytes]: ...


class RangedReader(VolumeReader, Protocol):
    """A Volume that can also read a file from an offset (``ModalVolume``)."""

    def read_range(self, path: str, start: int) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class RemoteCheckpoint:
    run: str
    stem: str
    step: int
    final: bool
    weights_path: str
    manifest_path: str
    size: int
    mtime: float
    manifest: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def loss(self) -> float | None:
        return _number(self.manifest.get("loss", self.manifest.get("train_loss")))

    @property
    def eval_loss(self) -> float | None:
        return _number(self.manifest.get("eval_loss"))

    @property
    def sha256(self) -> str | None:
        value = self.manifest.get("sha256")
        return value.lower() if isinstance(value, str) and len(value) == 64 else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("manifest")
        out.update(loss=self.loss, eval_loss=self.eval_loss)
        return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def read_small(volume: VolumeReader, path: str, *, limit: int = MAX_MANIFEST_BYTES) -> bytes:
    data = bytearray()
    async for chunk in volume.read_file(path):
        data += chunk
        if len(data) > limit:
            raise UserError(f"{path} on the Volume is larger than {limit} bytes; it is not a manifest.")
    return bytes(data)


async def list_remote_checkpoints(volume: VolumeReader, run: str) -> list[RemoteCheckpoint]:
    """The run's manifested checkpoints, oldest first, the final model last."""
    base = volume_run_path(run)
    files: dict[str, VolumeFile] = {}
    for folder in (base, f"{base}/{CHECKPOINTS_DIR}"):
        for entry in await volume.listdir(folder) or []:
            if not entry.is_dir:
                files[entry.path.strip("/")] = entry

    async def load(
        weights: VolumeFile, manifest: VolumeFile, name: CheckpointName
    ) -> RemoteCheckpoint | None:
        try:
            data = json.loads(await read_small(volume, manifest.path))
        except ValueError:
            return None  # not a manifest the worker wrote; treat the checkpoint as absent
        if not isinstance(data, dict):
            return None
        return RemoteCheckpoint(
            run=run,
            stem=name.stem,
            step=manifest_step(data, name.step),
            final=name.final,
            weights_path=weights.path.strip("/"),
            manifest_path=manifest.path.strip("/"),
            size=weights.size,
            mtime=weights.mtime,
            manifest=data,
        )

    gate = asyncio.Semaphore(8)  # a long run has many manifests; read a few at a time

    async def gated(job: Awaitable[RemoteCheckpoint | None]) -> RemoteCheckpoint | None:
        async with gate:
            return await job

    jobs = []
    for path, entry in files.items():
        if not path.endswith(WEIGHTS_SUFFIX):
            continue
        name = CheckpointName.parse(path.rsplit("/", 1)[-1])
        manifest = files.get(path.removesuffix(WEIGHTS_SUFFIX) + MANIFEST_SUFFIX)
        if name is None or manifest is None:
            continue
        jobs.append(gated(load(entry, manifest, name)))
    found = [c for c in await asyncio.gather(*jobs) if c is not None]
    return sorted(found, key=lambda c: (c.final, c.step))


def pick_checkpoint(checkpoints: list[RemoteCheckpoint], which: str) -> RemoteCheckpoint:
    """``latest`` (newest by step, final model on a tie), ``final``, or a step number."""
    if not checkpoints:
        raise UserError("this run has no manifested checkpoints on the Volume yet.")
    if which == "latest":
        return max(checkpoints, key=lambda c: (c.step, c.final))
    if which == FINAL_STEM or which == "final":
        for c in checkpoints:
            if c.final:
                return c
        raise UserError("this run has no final model yet.", hint="Pick a step, or `latest`.")
    try:
        step = int(which)
    except ValueError:
        raise UserError(
            f"unknown checkpoint {which!r}.", hint="Use a step number, `latest` or `final`."
        ) from None
    for c in checkpoints:
        if c.step == step and not c.final:
            return c
    steps = ", ".join(str(c.step) for c in checkpoints if not c.final)
    raise UserError(f"no checkpoint at step {step}.", hint=f"Steps on the Volume: {steps or 'none'}.")


def _identity(ckpt: RemoteCheckpoint) -> dict[str, Any]:
    return {"path": ckpt.weights_path, "size": ckpt.size, "mtime": ckpt.mtime}


async def download_checkpoint(
    volume: VolumeReader,
    ckpt: RemoteCheckpoint,
    dest_dir: Path,
    *,
    progress: Progress | None = None,
    chunk_timeout: float = 120.0,
) -> Path:
    """Download weights and manifest into ``dest_dir``; return the weights' path."""
    await asyncio.to_thread(dest_dir.mkdir, parents=True, exist_ok=True)
    final = dest_dir / f"{ckpt.stem}{WEIGHTS_SUFFIX}"
    manifest_path = dest_dir / f"{ckpt.stem}{MANIFEST_SUFFIX}"
    part = final.with_name(final.name + ".part")
    meta = part.with_name(part.name + ".json")
    manifest_text = json.dumps(ckpt.manifest, indent=2, sort_keys=True)

    if (
        final.exists()
        and final.stat().st_size == ckpt.size
        and await asyncio.to_thread(_matches, final, ckpt)
    ):
        atomic_write_text(manifest_path, manifest_text)
        if progress:
            progress(ckpt.size, ckpt.size)
        return final

    held = 0
    try:
        same = json.loads(meta.read_text(encoding="utf-8")) == _identity(ckpt)
    except (OSError, ValueError):
        same = False
    if same and part.exists():
        held = min(part.stat().st_size, ckpt.size)
    else:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        atomic_write_text(meta, json.dumps(_identity(ckpt)))

    ranged = held > 0 and callable(getattr(volume, "read_range", None))
    pos, digest = await _transfer(volume, ckpt, part, held, ranged, progress, chunk_timeout)
    if ranged and ckpt.sha256 is not None and digest.hexdigest() != ckpt.sha256:
        # the part held damaged bytes: one full pass checks every byte and rewrites from the first difference
        pos, digest = await _transfer(volume, ckpt, part, pos, False, progress, chunk_timeout)
    if pos != ckpt.size:
        raise UserError(
            f"the Volume sent {pos} bytes for {ckpt.weights_path}, not the {ckpt.size} it listed.",
            hint="Run the same command again to resume it.",
        )
    if ckpt.sha256 is not None and digest.hexdigest() != ckpt.sha256:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise UserError(
            f"{ckpt.weights_path} does not match its manifest's sha256; the partial file was discarded.",
            hint="Run the command again; if it repeats, the checkpoint on the Volume is damaged.",
        )
    os.replace(part, final)
    fsync_dir(final.parent)
    meta.unlink(missing_ok=True)
    atomic_write_text(manifest_path, manifest_text)
    return final


async def _transfer(
    volume: VolumeReader,
    ckpt: RemoteCheckpoint,
    part: Path,
    held: int,
    ranged: bool,
    progress: Progress | None,
    chunk_timeout: float,
) -> tuple[int, Any]:
    """Bring ``part`` to the whole file: from ``held`` on (ranged) or comparing from byte 0.
    Returns the bytes in place and the sha256 of the whole."""
    digest = hashlib.sha256()
    pos = 0
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with os.fdopen(fd, "r+b") as fh:
            await asyncio.to_thread(fh.truncate, held)
            if ranged:
                await asyncio.to_thread(_hash_prefix, fh, held, digest)
                pos = held
                stream = volume.read_range(ckpt.weights_path, held).__aiter__()  # type: ignore[attr-defined]
            else:
                stream = volume.read_file(ckpt.weights_path).__aiter__()
            while True:
                try:
                    chunk = await asyncio.wait_for(stream.__anext__(), chunk_timeout)
                except StopAsyncIteration:
                    break
                digest.update(chunk)
                # File work runs in a thread: a multi-GB checkpoint must not stall the event loop.
                pos, held = await asyncio.to_thread(_place, fh, chunk, pos, held)
                if progress:
                    progress(pos, ckpt.size)
            await asyncio.to_thread(_flush, fh)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"the download of {ckpt.weights_path} stopped at {pos} of {ckpt.size} bytes ({_short(exc)}).",
            hint="Run the same command again to resume it.",
        ) from None
    return pos, digest


def _hash_prefix(fh: Any, n: int, digest: Any) -> None:
    fh.seek(0)
    left = n
    while left > 0:
        block = fh.read(min(left, 1 << 20))
        if not block:
            break
        digest.update(block)
        left -= len(block)


def _place(fh: Any, chunk: bytes, pos: int, held: int) -> tuple[int, int]:
    """Write ``chunk`` at ``pos``; bytes already held are checked, not rewritten. Returns (pos, held)."""
    view = memoryview(chunk)
    if pos < held:
        n = min(len(chunk), held - pos)
        fh.seek(pos)
        if fh.read(n) == chunk[:n]:
            view, pos = view[n:], pos + n
        else:  # the part on disk differs from the Volume from here on: rewrite from here
            held = pos
            fh.truncate(pos)
    if view:
        fh.seek(pos)
        fh.write(view)
        pos += len(view)
    return pos, held


def _flush(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _matches(path: Path, ckpt: RemoteCheckpoint) -> bool:
    if ckpt.sha256 is None:
        return True
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == ckpt.sha256


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
