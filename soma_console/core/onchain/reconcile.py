"""Recovery: settle what a crash or a closed window left in the journal, from the chain's own record.

Run before every plan. A transaction journaled as sent is looked up by digest; a confirmed commit
whose reveal window has passed is settled from the model list (revealed elsewhere, missed,
overwritten), or from the epochs alone when the list cannot be read.
"""

from __future__ import annotations

import logging

from soma_console.core import txdata
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.intent_owner import still_owned
from soma_console.core.journal import Intent
from soma_console.core.onchain.base import DROPPED_AFTER_S, OnChain, same_commitment, short_id
from soma_console.core.txsend import (
    lookup_transaction,
    model_id_text,
)
from soma_console.encoding import b58decode

log = logging.getLogger(__name__)


class Reconciler(OnChain):
    """``reconcile``: settle open intents from the chain's record, one line per change."""

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
            return f"model {short_id(model_id)} was created (recovered from the chain)"
        self.journal.mark_confirmed(intent.id, commit_epoch=epoch)
        return f"the commit for {short_id(intent.model_id)} in epoch {epoch} was confirmed (recovered)"

    def _settle_window(self, intent: Intent, snap: ChainSnapshot) -> str | None:
        if intent.kind != "commit" or intent.model_id is None or intent.commit_epoch is None:
            return None
        artifact = self.journal.artifact(intent.artifact_id or 0)
        row = snap.model(intent.model_id) if snap.registry_ok else None
        if snap.registry_ok and row is None:
            # A confirmed commit to a model the chain does not know: the chain was reset (a fresh
            # devnet under the same name). Its window can never be met; say so rather than count down.
            self.journal.mark_missed(intent.id, "the chain no longer knows this model (was it reset?)")
            return f"model {short_id(intent.model_id)} is gone from the chain (reset?); its commit is closed"
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
                return f"the reveal of {short_id(intent.model_id)} is on-chain (recovered)"
        if snap.epoch > reveal_epoch:
            reason = (
                "the reveal window closed without a reveal; the model was slashed"
                if not intent.params.get("update")
                else "the update's reveal window closed; it was dropped"
            )
            self.journal.mark_missed(intent.id, reason)
            return f"MISSED: {reason} ({short_id(intent.model_id)}, epoch {reveal_epoch})"
        if (
            intent.params.get("update")
            and row is not None
            and pending is not None
            and not mine_pending
            and row.status == "active"
        ):
            self.journal.mark_missed(intent.id, "overwritten by a later commit")
            return f"the update for {short_id(intent.model_id)} was overwritten by a later commit"
        return None
