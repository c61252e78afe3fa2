"""Deploying the training app and launching a run on Modal (detached); see ``backend``.

Every check that can be made before spending anything is made first: credentials, the GPU
request, the app (deployed now if missing), the Volume it writes to, and that a new run does
not overwrite an existing one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from soma_console.errors import UserError
from soma_console.training.modal.backend import ModalRun, ModalRunRecord, ModalRunRegistry
from soma_console.training.modal.client import (
    ModalSettings,
    ModalVolume,
    call_with_capacity_retry,
    check_gpu,
    first_line,
    guarded_call,
    require_credentials,
)
from soma_console.training.modal.names import TRAIN_FUNCTION, VOLUME_MOUNT
from soma_console.training.modal.spec import SPEC_RUN, parse_spec
from soma_console.training.modal.volume import list_remote_checkpoints
from soma_console.training.run_info import ACTIVE

if TYPE_CHECKING:
    from soma_console.config import Home, Settings

DEPLOY_TIMEOUT_S = 1800.0  # the first image build installs torch: minutes, not seconds


async def deploy_train_app(settings: ModalSettings, *, flax: bool = False, show_output: bool = True) -> str:
    """Deploy (or update) the training app; returns its name."""

    from soma_console.training.modal.app import ModalAppConfig, build_train_app

    require_credentials()
    app = build_train_app(
        ModalAppConfig(
            app_name=settings.app_name, volume_name=settings.volume_name, gpu=settings.gpu, flax=flax
        )
    )
    await deploy(app, settings.app_name, settings=settings, show_output=show_output)
    return settings.app_name


async def deploy(app: Any, name: str, *, settings: ModalSettings, show_output: bool) -> None:
    import modal
    import modal.exception as mx

    what = f"deploying Modal app {name!r}"
    output = modal.enable_output() if show_output else contextlib.nullcontext()
    try:
        with output:
            await guarded_call(
                app.deploy.aio(name=name, environment_name=settings.environment),
                what=what,
                timeout=DEPLOY_TIMEOUT_S,
            )
    except mx.NotFoundError as exc:
        text = first_line(exc)
        hint = (
            "Create it first; docs/modal.md lists the secrets the apps expect." if "ecret" in text else None
        )
        raise UserError(f"deploying {name!r} failed: {text}.", hint=hint) from None
    except mx.ImageBuildError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = lines[-1] if len(lines) > 1 else "see the build logs"
        image = getattr(exc, "image_id", None) or "IMAGE_ID"
        raise UserError(
            f"deploying {name!r} failed: the image did not build ({reason}).",
            hint=f"`modal image logs {image}` shows the build; nothing was deployed.",
        ) from None
    except mx.Error as exc:
        raise UserError(f"deploying {name!r} failed: {first_line(exc)}.") from None


async def _train_function(
    settings: ModalSettings, *, deploy_if_missing: bool, on_deploy: Callable[[str], None] | None
) -> Any:
    import modal
    import modal.exception as mx

    fn = modal.Function.from_name(settings.app_name, TRAIN_FUNCTION, environment_name=settings.environment)
    try:
        await guarded_call(
            fn.hydrate.aio(), what=f"looking up Modal app {settings.app_name!r}", timeout=settings.timeout_s
        )
        return fn
    except mx.NotFoundError:
        if not deploy_if_missing:
            raise UserError(
                f"the Modal app {settings.app_name!r} is not deployed.",
                hint="Run `soma-console modal deploy` (or check --app / [modal] app in config.toml).",
            ) from None
    if on_deploy is not None:
        on_deploy(
            f"deploying Modal app {settings.app_name!r} (first time: the image build takes a few minutes)"
        )
    await deploy_train_app(settings, show_output=on_deploy is not None)
    fn = modal.Function.from_name(settings.app_name, TRAIN_FUNCTION, environment_name=settings.environment)
    await guarded_call(
        fn.hydrate.aio(), what=f"looking up Modal app {settings.app_name!r}", timeout=settings.timeout_s
    )
    return fn


async def launch_modal_run(
    spec: Mapping[str, Any] | str,
    *,
    gpu: str | None = None,
    gpus: int = 1,
    resume: bool = False,
    app_name: str | None = None,
    volume_name: str | None = None,
    home: Home | None = None,
    settings: ModalSettings | Settings | None = None,
    deploy_if_missing: bool = True,
    on_deploy: Callable[[str], None] | None = None,
) -> ModalRun:
    """Start a training run on Modal, detached; return its handle at once.

    Checks, in order and before spending anything: credentials, the GPU request, the app (deployed
    now if missing and ``deploy_if_missing``), that the Volume exists and is the one the app writes
    to, and that a new run does not overwrite an existing one (``resume`` continues it instead).
    """
    import modal.exception as mx

    parsed = parse_spec(spec)
    base = settings if isinstance(settings, ModalSettings) else ModalSettings.load(settings)
    chosen: dict[str, Any] = {"gpu": gpu, "app_name": app_name, "volume_name": volume_name}
    cfg = replace(base, **{k: v for k, v in chosen.items() if v})
    check_gpu(cfg.gpu, gpus)
    require_credentials()
    run_name = parsed[SPEC_RUN]
    registry = ModalRunRegistry(home) if home is not None else None
    if registry is not None:
        previous = registry.find(run_name)
        if previous is not None:
            state = (await ModalRun(previous, settings=cfg, registry=registry).status(tail=False)).state
            if state in ACTIVE:
                raise UserError(
                    f"run {run_name!r} is still running on Modal ({previous.call_id}).",
                    hint="Stop it with `soma-console modal stop` first, or pick another run name.",
                )

    fn = await _train_function(cfg, deploy_if_missing=deploy_if_missing, on_deploy=on_deploy)
    volume = ModalVolume(cfg.volume_name, timeout=cfg.timeout_s, environment=cfg.environment)
    volume_id = await volume.hydrate()
    info = await guarded_call(fn.info.aio(), what="reading the app's settings", timeout=cfg.timeout_s)
    mounted = info.volumes.get(VOLUME_MOUNT)
    if mounted is not None and mounted.volume_id and mounted.volume_id != volume_id:
        raise UserError(
            f"the Modal app {cfg.app_name!r} writes to a different Volume than {cfg.volume_name!r}.",
            hint="Use the Volume it was deployed with, or redeploy: soma-console modal deploy --volume NAME.",
        )
    existing = await list_remote_checkpoints(volume, run_name)
    if existing and not resume:
        raise UserError(
            f"run {run_name!r} already has {len(existing)} checkpoint(s) on Volume {cfg.volume_name!r}.",
            hint="Pass --resume to continue it, or pick another run name.",
        )
    if resume and not existing:
        raise UserError(f"run {run_name!r} has no checkpoint on Volume {cfg.volume_name!r} to resume from.")

    deployed_gpu = info.gpus[0][0] if getattr(info, "gpus", None) else None
    target = (
        fn
        if (gpus == 1 and deployed_gpu == cfg.gpu)
        else fn.with_options(gpu=f"{cfg.gpu}:{gpus}" if gpus > 1 else cfg.gpu)
    )
    spec_text = json.dumps(parsed, sort_keys=True)
    launched_at = time.time()
    try:
        call = await call_with_capacity_retry(
            lambda: target.spawn.aio(spec_text, resume=resume, gpus=gpus),
            what=f"launching run {run_name!r} (it may still start: check Modal's dashboard before retrying)",
            timeout=cfg.timeout_s,
            on_wait=on_deploy,
        )
    except mx.NotFoundError:
        raise UserError(
            f"the Modal app {cfg.app_name!r} stopped before the run could start.",
            hint="Redeploy it with `soma-console modal deploy`.",
        ) from None
    record = ModalRunRecord(
        run=run_name,
        call_id=str(call.object_id),
        app_name=cfg.app_name,
        volume_name=cfg.volume_name,
        gpu=cfg.gpu,
        gpus=gpus,
        launched_at=launched_at,
        resume=resume,
        spec=parsed,
    )
    if registry is not None:
        registry.save(record)
    return ModalRun(record, settings=cfg, registry=registry)


__all__ = ["deploy", "deploy_train_app", "launch_modal_run"]
