"""TEST DATA: an in-memory, made-up SOMA world for driving the console without a chain.

``python -m tests.support.fake_world`` opens the real console on this data: a few dozen models
(three of them "yours"), two training runs, commits waiting for and inside their reveal windows,
and a simulated trainer that logs as fast as you ask. Nothing here touches a chain, a journal or a
trainer. It is not part of the package: the console's happy paths are tested on the live services
against a devnet (tests/live, tests/lifecycle); this world serves the tests that need what a devnet
cannot give (a scripted failure, a frozen clock for pixel-exact snapshots, a chain outage on cue),
the tmux tests, and the benchmarks' synthetic firehose.

Where it answers what the live services answer (confirmation words, plan flags, payload keys,
presets, defaults), it must answer the same: tests/tui/test_fake_world.py holds it to that.

Everything is deterministic for a given seed and clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import SHANNONS_PER_SOMA, ChainError, soma
from soma_console.core.chainstate import ChainParams, ChainSnapshot, Manifest, ModelRow
from soma_console.core.console_services import (
    BACKENDS,
    ChainListener,
    CheckpointInfo,
    ProgressCallback,
    RunInfo,
)
from soma_console.core.journal import AuditEntry, Intent
from soma_console.core.live_runs import Backlog
from soma_console.core.reveal_queue import OPEN, WAITING, QueueEntry, build_queue, entry_for, format_countdown
from soma_console.core.score_verdicts import Verdict
from soma_console.encoding import b58encode
from soma_console.errors import ReadOnlyError, UsageError, UserError
from soma_console.training.events import (
    AnyRecord,
    CheckpointSaved,
    Eval,
    Finished,
    LogLine,
    Started,
    Step,
)

PREVIEW_CHAIN = "preview"
PRESETS = ("tiny", "v1")  # the trainer's presets (soma_console.training.spec.presets)
DEFAULT_COMMISSION_BPS = 1000  # the live default (soma_console.core.onchain.base)
T0 = 1_800_000_000.0  # the fixed "now" when a test freezes the clock

RunListener = Callable[[Sequence[AnyRecord]], None]


def _hex(label: str) -> str:
    return hashlib.blake2b(label.encode(), digest_size=32).hexdigest()


def _short(model_id: str) -> str:
    """A model id as the live plans shorten it."""
    return f"{model_id[:10]}…{model_id[-4:]}"


def preview_address(seed: int = 0) -> str:
    return _hex(f"preview wallet {seed}")


def fake_digest(n: int) -> str:
    return b58encode(hashlib.blake2b(f"preview tx {n}".encode(), digest_size=32).digest())


def preview_models(n: int, *, owner: str, mine: int = 3, epoch: int = 12, seed: int = 0) -> list[ModelRow]:
    """``n`` made-up models; the first ``mine`` belong to ``owner``."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        status = "active" if i % 11 else rng.choice(("pending", "inactive", "created"))
        rows.append(
            ModelRow(
                model_id="0x" + _hex(f"preview model {seed} {i}"),
                owner=owner if i < mine else _hex(f"preview owner {i % 17}"),
                status=status,
                architecture_version=1,
                stake=rng.randint(1, 5000) * SHANNONS_PER_SOMA // 10,
                commission_rate=rng.choice((0, 100, 250, 500, 1000)),
                next_commission_rate=None,
                commit_epoch=epoch - 1 if status == "pending" else None,
                create_epoch=max(0, epoch - rng.randint(1, 10)),
                manifest=Manifest(url=f"https://blobs.example/{i}.bin", checksum=None, size=4_840_000_000),
            )
        )
    return rows


def preview_log_lines(m: int, *, run: str = "r1", t: float = T0) -> list[LogLine]:
    """``m`` plain log lines, the kind a trainer prints between events."""
    return [LogLine(f"[{run}] data shard {i // 100:04d} batch {i % 100:02d} ok", t=t) for i in range(m)]


def preview_run_records(
    run: str,
    *,
    steps: int,
    total_steps: int,
    preset: str = "tiny",
    t: float = T0,
    checkpoint_every: int = 100,
    start_step: int = 0,
) -> list[AnyRecord]:
    """A run's history: started, steps with a falling loss, evals, checkpoints."""
    out: list[AnyRecord] = [
        Started(
            run=run,
            framework="torch",
            device="cuda:0",
            preset=preset,
            total_steps=total_steps,
            start_step=start_step,
            t=t,
        )
    ]
    for step in range(start_step + 1, start_step + steps + 1):
        loss = preview_loss(step)
        out.append(
            Step(
                step=step,
                total_steps=total_steps,
                loss=loss,
                ce=loss - 0.05,
                sigreg=0.05,
                lr=3e-4,
                tokens_per_s=48_000.0,
                tokens=step * 16_384,
                elapsed_s=step * 0.34,
                t=t,
            )
        )
        if step % checkpoint_every == 0:
            out.append(Eval(step=step, eval_loss=loss + 0.08, t=t))
            out.append(
                CheckpointSaved(
                    step=step,
                    path=f"runs/{run}/step-{step:06d}.safetensors",
                    manifest=f"runs/{run}/step-{step:06d}.json",
                    loss=loss,
                    eval_loss=loss + 0.08,
                    size=4_838_736_640,
                    t=t,
                )
            )
    return out


def preview_loss(step: int) -> float:
    return round(2.2 + 3.4 / (1 + step / 60) + 0.03 * ((step * 7919) % 13) / 13, 4)


HISTORY_LIMIT = 20_000  # records kept per run (the world must not grow without bound)


@dataclass
class _Run:
    info: RunInfo
    records: deque[AnyRecord] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    listeners: list[RunListener] = field(default_factory=list)


class FakeWorld:
    """The whole made-up world: chain, models, runs, checkpoints, commits, audit log.

    Methods are plain and synchronous; the services classes around it decide what runs when.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        models: int = 40,
        epoch: int = 12,
        epoch_duration_s: float = 600.0,
        epoch_elapsed_s: float = 120.0,
        readonly: bool = False,
        with_history: bool = True,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.readonly = readonly
        self.chain_name = PREVIEW_CHAIN
        self.address = preview_address(seed)
        self.balance = 1_234_500_000_000
        self.epoch = epoch
        self.epoch_duration_s = epoch_duration_s
        self.epoch_start = clock() - epoch_elapsed_s
        self.models: dict[str, ModelRow] = {
            m.model_id: m for m in preview_models(models, owner=self.address, epoch=epoch, seed=seed)
        }
        self.runs: dict[str, _Run] = {}
        self.checkpoints: list[CheckpointInfo] = []
        self.intents: list[Intent] = []
        self.audit: list[AuditEntry] = []
        self.autopilot = False
        self._tx = 0
        if with_history:
            self._seed_history()

    # -- setup ----------------------------------------------------------------------------------
    def _seed_history(self) -> None:
        now = self.clock()
        mine = [m for m in self.models.values() if m.owner == self.address]
        self.add_run(
            "r1-tiny", preset="tiny", steps=300, total_steps=300, created=now - 7200, status="finished"
        )
        self.add_run("r2-v1", preset="v1", steps=140, total_steps=1000, created=now - 1800)
        if len(mine) >= 2:
            # One commit in its reveal window (made last epoch), one waiting (made this epoch).
            self.add_commit(mine[0].model_id, "runs/r1-tiny/step-000200.safetensors", self.epoch - 1)
            self.add_commit(mine[1].model_id, "runs/r1-tiny/step-000300.safetensors", self.epoch)
        self.record_audit("commit", mine[0].model_id if mine else None, "success", {"step": 200})
        self.record_audit("commit", mine[1].model_id if len(mine) > 1 else None, "success", {"step": 300})

    def add_run(
        self,
        name: str,
        *,
        preset: str = "tiny",
        steps: int = 0,
        total_steps: int = 100,
        created: float | None = None,
        status: str = "running",
        backend: str = "local",
    ) -> RunInfo:
        created = self.clock() if created is None else created
        records = preview_run_records(name, steps=steps, total_steps=total_steps, preset=preset, t=created)
        if status == "finished" and steps:
            records.append(Finished(step=steps, final_path=f"runs/{name}/final.safetensors", t=created))
        run = _Run(
            info=RunInfo(
                name=name,
                backend=backend,
                status=status,
                preset=preset,
                step=steps,
                total_steps=total_steps,
                created=created,
                last_loss=preview_loss(steps) if steps else None,
            )
        )
        self.runs[name] = run
        self.append_records(name, records)
        return run.info

    def add_commit(
        self, model_id: str, checkpoint: str, commit_epoch: int, *, update: bool = False
    ) -> Intent:
        now = self.clock()
        intent = Intent(
            id=len(self.intents) + 1,
            created_at=now,
            updated_at=now,
            chain=self.chain_name,
            signer=self.address,
            kind="commit",
            model_id=model_id,
            artifact_id=None,
            params={
                "update": update,
                "checkpoint": checkpoint,
                "weights_url": f"https://blobs.example/{model_id[:10]}",
            },
            state="confirmed",
            digest=fake_digest(len(self.intents) + 1000),
            commit_epoch=commit_epoch,
            reveal_digest=None,
            revealed_epoch=None,
            error=None,
            attempts=1,
        )
        self.intents.append(intent)
        model = self.models.get(model_id)
        if model is not None and not update:
            self.models[model_id] = replace(model, status="pending", commit_epoch=commit_epoch)
        return intent

    def record_audit(
        self, kind: str, model_id: str | None, status: str, summary: dict[str, Any], error: str | None = None
    ) -> AuditEntry:
        self._tx += 1
        entry = AuditEntry(
            id=len(self.audit) + 1,
            at=self.clock(),
            chain=self.chain_name,
            signer=self.address,
            kind=kind,
            model_id=model_id,
            intent_id=None,
            summary=summary,
            digest=fake_digest(self._tx) if status == "success" else None,
            status=status,
            error=error,
        )
        self.audit.append(entry)
        return entry

    # -- the chain ------------------------------------------------------------------------------
    def advance(self, now: float | None = None) -> None:
        """Move the epoch on to where ``now`` is; commits whose window closed become missed."""
        now = self.clock() if now is None else now
        while now >= self.epoch_start + self.epoch_duration_s:
            self.epoch_start += self.epoch_duration_s
            self.epoch += 1
            self._settle_boundary()

    def next_epoch(self) -> None:
        """Jump to the next epoch now (a devnet admin advance)."""
        self.epoch += 1
        self.epoch_start = self.clock()
        self._settle_boundary()

    def _settle_boundary(self) -> None:
        for i, intent in enumerate(self.intents):
            if (
                intent.state == "confirmed"
                and intent.commit_epoch is not None
                and self.epoch > intent.commit_epoch + 1
            ):
                self.intents[i] = replace(intent, state="missed", error="the reveal window closed")
                model = self.models.get(intent.model_id or "")
                if model is not None and model.status == "pending":
                    self.models[model.model_id] = replace(
                        model, status="inactive", stake=(model.stake or 0) // 2
                    )
        if self.autopilot:
            due = [
                e.intent_id for e in build_queue(self.intents, self.snapshot(), self.clock()) if e.actionable
            ]
            if due:
                self.reveal(due, by="autopilot")

    def snapshot(self) -> ChainSnapshot:
        return ChainSnapshot(
            chain=self.chain_name,
            taken_at=self.clock(),
            epoch=self.epoch,
            epoch_start_ms=int(self.epoch_start * 1000),
            epoch_duration_ms=int(self.epoch_duration_s * 1000),
            params=ChainParams(int(self.epoch_duration_s * 1000), SHANNONS_PER_SOMA, 1, 5000),
            models=tuple(sorted(self.models.values(), key=lambda m: m.model_id)),
            address=self.address,
            balance=self.balance,
            protocol_version=1,
        )

    def queue(self, now: float) -> list[QueueEntry]:
        return build_queue(self.intents, self.snapshot(), now)

    # -- runs -----------------------------------------------------------------------------------
    def run_infos(self) -> list[RunInfo]:
        return sorted((r.info for r in self.runs.values()), key=lambda r: -r.created)

    def append_records(self, run: str, records: Sequence[AnyRecord]) -> None:
        if not records:
            return
        entry = self.runs[run]
        entry.records.extend(records)
        info = entry.info
        for rec in records:
            if type(rec) is LogLine:
                continue
            if isinstance(rec, Step):
                info = replace(info, step=rec.step, total_steps=rec.total_steps, last_loss=rec.loss)
            elif isinstance(rec, Finished):
                status = info.status if info.status in ("stopped", "failed") else "finished"
                info = replace(info, status=status, step=rec.step)
            elif isinstance(rec, CheckpointSaved):
                self.checkpoints.append(
                    CheckpointInfo(
                        run=run,
                        path=rec.path,
                        step=rec.step,
                        created=rec.t,
                        loss=rec.loss,
                        eval_loss=rec.eval_loss,
                        size=rec.size,
                        status="",
                    )
                )
        entry.info = info
        for listener in list(entry.listeners):
            listener(records)

    def set_run_status(self, run: str, status: str) -> None:
        entry = self.runs[run]
        entry.info = replace(entry.info, status=status)

    def checkpoint_infos(self, run: str) -> list[CheckpointInfo]:
        snap = self.snapshot()
        now = self.clock()
        by_path: dict[str, tuple[str, str | None]] = {}
        for entry, intent in zip(self._entries(snap, now), self.intents, strict=True):
            ckpt = str(intent.params.get("checkpoint", ""))
            status = {
                "revealed": "revealed",
                "missed": "missed",
                OPEN: "pending reveal",
                "closing": "pending reveal",
                WAITING: "committed",
            }.get(entry.state, "committed")
            by_path[ckpt] = (status, intent.model_id)
        out = []
        for c in self.checkpoints:
            if c.run != run:
                continue
            status, model_id = by_path.get(c.path, ("", None))
            out.append(replace(c, status=status, model_id=model_id))
        return sorted(out, key=lambda c: -c.step)

    def _entries(self, snap: ChainSnapshot, now: float) -> list[QueueEntry]:
        return [entry_for(i, snap, now) for i in self.intents]

    def start_run(self, spec: dict[str, Any]) -> str:
        preset = str(spec.get("preset") or PRESETS[0])
        if preset not in PRESETS:
            raise UsageError(f"unknown preset {preset!r}.", hint=f"Use one of {', '.join(PRESETS)}.")
        backend = str(spec.get("backend") or "local")
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r}.", hint="Use local or modal.")
        steps = spec.get("steps")
        if not isinstance(steps, int) or steps <= 0:
            raise UsageError(f"steps must be a positive whole number, not {steps!r}.")
        name = str(spec.get("name") or f"r{len(self.runs) + 1}-{preset}")
        if name in self.runs:
            raise UsageError(f"a run named {name!r} already exists.", hint="Pick another name.")
        self.runs[name] = _Run(
            info=RunInfo(
                name=name,
                backend=backend,
                status="running",
                preset=preset,
                step=0,
                total_steps=steps,
                created=self.clock(),
                last_loss=None,
            )
        )
        self.append_records(
            name,
            [
                Started(
                    run=name,
                    framework="torch",
                    device="cuda:0" if backend == "local" else "modal:H100",
                    preset=preset,
                    total_steps=steps,
                    t=self.clock(),
                )
            ],
        )
        return name

    # -- plans ----------------------------------------------------------------------------------
    def _writable(self, action: str) -> None:
        if self.readonly:
            raise ReadOnlyError(action)

    def _model(self, model_id: str) -> ModelRow:
        model = self.models.get(model_id)
        if model is None:
            raise UserError(f"model {model_id[:10]}… does not exist on this chain.")
        return model

    def _own(self, model_id: str) -> ModelRow:
        model = self._model(model_id)
        if model.owner != self.address:
            raise UserError(f"you do not own model {model_id[:10]}….", hint="Only its owner can do this.")
        return model

    def _when(self, ts: float) -> str:
        """A moment as the live plans write it: ``HH:MM:SS UTC (in MM:SS)``."""
        clock = time.strftime("%H:%M:%S UTC", time.gmtime(ts))
        left = ts - self.clock()
        return f"{clock} (in {format_countdown(left)})" if left > 0 else clock

    def plan_commit(
        self, path: str, model_id: str | None, commission_bps: int | None, stake_soma: float | None
    ) -> ActionPlan:
        self._writable("commit")
        ckpt = next((c for c in self.checkpoints if c.path == path), None)
        if ckpt is None:
            raise UserError(f"there is no checkpoint {path}.", hint="Pick one from the Checkpoints pane.")
        stake = 1.0 if stake_soma is None else stake_soma
        commission = DEFAULT_COMMISSION_BPS if commission_bps is None else commission_bps
        if stake <= 0:
            raise UsageError(f"a stake must be more than 0 SOMA, not {stake:g}.")
        if not 0 <= commission <= 10_000:
            raise UsageError(f"commission must be 0..10000 bps, not {commission}.")
        # The lines the live plan shows, under the same labels (made-up values where the live
        # plan has an artifact: URL, commitments, fees).
        label = f"step {ckpt.step} of run {ckpt.run}"
        lines: list[tuple[str, str]] = [("Checkpoint", f"{label} ({path})")]
        if model_id is None:
            title = f"Commit {label} as a new model"
            lines += [
                ("Model", "a new model (create_model, then commit_model)"),
                ("Stake", soma(int(stake * SHANNONS_PER_SOMA))),
                ("Commission", f"{commission} bps ({commission / 100:g}%)"),
                ("Create fee", "0.0021 SOMA (simulated)"),
            ]
        else:
            self._own(model_id)
            title = f"Commit {label} as an update of model {model_id[:10]}…"
            lines.append(("Model", f"{model_id} (update)"))
        opens = self.epoch_start + self.epoch_duration_s
        lines += [
            ("Weights URL", f"https://blobs.example/{_hex(path)[:16]}.bin"),
            ("Weights commitment", b58encode(hashlib.blake2b(path.encode(), digest_size=32).digest())),
            ("Commit fee", "0.0021 SOMA (simulated)"),
            ("Commit epoch", f"{self.epoch} (if sent before the boundary at {self._when(opens)})"),
            (
                "Reveal window",
                f"epoch {self.epoch + 1}: opens {self._when(opens)}, "
                f"closes {self._when(opens + self.epoch_duration_s)}",
            ),
        ]
        return ActionPlan(
            action="commit",
            title=title,
            lines=tuple(lines),
            warnings=(
                f"the reveal must be sent during epoch {self.epoch + 1}; "
                "a missed first reveal costs half the stake.",
            ),
            irreversible=False,  # as live: a commit can be followed by another (an update)
            confirm_word="commit",
            payload={"path": path, "model_id": model_id, "stake": stake, "commission": commission},
        )

    def plan_reveal(self, model_id: str | None) -> ActionPlan:
        """Every commit whose window is open (of ``model_id`` when given), as live reveals them."""
        self._writable("reveal")
        entries = [e for e in self.queue(self.clock()) if e.actionable]
        if model_id is not None:
            entries = [e for e in entries if e.model_id == model_id]
        if not entries:
            which = f"model {model_id[:10]}…" if model_id else "any model"
            raise UserError(
                f"there is no pending commit to reveal for {which}.", hint="Check the Reveal queue."
            )
        lines = [
            (
                f"Model {(e.model_id or '?')[:10]}…",
                f"{e.kind} commit of epoch {e.commit_epoch}, revealed now in epoch {self.epoch}; "
                f"window closes in {format_countdown(e.seconds_to_close)}",
            )
            for e in entries
        ]
        lines.append(("Sends", "the decryption key and the embedding (both become public)"))
        return ActionPlan(
            action="reveal",
            title=f"Reveal {len(entries)} commit{'s' if len(entries) != 1 else ''}",
            lines=tuple(lines),
            confirm_word="reveal",
            payload={"intents": [e.intent_id for e in entries]},
        )

    def plan_stake(self, model_id: str, amount: float) -> ActionPlan:
        self._writable("add stake")
        model = self._model(model_id)
        if amount <= 0:
            raise UsageError(f"a stake must be more than 0 SOMA, not {amount:g}.")
        shannons = int(amount * SHANNONS_PER_SOMA)
        if shannons > self.balance:
            raise UserError(f"the wallet holds {soma(self.balance)}, less than {soma(shannons)}.")
        return ActionPlan(
            action="stake",
            title=f"Add {soma(shannons)} of stake to model {_short(model_id)}",
            lines=(
                ("Model", f"{model_id} ({model.status})"),
                ("Add stake", soma(shannons)),
                ("Stake now", soma(model.stake)),
                ("Takes effect", f"epoch {self.epoch + 1} (stake counts from the next epoch)"),
                ("Fee", "0.0021 SOMA (simulated)"),
            ),
            confirm_word="stake",
            payload={"model_id": model_id, "amount": shannons},
        )

    def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        self._writable("set commission")
        if not 0 <= bps <= 10_000:
            raise UsageError(f"a commission of {bps} bps is outside 0..10000.", hint="100 bps = 1%.")
        model = self._own(model_id)
        if model.status != "active":
            raise UserError(
                f"model {_short(model_id)} is {model.status}; only an active model's commission can change."
            )
        boundary = self.epoch_start + self.epoch_duration_s
        return ActionPlan(
            action="commission",
            title=f"Set model {_short(model_id)}'s commission to {bps} bps",
            lines=(
                ("Model", model_id),
                ("Commission now", f"{model.commission_rate} bps (this epoch, {self.epoch})"),
                ("Next epoch's rate", f"{model.next_commission_rate} bps → {bps} bps"),
                ("Takes effect", f"epoch {self.epoch + 1}, {self._when(boundary)}"),
                ("Fee", "0.0021 SOMA (simulated)"),
            ),
            confirm_word="commission",
            payload={"model_id": model_id, "bps": bps},
        )

    def plan_deactivate(self, model_id: str) -> ActionPlan:
        self._writable("deactivate")
        model = self._own(model_id)
        if model.status != "active":
            raise UserError(
                f"model {_short(model_id)} is {model.status}; only an active model can be deactivated."
            )
        return ActionPlan(
            action="deactivate",
            title=f"Deactivate model {_short(model_id)}",
            lines=(
                ("Model", model_id),
                ("Stake", f"{soma(model.stake)} (not slashed)"),
                ("Fee", "0.0021 SOMA (simulated)"),
            ),
            warnings=("the model stops competing at once and cannot be reactivated.",),
            irreversible=True,
            confirm_word="deactivate",
            payload={"model_id": model_id},
        )

    # -- execution -------------------------------------------------------------------------------
    def apply(self, plan: ActionPlan) -> ActionResult:
        self._writable(plan.action)
        p = dict(plan.payload or {})
        if plan.action == "commit":
            return self._commit(p)
        if plan.action == "reveal":
            return self.reveal([int(i) for i in p["intents"]])
        model_id = str(p["model_id"])
        model = self._model(model_id)
        if plan.action == "stake":
            self.models[model_id] = replace(model, stake=(model.stake or 0) + int(p["amount"]))
            self.balance -= int(p["amount"])
            summary = f"added {soma(int(p['amount']))} to {model_id[:10]}…"
        elif plan.action == "commission":
            self.models[model_id] = replace(model, next_commission_rate=int(p["bps"]))
            summary = f"commission of {model_id[:10]}… → {p['bps']} bps from epoch {self.epoch + 1}"
        elif plan.action == "deactivate":
            self.models[model_id] = replace(model, status="inactive")
            summary = f"deactivated {model_id[:10]}…"
        else:
            raise UserError(f"the test world cannot {plan.action}.")
        entry = self.record_audit(plan.action, model_id, "success", {"summary": summary})
        return ActionResult(
            plan.action, True, summary, digest=entry.digest, model_id=model_id, epoch=self.epoch
        )

    def _commit(self, p: dict[str, Any]) -> ActionResult:
        model_id = p.get("model_id")
        update = model_id is not None
        if model_id is None:
            model_id = "0x" + _hex(f"preview new model {len(self.models)} {p['path']}")
            self.models[model_id] = ModelRow(
                model_id=model_id,
                owner=self.address,
                status="created",
                architecture_version=1,
                stake=int(float(p["stake"]) * SHANNONS_PER_SOMA),
                commission_rate=int(p["commission"]),
                next_commission_rate=None,
                create_epoch=self.epoch,
            )
        self.add_commit(str(model_id), str(p["path"]), self.epoch, update=update)
        summary = f"committed {p['path'].rsplit('/', 1)[-1]} to {str(model_id)[:10]}… in epoch {self.epoch}"
        entry = self.record_audit("commit", str(model_id), "success", {"summary": summary})
        return ActionResult(
            "commit", True, summary, digest=entry.digest, model_id=str(model_id), epoch=self.epoch
        )

    def reveal(self, intent_ids: Sequence[int], *, by: str = "console") -> ActionResult:
        """Reveal the given commits (those still in their window); one audit entry each."""
        done: list[str] = []
        digest = None
        for n, intent in enumerate(self.intents):
            if intent.id not in intent_ids:
                continue
            if intent.state != "confirmed" or intent.commit_epoch != self.epoch - 1:
                continue
            model_id = intent.model_id or "?"
            self.intents[n] = replace(
                intent, state="revealed", revealed_epoch=self.epoch, reveal_digest=fake_digest(-n)
            )
            model = self.models.get(model_id)
            if model is not None:
                self.models[model_id] = replace(model, status="active")
            note = f"revealed {model_id[:10]}… in epoch {self.epoch}" + (
                " (autopilot)" if by == "autopilot" else ""
            )
            digest = self.record_audit("reveal", model_id, "success", {"summary": note}).digest
            done.append(model_id)
        if not done:
            raise UserError("no commit of those is in its reveal window now.")
        summary = "revealed " + ", ".join(f"{m[:10]}… in epoch {self.epoch}" for m in done)
        return ActionResult("reveal", True, summary, digest=digest, model_id=done[0], epoch=self.epoch)


FOLLOW_BACKLOG = 50_000  # plain lines a follower may fall behind by before the oldest are dropped


class FakeWorldServices:
    """ConsoleServices over a :class:`FakeWorld`, with a simulated chain poller and trainer.

    ``log_rate`` is how many plain log lines a second each running run prints (the
    benchmarks turn it up to tens of thousands).
    """

    def __init__(
        self,
        world: FakeWorld | None = None,
        *,
        poll_s: float = 1.0,
        steps_per_s: float = 3.0,
        log_rate: float = 20.0,
        tx_delay_s: float = 0.6,
    ) -> None:
        self.world = world or FakeWorld()
        self.poll_s = poll_s
        self.steps_per_s = steps_per_s
        self.log_rate = log_rate
        self.tx_delay_s = tx_delay_s
        self._listeners: list[ChainListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._trainers: dict[str, asyncio.Task[None]] = {}

    # identity
    @property
    def chain_name(self) -> str:
        return self.world.chain_name

    @property
    def readonly(self) -> bool:
        return self.world.readonly

    @property
    def address(self) -> str | None:
        return self.world.address

    @property
    def training_presets(self) -> Sequence[str]:
        return PRESETS

    # lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._poll_loop(), name="preview-chain"))
        for info in self.world.run_infos():
            if info.status == "running":
                self._spawn_trainer(info.name)

    async def stop(self) -> None:
        tasks = self._tasks + list(self._trainers.values())
        self._tasks, self._trainers = [], {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _poll_loop(self) -> None:
        while True:
            self.world.advance()
            self._publish(self.world.snapshot(), None)
            await asyncio.sleep(self.poll_s)

    def _publish(self, snap: ChainSnapshot | None, err: ChainError | None) -> None:
        for listener in list(self._listeners):
            listener(snap, err)

    # chain
    def latest_chain(self) -> ChainSnapshot | None:
        return self.world.snapshot()

    def subscribe_chain(self, listener: ChainListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    # reads
    def runs(self) -> list[RunInfo]:
        return self.world.run_infos()

    def checkpoints(self, run: str) -> list[CheckpointInfo]:
        return self.world.checkpoint_infos(run)

    def score_checkpoint(self, checkpoint_path: str) -> Verdict:
        # No chain to score against: a fixed verdict, labelled as made up.
        return Verdict("preview", 0.0, 5, 2, "would win 2 of 5 targets (preview data)")

    def queue(self, now: float) -> list[QueueEntry]:
        return self.world.queue(now)

    def audit_log(self, since_id: int) -> list[AuditEntry]:
        return [a for a in self.world.audit if a.id > since_id][-300:]

    def autopilot_enabled(self) -> bool:
        return self.world.autopilot

    def set_autopilot(self, on: bool) -> None:
        if on:
            self.world._writable("turn autopilot on")
        self.world.autopilot = on

    # training
    async def start_training(self, spec: dict[str, Any]) -> str:
        name = self.world.start_run(spec)
        self._spawn_trainer(name)
        return name

    def _spawn_trainer(self, run: str) -> None:
        self._trainers[run] = asyncio.get_running_loop().create_task(self._train(run), name=f"preview-{run}")

    async def _train(self, run: str) -> None:
        """Simulated trainer: steps at ``steps_per_s``, plain lines at ``log_rate``, in 20 Hz batches.

        Output is owed by the clock, not by the number of ticks, so a busy event loop gets
        bigger batches rather than a slower trainer (as with a real pipe).
        """
        entry = self.world.runs[run]
        step = entry.info.step
        total = entry.info.total_steps
        start = last = time.monotonic()
        step_credit = log_credit = 0.0
        n_line = 0
        prefix = f"[{run}] batch "
        while step < total:
            await asyncio.sleep(0.05)
            now_mono = time.monotonic()
            step_credit += self.steps_per_s * (now_mono - last)
            log_credit += self.log_rate * (now_mono - last)
            last = now_mono
            n_lines = int(log_credit)
            log_credit -= n_lines
            now = self.world.clock()
            batch: list[AnyRecord] = [
                LogLine(f"{prefix}{n} loaded", now) for n in range(n_line, n_line + n_lines)
            ]
            n_line += n_lines
            while step_credit >= 1 and step < total:
                step_credit -= 1
                step += 1
                records = preview_run_records(run, steps=1, total_steps=total, start_step=step - 1, t=now)
                for rec in records[1:]:  # [0] is a Started event
                    batch.append(replace(rec, elapsed_s=now_mono - start) if isinstance(rec, Step) else rec)
            if batch:
                self.world.append_records(run, batch)
        self.world.append_records(run, [Finished(step=step, final_path=f"runs/{run}/final.safetensors")])

    async def follow_run(self, run: str) -> AsyncIterator[Sequence[AnyRecord]]:
        entry = self.world.runs.get(run)
        if entry is None:
            raise UserError(f"there is no run named {run!r}.")
        backlog = Backlog(FOLLOW_BACKLOG)  # the live follower's bounded queue

        def put(records: Sequence[AnyRecord]) -> None:
            for rec in records:
                backlog.put(rec)
            if entry.info.status != "running" or any(isinstance(r, Finished) for r in records):
                backlog.close()

        entry.listeners.append(put)
        try:
            history = list(entry.records)
            for i in range(0, len(history), 5000):
                yield history[i : i + 5000]
            if entry.info.status != "running":
                return
            while (batch := await backlog.get()) is not None:
                yield batch
        finally:
            with contextlib.suppress(ValueError):
                entry.listeners.remove(put)

    async def stop_training(self, run: str) -> None:
        if run not in self.world.runs:
            raise UserError(f"there is no run named {run!r}.")
        task = self._trainers.pop(run, None)
        if task is None or task.done() or self.world.runs[run].info.status != "running":
            raise UserError(f"run {run!r} is not running.")
        task.cancel()
        self.world.set_run_status(run, "stopped")
        self.world.append_records(run, [LogLine(f"[{run}] stopped by the user")])

    # actions
    async def plan_commit(
        self,
        checkpoint_path: str,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ActionPlan:
        return self.world.plan_commit(checkpoint_path, model_id, commission_bps, stake_soma)

    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        return self.world.plan_reveal(model_id)

    async def plan_stake(self, model_id: str, soma: float) -> ActionPlan:
        return self.world.plan_stake(model_id, soma)

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        return self.world.plan_commission(model_id, bps)

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        return self.world.plan_deactivate(model_id)

    async def execute(self, plan: ActionPlan, progress: ProgressCallback) -> ActionResult:
        self.world._writable(plan.action)
        for text in ("signing", "sending", "waiting for the checkpoint"):
            progress(f"{plan.action}: {text}")
            await asyncio.sleep(self.tx_delay_s / 3)
        result = self.world.apply(plan)
        self._publish(self.world.snapshot(), None)
        return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_world",
        description="Open the console on made-up test data (no chain, no journal, no trainer).",
    )
    parser.add_argument("--models", type=int, default=40, help="how many made-up models (default 40)")
    parser.add_argument("--log-rate", type=float, default=20.0, help="log lines per second per running run")
    parser.add_argument("--steps-per-s", type=float, default=3.0, help="simulated training speed")
    parser.add_argument("--epoch-seconds", type=float, default=600.0, help="length of a preview epoch")
    parser.add_argument(
        "--readonly", action="store_true", help="refuse every transaction, as --readonly does"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument(
        "--record-exit",
        metavar="FILE",
        help="write how the console ended to FILE (for tests: the terminal may be gone by then)",
    )
    args = parser.parse_args(argv)
    world = FakeWorld(
        models=args.models, readonly=args.readonly, seed=args.seed, epoch_duration_s=args.epoch_seconds
    )
    services = FakeWorldServices(world, log_rate=args.log_rate, steps_per_s=args.steps_per_s)
    from soma_console.tui.terminal import run_console

    try:
        status = run_console(services, mouse=not args.no_mouse)
    except BaseException as exc:
        _record(args.record_exit, f"crashed {type(exc).__name__}")
        raise
    _record(args.record_exit, f"exit {status}")
    return status


def _record(path: str | None, text: str) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
