"""The on-chain half of the owner's loop: commit, reveal, updates and model actions.

Every action is two-phase: ``plan_*`` reads the chain and the journal and returns an
:class:`~soma_console.core.actions.ActionPlan` that says exactly what will be sent; ``execute``
sends it, journaling first. The command line, autopilot and the console all go through here.

Crash safety, step by step (``core.faults`` names the points the tests kill the process at):

1. the artifact (encrypted file, its key) is journaled before anything is uploaded or sent;
2. a commit intent is journaled before the first transaction;
3. each transaction's digest is journaled before it leaves (``TxSender.send``);
4. :meth:`Lifecycle.reconcile`, run before every plan, settles whatever a crash left in flight from
   the chain's own record (the transaction by digest, then the model's state).

A model created by an interrupted commit is picked up by the next commit of the same owner instead
of a new one: a Created model left uncommitted is slashed two epochs later.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soma_console.config import Home
from soma_console.context import AppContext
from soma_console.core import txdata
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import SHANNONS_PER_SOMA, ChainError, RevealTooEarly, soma
from soma_console.core.chainstate import ChainSnapshot, ModelRow, TxResult
from soma_console.core.encoding import b58decode
from soma_console.core.faults import fault_point
from soma_console.core.intent_owner import executing, owner_params, still_owned
from soma_console.core.journal import Artifact, Intent, Journal
from soma_console.core.reveal_queue import (
    MISSED,
    REVEALED,
    WAITING,
    QueueEntry,
    build_queue,
    format_countdown,
)
from soma_console.core.score_verdicts import load_verdict
from soma_console.core.txsend import (
    Coin,
    Prepared,
    TxSender,
    failure_error,
    lookup_transaction,
    model_id_bytes,
    model_id_text,
    raise_failure,
)
from soma_console.core.wallet import Signer
from soma_console.errors import UsageError, UserError

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
DEFAULT_COMMISSION_BPS = 1000
MAX_COMMISSION_BPS = 10_000
# A submitted transaction the chain still does not know after this long is taken as dropped.
DROPPED_AFTER_S = 600.0


def _quiet(_: str) -> None:
    return None


def _noop() -> None:
    return None


def _short(model_id: str | None) -> str:
    if not model_id:
        return "a new model"
    return f"{model_id[:10]}…{model_id[-4:]}" if len(model_id) > 16 else model_id


def _when(ts: float | None, now: float) -> str:
    if ts is None:
        return "unknown"
    when, today = datetime.fromtimestamp(ts, UTC), datetime.fromtimestamp(now, UTC)
    # a window usually spans a day boundary: a bare time would read the same for opens and closes
    clock = when.strftime("%H:%M:%S UTC" if when.date() == today.date() else "%Y-%m-%d %H:%M:%S UTC")
    return f"{clock} (in {format_countdown(max(0.0, ts - now))})" if ts > now else clock


def _commitment_bytes(value: str | None) -> bytes | None:
    """Commitments arrive Base58 from the SDK and hex from some views; compare them as bytes."""
    if not value:
        return None
    text = value.removeprefix("0x")
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = b58decode(value)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def same_commitment(a: str | None, b: str | None) -> bool:
    ra, rb = _commitment_bytes(a), _commitment_bytes(b)
    return ra is not None and ra == rb


class Lifecycle:
    """Plans and sends model transactions for one signer on one chain."""

    def __init__(
        self, ctx: AppContext, session: ChainSession, journal: Journal, signer: Signer | None
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.journal = journal
        self.signer = signer
        self.chain = ctx.chain
        self._sender = TxSender(session, signer) if signer is not None else None
        self.clock: Callable[[], float] = session.clock
        # Called after every journal write that must survive a crash (the Modal cron commits its
        # Volume here, so a key is durable before anything that depends on it is sent).
        self.persist: Callable[[], None] = _noop

    def __repr__(self) -> str:
        return f"Lifecycle({self.chain.name!r}, signer={self.signer!r})"

    # -- helpers ------------------------------------------------------------------------------------
    def _writable(self, action: str) -> TxSender:
        self.ctx.require_writable(action)
        if self._sender is None or self.signer is None:
            raise UserError(
                "no wallet is configured.", hint="Run `soma-console wallet new` or set SOMA_SECRET_KEY."
            )
        return self._sender

    @property
    def _address(self) -> str:
        assert self.signer is not None
        return self.signer.address

    async def _fresh(self) -> ChainSnapshot:
        return await self.session.snapshot()

    def _model_row(self, snap: ChainSnapshot, model_id: str) -> ModelRow:
        mid = model_id_text(model_id_bytes(model_id))
        row = snap.model(mid)
        if row is None:
            raise UserError(
                f"model {_short(mid)} does not exist on the {self.chain.name} chain.",
                hint="Check the id with `soma-console models`.",
            )
        return row

    def _owned_row(self, snap: ChainSnapshot, model_id: str) -> ModelRow:
        row = self._model_row(snap, model_id)
        if not row.is_owned_by(self._address):
            raise UserError(
                f"model {_short(row.model_id)} belongs to {row.owner[:10]}…, not to this wallet.",
                hint="Only its owner can do this; check `soma-console wallet show`.",
            )
        return row

    def _audit(
        self,
        kind: str,
        status: str,
        *,
        model_id: str | None,
        intent_id: int | None = None,
        digest: str | None = None,
        summary: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.journal.audit(
            chain=self.chain.name,
            signer=self._address,
            kind=kind,
            status=status,
            model_id=model_id,
            intent_id=intent_id,
            summary=summary,
            digest=digest,
            error=error,
        )

    async def _fee(
        self, kind: txdata.Kind | Callable[[list[Coin]], txdata.Kind], ctx: dict[str, Any]
    ) -> int | None:
        """The simulated fee; an on-chain failure the simulation predicts is raised now, before anything
        is sent."""
        assert self._sender is not None
        fee, failure = await self._sender.simulate_fee(kind)
        if failure is not None:
            raise failure_error(failure, url=self.chain.rpc_url, ctx=ctx)
        return fee

    # -- the queue ----------------------------------------------------------------------------------
    def commit_intents(self) -> list[Intent]:
        return self.journal.intents(chain=self.chain.name, kinds=("commit",))

    def queue(self, snap: ChainSnapshot | None, now: float) -> list[QueueEntry]:
        return build_queue(self.commit_intents(), snap, now)

    # -- commit -------------------------------------------------------------------------------------
    async def plan_commit(
        self,
        checkpoint: str | Path,
        *,
        model_id: str | None = None,
        commission_bps: int | None = None,
        stake_soma: float | None = None,
        storage: str | None = None,
        progress: Progress | None = None,
    ) -> ActionPlan:
        """Check, encrypt, upload and verify the checkpoint; say what committing it would send."""
        progress = progress or _quiet
        self._writable("commit")
        from soma_console.core.commit_prep import resolve_checkpoint  # storage, httpx: commits only

        source = resolve_checkpoint(checkpoint, self.ctx.home.runs_dir)
        snap = await self._fresh()
        await self.reconcile(snap)
        now = self.clock()
        warnings: list[str] = []
        confirm = "commit"
        create = model_id is None
        resumed: ModelRow | None = None
        if create:
            commission = (
                int(self.ctx.settings.get("commit.commission_bps", DEFAULT_COMMISSION_BPS))
                if commission_bps is None
                else commission_bps
            )
            if not 0 <= commission <= MAX_COMMISSION_BPS:
                raise UsageError(
                    f"a commission of {commission} bps is outside 0..10000.", hint="100 bps = 1%."
                )
            min_stake = snap.params.model_min_stake or SHANNONS_PER_SOMA
            if stake_soma is None:
                stake_soma = float(self.ctx.settings.get("commit.stake_soma", min_stake / SHANNONS_PER_SOMA))
            stake = round(stake_soma * SHANNONS_PER_SOMA)
            if stake <= 0:
                raise UsageError(
                    f"a stake of {stake_soma:g} SOMA is not positive.", hint="Stake at least the minimum."
                )
            if stake < min_stake:
                raise UsageError(
                    f"a stake of {soma(stake)} is below the chain's minimum of {soma(min_stake)}.",
                    hint="Stake at least the minimum.",
                )
            resumed = self._orphan_created_model(snap)
            if resumed is not None:
                create = False
                model_id = resumed.model_id
                warnings.append(
                    f"model {_short(model_id)} was created by an interrupted commit and has no weights yet; "
                    "committing to it (a Created model left uncommitted is slashed)."
                )
        else:
            if commission_bps is not None or stake_soma is not None:
                raise UsageError(
                    "--commission and --stake apply only to a new model.",
                    hint="Use `soma-console model commission` or `model stake` for an existing one.",
                )
            assert model_id is not None
            row = self._owned_row(snap, model_id)
            model_id = row.model_id
            if row.status == "pending":
                raise UserError(
                    f"model {_short(model_id)} already has a commit from epoch {row.commit_epoch} "
                    "waiting for its reveal.",
                    hint="Reveal it first (`soma-console reveal`), then commit an update.",
                )
            if row.status not in ("created", "active"):
                raise UserError(
                    f"model {_short(model_id)} is {row.status}; "
                    "only a created or active model takes a commit."
                )
            if row.status == "active" and row.has_pending_update:
                warnings.append(
                    f"model {_short(model_id)} already has an unrevealed update from epoch "
                    f"{row.pending_update.commit_epoch if row.pending_update else '?'}; "
                    "this commit OVERWRITES it."
                )
                confirm = "overwrite"
        target = None if model_id is None else snap.model(model_id)
        update = target is not None and target.status == "active"
        # Everything that can be checked without the artifact is checked first, so a refusal
        # leaves nothing behind (no encrypted file, no journal entry).
        fctx = {"model_id": model_id, "epoch": snap.epoch}
        lines: list[tuple[str, str]] = [("Checkpoint", f"{source.label} ({source.weights})")]
        verdict = load_verdict(source.weights)
        if verdict is not None:  # an unscored checkpoint adds no row: the plan must fit 80x24
            lines.append(("Last score", verdict.summary))
        fee_total = 0
        if create and snap.balance is not None and stake > snap.balance:
            raise UserError(
                f"a stake of {soma(stake)} is more than the wallet holds ({soma(snap.balance)}).",
                hint="Fund the wallet or stake less.",
            )
        if create:
            arch = snap.params.model_architecture_version
            ckind = txdata.CreateModel(
                stake_amount=stake, commission_rate=commission, architecture_version=arch or 1
            )
            fee = await self._fee(
                ckind,
                {**fctx, "stake": stake, "min_stake": snap.params.model_min_stake, "commission": commission},
            )
            fee_total += fee or 0
            lines += [
                ("Model", "a new model (create_model, then commit_model)"),
                ("Stake", soma(stake)),
                ("Commission", f"{commission} bps ({commission / 100:g}%)"),
                ("Create fee", f"{soma(fee)} (simulated)"),
            ]
        from soma_console.core.commit_prep import prepare_artifact

        artifact = await prepare_artifact(
            self.journal,
            source,
            chain=self.chain,
            settings=self.ctx.settings,
            artifacts_dir=self.ctx.home.artifacts_dir,
            storage=storage,
            progress=progress,
        )
        self.persist()
        progress("estimating fees")
        if not create:
            assert model_id is not None
            kind = self._commit_kind(model_id, artifact)
            fee = await self._fee(kind, fctx)
            fee_total += fee or 0
            lines.append(("Model", f"{model_id} ({'update' if update else 'first commit'})"))
        lines += [
            ("Weights URL", artifact.weights_url or "?"),
            ("Size", f"{artifact.size:,} bytes (encrypted)"),
            ("Weights commitment", artifact.commitment),
            ("Key commitment", artifact.key_commitment),
            (
                "Embedding",
                f"{len(artifact.embedding or [])} floats, commitment {artifact.embedding_commitment}",
            ),
            ("Architecture", artifact.architecture or "?"),
        ]
        if create:
            lines.append(("Commit fee", "charged after create (about the create fee)"))
        else:
            lines.append(("Commit fee", f"{soma(fee_total)} (simulated)"))
        opens = snap.next_boundary_ms / 1000.0
        closes = opens + snap.epoch_duration_ms / 1000.0
        lines += [
            ("Commit epoch", f"{snap.epoch} (if sent before the boundary at {_when(opens, now)})"),
            (
                "Reveal window",
                f"epoch {snap.epoch + 1}: opens {_when(opens, now)}, closes {_when(closes, now)}",
            ),
        ]
        spend = fee_total * (2 if create else 1) + (stake if create else 0)
        if snap.balance is not None:
            if spend > snap.balance:
                raise UserError(
                    f"this needs about {soma(spend)} but the wallet holds {soma(snap.balance)}.",
                    hint="Fund the wallet or stake less.",
                )
            lines.append(("Balance", f"{soma(snap.balance)} → about {soma(snap.balance - spend)}"))
        warnings.append(
            f"the reveal must be sent during epoch {snap.epoch + 1}; "
            "a missed first reveal costs half the stake."
            if not update
            else f"the update must be revealed during epoch {snap.epoch + 1} or it is dropped."
        )
        title = (
            f"Commit {source.label} as a new model"
            if create
            else f"Commit {source.label} {'as an update of' if update else 'to'} model {_short(model_id)}"
        )
        payload = {
            "artifact_id": artifact.id,
            "model_id": model_id,
            "create": create,
            "stake": stake if create else None,
            "commission": commission if create else None,
            "update": update,
            "architecture_version": snap.params.model_architecture_version,
            "source": str(source.weights),
        }
        return ActionPlan("commit", title, tuple(lines), tuple(warnings), False, confirm, payload)

    def _orphan_created_model(self, snap: ChainSnapshot) -> ModelRow | None:
        """A model this wallet created through an interrupted commit, still in the Created state."""
        for intent in self.journal.intents(chain=self.chain.name, kinds=("create",), states=("confirmed",)):
            if not intent.model_id:
                continue
            row = snap.model(intent.model_id)
            if row is None or row.status != "created" or not row.is_owned_by(self._address):
                continue
            used = self.journal.intents(
                chain=self.chain.name,
                kinds=("commit",),
                model_id=intent.model_id,
                states=("intent", "submitted", "confirmed", "revealed"),
            )
            if not used:
                return row
        return None

    def _commit_kind(self, model_id: str, artifact: Artifact) -> txdata.CommitModel:
        assert artifact.weights_url and artifact.embedding_commitment
        return txdata.CommitModel(
            model_id=model_id_bytes(model_id),
            manifest=txdata.Manifest(
                url=artifact.weights_url, checksum=b58decode(artifact.commitment), size=artifact.size
            ),
            weights_commitment=b58decode(artifact.commitment),
            embedding_commitment=b58decode(artifact.embedding_commitment),
            decryption_key_commitment=b58decode(artifact.key_commitment),
        )

    async def _execute_commit(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable("commit")
        p = plan.payload
        artifact = self.journal.artifact(int(p["artifact_id"]))
        if artifact is None:
            raise UserError("the prepared artifact is gone from the journal; plan the commit again.")
        from soma_console.core.commit_prep import _committed_use

        used = _committed_use(self.journal, artifact)
        if used is not None:
            raise UserError(f"this checkpoint was already committed to {used}.")
        intent = self.journal.begin_intent(
            chain=self.chain.name,
            signer=self._address,
            kind="commit",
            model_id=p["model_id"],
            artifact_id=artifact.id,
            params={
                "weights_url": artifact.weights_url,
                "update": bool(p["update"]),
                "create": bool(p["create"]),
                "stake": p["stake"],
                "commission": p["commission"],
                "source": p["source"],
                **owner_params(),
            },
        )
        self.persist()
        with executing(self.journal.path, intent.id):
            return await self._send_commit(sender, intent, artifact, p, progress)

    async def _send_commit(
        self, sender: TxSender, intent: Intent, artifact: Artifact, p: dict[str, Any], progress: Progress
    ) -> ActionResult:
        fault_point("after_intent")
        model_id: str | None = p["model_id"]
        try:
            if p["create"]:
                progress("creating the model")
                model_id = await self._create_model(sender, intent, p)
                self.journal.set_intent_model(intent.id, model_id)
            assert model_id is not None
            fault_point("before_commit")
            progress("sending the commit")
            kind = self._commit_kind(model_id, artifact)
            ctx = {"model_id": model_id}
            prepared, result = await sender.send(
                kind,
                before_send=lambda pr: self._submitted(intent.id, pr.digest),
                after_send=lambda: fault_point("after_send"),
                ctx=ctx,
            )
        except ChainError as exc:
            self._settle_unknown(intent, "commit", model_id, exc)
            raise
        summary = {
            "weights_url": artifact.weights_url,
            "size": artifact.size,
            "commitment": artifact.commitment,
        }
        if not result.ok:
            err = self._failed(
                "commit", prepared, result, ctx, model_id=model_id, intent_id=intent.id, summary=summary
            )
            self.journal.mark_failed(intent.id, str(err))
            raise err
        fault_point("after_confirm")
        epoch = result.executed_epoch
        if epoch is None:
            epoch = (await self.session.head()).epoch
        self.journal.mark_confirmed(intent.id, digest=prepared.digest, commit_epoch=epoch, model_id=model_id)
        self._audit(
            "commit",
            "success",
            model_id=model_id,
            intent_id=intent.id,
            digest=prepared.digest,
            summary={**summary, "commit_epoch": epoch},
        )
        self.session.wake()
        return ActionResult(
            "commit",
            True,
            f"committed {_short(model_id)} in epoch {epoch}; reveal during epoch {epoch + 1}",
            digest=prepared.digest,
            model_id=model_id,
            epoch=epoch,
            data={
                "model_id": model_id,
                "commit_epoch": epoch,
                "reveal_epoch": epoch + 1,
                "digest": prepared.digest,
                "weights_url": artifact.weights_url,
                "commitment": artifact.commitment,
                "size": artifact.size,
                "update": bool(p["update"]),
                "intent_id": intent.id,
            },
        )

    async def _create_model(self, sender: TxSender, commit_intent: Intent, p: dict[str, Any]) -> str:
        create = self.journal.begin_intent(
            chain=self.chain.name,
            signer=self._address,
            kind="create",
            params={
                "stake": p["stake"],
                "commission": p["commission"],
                "for_intent": commit_intent.id,
                **owner_params(),
            },
        )
        kind = txdata.CreateModel(
            stake_amount=int(p["stake"]),
            commission_rate=int(p["commission"]),
            architecture_version=int(p["architecture_version"] or 1),
        )
        ctx = {"stake": p["stake"], "commission": p["commission"]}
        try:
            with executing(self.journal.path, create.id):
                prepared, result = await sender.send(
                    kind, before_send=lambda pr: self._submitted(create.id, pr.digest), ctx=ctx
                )
        except ChainError as exc:
            self._settle_unknown(create, "create_model", None, exc)
            raise
        model_id = model_id_text(txdata.derive_object_id(prepared.digest_bytes, 0))
        if not result.ok:
            err = self._failed(
                "create_model", prepared, result, ctx, model_id=None, intent_id=create.id, summary=ctx
            )
            self.journal.mark_failed(create.id, str(err))
            self.journal.mark_failed(commit_intent.id, f"create_model failed: {err}")
            raise err
        self.journal.mark_confirmed(
            create.id, digest=prepared.digest, commit_epoch=result.executed_epoch, model_id=model_id
        )
        self._audit(
            "create_model",
            "success",
            model_id=model_id,
            intent_id=create.id,
            digest=prepared.digest,
            summary=ctx,
        )
        return model_id

    def _failed(
        self,
        kind: str,
        prepared: Prepared,
        result: TxResult,
        ctx: dict[str, Any],
        *,
        model_id: str | None,
        intent_id: int | None = None,
        summary: dict[str, Any] | None = None,
    ) -> ChainError:
        """The error for a transaction that failed on-chain, recorded in the audit log."""
        err = raise_failure(result, url=self.chain.rpc_url, ctx=ctx)
        self._audit(
            kind,
            "failed",
            model_id=model_id,
            intent_id=intent_id,
            digest=prepared.digest,
            summary=summary,
            error=str(err),
        )
        return err

    def _submitted(self, intent_id: int, digest: str) -> None:
        self.journal.mark_submitted(intent_id, digest)
        self.persist()

    def _settle_unknown(self, intent: Intent, kind: str, model_id: str | None, exc: ChainError) -> None:
        """A send that raised: rejected before execution (nothing sent) or outcome unknown."""
        current = self.journal.intent(intent.id)
        if current.state == "intent":
            self.journal.mark_failed(intent.id, f"not sent: {exc}")
            return
        self.journal.note_error(intent.id, f"outcome unknown: {exc}")
        self._audit(
            kind, "unknown", model_id=model_id, intent_id=intent.id, digest=current.digest, error=str(exc)
        )

    # -- reveal -------------------------------------------------------------------------------------
    async def plan_reveal(self, model_id: str | None = None) -> ActionPlan:
        self._writable("reveal")
        # Only the small read: a reveal depends on the epoch and its boundary, and on the journal;
        # the model list (as big as the network) must never delay or block it.
        snap = await self.session.head()
        await self.reconcile(snap, read_models=False)
        now = self.clock()
        wanted = None if model_id is None else model_id_text(model_id_bytes(model_id))
        entries = [e for e in self.queue(snap, now) if wanted is None or e.model_id == wanted]
        ready = [e for e in entries if e.actionable]
        if not ready:
            raise self._nothing_to_reveal(entries, wanted, snap, now)
        lines: list[tuple[str, str]] = []
        for e in ready:
            lines.append(
                (
                    f"Model {_short(e.model_id)}",
                    f"{e.kind} commit of epoch {e.commit_epoch}, revealed now in epoch {snap.epoch}; "
                    f"window closes {_when(e.closes_at, now)}",
                )
            )
        first = self.journal.intent(ready[0].intent_id)
        fee = await self._fee(
            self._reveal_kind(first),
            {"model_id": first.model_id, "epoch": snap.epoch, "commit_epoch": first.commit_epoch},
        )
        lines.append(("Fee", f"{soma(fee)} each (simulated)"))
        lines.append(("Sends", "the decryption key and the embedding (both become public)"))
        title = f"Reveal {len(ready)} commit{'s' if len(ready) != 1 else ''}"
        return ActionPlan(
            "reveal", title, tuple(lines), (), False, "reveal", {"intents": [e.intent_id for e in ready]}
        )

    def _nothing_to_reveal(
        self, entries: list[QueueEntry], wanted: str | None, snap: ChainSnapshot, now: float
    ) -> UserError:
        who = f"model {_short(wanted)}" if wanted else "any model"
        waiting = [e for e in entries if e.state == WAITING]
        if waiting:
            e = min(waiting, key=lambda x: x.opens_at or 0.0)
            return RevealTooEarly(
                f"the reveal window for model {_short(e.model_id)} (committed in epoch {e.commit_epoch}) "
                f"opens "
                f"at epoch {e.reveal_epoch}, {_when(e.opens_at, now)}; this is epoch {snap.epoch}.",
                hint="Wait for it with `soma-console reveal --wait`.",
            )
        missed = [e for e in entries if e.state == MISSED]
        if missed and wanted:
            e = missed[0]
            return UserError(
                f"the reveal window of model {_short(e.model_id)} (epoch {e.reveal_epoch}) has closed."
            )
        pending = [e for e in entries if e.state not in (REVEALED, MISSED)]
        if pending:
            e = pending[0]
            return UserError(
                f"the commit for model {_short(e.model_id)} is not confirmed yet ({e.state}).",
                hint="Check `soma-console queue` in a moment.",
            )
        return UserError(f"there is no pending commit to reveal for {who}.", hint="See `soma-console queue`.")

    def _reveal_kind(self, intent: Intent) -> txdata.RevealModel:
        artifact = self.journal.artifact(intent.artifact_id or 0)
        if artifact is None or artifact.embedding is None or intent.model_id is None:
            raise UserError(
                f"intent #{intent.id} has no journaled key or embedding; it cannot be revealed here."
            )
        key_text = artifact.decryption_key.reveal()
        assert isinstance(key_text, str)
        return txdata.RevealModel(
            model_id=model_id_bytes(intent.model_id),
            decryption_key=b58decode(key_text),
            embedding=tuple(float(x) for x in artifact.embedding),
        )

    async def _execute_reveal(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable("reveal")
        done: list[dict[str, Any]] = []
        last: Prepared | None = None
        for intent_id in plan.payload["intents"]:
            intent = self.journal.intent(int(intent_id))
            if intent.state == "revealed":
                continue
            progress(f"revealing {_short(intent.model_id)}")
            self.journal.mark_attempt(intent.id)
            ctx = {
                "model_id": intent.model_id,
                "commit_epoch": intent.commit_epoch,
                "epoch": (self.session.latest.epoch if self.session.latest else None),
            }
            try:
                prepared, result = await sender.send(
                    self._reveal_kind(intent),
                    before_send=lambda _pr: None,
                    after_send=lambda: fault_point("during_reveal"),
                    ctx=ctx,
                )
            except ChainError as exc:
                self.journal.note_error(intent.id, f"reveal: {exc}")
                self._audit(
                    "reveal", "unknown", model_id=intent.model_id, intent_id=intent.id, error=str(exc)
                )
                raise
            last = prepared
            if not result.ok:
                err = self._failed(
                    "reveal", prepared, result, ctx, model_id=intent.model_id, intent_id=intent.id
                )
                self.journal.note_error(intent.id, f"reveal failed: {err}")
                raise err
            epoch = (
                result.executed_epoch if result.executed_epoch is not None else (intent.commit_epoch or 0) + 1
            )
            self.journal.mark_revealed(intent.id, digest=prepared.digest, epoch=epoch)
            self._audit(
                "reveal",
                "success",
                model_id=intent.model_id,
                intent_id=intent.id,
                digest=prepared.digest,
                summary={"epoch": epoch},
            )
            done.append(
                {
                    "model_id": intent.model_id,
                    "digest": prepared.digest,
                    "epoch": epoch,
                    "intent_id": intent.id,
                }
            )
        self.session.wake()
        if not done:
            return ActionResult("reveal", True, "nothing left to reveal", data={"revealed": []})
        summary = "revealed " + ", ".join(f"{_short(d['model_id'])} in epoch {d['epoch']}" for d in done)
        return ActionResult(
            "reveal",
            True,
            summary,
            digest=last.digest if last else None,
            model_id=done[-1]["model_id"],
            epoch=done[-1]["epoch"],
            data={"revealed": done},
        )

    # -- model actions ------------------------------------------------------------------------------
    async def plan_stake(self, model_id: str, soma_amount: float) -> ActionPlan:
        self._writable("stake")
        if not soma_amount > 0:
            raise UsageError(
                f"a stake of {soma_amount:g} SOMA is not positive.", hint="Stake more than 0 SOMA."
            )
        amount = round(soma_amount * SHANNONS_PER_SOMA)
        snap = await self._fresh()
        row = self._model_row(snap, model_id)
        if row.status not in ("created", "pending", "active"):
            raise UserError(
                f"model {_short(row.model_id)} is {row.status}; stake goes only to created, pending "
                "or active models."
            )
        if snap.balance is not None and amount > snap.balance:
            raise UserError(
                f"a stake of {soma(amount)} is more than the wallet's {soma(snap.balance)}.",
                hint="Fund the wallet or stake less.",
            )
        kind = self._stake_kind(row.model_id, amount)
        fee = await self._fee(kind, {"model_id": row.model_id})
        lines = (
            ("Model", f"{row.model_id} ({row.status})"),
            ("Add stake", soma(amount)),
            ("Stake now", soma(row.stake)),
            ("Takes effect", f"epoch {snap.epoch + 1} (stake counts from the next epoch)"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "stake",
            f"Add {soma(amount)} of stake to model {_short(row.model_id)}",
            lines,
            (),
            False,
            "stake",
            {"model_id": row.model_id, "amount": amount},
        )

    def _stake_kind(self, model_id: str, amount: int) -> Callable[[list[Coin]], txdata.Kind]:
        def build(coins: list[Coin]) -> txdata.Kind:
            return txdata.AddStakeToModel(model_id=model_id_bytes(model_id), coin=coins[0].ref, amount=amount)

        return build

    async def plan_commission(self, model_id: str, bps: int) -> ActionPlan:
        self._writable("commission")
        if not 0 <= bps <= MAX_COMMISSION_BPS:
            raise UsageError(f"a commission of {bps} bps is outside 0..10000.", hint="100 bps = 1%.")
        snap = await self._fresh()
        row = self._owned_row(snap, model_id)
        if row.status != "active":
            raise UserError(
                f"model {_short(row.model_id)} is {row.status}; only an active model's commission can change."
            )
        kind = txdata.SetModelCommissionRate(model_id=model_id_bytes(row.model_id), new_rate=bps)
        fee = await self._fee(kind, {"model_id": row.model_id, "commission": bps})
        now = self.clock()
        lines = (
            ("Model", row.model_id),
            ("Commission now", f"{row.commission_rate} bps (this epoch, {snap.epoch})"),
            ("Next epoch's rate", f"{row.next_commission_rate} bps → {bps} bps"),
            ("Takes effect", f"epoch {snap.epoch + 1}, {_when(snap.next_boundary_ms / 1000.0, now)}"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "commission",
            f"Set model {_short(row.model_id)}'s commission to {bps} bps",
            lines,
            (),
            False,
            "commission",
            {"model_id": row.model_id, "bps": bps},
        )

    async def plan_deactivate(self, model_id: str) -> ActionPlan:
        self._writable("deactivate")
        snap = await self._fresh()
        row = self._owned_row(snap, model_id)
        if row.status != "active":
            raise UserError(
                f"model {_short(row.model_id)} is {row.status}; only an active model can be deactivated."
            )
        kind = txdata.DeactivateModel(model_id=model_id_bytes(row.model_id))
        fee = await self._fee(kind, {"model_id": row.model_id})
        warnings = ["the model stops competing at once and cannot be reactivated."]
        if row.has_pending_update:
            warnings.append("its unrevealed pending update is dropped.")
        lines = (
            ("Model", row.model_id),
            ("Stake", f"{soma(row.stake)} (not slashed)"),
            ("Fee", f"{soma(fee)} (simulated)"),
        )
        return ActionPlan(
            "deactivate",
            f"Deactivate model {_short(row.model_id)}",
            lines,
            tuple(warnings),
            True,
            "deactivate",
            {"model_id": row.model_id},
        )

    async def _execute_simple(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable(plan.action)
        p = plan.payload
        model_id = str(p["model_id"])
        kind: txdata.Kind | Callable[[list[Coin]], txdata.Kind]
        if plan.action == "stake":
            kind = self._stake_kind(model_id, int(p["amount"]))
            summary: dict[str, Any] = {"amount": int(p["amount"])}
        elif plan.action == "commission":
            kind = txdata.SetModelCommissionRate(model_id=model_id_bytes(model_id), new_rate=int(p["bps"]))
            summary = {"bps": int(p["bps"])}
        else:
            kind = txdata.DeactivateModel(model_id=model_id_bytes(model_id))
            summary = {}
        sent: list[str] = []
        progress(f"sending {plan.action}")
        ctx = {"model_id": model_id}
        try:
            prepared, result = await sender.send(kind, before_send=lambda pr: sent.append(pr.digest), ctx=ctx)
        except ChainError as exc:
            self._audit(
                plan.action,
                "unknown",
                model_id=model_id,
                digest=sent[-1] if sent else None,
                summary=summary,
                error=str(exc),
            )
            raise
        if not result.ok:
            err = self._failed(plan.action, prepared, result, ctx, model_id=model_id, summary=summary)
            raise err
        self._audit(plan.action, "success", model_id=model_id, digest=prepared.digest, summary=summary)
        self.session.wake()
        words = {
            "stake": "added stake to",
            "commission": "set the commission of",
            "deactivate": "deactivated",
        }
        return ActionResult(
            plan.action,
            True,
            f"{words[plan.action]} {_short(model_id)}",
            digest=prepared.digest,
            model_id=model_id,
            epoch=result.executed_epoch,
            data={"model_id": model_id, "digest": prepared.digest, **summary},
        )

    # -- execute ------------------------------------------------------------------------------------
    async def execute(self, plan: ActionPlan, progress: Progress | None = None) -> ActionResult:
        progress = progress or _quiet
        if plan.action == "commit":
            return await self._execute_commit(plan, progress)
        if plan.action == "reveal":
            return await self._execute_reveal(plan, progress)
        if plan.action in ("stake", "commission", "deactivate"):
            return await self._execute_simple(plan, progress)
        raise UserError(f"there is no action called {plan.action!r}.")

    # -- recovery -----------------------------------------------------------------------------------
    async def reconcile(self, snap: ChainSnapshot | None = None, *, read_models: bool = True) -> list[str]:
        """Settle intents a crash left in flight, from the chain's own record; one line per change.
        ``snap``: a snapshot the caller just read (saves reading the system state again).

        Given only the clock (``snap.registry_ok`` False), a commit whose reveal window has opened
        is settled from the model list, read once here (``read_models``), or, when that list
        cannot be read, from the epochs alone; with ``read_models`` False (the reveal path, which
        must not wait for the list) such commits are left for the next call."""
        changes: list[str] = []
        open_intents = self.journal.intents(
            chain=self.chain.name, kinds=("create", "commit"), states=("intent", "submitted", "confirmed")
        )
        if not open_intents:
            return changes
        snap = snap or await self._fresh()
        now = self.clock()
        opened = [
            i
            for i in open_intents
            if i.kind == "commit"
            and i.state == "confirmed"
            and i.commit_epoch is not None
            and snap.epoch > i.commit_epoch
        ]
        if opened and not snap.registry_ok and read_models:
            try:
                snap = await self._fresh()
            except ChainError as exc:
                log.info("settling from the epochs alone: %s", exc)
        for intent in sorted(open_intents, key=lambda i: i.id):
            intent = self.journal.intent(intent.id)
            if intent.state in ("intent", "submitted"):
                line = await self._settle_sent(intent, snap, now)
            elif snap.registry_ok or read_models:
                line = self._settle_window(intent, snap)
            else:
                line = None
            if line:
                changes.append(line)
        return changes

    async def _settle_sent(self, intent: Intent, snap: ChainSnapshot, now: float) -> str | None:
        if intent.state == "intent" or not intent.digest:
            if still_owned(self.journal.path, intent.id, intent.params, intent.updated_at):
                return None  # its process is still preparing it (a commit creating its model, say)
            # The digest is journaled before a transaction leaves: no digest, nothing sent.
            self.journal.mark_failed(intent.id, "interrupted before the transaction was sent")
            return f"intent #{intent.id} ({intent.kind}) was interrupted before sending; nothing was sent"
        result = await lookup_transaction(self.session, intent.digest)
        if result is None:
            if now - intent.updated_at > DROPPED_AFTER_S:
                self.journal.mark_failed(intent.id, "the chain never included the transaction")
                return f"intent #{intent.id} ({intent.kind}) never reached the chain"
            return None
        if not result.ok:
            self.journal.mark_failed(intent.id, f"failed on-chain: {result.status}")
            return f"intent #{intent.id} ({intent.kind}) failed on-chain"
        epoch = result.executed_epoch if result.executed_epoch is not None else snap.epoch
        if intent.kind == "create":
            model_id = model_id_text(txdata.derive_object_id(b58decode(intent.digest), 0))
            self.journal.mark_confirmed(intent.id, commit_epoch=epoch, model_id=model_id)
            for_intent = intent.params.get("for_intent")
            if isinstance(for_intent, int):
                other = self.journal.intent(for_intent)
                if other.model_id is None:
                    self.journal.set_intent_model(other.id, model_id)
            return f"model {_short(model_id)} was created (recovered from the chain)"
        self.journal.mark_confirmed(intent.id, commit_epoch=epoch)
        return f"the commit for {_short(intent.model_id)} in epoch {epoch} was confirmed (recovered)"

    def _settle_window(self, intent: Intent, snap: ChainSnapshot) -> str | None:
        if intent.kind != "commit" or intent.model_id is None or intent.commit_epoch is None:
            return None
        artifact = self.journal.artifact(intent.artifact_id or 0)
        row = snap.model(intent.model_id) if snap.registry_ok else None
        if snap.registry_ok and row is None:
            # A confirmed commit to a model the chain does not know: the chain was reset (a fresh
            # devnet under the same name). Its window can never be met; say so rather than count down.
            self.journal.mark_missed(intent.id, "the chain no longer knows this model (was it reset?)")
            return f"model {_short(intent.model_id)} is gone from the chain (reset?); its commit is closed"
        if artifact is None:
            return None
        pending = row.pending_update if row is not None else None
        mine_pending = pending is not None and same_commitment(
            pending.weights_commitment, artifact.commitment
        )
        reveal_epoch = intent.commit_epoch + 1
        if row is not None:
            mine_live = same_commitment(row.weights_commitment, artifact.commitment)
            if mine_live and row.status == "active" and not mine_pending:
                self.journal.mark_revealed(intent.id, digest=None, epoch=reveal_epoch)
                return f"the reveal of {_short(intent.model_id)} is on-chain (recovered)"
        if snap.epoch > reveal_epoch:
            reason = (
                "the reveal window closed without a reveal; the model was slashed"
                if not intent.params.get("update")
                else "the update's reveal window closed; it was dropped"
            )
            self.journal.mark_missed(intent.id, reason)
            return f"MISSED: {reason} ({_short(intent.model_id)}, epoch {reveal_epoch})"
        if (
            intent.params.get("update")
            and row is not None
            and pending is not None
            and not mine_pending
            and row.status == "active"
        ):
            self.journal.mark_missed(intent.id, "overwritten by a later commit")
            return f"the update for {_short(intent.model_id)} was overwritten by a later commit"
        return None

    # -- autopilot ----------------------------------------------------------------------------------
    async def autopilot_tick(self, snapshot: ChainSnapshot | None, now: float) -> list[ActionResult]:
        """Reveal every open window now. Returns what was sent."""
        snap = snapshot or self.session.latest or await self.session.head()
        await self.reconcile(snap, read_models=False)
        if not any(e.actionable for e in self.queue(snap, now)):
            return []
        plan = await self.plan_reveal()
        return [await self.execute(plan)]


@asynccontextmanager
async def cron_lifecycle(home: Home, *, chain: str, persist: Callable[[], None]) -> AsyncIterator[Lifecycle]:
    """The lifecycle a Modal cron round works with: the signer from ``SOMA_SECRET_KEY``, the journal
    in ``home``, ``persist`` called after every journal write (and once at the end, however it ends)."""
    from soma_console.config import Settings
    from soma_console.core.chain_identity import adopt_chain_identity
    from soma_console.core.wallet import load_signer

    settings = Settings.load(home)
    ctx = AppContext(home=home, settings=settings, chain=settings.resolve_chain(chain))
    signer = load_signer(home)
    assert signer is not None
    journal = Journal.open(home.journal_path)
    session = ChainSession(
        ctx.chain,
        address=signer.address,
        timeout=settings.rpc_timeout,
        max_state_bytes=settings.max_state_bytes,
    )
    lc = Lifecycle(ctx, session, journal, signer)
    lc.persist = persist
    try:
        if await adopt_chain_identity(session, journal) is not None:
            persist()  # another network under this chain name: its entries were set aside
        yield lc
    finally:
        await session.close()
        journal.close()
        persist()


async def run_cron_round(
    home: Home, checkpoint: Path, manifest: Any, *, chain: str, persist: Callable[[], None]
) -> dict[str, Any]:
    """One scheduled round on the chain (the Modal cron's chain step): reveal what is due, then commit
    ``checkpoint`` as an update of this journal's model (a new model the first time).

    The signer comes from ``SOMA_SECRET_KEY`` and the storage spec from ``SOMA_STORAGE`` (both Modal
    secrets). ``persist`` is called after every journal write that must survive the container.
    """
    import os

    out: dict[str, Any] = {"revealed": [], "committed": None, "skipped": None}
    async with cron_lifecycle(home, chain=chain, persist=persist) as lc:
        session = lc.session
        snap = await session.head()  # the reveal first, on the small read
        await lc.reconcile(snap)
        persist()
        if any(e.actionable for e in lc.queue(snap, lc.clock())):
            result = await lc.execute(await lc.plan_reveal())
            out["revealed"] = result.data.get("revealed", [])
        snap = await session.snapshot()
        model_id = _cron_model(lc, snap)
        row = None if model_id is None else snap.model(model_id)
        if row is not None and row.status == "pending":
            out["skipped"] = f"model {model_id} still waits for its first reveal; committing next round"
        elif row is not None and row.status not in ("created", "active"):
            out["skipped"] = f"model {model_id} is {row.status}; not committing to it"
        else:
            plan = await lc.plan_commit(checkpoint, model_id=model_id, storage=os.environ.get("SOMA_STORAGE"))
            out["committed"] = (await lc.execute(plan)).data
        out["pending"] = [
            e.to_json()
            for e in lc.queue(await session.head(), lc.clock())
            if e.state not in (REVEALED, MISSED)
        ]
        return out


def _cron_model(lc: Lifecycle, snap: ChainSnapshot) -> str | None:
    """The model this journal has been committing to (newest first), if it still exists."""
    for intent in lc.journal.intents(chain=lc.chain.name, kinds=("commit", "create")):
        if intent.model_id and intent.state in ("confirmed", "revealed") and snap.model(intent.model_id):
            return intent.model_id
    return None
