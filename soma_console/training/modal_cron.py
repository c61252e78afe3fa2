"""``soma-console cron``: the scheduled train -> commit -> reveal round on Modal, from this machine.

``deploy`` builds the cron app (see ``modal_app.build_cron_app``) with the run's spec, the step
count and the schedule baked in, and deploys it: Modal runs it on schedule only while it is deployed.
``status`` shows whether it is deployed, its schedule, and what the rounds did and still owe (from the
journal on the Volume). ``remove`` stops the app, which ends the schedule; the Volume keeps everything.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from soma_console.errors import UsageError, UserError
from soma_console.fsutil import atomic_write_text
from soma_console.training import cron_journal
from soma_console.training.modal_backend import deploy
from soma_console.training.modal_client import (
    ModalSettings,
    ModalVolume,
    check_gpu,
    guarded_call,
    require_credentials,
)
from soma_console.training.modal_container import CronPlan, load_lifecycle_hook
from soma_console.training.modal_spec import SPEC_RUN, parse_spec, volume_cron_journal

if TYPE_CHECKING:
    from soma_console.config import Home

CRON_FUNCTION = "cron_round"
MIN_PERIOD = timedelta(minutes=10)
_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_every(text: str) -> timedelta:
    """``90m``, ``6h``, ``1d``: the period between rounds (at least 10 minutes)."""
    match = _EVERY.match(text)
    if match is None:
        raise UsageError(
            f"--every {text!r} is not a period.", hint="Use a number and a unit, like 30m, 6h or 1d."
        )
    period = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if period < MIN_PERIOD:
        raise UsageError(f"--every {text} is too often; a round trains for a while, so use 10m or more.")
    return period


def check_cron_chain(chain: str) -> None:
    """The rounds run on Modal: a chain on this machine (devnet, localnet, loopback) is out of reach."""
    if chain in ("devnet", "localnet") or urlparse(chain).hostname in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(
            f"the scheduled rounds run on Modal and cannot reach the chain {chain!r} on this machine.",
            hint="Pass --chain testnet (or a public RPC URL).",
        )


@dataclass(frozen=True)
class CronDeployment:
    app_name: str
    volume_name: str
    run: str
    steps: int
    gpu: str
    gpus: int
    chain: str
    every_s: int | None
    cron: str | None
    deployed_at: float
    warnings: list[str] = field(default_factory=list)

    @property
    def schedule(self) -> str:
        return f"cron {self.cron}" if self.cron else f"every {timedelta(seconds=self.every_s or 0)}"


def _record_path(home: Home) -> Any:
    return home.data_dir / "modal" / "cron.json"


async def deploy_cron(
    spec: Any,
    *,
    every: str | None,
    cron: str | None,
    steps: int,
    gpus: int,
    chain: str,
    settings: ModalSettings,
    home: Home,
    show_output: bool = True,
) -> CronDeployment:
    from soma_console.training.modal_app import ModalAppConfig, build_cron_app

    if steps < 1:
        raise UsageError(f"--steps must be at least 1, not {steps}.")
    if every and cron:
        raise UsageError("give --every or --cron, not both.")
    period = parse_every(every or "6h") if not cron else None
    check_gpu(settings.gpu, gpus)
    parsed = parse_spec(spec)
    require_credentials()
    check_cron_chain(chain)
    plan = CronPlan(
        app_name=settings.cron_app_name,
        spec_json=json.dumps(parsed, sort_keys=True),
        steps=steps,
        gpus=gpus,
        chain=chain,
    )
    cfg = ModalAppConfig(app_name=settings.cron_app_name, volume_name=settings.volume_name, gpu=settings.gpu)
    try:
        app = build_cron_app(cfg, plan, every=period, cron=cron)
    except Exception as exc:  # modal validates the cron expression when the schedule is built
        raise UsageError(f"--cron {cron!r} is not a valid schedule ({exc}).") from None
    await deploy(app, settings.cron_app_name, settings=settings, show_output=show_output)
    warnings = []
    if load_lifecycle_hook() is None:
        warnings.append(
            "this build has no soma_console.core.lifecycle.run_cron_round: rounds will train and record "
            "it, and skip the commit/reveal step."
        )
    deployment = CronDeployment(
        app_name=settings.cron_app_name,
        volume_name=settings.volume_name,
        run=parsed[SPEC_RUN],
        steps=steps,
        gpu=settings.gpu,
        gpus=gpus,
        chain=chain,
        every_s=int(period.total_seconds()) if period else None,
        cron=cron,
        deployed_at=time.time(),
        warnings=warnings,
    )
    atomic_write_text(_record_path(home), json.dumps(asdict(deployment), indent=2, sort_keys=True))
    return deployment


@dataclass(frozen=True)
class CronStatus:
    app_name: str
    deployed: bool
    schedule: str | None
    gpus: list[tuple[str, int]]
    local: dict[str, Any] | None
    summary: cron_journal.CronSummary
    volume_found: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app_name,
            "deployed": self.deployed,
            "schedule": self.schedule,
            "gpus": [list(g) for g in self.gpus],
            "deployment": self.local,
            "rounds": self.summary.rounds,
            "pending": self.summary.pending,
            "last_error": self.summary.last_error,
            "volume_found": self.volume_found,
        }


async def cron_status(*, settings: ModalSettings, home: Home) -> CronStatus:
    import modal
    import modal.exception as mx

    require_credentials()
    local = None
    path = _record_path(home)
    if path.exists():
        try:
            local = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            local = None
    fn = modal.Function.from_name(
        settings.cron_app_name, CRON_FUNCTION, environment_name=settings.environment
    )
    deployed, schedule, gpus = True, None, []
    try:
        await guarded_call(
            fn.hydrate.aio(), what=f"looking up {settings.cron_app_name!r}", timeout=settings.timeout_s
        )
        info = await guarded_call(fn.info.aio(), what="reading the schedule", timeout=settings.timeout_s)
        schedule, gpus = info.schedule, list(info.gpus)
    except mx.NotFoundError:
        deployed = False
    volume = ModalVolume(settings.volume_name, timeout=settings.timeout_s, environment=settings.environment)
    entries: list[cron_journal.JournalEntry] = []
    volume_found = True
    try:
        listing = await volume.listdir(volume_cron_journal(settings.cron_app_name))
    except UserError:
        listing, volume_found = None, False
    if listing:
        data = bytearray()
        async for chunk in volume.read_file(volume_cron_journal(settings.cron_app_name)):
            data += chunk
        entries = cron_journal.parse(data.decode("utf-8", errors="replace").splitlines())
    return CronStatus(
        app_name=settings.cron_app_name,
        deployed=deployed,
        schedule=schedule,
        gpus=gpus,
        local=local,
        summary=cron_journal.summarize(entries),
        volume_found=volume_found,
    )


async def remove_cron(*, settings: ModalSettings, home: Home) -> None:
    import modal
    import modal.exception as mx

    require_credentials()
    try:
        app = await guarded_call(
            modal.App.lookup.aio(settings.cron_app_name, environment_name=settings.environment),
            what=f"looking up {settings.cron_app_name!r}",
            timeout=settings.timeout_s,
        )
    except mx.NotFoundError:
        raise UserError(
            f"no Modal app named {settings.cron_app_name!r} is deployed.",
            hint="`soma-console cron status` shows what is; --app picks another name.",
        ) from None
    await guarded_call(
        app.stop.aio(), what=f"stopping {settings.cron_app_name!r}", timeout=settings.timeout_s
    )
    path = _record_path(home)
    path.unlink(missing_ok=True)
