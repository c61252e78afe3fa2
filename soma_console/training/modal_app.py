"""The Modal apps soma-console deploys: GPU training, and the scheduled train -> commit -> reveal round.

Both are built by a function (not at import time) so that the app, Volume, GPU and schedule are the
user's choice; their functions are ``serialized=True`` so the container runs exactly the function
deployed, with soma-console's own package mounted from the deploying machine (hence the image's
Python version is the local one). Inside the container the function is a few lines that call
:mod:`soma_console.training.modal_container` with the Volume's mount point and its ``commit``.

What runs where:

* your machine: ``soma-console`` (deploy, launch, logs, checkpoints, downloads, cron status);
* Modal, ``<app>.train`` (one GPU container per run; ``--gpus N`` = N GPUs in that container): the
  trainer worker, writing checkpoints to the Volume;
* Modal, ``<cron app>.cron_round`` (on its schedule, one at a time): resume + train + the chain step,
  with the signer and storage credentials from Modal Secrets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import modal

from soma_console.training.modal_container import CronPlan

VOLUME_MOUNT = "/vol"
TRAIN_FUNCTION = "train"
CRON_FUNCTION = "cron_round"
DEFAULT_APP = "soma-console"
DEFAULT_CRON_APP = "soma-console-cron"
DEFAULT_VOLUME = "soma-console-runs"
DEFAULT_GPU = "A100"
# GPU types a run may ask for: the ones the V1 model (fp32 Adam state ~18 GiB) trains on comfortably.
GPU_TYPES = ("A100", "A100-40GB", "A100-80GB", "H100", "H200")
MAX_GPUS = 8
SIGNER_SECRET = "soma-signer"  # noqa: S105 -- a Secret's name; it holds SOMA_SECRET_KEY
STORAGE_SECRET = "soma-storage"  # noqa: S105 -- a Secret's name; SOMA_STORAGE + bucket keys
DAY_S = 24 * 3600

TORCH_PACKAGES = (
    "soma-models[torch]>=0.1.7,<0.2",
    "datasets>=3.0",
    "torch>=2.4",
    "safetensors>=0.4",
    "numpy>=1.26",
)
FLAX_PACKAGES = ("soma-models[flax]>=0.1.7,<0.2", "flax>=0.10", "optax>=0.2", "jax[cuda12]>=0.5")
# What soma_console itself imports in the container (the cron round also talks to the chain).
CONSOLE_PACKAGES = (
    "soma-sdk>=0.1.15,<0.2",
    "click>=8.1",
    "rich>=13.7",
    "platformdirs>=4.2",
    "httpx>=0.27",
    "cryptography>=42",
    "pyyaml>=6",
    "boto3>=1.34",
)


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


def image_packages(flax: bool) -> tuple[str, ...]:
    return TORCH_PACKAGES + CONSOLE_PACKAGES + (FLAX_PACKAGES if flax else ())


def build_image(cfg: ModalAppConfig) -> modal.Image:
    return (
        modal.Image.debian_slim(python_version=cfg.python_version)
        .pip_install(*image_packages(cfg.flax))
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

        from soma_console.training.modal_container import train_entry

        volume = modal.Volume.from_name(volume_name)
        return train_entry(
            spec_json,
            resume=resume,
            gpus=gpus,
            volume_root=Path(VOLUME_MOUNT),
            commit=volume.commit,
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
    cfg: ModalAppConfig, plan: CronPlan, *, every: timedelta | None = None, cron: str | None = None
) -> modal.App:
    """The scheduled app: ``cron_round()`` runs one round (see ``modal_container.cron_entry``)."""
    app = modal.App(plan.app_name)
    volume_name = cfg.volume_name

    @app.function(
        name=CRON_FUNCTION,
        image=build_image(cfg),
        gpu=cfg.gpu_spec(plan.gpus),
        volumes={VOLUME_MOUNT: modal.Volume.from_name(volume_name, create_if_missing=True)},
        secrets=[modal.Secret.from_name(name) for name in (SIGNER_SECRET, STORAGE_SECRET, *cfg.secrets)],
        timeout=cfg.timeout_s,
        schedule=schedule_from(every, cron),
        max_containers=1,  # rounds never overlap: the next one waits for the one still training
        serialized=True,
    )
    def cron_round() -> dict[str, Any]:
        from pathlib import Path

        from soma_console.training.modal_container import cron_entry

        volume = modal.Volume.from_name(volume_name)
        return cron_entry(
            plan, volume_root=Path(VOLUME_MOUNT), commit=volume.commit, out=sys.stdout, err=sys.stderr
        )

    return app
