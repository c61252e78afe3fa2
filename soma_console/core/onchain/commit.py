"""Commit: check, encrypt, upload and verify a checkpoint, then create the model (first time) and commit.

The artifact (encrypted file and its key) is journaled before anything is uploaded, and the commit
intent before the first transaction; a model created by an interrupted commit is picked up by the
next commit of the same owner (a Created model left uncommitted is slashed two epochs later).
"""

from __future__ import annotations

from pathlib import Path

from soma_console.core import txdata, txkinds
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import SHANNONS_PER_SOMA, ChainError, soma
from soma_console.core.chainstate import ChainSnapshot, ModelRow
from soma_console.core.faults import fault_point
from soma_console.core.intent_owner import executing, owner_params
from soma_console.core.journal import Artifact, Intent
from soma_console.core.onchain.base import (
    DEFAULT_COMMISSION_BPS,
    MAX_COMMISSION_BPS,
    Progress,
    quiet,
    short_id,
    when_text,
)
from soma_console.core.onchain.payloads import CommitPayload, payload_of
from soma_console.core.onchain.reconcile import Reconciler
from soma_console.core.score_verdicts import load_verdict
from soma_console.core.txsend import (
    TxSender,
    model_id_bytes,
    model_id_text,
)
from soma_console.encoding import b58decode
from soma_console.errors import UsageError, UserError


class CommitActions(Reconciler):
    """``plan_commit`` and the commit's execution (create the model first when it is new)."""

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
        progress = progress or quiet
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
                    f"model {short_id(model_id)} was created by an interrupted commit and has no weights "
                    "yet; "
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
                    f"model {short_id(model_id)} already has a commit from epoch {row.commit_epoch} "
                    "waiting for its reveal.",
                    hint="Reveal it first (`soma-console reveal`), then commit an update.",
                )
            if row.status not in ("created", "active"):
                raise UserError(
                    f"model {short_id(model_id)} is {row.status}; "
                    "only a created or active model takes a commit."
                )
            if row.status == "active" and row.has_pending_update:
                warnings.append(
                    f"model {short_id(model_id)} already has an unrevealed update from epoch "
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
            ckind = txkinds.CreateModel(
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
            ("Commit epoch", f"{snap.epoch} (if sent before the boundary at {when_text(opens, now)})"),
            (
                "Reveal window",
                f"epoch {snap.epoch + 1}: opens {when_text(opens, now)}, closes {when_text(closes, now)}",
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
            else f"Commit {source.label} {'as an update of' if update else 'to'} model {short_id(model_id)}"
        )
        payload = CommitPayload(
            artifact_id=artifact.id,
            model_id=model_id,
            create=create,
            stake=stake if create else None,
            commission=commission if create else None,
            update=update,
            architecture_version=snap.params.model_architecture_version,
            source=str(source.weights),
        )
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

    def _commit_kind(self, model_id: str, artifact: Artifact) -> txkinds.CommitModel:
        assert artifact.weights_url and artifact.embedding_commitment
        return txkinds.CommitModel(
            model_id=model_id_bytes(model_id),
            manifest=txkinds.Manifest(
                url=artifact.weights_url, checksum=b58decode(artifact.commitment), size=artifact.size
            ),
            weights_commitment=b58decode(artifact.commitment),
            embedding_commitment=b58decode(artifact.embedding_commitment),
            decryption_key_commitment=b58decode(artifact.key_commitment),
        )

    async def _execute_commit(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable("commit")
        p = payload_of(plan, CommitPayload)
        artifact = self.journal.artifact(p.artifact_id)
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
            model_id=p.model_id,
            artifact_id=artifact.id,
            params={
                "weights_url": artifact.weights_url,
                "update": p.update,
                "create": p.create,
                "stake": p.stake,
                "commission": p.commission,
                "source": p.source,
                **owner_params(),
            },
        )
        self.persist()
        with executing(self.journal.path, intent.id):
            return await self._send_commit(sender, intent, artifact, p, progress)

    async def _send_commit(
        self, sender: TxSender, intent: Intent, artifact: Artifact, p: CommitPayload, progress: Progress
    ) -> ActionResult:
        fault_point("after_intent")
        model_id: str | None = p.model_id
        try:
            if p.create:
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
            f"committed {short_id(model_id)} in epoch {epoch}; reveal during epoch {epoch + 1}",
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
                "update": p.update,
                "intent_id": intent.id,
            },
        )

    async def _create_model(self, sender: TxSender, commit_intent: Intent, p: CommitPayload) -> str:
        create = self.journal.begin_intent(
            chain=self.chain.name,
            signer=self._address,
            kind="create",
            params={
                "stake": p.stake,
                "commission": p.commission,
                "for_intent": commit_intent.id,
                **owner_params(),
            },
        )
        kind = txkinds.CreateModel(
            stake_amount=int(p.stake or 0),
            commission_rate=int(p.commission or 0),
            architecture_version=p.architecture_version or 1,
        )
        ctx = {"stake": p.stake, "commission": p.commission}
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
