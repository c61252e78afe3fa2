"""What every on-chain action shares: the signer, the journal, the guards and the audit trail.

Every transaction-sending action (:mod:`.commit`, :mod:`.reveal`, :mod:`.model_actions`) passes the
same read-only and wallet check (:meth:`OnChain._writable`), simulates its fee the same way, and
records what it sent, failed or left unknown in the audit log the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from soma_console.context import AppContext
from soma_console.core import txkinds
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot, ModelRow, TxResult
from soma_console.core.journal import Intent, Journal
from soma_console.core.reveal_queue import (
    QueueEntry,
    build_queue,
    format_countdown,
)
from soma_console.core.txsend import (
    Coin,
    Prepared,
    TxSender,
    failure_error,
    model_id_bytes,
    model_id_text,
    raise_failure,
)
from soma_console.core.wallet import Signer
from soma_console.encoding import b58decode
from soma_console.errors import UserError

Progress = Callable[[str], None]
DEFAULT_COMMISSION_BPS = 1000
MAX_COMMISSION_BPS = 10_000
# A submitted transaction the chain still does not know after this long is taken as dropped.
DROPPED_AFTER_S = 600.0


def quiet(_: str) -> None:
    return None


def noop() -> None:
    return None


def short_id(model_id: str | None) -> str:
    if not model_id:
        return "a new model"
    return f"{model_id[:10]}…{model_id[-4:]}" if len(model_id) > 16 else model_id


def when_text(ts: float | None, now: float) -> str:
    if ts is None:
        return "unknown"
    when, today = datetime.fromtimestamp(ts, UTC), datetime.fromtimestamp(now, UTC)
    # a window usually spans a day boundary: a bare time would read the same for opens and closes
    clock = when.strftime("%H:%M:%S UTC" if when.date() == today.date() else "%Y-%m-%d %H:%M:%S UTC")
    return f"{clock} (in {format_countdown(max(0.0, ts - now))})" if ts > now else clock


def commitment_bytes(value: str | None) -> bytes | None:
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


def require_signer(ctx: AppContext, signer: Signer | None, action: str) -> Signer:
    """The check before anything that sends a transaction, everywhere: not read-only, and a wallet."""
    ctx.require_writable(action)
    if signer is None:
        raise UserError(
            "no wallet is configured.", hint="Run `soma-console wallet new` or set SOMA_SECRET_KEY."
        )
    return signer


def same_commitment(a: str | None, b: str | None) -> bool:
    ra, rb = commitment_bytes(a), commitment_bytes(b)
    return ra is not None and ra == rb


class OnChain:
    """What every on-chain action shares: one signer on one chain, its journal, and the checks and
    records every transaction goes through (read-only and wallet first, the audit log after)."""

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
        self.persist: Callable[[], None] = noop

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.chain.name!r}, signer={self.signer!r})"

    # -- helpers ------------------------------------------------------------------------------------
    def _writable(self, action: str) -> TxSender:
        require_signer(self.ctx, self.signer, action)
        assert self._sender is not None
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
                f"model {short_id(mid)} does not exist on the {self.chain.name} chain.",
                hint="Check the id with `soma-console models`.",
            )
        return row

    def _owned_row(self, snap: ChainSnapshot, model_id: str) -> ModelRow:
        row = self._model_row(snap, model_id)
        if not row.is_owned_by(self._address):
            raise UserError(
                f"model {short_id(row.model_id)} belongs to {row.owner[:10]}…, not to this wallet.",
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
        self, kind: txkinds.Kind | Callable[[list[Coin]], txkinds.Kind], ctx: dict[str, Any]
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
