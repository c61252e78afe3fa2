"""What the Modal cron's two scheduled functions run, in the container.

* :func:`reveal_entry` (``reveal_round``, CPU only, on a schedule derived from the epoch length):
  take the journal lease, reload the Volume, reveal every open window and raise the alarm for one
  that is closing or missed. It never waits on training.
* :func:`cron_entry` (``cron_round``, GPU, on the user's schedule): first the same reveal phase,
  then train ``plan.steps`` more steps (no lease: training writes only the run's folder), then, under
  the lease, reveal again and commit the new weights. A training failure is journaled and alarmed;
  the reveal phase before it already ran, and the reveal schedule keeps running either way.

The journal (SQLite, holding unrevealed decryption keys) is never opened on the Volume: a phase copies
it to the container's local disk, works on the copy, and after every journal write puts a consistent
snapshot back (written beside, fsynced, renamed) and commits the Volume. So a commit or reload never
meets an open SQLite file (Modal refuses a reload with open files), WAL files never live on the
Volume, and only the lease holder ever writes the file.

Everything here is plain Python with the Volume's ``commit``/``reload`` and the lease store passed
in, so it runs the same in a container, under the local fake Modal server, and in a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from soma_console.core.autopilot import AutopilotConfig, send_alert
from soma_console.core.onchain.cron_steps import run_cron_round, run_reveal_round
from soma_console.fsutil import fsync_dir
from soma_console.training import cron_journal
from soma_console.training.cron_lease import JournalLease, LeaseBusy, LeaseLost, LeaseStore
from soma_console.training.cron_plan import CronPlan
from soma_console.training.cron_schedule import REVEAL_ATTEMPTS_PER_WINDOW
from soma_console.training.modal.container import (
    Commit,
    Reload,
    WorkerFailed,
    _try_commit,
    newest_checkpoint,
    reload_volume,
    train_entry,
)
from soma_console.training.modal.spec import SPEC_RUN, SPEC_STEPS, cron_dir, parse_spec, run_dir

if TYPE_CHECKING:
    from soma_console.config import Home

JOURNAL_FILE = "journal.sqlite"
REVEAL_LEASE_WAIT_S = 120.0  # a reveal round waits this long for the lease, then leaves it to the holder
COMMIT_LEASE_WAIT_S = 1800.0  # a trained round waits longer: its commit is worth a GPU round


@dataclass(frozen=True)
class ChainSteps:
    commit_round: Callable[..., Any]  # run_cron_round
    reveal_round: Callable[..., Any]  # run_reveal_round
    alert: Callable[..., Any] | None = None  # send_alert


def load_chain_steps() -> ChainSteps:
    """The chain steps every round calls (a test passes its own to ``*_entry``)."""
    return ChainSteps(run_cron_round, run_reveal_round, send_alert)


def new_round_id(kind: str) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{kind}-" + secrets.token_hex(2)


class RoundLog:
    """This round's own log file on the Volume (no other round writes it); committed after each line."""

    def __init__(self, cron_root: Path, round_id: str, commit: Commit, err: TextIO) -> None:
        self.path = cron_journal.round_path(cron_root, round_id)
        self.round_id = round_id
        self._commit = commit
        self._err = err

    def write(self, event: str, **data: Any) -> None:
        cron_journal.append(self.path, event, self.round_id, **data)
        _try_commit(self._commit, self._err)


class VolumeJournal:
    """The cron's journal for one phase, on local disk, with every write put back on the Volume.

    Entered only under the journal lease; :meth:`persist` checks the lease before each write-back."""

    def __init__(self, cron_root: Path, commit: Commit, lease: JournalLease, local_root: Path | None = None):
        self.volume_home = cron_root / "home"
        self.commit = commit
        self.lease = lease
        self._local_root = local_root
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.home_dir: Path | None = None
        self.writes = 0

    def __enter__(self) -> Home:
        from soma_console.config import Home

        self._tmp = tempfile.TemporaryDirectory(prefix="soma-cron-", dir=self._local_root)
        self.home_dir = Path(self._tmp.name) / "home"
        self.home_dir.mkdir(mode=0o700)
        src = self.volume_home / JOURNAL_FILE
        if src.exists():
            dst = self.home_dir / JOURNAL_FILE
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
                shutil.copyfileobj(inp, out)
        config = self.volume_home / "config.toml"
        if config.exists():
            shutil.copy2(config, self.home_dir / "config.toml")
        return Home(config_dir=self.home_dir, data_dir=self.home_dir)

    def persist(self) -> None:
        """Put a consistent snapshot of the local journal on the Volume and commit it."""
        self.lease.check()  # a round that lost the lease must not write
        assert self.home_dir is not None
        local = self.home_dir / JOURNAL_FILE
        if not local.exists():
            return
        snap = self.home_dir / "journal.snapshot"
        snap.unlink(missing_ok=True)
        src = sqlite3.connect(local)
        try:
            dst = sqlite3.connect(snap)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # the copy needs no -wal file beside it
            finally:
                dst.close()
        finally:
            src.close()
        self.volume_home.mkdir(parents=True, exist_ok=True)
        tmp = self.volume_home / f".{JOURNAL_FILE}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, snap.open("rb") as inp:
                shutil.copyfileobj(inp, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.volume_home / JOURNAL_FILE)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):  # a Volume mount may not take a directory fsync
            fsync_dir(self.volume_home)
        self.writes += 1
        self.commit()

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


@dataclass
class _Round:
    plan: CronPlan
    volume_root: Path
    commit: Commit
    reload: Reload
    lease_store: LeaseStore
    err: TextIO
    steps: ChainSteps
    log: RoundLog
    local_root: Path | None = None

    @property
    def cron_root(self) -> Path:
        return cron_dir(self.volume_root, self.plan.app_name)

    def alarm(self, message: str) -> None:
        """Send a warning through the hook/webhook (never raises) and journal it."""
        self.err.write(f"soma-console: ALARM: {message}\n")
        self.err.flush()
        if self.steps.alert is not None and (self.plan.hook or self.plan.webhook):

            def say(level: str, text: str) -> None:
                self.err.write(f"soma-console: {level}: {text}\n")

            try:
                asyncio.run(
                    self.steps.alert(
                        AutopilotConfig(hook=self.plan.hook, webhook=self.plan.webhook), message, say
                    )
                )
            except Exception as exc:
                self.err.write(f"soma-console: the alarm could not be sent ({type(exc).__name__}).\n")
        self.log.write("alarm", message=message)

    def under_lease(
        self, purpose: str, wait_s: float, work: Callable[[Home, Callable[[], None]], Any]
    ) -> Any:
        """``work(home, persist)`` with the journal lease held, on a freshly reloaded Volume."""
        lease = JournalLease(self.lease_store, purpose=purpose, holder=self.log.round_id, wait_s=wait_s)
        with lease:
            reload_volume(self.reload)
            journal = VolumeJournal(self.cron_root, self.commit, lease, self.local_root)
            with journal as home:
                return work(home, journal.persist)

    def reveal_phase(self, wait_s: float) -> dict[str, Any] | None:
        """Reveal what is due; None when another round holds the journal (it reveals instead)."""
        plan = self.plan

        def work(home: Home, persist: Callable[[], None]) -> Any:
            return asyncio.run(
                self.steps.reveal_round(
                    home, chain=plan.chain, persist=persist, hook=plan.hook, webhook=plan.webhook
                )
            )

        try:
            result = _jsonable(self.under_lease("reveal", wait_s, work))
        except LeaseBusy as exc:
            self.log.write("reveal_skipped", reason=str(exc))
            return None
        except Exception as exc:
            error = _describe(exc)
            self.log.write("round_failed", stage="reveal", error=error)
            self.alarm(f"the Modal cron's reveal round failed: {error}")
            raise
        self.log.write("revealed", result=result)
        for note in result.get("said", []):
            if note.get("level") == "alarm":
                self.log.write("alarm", message=note.get("message"))
        epoch_s = result.get("epoch_s")
        if (
            plan.reveal_gap_s
            and isinstance(epoch_s, int | float)
            and 0 < epoch_s < plan.reveal_gap_s * REVEAL_ATTEMPTS_PER_WINDOW
        ):
            self.alarm(
                f"the chain's epochs now last {epoch_s:g} s, but the Modal cron's reveal schedule "
                f"tries every {plan.reveal_gap_s} s: fewer than {REVEAL_ATTEMPTS_PER_WINDOW} tries per "
                "reveal window. Deploy it again (`soma-console cron deploy`) to derive a new schedule."
            )
        return result


def _describe(exc: BaseException) -> str:
    from soma_console.secrets import redact

    return redact(f"{type(exc).__name__}: {exc}")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def reveal_entry(
    plan: CronPlan,
    *,
    volume_root: Path,
    commit: Commit,
    reload: Reload,
    lease_store: LeaseStore,
    err: TextIO,
    chain_steps: ChainSteps | None = None,
    lease_wait_s: float = REVEAL_LEASE_WAIT_S,
    local_root: Path | None = None,
) -> dict[str, Any]:
    """One reveal round (the ``reveal_round`` function): reveal every open window, alarm on closing ones."""
    round_id = new_round_id("reveal")
    log = RoundLog(cron_dir(volume_root, plan.app_name), round_id, commit, err)
    log.write("round_started", kind="reveal")
    steps = chain_steps or load_chain_steps()
    rnd = _Round(plan, volume_root, commit, reload, lease_store, err, steps, log, local_root)
    result = rnd.reveal_phase(lease_wait_s)
    log.write("round_finished")
    return {"round": round_id, "reveal": result}


def cron_entry(
    plan: CronPlan,
    *,
    volume_root: Path,
    commit: Commit,
    reload: Reload,
    lease_store: LeaseStore,
    out: TextIO,
    err: TextIO,
    stop: threading.Event | None = None,
    worker_cmd: Sequence[str] | None = None,
    chain_steps: ChainSteps | None = None,
    poll_s: float = 30.0,
    reveal_wait_s: float = REVEAL_LEASE_WAIT_S,
    commit_wait_s: float = COMMIT_LEASE_WAIT_S,
    local_root: Path | None = None,
) -> dict[str, Any]:
    """One training round: reveal what is due, train ``plan.steps`` more, then reveal and commit.

    The chain step is ``await run_cron_round(home, checkpoint, manifest, chain=plan.chain,
    persist=...)`` from :mod:`soma_console.core.onchain.cron_steps`; ``persist`` writes the journal
    back to the Volume and commits it, which the lifecycle calls after every journal write so that a
    decryption key is durable before anything is sent.
    """
    spec = parse_spec(plan.spec_json)
    folder = run_dir(volume_root, spec[SPEC_RUN])
    round_id = new_round_id("train")
    log = RoundLog(cron_dir(volume_root, plan.app_name), round_id, commit, err)
    log.write("round_started", kind="train", run=spec[SPEC_RUN], steps=plan.steps)
    steps = chain_steps or load_chain_steps()
    rnd = _Round(plan, volume_root, commit, reload, lease_store, err, steps, log, local_root)

    # 1. Reveals first, never behind training. A failure here is journaled and alarmed, and the round
    #    still trains (the reveal schedule retries within minutes).
    with contextlib.suppress(Exception):
        rnd.reveal_phase(reveal_wait_s)

    # 2. Train (no lease: training writes only the run's folder).
    try:
        reload_volume(reload)
        latest = newest_checkpoint(folder)
        spec[SPEC_STEPS] = (latest.step if latest else 0) + plan.steps
        summary = train_entry(
            spec,
            resume=latest is not None,
            gpus=plan.gpus,
            volume_root=volume_root,
            commit=commit,
            out=out,
            err=err,
            stop=stop,
            worker_cmd=worker_cmd,
            poll_s=poll_s,
        )
        newest = newest_checkpoint(folder)
        if newest is None:
            raise WorkerFailed("the trainer finished but left no manifested checkpoint to commit.")
    except WorkerFailed as exc:
        log.write("round_failed", stage="train", error=str(exc))
        rnd.alarm(f"the Modal cron's training round {round_id} failed: {exc}")
        raise
    ckpt = newest
    rel = str(ckpt.weights.relative_to(volume_root))
    log.write("trained", step=ckpt.step, checkpoint=rel)

    # 3. Reveal again and commit, under the lease.
    def work(home: Home, persist: Callable[[], None]) -> Any:
        return asyncio.run(
            steps.commit_round(
                home,
                ckpt.weights,
                ckpt.manifest,
                chain=plan.chain,
                persist=persist,
                gate_targets=plan.gate_targets,
            )
        )

    try:
        result = _jsonable(rnd.under_lease("commit", commit_wait_s, work))
    except (LeaseBusy, LeaseLost, Exception) as exc:
        error = _describe(exc)
        log.write("round_failed", stage="chain", error=error)
        rnd.alarm(f"the Modal cron's commit after training round {round_id} failed: {error}")
        raise
    log.write("chain", result=result)
    log.write("round_finished")
    return {"round": round_id, "train": summary, "checkpoint": rel, "chain": result}
