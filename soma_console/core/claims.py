"""Claiming rewards of filled targets: plan, journaled send, and settling after a crash.

A claim pays the winning model's owner ``r·4975/10000``, the data submitter the same plus the
rounding remainder and the bond back, and whoever signs the claim ``r·50/10000`` (anyone may
sign). The chain deletes the target when the claim succeeds, so the same target cannot be paid
twice; what this module guarantees is that the console never loses track of a claim it sent:

* before a claim transaction leaves, its digest is written to the ``claims`` table of the target
  index file (``synchronous=FULL``) in state ``sent``;
* after the effects come back the row becomes ``done`` (with the fee paid) or ``failed``;
* a row still ``sent`` (the process died in between) is settled by looking its digest up on the
  chain before anything is sent again for that target; a digest the chain does not know is
  retried only while the target still exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from soma_console.core import txkinds
from soma_console.core.actions import ActionPlan
from soma_console.core.chain import SHANNONS, ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.faults import fault_point
from soma_console.core.targets_index import TargetIndex
from soma_console.core.targets_reads import TargetRecord, claimer_fee, owner_share
from soma_console.core.txsend import Prepared, TxSender, failure_kind, lookup_transaction
from soma_console.core.wallet import Signer
from soma_console.errors import UserError

_CLAIMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    chain TEXT NOT NULL,
    target_id TEXT NOT NULL,
    state TEXT NOT NULL,
    digest TEXT,
    claimer TEXT NOT NULL,
    reward_pool INTEGER NOT NULL,
    owner_share INTEGER NOT NULL,
    claimer_fee INTEGER NOT NULL,
    fee INTEGER,
    failure TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (chain, target_id)
) WITHOUT ROWID;
"""


class ClaimError(UserError):
    pass


def address_text(address: str) -> str:
    """An account address as the chain and ``wallet show`` print it: 64 lower hex digits, no ``0x``."""
    return address.strip().lower().removeprefix("0x")


def soma(shannons: int) -> str:
    text = f"{shannons / SHANNONS:,.9f}".rstrip("0").rstrip(".")
    return f"{text} SOMA"


@dataclass(frozen=True)
class ClaimRow:
    target_id: str
    state: str  # sent | done | failed | elsewhere
    digest: str | None
    owner_share: int
    claimer_fee: int
    fee: int | None
    failure: str | None


class ClaimBook:
    """The claims journal, a table next to the index in the same file."""

    def __init__(self, index: TargetIndex) -> None:
        self.index = index
        self._conn = index._conn
        self._conn.executescript(_CLAIMS_SCHEMA)

    def get(self, chain: str, target_id: str) -> ClaimRow | None:
        row = self._conn.execute(
            "SELECT target_id, state, digest, owner_share, claimer_fee, fee, failure FROM claims"
            " WHERE chain=? AND target_id=?",
            (chain, target_id),
        ).fetchone()
        return None if row is None else ClaimRow(*row)

    def all(self, chain: str) -> list[ClaimRow]:
        return [
            ClaimRow(*r)
            for r in self._conn.execute(
                "SELECT target_id, state, digest, owner_share, claimer_fee, fee, failure FROM claims"
                " WHERE chain=? ORDER BY updated_at",
                (chain,),
            )
        ]

    def record_sent(self, chain: str, t: TargetRecord, digest: str, claimer: str) -> None:
        """Journal the digest (durably) before the transaction is sent."""
        self._conn.execute(
            "INSERT INTO claims (chain, target_id, state, digest, claimer, reward_pool, owner_share,"
            " claimer_fee, updated_at) VALUES (?,?,'sent',?,?,?,?,?,?)"
            " ON CONFLICT (chain, target_id) DO UPDATE SET state='sent', digest=excluded.digest,"
            " updated_at=excluded.updated_at",
            (
                chain,
                t.target_id,
                digest,
                claimer,
                t.reward_pool,
                owner_share(t.reward_pool) if t.winning_model_id else 0,
                claimer_fee(t.reward_pool),
                time.time(),
            ),
        )

    def settle(self, chain: str, target_id: str, state: str, *, fee: int | None, failure: str | None) -> None:
        self._conn.execute(
            "UPDATE claims SET state=?, fee=?, failure=?, updated_at=? WHERE chain=? AND target_id=?",
            (state, fee, failure, time.time(), chain, target_id),
        )


@dataclass(frozen=True)
class ClaimPlanItem:
    target: TargetRecord
    owner: str | None  # the winning model's owner (current registry), None for an unfilled target
    owner_share: int
    claimer_fee: int
    fee: int | None  # simulated gas + value fee
    failure: str | None  # what the chain would answer now, when it would fail


def plan_claims(
    chain_name: str,
    items: Sequence[ClaimPlanItem],
    *,
    claimer: str,
) -> ActionPlan:
    ok = [i for i in items if i.failure is None]
    if not ok:
        reasons = "; ".join(f"{i.target.target_id}: {i.failure}" for i in items) or "none is claimable"
        raise ClaimError(f"nothing can be claimed now ({reasons}).")
    me = address_text(claimer)
    lines: list[tuple[str, str]] = [
        ("chain", chain_name),
        ("claimer (signs, pays fees)", f"{me} (this wallet)"),
    ]
    total_owner = total_fee_in = total_fees = 0
    for i in ok:
        t = i.target
        if i.owner:
            owner = address_text(i.owner)
            payee = f"owner {owner}{' (this wallet)' if owner == me else ''} (model {t.winning_model_id})"
        else:
            payee = "the emission pool (no winner)"
        lines.append(
            (
                f"target {t.target_id}",
                f"epoch {t.generation_epoch}; {soma(i.owner_share)} to {payee}; {soma(i.claimer_fee)}"
                f" to the claimer; fee {soma(i.fee or 0)}",
            )
        )
        total_owner += i.owner_share
        total_fee_in += i.claimer_fee
        total_fees += i.fee or 0
    lines.append(("owners receive", soma(total_owner)))
    lines.append(("claimer receives", soma(total_fee_in)))
    lines.append(("fees (gas + value fee)", soma(total_fees)))
    warnings = tuple(f"skipped {i.target.target_id}: {i.failure}" for i in items if i.failure)
    return ActionPlan(
        action="claim",
        title=f"Claim the rewards of {len(ok)} target{'s' if len(ok) != 1 else ''}",
        lines=tuple(lines),
        warnings=warnings,
        confirm_word="claim",
        payload=tuple(ok),
    )


class Claimer:
    """Plans and sends claims for one signer, journaling each digest before it leaves."""

    def __init__(self, session: ChainSession, index: TargetIndex, signer: Signer, chain: str) -> None:
        self.session = session
        self.index = index
        self.book = ClaimBook(index)
        self.signer = signer
        self.chain = chain
        self.sender = TxSender(session, signer)

    async def settle_pending(self) -> list[str]:
        """Settle rows left ``sent`` by a crash; returns one line per change."""
        changes = []
        for row in self.book.all(self.chain):
            if row.state != "sent" or not row.digest:
                continue
            result = await lookup_transaction(self.session, row.digest)
            if result is None:
                continue  # never landed; the next claim of this target resends
            kind = failure_kind(result)
            state = "done" if result.ok else ("elsewhere" if kind == "TargetNotFound" else "failed")
            self.book.settle(self.chain, row.target_id, state, fee=result.fee, failure=kind)
            changes.append(f"claim of {row.target_id} settled after a restart: {state}")
        return changes

    async def candidates(
        self, target_ids: Iterable[str] | None, model_ids: Iterable[str]
    ) -> list[TargetRecord]:
        if target_ids is not None:
            return self.index.by_ids(self.chain, sorted({self.full_target_id(t) for t in target_ids}))
        return [t for t in self.index.wins(self.chain, model_ids) if t.status == "claimable"]

    def full_target_id(self, text: str) -> str:
        """A target id as typed: whole, or a unique prefix (tables print ``0x`` and 12 hex digits),
        looked up in the index (claimed and gone targets included)."""
        raw = text.strip().lower().removeprefix("0x")
        if not 4 <= len(raw) <= 64 or any(c not in "0123456789abcdef" for c in raw):
            raise ClaimError(
                f"{text!r} is not a target id.",
                hint="A target id is 0x and hex digits (at least 4); `soma-console targets` lists them.",
            )
        hits = self.index.ids_starting(self.chain, "0x" + raw)
        if not hits:
            raise ClaimError(
                f"no target in the index starts with {text}.",
                hint="Run `soma-console targets` to sync the index, then check the id.",
            )
        if len(hits) > 1:
            raise ClaimError(f"{text} is the start of more than one target id; type more of it.")
        return hits[0]

    async def plan(self, targets: Sequence[TargetRecord], owners: dict[str, str]) -> ActionPlan:
        items = []
        for t in targets:
            done = self.book.get(self.chain, t.target_id)
            failure: str | None = None
            fee: int | None = None
            if done is not None and done.state in ("done", "elsewhere"):
                failure = "already claimed"
            elif t.status in ("claimed", "gone"):
                failure = "already claimed (the target is gone)"
            elif t.status != "claimable":
                failure = f"not claimable yet (from epoch {t.claimable_from_epoch})"
            else:
                try:
                    fee, kind = await self.sender.simulate_fee(
                        txkinds.ClaimRewards(bytes.fromhex(t.target_id[2:]))
                    )
                except ChainError as exc:
                    fee, kind = None, str(exc)
                failure = kind
            winner = t.winning_model_id
            items.append(
                ClaimPlanItem(
                    target=t,
                    owner=owners.get(winner or "") if winner else None,
                    owner_share=owner_share(t.reward_pool) if winner else 0,
                    claimer_fee=claimer_fee(t.reward_pool),
                    fee=fee,
                    failure=failure,
                )
            )
        return plan_claims(self.chain, items, claimer=self.signer.address)

    async def execute(
        self, plan: ActionPlan, progress: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """Send each planned claim; a target already settled in the journal is never sent again."""
        claimed: list[dict[str, Any]] = []
        fees = 0
        for item in plan.payload:
            t: TargetRecord = item.target
            row = self.book.get(self.chain, t.target_id)
            if row is not None and row.state in ("done", "elsewhere"):
                continue
            if progress:
                progress(f"claiming {t.target_id}")

            def journal(prepared: Prepared, t: TargetRecord = t) -> None:
                self.book.record_sent(self.chain, t, prepared.digest, self.signer.address)
                fault_point("claim_before_send")

            prepared, result = await self.sender.send(
                txkinds.ClaimRewards(bytes.fromhex(t.target_id[2:])),
                before_send=journal,
                after_send=lambda: fault_point("claim_after_send"),
            )
            kind = failure_kind(result)
            state = "done" if result.ok else ("elsewhere" if kind == "TargetNotFound" else "failed")
            self.book.settle(self.chain, t.target_id, state, fee=result.fee, failure=kind)
            fees += result.fee or 0
            if result.ok:
                claimed.append(
                    {
                        "target_id": t.target_id,
                        "owner_share_shannons": item.owner_share,
                        "claimer_fee_shannons": item.claimer_fee,
                        "digest": prepared.digest,
                    }
                )
            elif progress:
                progress(f"claim of {t.target_id} failed: {kind}")
        return {"claimed": claimed, "fees_shannons": fees}
