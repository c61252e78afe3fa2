"""``soma-console cron``: the scheduled loop on Modal, from this machine.

``deploy`` builds the cron app (see ``app.build_cron_app``) with the run's spec, the step
count and both schedules baked in (reveals on a wall-clock cron derived from the chain's epoch
length, training on the user's ``--every``/``--cron``), and deploys it: Modal runs it only while it
is deployed. ``status`` shows whether it is deployed, both schedules, the journal lease, and what the
rounds did and still owe (from the per-round logs on the Volume). ``remove`` stops the app, which
ends both schedules; the Volume keeps everything, and ``cron pull`` (``cron_pull.py``) brings the
journal home. ``deploy``, ``remove`` and ``pull`` refuse while a round holds the journal lease.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from soma_console.errors import UsageError, UserError
from soma_console.fsutil import atomic_write_text
from soma_console.training import cron_journal
from soma_console.training.cron_lease import LEASE_KEY, LeaseInfo, lease_dict_name
from soma_console.training.cron_plan import CronPlan
from soma_console.training.cron_schedule import check_train_cron, parse_every, reveal_schedule
from soma_console.training.modal.client import (
    ModalSettings,
    ModalVolume,
    call_with_capacity_retry,
    check_gpu,
    guarded_call,
    require_credentials,
)
from soma_console.training.modal.launch import deploy
from soma_console.training.modal.names import CRON_FUNCTION, REVEAL_FUNCTION
from soma_console.training.modal.spec import CRON_DIR, SPEC_RUN, parse_spec, volume_cron_journal

if TYPE_CHECKING:
    from soma_console.config import Home

ROUND_LOGS_SHOWN = 12  # round logs read per kind


def check_cron_chain(chain: str) -> None:
    """The rounds run on Modal: a chain on this machine (devnet, localnet, loopback) is out of reach."""
    if chain in ("devnet", "localnet") or urlparse(chain).hostname in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(
            f"the scheduled rounds run on Modal and cannot reach the chain {chain!r} on this machine.",
            hint="Pass --chain testnet (or a public RPC URL).",
        )


def _lease_dict(settings: ModalSettings) -> Any:
    import modal

    return modal.Dict.from_name(
        lease_dict_name(settings.cron_app_name), environment_name=settings.environment, create_if_missing=True
    )


async def read_lease(settings: ModalSettings) -> LeaseInfo | None:
    """The journal lease a round holds now (None: no round is writing the journal)."""
    d = _lease_dict(settings)
    raw = await guarded_call(
        d.get.aio(LEASE_KEY), what="reading the cron's journal lease", timeout=settings.timeout_s
    )
    info = LeaseInfo.from_text(raw) if raw is not None else None
    return info if info is not None and info.live(time.time()) else None


async def refuse_while_leased(settings: ModalSettings, doing: str) -> None:
    info = await read_lease(settings)
    if info is not None:
        raise UserError(
            f"a {info.purpose} round ({info.holder}) is writing the cron's journal right now; not {doing} "
            "under it.",
            hint="Try again in a few minutes; `soma-console cron status` shows the rounds.",
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
    reveal_cron: str = ""
    epoch_s: float = 0.0
    reveal_now: str | None = None  # the reveal round started at once because reveals were pending
    warnings: list[str] = field(default_factory=list)
    gate_targets: int | None = None  # --commit-if-better N

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
    epoch_s: float,
    settings: ModalSettings,
    home: Home,
    hook: str | None = None,
    webhook: str | None = None,
    show_output: bool = True,
    gate_targets: int | None = None,
) -> CronDeployment:
    """Deploy both schedules. ``epoch_s`` is the chain's epoch length, read by the caller.

    Refused before anything is deployed: a schedule that could miss a reveal window, a cron expression
    that does not parse, a round holding the journal lease. With reveals pending, the reveal round is
    started at once after the deploy (and its wall-clock schedule is the same as before), so a
    redeploy never pushes a reveal past its window."""
    from soma_console.training.modal.app import ModalAppConfig, build_cron_app

    if steps < 1:
        raise UsageError(f"--steps must be at least 1, not {steps}.")
    if every and cron:
        raise UsageError("give --every or --cron, not both.")
    period = parse_every(every or "6h") if not cron else None
    if cron:
        check_train_cron(cron)
    reveal = reveal_schedule(epoch_s)
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
        hook=hook,
        webhook=webhook,
        reveal_gap_s=reveal.gap_s,
        gate_targets=gate_targets,
    )
    await refuse_while_leased(settings, "redeploying")
    pending = (await _journal_summary(settings)).pending
    cfg = ModalAppConfig(app_name=settings.cron_app_name, volume_name=settings.volume_name, gpu=settings.gpu)
    app = build_cron_app(cfg, plan, reveal_cron=reveal.cron, every=period, cron=cron)
    await deploy(app, settings.cron_app_name, settings=settings, show_output=show_output)
    reveal_now = None
    if pending:
        reveal_now = await _start_reveal_round(settings)
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
        reveal_cron=reveal.cron,
        epoch_s=epoch_s,
        reveal_now=reveal_now,
        gate_targets=gate_targets,
    )
    atomic_write_text(_record_path(home), json.dumps(asdict(deployment), indent=2, sort_keys=True))
    return deployment


async def _start_reveal_round(settings: ModalSettings) -> str:
    import modal

    fn = modal.Function.from_name(
        settings.cron_app_name, REVEAL_FUNCTION, environment_name=settings.environment
    )
    call = await call_with_capacity_retry(
        fn.spawn.aio, what="starting a reveal round", timeout=settings.timeout_s
    )
    return str(call.object_id)


async def _journal_summary(settings: ModalSettings) -> cron_journal.CronSummary:
    entries, _ = await read_round_logs(settings)
    return cron_journal.summarize(entries)


async def read_round_logs(settings: ModalSettings) -> tuple[list[cron_journal.JournalEntry], bool]:
    """The newest rounds' log entries from the Volume (and whether the Volume exists)."""
    volume = ModalVolume(settings.volume_name, timeout=settings.timeout_s, environment=settings.environment)
    root = f"{CRON_DIR}/{settings.cron_app_name}"
    try:
        listing = await volume.listdir(f"{root}/{cron_journal.ROUNDS_DIR}")
        legacy = await volume.listdir(volume_cron_journal(settings.cron_app_name))
    except UserError:
        return [], False
    paths = [volume_cron_journal(settings.cron_app_name)] if legacy else []
    rounds = sorted(f.path for f in listing or [] if not f.is_dir and f.path.endswith(".jsonl"))
    # reveal rounds run far more often: keep the newest of each kind, so training rounds stay in view
    reveals = [p for p in rounds if "-reveal-" in p.rsplit("/", 1)[-1]]
    others = [p for p in rounds if "-reveal-" not in p.rsplit("/", 1)[-1]]
    paths += sorted(reveals[-ROUND_LOGS_SHOWN:] + others[-ROUND_LOGS_SHOWN:])
    entries: list[cron_journal.JournalEntry] = []
    for path in paths:
        data = bytearray()
        async for chunk in volume.read_file(path):
            data += chunk
        entries += cron_journal.parse(data.decode("utf-8", errors="replace").splitlines())
    return entries, True


@dataclass(frozen=True)
class CronStatus:
    app_name: str
    deployed: bool
    schedule: str | None
    reveal_schedule: str | None
    gpus: list[tuple[str, int]]
    local: dict[str, Any] | None
    summary: cron_journal.CronSummary
    volume_found: bool
    lease: LeaseInfo | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app_name,
            "deployed": self.deployed,
            "schedule": self.schedule,
            "reveal_schedule": self.reveal_schedule,
            "gpus": [list(g) for g in self.gpus],
            "deployment": self.local,
            "rounds": self.summary.rounds,
            "pending": self.summary.pending,
            "last_error": self.summary.last_error,
            "volume_found": self.volume_found,
            "lease": asdict(self.lease) if self.lease else None,
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
    reveal_schedule_text = None
    try:
        await guarded_call(
            fn.hydrate.aio(), what=f"looking up {settings.cron_app_name!r}", timeout=settings.timeout_s
        )
        info = await guarded_call(fn.info.aio(), what="reading the schedule", timeout=settings.timeout_s)
        schedule, gpus = info.schedule, list(info.gpus)
        rfn = modal.Function.from_name(
            settings.cron_app_name, REVEAL_FUNCTION, environment_name=settings.environment
        )
        with contextlib.suppress(mx.NotFoundError):  # deployed by an older version: no reveal schedule
            rinfo = await guarded_call(
                rfn.info.aio(), what="reading the reveal schedule", timeout=settings.timeout_s
            )
            reveal_schedule_text = rinfo.schedule
    except mx.NotFoundError:
        deployed = False
    entries, volume_found = await read_round_logs(settings)
    lease = await read_lease(settings)
    return CronStatus(
        app_name=settings.cron_app_name,
        deployed=deployed,
        schedule=schedule,
        reveal_schedule=reveal_schedule_text,
        gpus=gpus,
        local=local,
        summary=cron_journal.summarize(entries, last=10),
        volume_found=volume_found,
        lease=lease,
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
    await refuse_while_leased(settings, "stopping the app")
    await guarded_call(
        app.stop.aio(), what=f"stopping {settings.cron_app_name!r}", timeout=settings.timeout_s
    )
    path = _record_path(home)
    path.unlink(missing_ok=True)
