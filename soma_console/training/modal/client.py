"""Talking to Modal safely: settings, the local credentials check, and one call at a time under a timeout.

Every Modal call soma-console makes goes through :func:`guarded_call` (or :func:`modal_call` where
an exception may be the remote function's own): it runs under its own timeout, because a token with
no network makes the modal client retry for about a minute, and the client's connection and
credential failures come out as one sentence. Credentials are looked for on this machine first
(:func:`require_credentials`), so a missing token is reported before any network call.

:class:`ModalVolume` and :class:`ModalCallLogs` adapt ``modal.Volume`` and ``FunctionCall.logs`` to
the small interfaces that ``volume`` and ``logs`` work with.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from soma_console.errors import UsageError, UserError
from soma_console.training.modal.names import (
    DEFAULT_APP,
    DEFAULT_CRON_APP,
    DEFAULT_GPU,
    DEFAULT_VOLUME,
    GPU_TYPES,
    MAX_GPUS,
)
from soma_console.training.modal.volume import VolumeFile

if TYPE_CHECKING:
    from soma_console.config import Settings

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 20.0
TIMEOUT_ENV = "SOMA_CONSOLE_MODAL_TIMEOUT"


# ---- settings and credentials -------------------------------------------------------------------


@dataclass(frozen=True)
class ModalSettings:
    """``[modal]`` in config.toml: app, cron_app, volume, gpu, timeout_seconds, environment."""

    app_name: str = DEFAULT_APP
    cron_app_name: str = DEFAULT_CRON_APP
    volume_name: str = DEFAULT_VOLUME
    gpu: str = DEFAULT_GPU
    timeout_s: float = DEFAULT_TIMEOUT_S
    environment: str | None = None

    @classmethod
    def load(cls, settings: Settings | None = None, **overrides: Any) -> ModalSettings:
        base = cls()
        if settings is not None:
            sec = settings.section("modal")
            base = cls(
                app_name=str(sec.get("app", base.app_name)),
                cron_app_name=str(sec.get("cron_app", base.cron_app_name)),
                volume_name=str(sec.get("volume", base.volume_name)),
                gpu=str(sec.get("gpu", base.gpu)),
                timeout_s=settings.number("modal.timeout_seconds", base.timeout_s, minimum=0.1),
                environment=sec.get("environment") or None,
            )
        env_timeout = os.environ.get(TIMEOUT_ENV)
        if env_timeout:
            try:
                base = replace(base, timeout_s=max(0.1, float(env_timeout)))
            except ValueError:
                raise UsageError(f"{TIMEOUT_ENV}={env_timeout!r} is not a number of seconds.") from None
        chosen = {k: v for k, v in overrides.items() if v is not None}
        result = replace(base, **chosen)
        check_gpu(result.gpu)
        return result


def check_gpu(gpu: str, gpus: int = 1) -> None:
    if gpu not in GPU_TYPES:
        raise UsageError(f"unknown GPU type {gpu!r}.", hint=f"Use one of {', '.join(GPU_TYPES)}.")
    if not 1 <= gpus <= MAX_GPUS:
        raise UsageError(f"--gpus must be between 1 and {MAX_GPUS}, not {gpus}.")


def modal_config_path() -> Path:
    return Path(os.environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml"))


def find_credentials() -> str | None:
    """Where Modal credentials would come from, or None; reads only local files and the environment."""
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return "MODAL_TOKEN_ID/MODAL_TOKEN_SECRET"
    if os.environ.get("MODAL_OAUTH_REFRESH_TOKEN") and os.environ.get("MODAL_OAUTH_CLIENT_ID"):
        return "MODAL_OAUTH_* variables"
    path = modal_config_path()
    try:
        with path.open("rb") as fh:
            profiles = tomllib.load(fh)
    except (OSError, ValueError):
        return None
    wanted = os.environ.get("MODAL_PROFILE")
    for name, prof in profiles.items():
        if not isinstance(prof, dict) or (wanted and name != wanted):
            continue
        if prof.get("token_id") and prof.get("token_secret"):
            return f"{path} [{name}]"
    return None


def require_credentials() -> str:
    source = find_credentials()
    if source is None:
        raise UserError(
            "no Modal credentials found (no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET, nothing in "
            f"{modal_config_path()}).",
            hint="Run `modal token new`, or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET.",
        )
    return source


# ---- one Modal call: timeout and errors -----------------------------------------------------------


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate_error(exc: BaseException, what: str) -> UserError | None:
    """A Modal client failure as one sentence, or None when it is not one we know how to explain.

    ``NotFoundError`` is left to the caller, who knows what was not found (app, Volume, call).
    """
    import modal.exception as mx

    if isinstance(exc, mx.AuthError):
        return UserError(
            f"Modal rejected the credentials while {what} ({first_line(exc)}).",
            hint="Run `modal token new` to make a fresh token.",
        )
    if isinstance(exc, mx.LogsFetchError):
        return UserError(f"Modal would not return the logs while {what}: {first_line(exc)}.")
    if isinstance(exc, mx.ResourceExhaustedError):
        return UserError(
            f"Modal has no capacity for this right now while {what} ({first_line(exc)}).",
            hint="Try again later, or pick another --gpu type.",
        )
    if isinstance(exc, mx.PermissionDeniedError):
        return UserError(f"Modal refused the request while {what}: {first_line(exc)}.")
    from grpclib.exceptions import StreamTerminatedError

    # Not every OSError: FileNotFoundError and friends mean something else (a missing file).
    if isinstance(exc, mx.ConnectionError | ConnectionError | socket.gaierror | StreamTerminatedError):
        return UserError(
            f"cannot reach Modal while {what} ({first_line(exc)}).",
            hint="Check the network; nothing was changed.",
        )
    return None


async def modal_call(awaitable: Awaitable[T], *, what: str, timeout: float) -> T:
    """Await one Modal call under ``timeout`` seconds; running out of time is one clear sentence.

    Nothing else is translated here, so an exception that comes back from the remote function
    (``FunctionCall.get``) passes through untouched; :func:`guarded_call` adds the client's
    connection and credential errors.
    """
    try:
        async with asyncio.timeout(timeout) as cm:
            return await awaitable
    except TimeoutError:
        if cm.expired():
            raise UserError(
                f"Modal did not answer within {timeout:g} s while {what}.",
                hint="Check the network, or raise [modal] timeout_seconds in config.toml.",
            ) from None
        raise


async def guarded_call(awaitable: Awaitable[T], *, what: str, timeout: float) -> T:
    """:func:`modal_call` plus translation of the client's connection and auth errors."""
    try:
        return await modal_call(awaitable, what=what, timeout=timeout)
    except UserError:
        raise
    except Exception as exc:
        mapped = translate_error(exc, what)
        if mapped is None:
            raise
        raise mapped from None


# Waits between tries when Modal answers RESOURCE_EXHAUSTED (no capacity, rate limits): ~1 minute.
EXHAUSTED_BACKOFF_S: tuple[float, ...] = (2.0, 4.0, 8.0, 15.0, 30.0)


async def call_with_capacity_retry(
    make: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float,
    backoff: Sequence[float] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> T:
    """:func:`guarded_call` on ``make()``, tried again with back-off while Modal answers
    RESOURCE_EXHAUSTED (the request was refused, so nothing was created and a retry is safe); when the
    tries run out, one sentence."""
    import modal.exception as mx

    delays = list(EXHAUSTED_BACKOFF_S if backoff is None else backoff)
    while True:
        try:
            return await modal_call(make(), what=what, timeout=timeout)
        except mx.ResourceExhaustedError as exc:
            if not delays:
                mapped = translate_error(exc, what)
                assert mapped is not None
                raise mapped from None
            delay = delays.pop(0)
            if on_wait is not None:
                on_wait(f"Modal has no capacity right now ({first_line(exc)}); trying again in {delay:g} s")
            await asyncio.sleep(delay)
        except UserError:
            raise
        except Exception as exc:
            mapped = translate_error(exc, what)
            if mapped is None:
                raise
            raise mapped from None


# ---- Volume and logs adapters --------------------------------------------------------------------


class ModalVolume:
    """A ``modal.Volume`` as the ``VolumeReader`` that ``volume`` works with."""

    def __init__(self, name: str, *, timeout: float, environment: str | None = None) -> None:
        import modal
        import modal.exception as mx

        self.name = name
        self._timeout = timeout
        try:
            self._volume = modal.Volume.from_name(name, environment_name=environment)
        except mx.InvalidError as exc:
            raise UserError(f"{name!r} is not a valid Modal Volume name ({first_line(exc)}).") from None
        self._hydrated = False

    async def hydrate(self) -> str:
        """Look the Volume up; a wrong name is a clear error. Returns its object id."""
        import modal.exception as mx

        if not self._hydrated:
            try:
                await guarded_call(
                    self._volume.hydrate.aio(), what=f"looking up Volume {self.name!r}", timeout=self._timeout
                )
            except mx.NotFoundError:
                raise UserError(
                    f"Modal has no Volume named {self.name!r}.",
                    hint="Check --volume or [modal] volume in config.toml; `modal volume list` lists yours.",
                ) from None
            self._hydrated = True
        return str(self._volume.object_id)

    async def listdir(self, path: str) -> list[VolumeFile] | None:
        import modal.exception as mx

        await self.hydrate()
        try:
            entries = await guarded_call(
                self._volume.listdir.aio(path),
                what=f"listing {path} on Volume {self.name!r}",
                timeout=self._timeout,
            )
        except (mx.NotFoundError, FileNotFoundError):
            return None
        return [
            VolumeFile(
                path=e.path,
                is_dir=getattr(e.type, "name", "") == "DIRECTORY",
                size=int(e.size),
                mtime=float(e.mtime),
            )
            for e in entries
        ]

    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        import modal.exception as mx

        await self.hydrate()
        what = f"reading {path} from Volume {self.name!r}"
        stream = self._volume.read_file.aio(path).__aiter__()
        while True:
            try:
                chunk = await guarded_call(stream.__anext__(), what=what, timeout=max(self._timeout, 120.0))
            except StopAsyncIteration:
                return
            except (mx.NotFoundError, FileNotFoundError):
                raise UserError(f"{path} is not on Volume {self.name!r} (any more).") from None
            yield chunk

    async def _file_links(self, path: str, start: int) -> Any:
        """``VolumeGetFile2`` from ``start``: fresh download links for the rest of the file.

        modal 1.6.4's public ``Volume.read_file`` always starts at byte 0, but the RPC beneath it takes
        a start offset. This asks for it directly, on the modal client's own event loop (its gRPC
        channel lives there). It relies on that client version's internals (the version is pinned,
        and tests/fake_modal speaks exactly its wire API)."""
        from modal._utils.async_utils import synchronizer
        from modal_proto import api_pb2

        raw = synchronizer._translate_in(self._volume)
        req = api_pb2.VolumeGetFile2Request(
            volume_id=raw.object_id, path=path, start=start, client_pads_blocks=True
        )

        async def call() -> Any:
            return await raw.client._stub.VolumeGetFile2(req)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), synchronizer._get_loop()))

    async def read_range(self, path: str, start: int) -> AsyncIterator[bytes]:
        """The file's bytes from ``start`` on. Download links expire: when one is refused, fresh links
        are asked for from the byte reached, so a long download never restarts at byte 0."""
        import httpx
        import modal.exception as mx
        from modal._utils.blob_utils import BLOCK_SIZE

        await self.hydrate()
        what = f"reading {path} from Volume {self.name!r}"
        pos, refreshes = start, 0
        async with httpx.AsyncClient(timeout=httpx.Timeout(max(self._timeout, 120.0))) as http:
            while True:
                try:
                    resp = await guarded_call(self._file_links(path, pos), what=what, timeout=self._timeout)
                except (mx.NotFoundError, FileNotFoundError):
                    raise UserError(f"{path} is not on Volume {self.name!r} (any more).") from None
                if resp.len == 0:
                    return
                block_start = resp.start
                try:
                    for url in resp.get_urls:
                        block_end = min(resp.start + resp.len, (block_start // BLOCK_SIZE + 1) * BLOCK_SIZE)
                        want = block_end - block_start
                        got = await http.get(url)
                        if got.status_code in (401, 403, 404, 410):
                            raise _LinkExpired(f"HTTP {got.status_code}")
                        got.raise_for_status()
                        body = got.content
                        if len(body) > want:
                            raise _LinkExpired(f"a block of {len(body)} bytes, not {want}")
                        # trailing zero bytes may be left out of a block: put them back
                        yield body.ljust(want, b"\0")
                        block_start = pos = block_end
                        refreshes = 0
                    return
                except (_LinkExpired, httpx.TransportError, httpx.HTTPStatusError) as exc:
                    refreshes += 1
                    if refreshes > len(EXHAUSTED_BACKOFF_S):
                        raise UserError(
                            f"the download links for {path} kept failing at byte {pos} ({exc}).",
                            hint="Run the same command again to resume it.",
                        ) from None
                    await asyncio.sleep(min(5.0, 0.2 * refreshes))


class _LinkExpired(Exception):
    """A download link was refused (expired) or sent something else: ask for fresh links."""


class ModalCallLogs:
    """``FunctionCall.logs`` as the ``LogSource`` the follower reads."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def stream(self) -> AsyncIterator[Any]:
        return self._call.logs.stream.aio()

    def fetch(self, since: datetime | None, until: datetime) -> AsyncIterator[Any]:
        if since is None:
            return self._call.logs.fetch.aio(until=until)
        return self._call.logs.fetch.aio(since=since, until=until)
