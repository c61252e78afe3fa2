"""The Modal apps soma-console deploys: GPU training, and the scheduled train -> commit -> reveal round.

Both are built by a function (not at import time) so that the app, Volume, GPU and schedule are the
user's choice; their functions are ``serialized=True`` so the container runs exactly the function
deployed, with soma-console's own package mounted from the deploying machine (hence the image's
Python version is the local one). Inside the container the function is a few lines that call
:mod:`soma_console.training.modal.container` with the Volume's mount point and its ``commit``.

What runs where:

* your machine: ``soma-console`` (deploy, launch, logs, checkpoints, downloads, cron status);
* Modal, ``<app>.train`` (one GPU container per run; ``--gpus N`` = N GPUs in that container): the
  trainer worker, writing checkpoints to the Volume;
* Modal, ``<cron app>.reveal_round`` (CPU only, every few minutes of wall clock, derived from the
  chain's epoch length): reveal what is due, alarm when a window is closing;
* Modal, ``<cron app>.cron_round`` (on the user's schedule, one at a time): reveal, resume + train,
  then reveal and commit, with the signer and storage credentials from Modal Secrets.

The image installs the project's own dependency list (:func:`project_requirements`), so a package
the chain step needs cannot be missing from it; the reveal image leaves out the trainer's packages.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import modal

from soma_console.training.cron_lease import lease_dict_name
from soma_console.training.cron_plan import CronPlan
from soma_console.training.modal.names import (
    CRON_FUNCTION,
    DEFAULT_APP,
    DEFAULT_GPU,
    DEFAULT_VOLUME,
    REVEAL_FUNCTION,
    TRAIN_FUNCTION,
    VOLUME_MOUNT,
)

SIGNER_SECRET = "soma-signer"  # noqa: S105 -- a Secret's name; it holds SOMA_SECRET_KEY
STORAGE_SECRET = "soma-storage"  # noqa: S105 -- a Secret's name; SOMA_STORAGE + bucket keys
DAY_S = 24 * 3600

PROJECT = "soma-console"
# Only the trainer needs these; the CPU-only reveal image leaves them out (they are gigabytes).
TRAINING_ONLY = frozenset({"torch", "datasets", "soma-models"})
# The GPU image needs jax's CUDA build, not the CPU wheel the project's own pin names.
CUDA_VARIANTS = {"jax": "jax[cuda12]"}
REVEAL_TIMEOUT_S = 900
REVEAL_CPU = 0.25
REVEAL_MEMORY_MB = 512


def _requirement_name(req: str) -> str:
    return re.split(r"[\[<>=!~;\s]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def source_pyproject() -> Path:
    """Where the source tree's pyproject.toml is when soma-console runs from one."""
    import soma_console

    return Path(soma_console.__file__).resolve().parent.parent / "pyproject.toml"


def project_requirements() -> list[str]:
    """The project's own dependency list: the source tree's pyproject.toml when soma-console runs from
    one (what a developer just edited), else the installed package's metadata (a wheel install)."""
    from importlib import metadata

    pyproject = source_pyproject()
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        project = {}
    if project.get("name") == PROJECT:
        reqs = list(project.get("dependencies", []))
        for extra, items in project.get("optional-dependencies", {}).items():
            reqs += [f'{item}; extra == "{extra}"' for item in items]
        return reqs
    try:
        found = metadata.requires(PROJECT)
    except metadata.PackageNotFoundError:
        found = None
    if not found:
        raise RuntimeError(f"cannot find {PROJECT}'s dependency list (no pyproject.toml, not installed).")
    return list(found)


def image_packages(flax: bool, *, training: bool = True) -> tuple[str, ...]:
    """What the image installs: the project's base dependencies (+ its ``flax`` extra), nothing hand-kept."""
    out = []
    for req in project_requirements():
        spec, _, marker = req.partition(";")
        spec, marker = spec.strip(), marker.strip()
        if marker:
            extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if extra is None or extra.group(1) != "flax" or not flax:
                continue
        name = _requirement_name(spec)
        if not training and name in TRAINING_ONLY:
            continue
        if name in CUDA_VARIANTS and training:
            spec = CUDA_VARIANTS[name] + spec[len(name) :]
        out.append(spec)
    return tuple(out)


@dataclass(frozen=True)
class ModalAppConfig:
    app_name: str = DEFAULT_APP
    volume_name: str = DEFAULT_VOLUME
    gpu: str = DEFAULT_GPU
    timeout_s: int = DAY_S  # Modal's ceiling for one call; longer runs continue with --resume
    flax: bool = False
    secrets: tuple[str, ...] = ()
    python_version: str = field(default_factory=lambda: f"{sys.version_info.major}.{sys.version_info.minor}")

    def gpu_spec(self, gpus: int = 1) -> str:
        return self.gpu if gpus == 1 else f"{self.gpu}:{gpus}"


def build_image(cfg: ModalAppConfig, *, training: bool = True) -> modal.Image:
    return (
        modal.Image.debian_slim(python_version=cfg.python_version)
        .pip_install(*image_packages(cfg.flax, training=training))
        .env({"PYTHONUNBUFFERED": "1"})
        .add_local_python_source("soma_console")
    )


def build_train_app(cfg: ModalAppConfig) -> modal.App:
    """The training app: ``train(spec_json, resume=False, gpus=1) -> summary``."""
    app = modal.App(cfg.app_name)
    volume_name = cfg.volume_name

    @app.function(
        name=TRAIN_FUNCTION,
        image=build_image(cfg),
        gpu=cfg.gpu,
        volumes={VOLUME_MOUNT: modal.Volume.from_name(volume_name, create_if_missing=True)},
        secrets=[modal.Secret.from_name(name) for name in cfg.secrets],
        timeout=cfg.timeout_s,
        serialized=True,
    )
    def train(spec_json: str, resume: bool = False, gpus: int = 1) -> dict[str, Any]:
        from pathlib import Path

        from soma_console.training.modal.container import train_entry

        volume = modal.Volume.from_name(volume_name)
        return train_entry(
            spec_json,
            resume=resume,
            gpus=gpus,
            volume_root=Path(VOLUME_MOUNT),
            commit=volume.commit,
            reload=volume.reload,
            out=sys.stdout,
            err=sys.stderr,
        )

    return app


def schedule_from(every: timedelta | None, cron: str | None) -> modal.Period | modal.Cron:
    if cron:
        return modal.Cron(cron)
    if every is None:
        raise ValueError("give every or cron")
    seconds = int(every.total_seconds())
    # The largest whole unit, so that Modal's dashboard shows "every 6 hours", not 21600 seconds.
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0:
            return modal.Period(**{unit: seconds // size})
    return modal.Period(seconds=seconds)


def build_cron_app(
    cfg: ModalAppConfig,
    plan: CronPlan,
    *,
    reveal_cron: str,
    every: timedelta | None = None,
    cron: str | None = None,
) -> modal.App:
    """The scheduled app: ``reveal_round()`` (CPU, wall-clock ``reveal_cron``) reveals what is due;
    ``cron_round()`` (GPU, the user's schedule) trains and commits. Both take the journal lease."""
    app = modal.App(plan.app_name)
    volume_name = cfg.volume_name
    lease_name = lease_dict_name(plan.app_name)
    volumes = {VOLUME_MOUNT: modal.Volume.from_name(volume_name, create_if_missing=True)}

    @app.function(
        name=REVEAL_FUNCTION,
        image=build_image(cfg, training=False),
        cpu=REVEAL_CPU,
        memory=REVEAL_MEMORY_MB,
        volumes=volumes,
        secrets=[modal.Secret.from_name(SIGNER_SECRET), *(modal.Secret.from_name(n) for n in cfg.secrets)],
        timeout=REVEAL_TIMEOUT_S,
        schedule=modal.Cron(reveal_cron),  # wall clock: a redeploy does not move it
        max_containers=1,
        serialized=True,
    )
    def reveal_round() -> dict[str, Any]:
        from soma_console.core.onchain.cron_rounds import reveal_entry

        volume = modal.Volume.from_name(volume_name)
        return reveal_entry(
            plan,
            volume_root=Path(VOLUME_MOUNT),
            commit=volume.commit,
            reload=volume.reload,
            lease_store=modal.Dict.from_name(lease_name, create_if_missing=True),
            err=sys.stderr,
        )

    @app.function(
        name=CRON_FUNCTION,
        image=build_image(cfg),
        gpu=cfg.gpu_spec(plan.gpus),
        volumes=volumes,
        secrets=[modal.Secret.from_name(name) for name in (SIGNER_SECRET, STORAGE_SECRET, *cfg.secrets)],
        timeout=cfg.timeout_s,
        schedule=schedule_from(every, cron),
        max_containers=1,  # one training round at a time; the journal itself is guarded by the lease
        serialized=True,
    )
    def cron_round() -> dict[str, Any]:
        from soma_console.core.onchain.cron_rounds import cron_entry

        volume = modal.Volume.from_name(volume_name)
        return cron_entry(
            plan,
            volume_root=Path(VOLUME_MOUNT),
            commit=volume.commit,
            reload=volume.reload,
            lease_store=modal.Dict.from_name(lease_name, create_if_missing=True),
            out=sys.stdout,
            err=sys.stderr,
        )

    return app
