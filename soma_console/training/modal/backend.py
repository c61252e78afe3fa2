"""Training runs on Modal, seen from this machine: watch, stop, list and download checkpoints.

A :class:`ModalRun` has the same shape as a local run: :meth:`ModalRun.events` yields the worker's
event records (parsed from Modal's log stream with the same parser as a local pipe), plus
:meth:`~ModalRun.stop`, :meth:`~ModalRun.status`, :meth:`~ModalRun.checkpoints` and
:meth:`~ModalRun.download`.

Runs are launched by ``launch.launch_modal_run`` (``soma-console train --backend modal``
and the console's train dialog)::

    run = await launch_modal_run(spec_json, gpu="H100", gpus=1, app_name=None, volume_name=None,
                                 resume=False, home=app.home, settings=app.settings)
    async for record in run.events():
        ...  # Started / Step / CheckpointSaved / Eval / Finished / Error / LogLine

``spec_json`` is the TrainSpec as JSON text or a dict (keys used here: see ``spec``).
Settings, credentials and the per-call timeout live in ``client``.

Rules that hold for every function here: credentials are checked on this machine before anything
touches the network; every Modal call runs under its own timeout; every failure a person can act
on is a :class:`~soma_console.errors.UserError` of one sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from soma_console.errors import UsageError, UserError
from soma_console.fsutil import atomic_write_text
from soma_console.training.events import AnyRecord, Error, Finished, LineAssembler, LogLine
from soma_console.training.modal.client import (
    ModalCallLogs,
    ModalSettings,
    ModalVolume,
    first_line,
    guarded_call,
    modal_call,
    require_credentials,
    translate_error,
)
from soma_console.training.modal.logs import LogFollower, Notice
from soma_console.training.modal.volume import (
    Progress,
    RemoteCheckpoint,
    download_checkpoint,
    list_remote_checkpoints,
    pick_checkpoint,
)
from soma_console.training.run_info import ACTIVE

if TYPE_CHECKING:
    from soma_console.config import Home

T = TypeVar("T")

# After a call ends without its final event: look for late log lines this long (about 10 s in all).
LATE_LOG_WAITS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0)


# ---- runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModalRunRecord:
    """What this machine remembers about a run it launched on Modal."""

    run: str
    call_id: str
    app_name: str
    volume_name: str
    gpu: str
    gpus: int
    launched_at: float
    resume: bool = False
    spec: dict[str, Any] = field(default_factory=dict)
    stop_requested: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModalRunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class ModalRunRegistry:
    """``<data dir>/modal/runs/<run>.json``, one small file per run (written atomically)."""

    def __init__(self, home: Home) -> None:
        self.dir = home.data_dir / "modal" / "runs"

    def save(self, record: ModalRunRecord) -> None:
        atomic_write_text(
            self.dir / f"{record.run}.json", json.dumps(record.to_json(), indent=2, sort_keys=True)
        )

    def all(self) -> list[ModalRunRecord]:
        out = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            with contextlib.suppress(OSError, ValueError, TypeError):
                out.append(ModalRunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        return sorted(out, key=lambda r: r.launched_at)

    def find(self, ref: str) -> ModalRunRecord | None:
        """By run name or by function call id (``fc-...``)."""
        for record in self.all():
            if ref in (record.run, record.call_id):
                return record
        return None


@dataclass(frozen=True)
class RunStatus:
    state: str  # running | stopping | finished | failed | stopped | expired (run_info.RUN_STATUSES)
    detail: str | None = None
    result: Any = None
    last_error: Error | None = None

    @property
    def done(self) -> bool:
        return self.state not in ACTIVE


class ModalRun:
    """One training run on Modal, by its function call."""

    def __init__(
        self, record: ModalRunRecord, *, settings: ModalSettings, registry: ModalRunRegistry | None = None
    ):
        self.record = record
        self.settings = settings
        self._registry = registry

    @property
    def run(self) -> str:
        return self.record.run

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @classmethod
    def attach(cls, ref: str, *, home: Home, settings: ModalSettings) -> ModalRun:
        """Reattach by run name or ``fc-...`` id (an id launched elsewhere gives logs and status)."""
        require_credentials()
        registry = ModalRunRegistry(home)
        record = registry.find(ref)
        if record is None:
            if not ref.startswith("fc-"):
                raise UserError(
                    f"no Modal run named {ref!r} was launched from this machine.",
                    hint="`soma-console modal runs` lists them; a function call id (fc-...) also works.",
                )
            record = ModalRunRecord(
                run="",
                call_id=ref,
                app_name=settings.app_name,
                volume_name=settings.volume_name,
                gpu=settings.gpu,
                gpus=1,
                launched_at=0.0,
            )
        return cls(record, settings=settings, registry=registry)

    def _function_call(self) -> Any:
        import modal

        return modal.FunctionCall.from_id(self.call_id)

    def _volume(self) -> ModalVolume:
        return _volume_of(replace(self.settings, volume_name=self.record.volume_name))

    async def events(
        self, *, history: bool = True, follower: LogFollower | None = None
    ) -> AsyncIterator[AnyRecord]:
        """The run's event records, live, until it ends; drops are reconnected and resumed.

        When the run failed without an error event of its own (killed, out of memory, container
        lost), a final ``Error`` built from Modal's report is yielded so the reason is always shown.
        """
        import modal.exception as mx

        follower = follower or LogFollower(
            ModalCallLogs(self._function_call()),
            what=f"{self.run or self.call_id}",
            history=history,
            fetch_timeout=max(self.settings.timeout_s, 30.0),
        )
        assemblers: dict[str, LineAssembler] = {}
        saw_error = saw_end = False
        try:
            async for item in follower.entries():
                if isinstance(item, Notice):
                    yield LogLine(f"[modal] {item.text}")
                    continue
                assembler = assemblers.setdefault(str(item.source), LineAssembler())
                for record in assembler.feed(item.message):
                    saw_error = saw_error or isinstance(record, Error)
                    saw_end = saw_end or isinstance(record, Error | Finished)
                    yield record
            # The call has ended; its last lines can reach the log service a few seconds later.
            for wait in LATE_LOG_WAITS_S:
                if saw_end:
                    break
                await asyncio.sleep(wait)
                async for late in follower.catch_up():
                    assembler = assemblers.setdefault(str(late.source), LineAssembler())
                    for record in assembler.feed(late.message):
                        saw_error = saw_error or isinstance(record, Error)
                        saw_end = saw_end or isinstance(record, Error | Finished)
                        yield record
        except UserError:
            raise
        except mx.NotFoundError:
            raise UserError(f"Modal has no function call {self.call_id}.") from None
        except Exception as exc:
            mapped = translate_error(exc, f"streaming the logs of {self.run or self.call_id}")
            if mapped is None:
                raise
            raise mapped from None
        for assembler in assemblers.values():
            for record in assembler.flush():
                saw_error = saw_error or isinstance(record, Error)
                yield record
        status = await self.status(tail=not saw_error)
        if status.state == "failed" and not saw_error:
            yield status.last_error or Error(
                error="modal", summary=status.detail or "the run failed on Modal."
            )

    async def history(self) -> list[AnyRecord]:
        """Every record the run has logged so far (no waiting for more)."""
        import modal.exception as mx

        require_credentials()
        call = self._function_call()

        async def collect() -> list[Any]:
            return [e async for e in call.logs.fetch.aio(until=datetime.now(UTC))]

        try:
            entries = await guarded_call(
                collect(),
                what=f"reading the logs of {self.run or self.call_id}",
                timeout=max(self.settings.timeout_s, 60.0),
            )
        except mx.NotFoundError:
            raise UserError(f"Modal has no function call {self.call_id}.") from None
        assemblers: dict[str, LineAssembler] = {}
        out: list[AnyRecord] = []
        for entry in entries:
            out += assemblers.setdefault(str(entry.source), LineAssembler()).feed(entry.message)
        for assembler in assemblers.values():
            out += assembler.flush()
        return out

    async def status(self, *, tail: bool = True) -> RunStatus:
        """Where the run stands; a failed run carries its last error event (from the log tail)."""
        import modal.exception as mx

        require_credentials()
        call = self._function_call()
        what = f"checking run {self.run or self.call_id}"
        try:
            # Only a timeout: whatever else get() raises may be the remote function's own exception.
            result = await modal_call(call.get.aio(timeout=0), what=what, timeout=self.settings.timeout_s)
        except UserError:
            raise
        except TimeoutError:  # modal raises the builtin TimeoutError for "no outcome yet"
            return RunStatus("stopping" if self.record.stop_requested else "running")
        except mx.OutputExpiredError:
            return RunStatus("expired", "Modal no longer keeps this call's outcome (it ended a while ago).")
        except mx.FunctionTimeoutError:
            return await self._failed(
                "the run hit Modal's time limit for one call; continue it with --resume.", tail
            )
        except mx.NotFoundError:
            raise UserError(f"Modal has no function call {self.call_id}.") from None
        except (mx.AuthError, mx.ConnectionError, mx.PermissionDeniedError) as exc:
            mapped = translate_error(exc, what)
            raise (mapped or exc) from None
        except Exception as exc:  # the remote function's own failure
            if self.record.stop_requested:
                return RunStatus("stopped", "stopped on request.")
            return await self._failed(first_line(exc), tail)
        return RunStatus("finished", result=result)

    async def _failed(self, detail: str, tail: bool) -> RunStatus:
        last = await self.last_error_event() if tail else None
        return RunStatus("failed", last.summary if last else detail, last_error=last)

    async def last_error_event(self, entries: int = 500) -> Error | None:
        """The newest ``error`` event in the run's recent log lines, if any."""
        call = self._function_call()

        async def collect() -> list[Any]:
            return [e async for e in call.logs.tail.aio(entries=entries, source="stdout")]

        try:
            recent = await guarded_call(
                collect(), what="reading the run's last log lines", timeout=self.settings.timeout_s
            )
        except UserError:
            return None
        assembler = LineAssembler()
        last: Error | None = None
        for entry in recent:
            for record in assembler.feed(entry.message):
                if isinstance(record, Error):
                    last = record
        for record in assembler.flush():
            if isinstance(record, Error):
                last = record
        return last

    async def stop(self) -> None:
        """Cancel the call: Modal ends the container; the Volume keeps every committed checkpoint."""
        require_credentials()
        call = self._function_call()
        await guarded_call(
            call.cancel.aio(),
            what=f"stopping run {self.run or self.call_id}",
            timeout=self.settings.timeout_s,
        )
        self.record = replace(self.record, stop_requested=True)
        if self._registry is not None and self.record.run:
            self._registry.save(self.record)

    def _need_run(self) -> str:
        if not self.record.run:
            raise UserError(
                f"{self.call_id} was not launched from this machine, so its run name is unknown.",
                hint="Use the run name (the spec's `run`) with `soma-console modal checkpoints`.",
            )
        return self.record.run

    async def checkpoints(self) -> list[RemoteCheckpoint]:
        require_credentials()
        return await list_remote_checkpoints(self._volume(), self._need_run())

    async def download(
        self,
        which: str = "latest",
        dest_dir: Path | None = None,
        *,
        progress: Progress | None = None,
        home: Home | None = None,
    ) -> Path:
        """Download ``latest``, ``final`` or a step's checkpoint (weights + manifest); resumable."""
        return await download_of(
            self._need_run(),
            which,
            dest_dir,
            settings=replace(self.settings, volume_name=self.record.volume_name),
            progress=progress,
            home=home,
        )


def _volume_of(settings: ModalSettings) -> ModalVolume:
    return ModalVolume(settings.volume_name, timeout=settings.timeout_s, environment=settings.environment)


async def checkpoints_of(run: str, *, settings: ModalSettings) -> list[RemoteCheckpoint]:
    """A run's checkpoints on the configured Volume, whether or not this machine launched it."""
    require_credentials()
    return await list_remote_checkpoints(_volume_of(settings), run)


async def download_of(
    run: str,
    which: str = "latest",
    dest_dir: Path | None = None,
    *,
    settings: ModalSettings,
    progress: Progress | None = None,
    home: Home | None = None,
) -> Path:
    """Download one of a run's checkpoints from the Volume into ``dest_dir``.

    ``dest_dir`` defaults to ``<data dir>/modal/checkpoints/<run>/``. The weights and the manifest
    land side by side (``<stem>.safetensors`` and ``<stem>.json``), as a local run leaves them.
    """
    require_credentials()
    volume = _volume_of(settings)
    ckpt = pick_checkpoint(await list_remote_checkpoints(volume, run), which)
    if dest_dir is None:
        if home is None:
            raise UsageError("give a destination folder for the download.")
        dest_dir = home.data_dir / "modal" / "checkpoints" / run
    return await download_checkpoint(volume, ckpt, dest_dir, progress=progress)


__all__ = [
    "ModalRun",
    "ModalRunRecord",
    "ModalRunRegistry",
    "ModalSettings",
    "RunStatus",
    "checkpoints_of",
    "download_of",
]
