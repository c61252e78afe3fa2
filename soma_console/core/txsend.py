"""Building, pricing, signing and sending our own transactions.

The SDK's convenience calls (``commit_model`` and friends) compute the transaction digest inside
the call, so a crash mid-call leaves no way to learn whether the transaction landed. Here the
``TransactionData`` is built locally (``core.txdata``), its digest is known *before* it leaves,
the caller journals that digest, and only then is the signed transaction handed to
``SomaClient.execute_transaction``. After a crash, ``get_transaction(digest)`` settles it.

Gas: every coin the signer owns (up to ``MAX_GAS_COINS``) is offered as gas payment; the chain
merges them into the first, so a stake larger than any single coin still works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soma_console.core import txdata, txkinds
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError, InsufficientFunds, translate
from soma_console.core.chain_parse import get, parse_effects, unwrap_variant
from soma_console.core.chainstate import TxResult
from soma_console.core.wallet import Signer
from soma_console.encoding import b58decode, b58encode

MAX_GAS_COINS = 200
# Input-check rejections that mean "nothing was executed; rebuild with fresh coins and retry".
_STALE_MARKERS = ("not available for consumption", "no available gas coin", "objectversionunavailable")


@dataclass(frozen=True)
class Coin:
    ref: txkinds.ObjectRef
    balance: int


# A transaction kind, or a function building one from the gas coins (a stake names its coin).
KindSpec = txkinds.Kind | Callable[[list[Coin]], txkinds.Kind]


@dataclass(frozen=True)
class Prepared:
    """A transaction ready to sign: its BCS bytes and the digest it will have."""

    tx: txdata.TransactionData
    bcs: bytes
    digest: str  # Base58

    @property
    def digest_bytes(self) -> bytes:
        return b58decode(self.digest)


def _coin_balance(obj: Any) -> int:
    contents = get(obj, "data", "contents") or get(obj, "contents") or b""
    raw = bytes(contents)
    # contents = object id (32 bytes) ‖ BCS u64 balance
    return int.from_bytes(raw[32:40], "little") if len(raw) >= 40 else 0


def model_id_bytes(model_id: str) -> bytes:
    text = model_id.lower().removeprefix("0x")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ChainError(f"{model_id!r} is not a model id (0x followed by 64 hex digits).")
    return raw


def model_id_text(raw: bytes) -> str:
    return "0x" + raw.hex()


class TxSender:
    """Sends one signer's transactions through one ChainSession."""

    def __init__(self, session: ChainSession, signer: Signer) -> None:
        self.session = session
        self.signer = signer
        self.sender = bytes.fromhex(signer.address)

    def __repr__(self) -> str:
        return f"TxSender({self.signer.address!r})"

    async def coins(self) -> list[Coin]:
        objs = await self.session.call("list_owned_objects", self.signer.address, object_type="coin")
        coins = []
        for obj in objs or []:
            oid = str(get(obj, "id") or get(obj, "object_id") or "")
            digest = get(obj, "digest")
            version = get(obj, "version")
            if not oid or digest is None or version is None:
                continue
            ref = txkinds.ObjectRef(
                bytes.fromhex(oid.removeprefix("0x")), int(version), b58decode(str(digest))
            )
            coins.append(Coin(ref, _coin_balance(obj)))
        coins.sort(key=lambda c: c.balance, reverse=True)
        return coins[:MAX_GAS_COINS]

    async def prepare(self, kind: KindSpec, coins: list[Coin] | None = None) -> Prepared:
        coins = coins if coins is not None else await self.coins()
        if not coins:
            raise InsufficientFunds(
                "the wallet owns no coins to pay gas with.",
                hint="Fund it (on devnet: `soma-console wallet faucet`).",
            )
        if callable(kind):
            kind = kind(coins)
        tx = txdata.TransactionData(kind=kind, sender=self.sender, gas_payment=tuple(c.ref for c in coins))
        bcs = tx.to_bcs()
        return Prepared(tx=tx, bcs=bcs, digest=b58encode(txdata.transaction_digest(bcs)))

    async def simulate_fee(self, kind: KindSpec) -> tuple[int | None, str | None]:
        """(fee in shannons, failure kind or None) as the chain would charge it now."""
        prepared = await self.prepare(kind)
        effects = await self.session.call("simulate_transaction", prepared.bcs)
        result = parse_effects(effects)
        return result.fee, None if result.ok else failure_kind(result)

    async def send(
        self,
        kind: KindSpec,
        *,
        before_send: Callable[[Prepared], object],
        after_send: Callable[[], None] | None = None,
        ctx: dict[str, Any] | None = None,
    ) -> tuple[Prepared, TxResult]:
        """Build, let the caller journal the digest (``before_send``), sign and execute.

        Returns the effects whether the transaction succeeded or failed on-chain; raises a
        ChainError when the outcome is unknown (timeout, connection lost) or it was rejected.
        A rejection for a stale coin is retried once with freshly listed coins (a new digest,
        journaled again through ``before_send``).
        """

        async def job() -> tuple[Prepared, TxResult]:
            for attempt in range(3):
                prepared = await self.prepare(kind)
                before_send(prepared)
                signed = self.signer.keypair.sign(prepared.bcs)
                try:
                    effects = await self.session.call(
                        "execute_transaction", signed, timeout=self.session.tx_timeout, ctx=ctx
                    )
                except ChainError as exc:
                    if attempt < 2 and any(m in str(exc).lower() for m in _STALE_MARKERS):
                        await asyncio.sleep(0.5 * (attempt + 1))
                        continue
                    raise
                if after_send is not None:
                    after_send()
                return prepared, parse_effects(effects)
            raise AssertionError("unreachable")  # pragma: no cover

        result: tuple[Prepared, TxResult] = await self.session.run_serialized(job)
        return result


async def lookup_transaction(session: ChainSession, digest: str) -> TxResult | None:
    """The effects of a sent transaction, or None when the chain does not know the digest."""
    try:
        effects = await session.call("get_transaction", digest)
    except ChainError as exc:
        low = str(exc).lower()
        if "not found" in low or "notfound" in low or "unknown transaction" in low:
            return None
        raise
    return parse_effects(effects) if effects is not None else None


def failure_kind(result: TxResult) -> str | None:
    """The chain's error name of a failed transaction (``ModelRevealEpochMismatch``...)."""
    if result.ok:
        return None
    _, body = unwrap_variant(result.raw)
    status = get(body if body is not None else result.raw, "status")
    name, inner = unwrap_variant(status)
    err = get(inner, "error")
    if isinstance(err, str) and err:
        return err
    variant, _ = unwrap_variant(err)
    return variant or name


def failure_error(kind: str, *, url: str, ctx: dict[str, Any] | None = None) -> ChainError:
    """The ChainError for the chain's failure ``kind``, in the same words the SDK path would produce."""
    return translate(RuntimeError(f"Failure {{ error: {kind} }}"), url=url, **(ctx or {}))


def raise_failure(result: TxResult, *, url: str, ctx: dict[str, Any] | None = None) -> ChainError:
    """The ChainError for a transaction that failed on-chain."""
    return failure_error(failure_kind(result) or "UnknownFailure", url=url, ctx=ctx)
