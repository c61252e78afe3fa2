"""Reveal: send the decryption key and embedding of every commit whose window is open.

Planned from the small chain read only (the epoch and its boundary) and the journal: the model
list, as big as the network, must never delay or block a reveal.
"""

from __future__ import annotations

from typing import Any

from soma_console.core import txkinds
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import ChainError, RevealTooEarly, soma
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.faults import fault_point
from soma_console.core.journal import Intent
from soma_console.core.onchain.base import Progress, short_id, when_text
from soma_console.core.onchain.payloads import RevealPayload, payload_of
from soma_console.core.onchain.reconcile import Reconciler
from soma_console.core.reveal_queue import (
    MISSED,
    REVEALED,
    WAITING,
    QueueEntry,
)
from soma_console.core.txsend import (
    Prepared,
    model_id_bytes,
    model_id_text,
)
from soma_console.encoding import b58decode
from soma_console.errors import UserError


class RevealActions(Reconciler):
    """``plan_reveal`` and the reveal's execution, one transaction per open window."""

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
                    f"Model {short_id(e.model_id)}",
                    f"{e.kind} commit of epoch {e.commit_epoch}, revealed now in epoch {snap.epoch}; "
                    f"window closes {when_text(e.closes_at, now)}",
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
            "reveal",
            title,
            tuple(lines),
            (),
            False,
            "reveal",
            RevealPayload(tuple(e.intent_id for e in ready)),
        )

    def _nothing_to_reveal(
        self, entries: list[QueueEntry], wanted: str | None, snap: ChainSnapshot, now: float
    ) -> UserError:
        who = f"model {short_id(wanted)}" if wanted else "any model"
        waiting = [e for e in entries if e.state == WAITING]
        if waiting:
            e = min(waiting, key=lambda x: x.opens_at or 0.0)
            return RevealTooEarly(
                f"the reveal window for model {short_id(e.model_id)} (committed in epoch {e.commit_epoch}) "
                f"opens "
                f"at epoch {e.reveal_epoch}, {when_text(e.opens_at, now)}; this is epoch {snap.epoch}.",
                hint="Wait for it with `soma-console reveal --wait`.",
            )
        missed = [e for e in entries if e.state == MISSED]
        if missed and wanted:
            e = missed[0]
            return UserError(
                f"the reveal window of model {short_id(e.model_id)} (epoch {e.reveal_epoch}) has closed."
            )
        pending = [e for e in entries if e.state not in (REVEALED, MISSED)]
        if pending:
            e = pending[0]
            return UserError(
                f"the commit for model {short_id(e.model_id)} is not confirmed yet ({e.state}).",
                hint="Check `soma-console queue` in a moment.",
            )
        return UserError(f"there is no pending commit to reveal for {who}.", hint="See `soma-console queue`.")

    def _reveal_kind(self, intent: Intent) -> txkinds.RevealModel:
        artifact = self.journal.artifact(intent.artifact_id or 0)
        if artifact is None or artifact.embedding is None or intent.model_id is None:
            raise UserError(
                f"intent #{intent.id} has no journaled key or embedding; it cannot be revealed here."
            )
        key_text = artifact.decryption_key.reveal()
        assert isinstance(key_text, str)
        return txkinds.RevealModel(
            model_id=model_id_bytes(intent.model_id),
            decryption_key=b58decode(key_text),
            embedding=tuple(float(x) for x in artifact.embedding),
        )

    async def _execute_reveal(self, plan: ActionPlan, progress: Progress) -> ActionResult:
        sender = self._writable("reveal")
        done: list[dict[str, Any]] = []
        last: Prepared | None = None
        for intent_id in payload_of(plan, RevealPayload).intents:
            intent = self.journal.intent(int(intent_id))
            if intent.state == "revealed":
                continue
            progress(f"revealing {short_id(intent.model_id)}")
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
        summary = "revealed " + ", ".join(f"{short_id(d['model_id'])} in epoch {d['epoch']}" for d in done)
        return ActionResult(
            "reveal",
            True,
            summary,
            digest=last.digest if last else None,
            model_id=done[-1]["model_id"],
            epoch=done[-1]["epoch"],
            data={"revealed": done},
        )
