"""Turning what the chain and the SDK raise into sentences a model owner can act on.

The SDK surfaces execution failures as ``RuntimeError("... Failure { error: ModelRevealEpochMismatch }")``
(the Rust ``Debug`` form of the chain's ``ExecutionFailureStatus``), transport failures as tonic
status strings (``status: Unavailable, message: "tcp connect error" ...``), and our own timeouts as
``TimeoutError``. :func:`translate` maps each to a typed :class:`ChainError` whose message is one
sentence, optionally sharpened by what the caller knows (the model, the epochs, the amount).
"""

from __future__ import annotations

import re
from typing import Any

from soma_console.errors import UserError
from soma_console.secrets import redact

SHANNONS_PER_SOMA = 1_000_000_000


class ChainError(UserError):
    """A failure reported by, or on the way to, the chain. ``kind`` is the chain's error name."""

    kind: str | None = None

    def __init__(self, message: str, *, kind: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        if kind is not None:
            self.kind = kind


class NodeUnreachable(ChainError):
    kind = "Unreachable"


class ChainTimeout(ChainError):
    kind = "Timeout"


class ModelListUnavailable(ChainError):
    """The chain answers (its clock was read) but its model list could not be read."""

    kind = "ModelListUnavailable"


class TransactionFailed(ChainError):
    """The chain executed the transaction and it failed with ``kind``."""


class RevealTooEarly(TransactionFailed):
    kind = "ModelRevealEpochMismatch"


class NotOwner(TransactionFailed):
    kind = "NotModelOwner"


class InsufficientFunds(TransactionFailed):
    kind = "InsufficientGas"


_FAILURE_RE = re.compile(r"Failure\s*\{\s*error:\s*([A-Za-z]+)")
_KIND_RE = re.compile(
    r"\b(Model[A-Za-z]+|NotModelOwner|InsufficientGas|InsufficientCoinBalance|ObjectNotFound|"
    r"InvalidOwnership|InvalidArguments|CoinBalanceOverflow)\b"
)
_UNREACHABLE = (
    "tcp connect error",
    "connection refused",
    "status: unavailable",
    "dns error",
    "transport error",
    "connection reset",
    "broken pipe",
    "error trying to connect",
    "h2 protocol error",
)


def soma(shannons: int | float | None) -> str:
    """Format an amount of shannons as SOMA for people."""
    if shannons is None:
        return "?"
    value = shannons / SHANNONS_PER_SOMA
    return f"{value:,.9f}".rstrip("0").rstrip(".") + " SOMA"


def error_kind(text: str) -> str | None:
    m = _FAILURE_RE.search(text)
    if m:
        return m.group(1)
    # Some rejections come back before execution, as prose inside a GenericAuthorityError.
    if "model in invalid state" in text.lower():
        return "ModelInvalidState"
    m = _KIND_RE.search(text)
    return m.group(1) if m else None


def _model(ctx: dict[str, Any]) -> str:
    mid = ctx.get("model_id")
    return f"model {mid[:10]}…{mid[-4:]}" if isinstance(mid, str) and len(mid) > 16 else "the model"


def _explain(kind: str, ctx: dict[str, Any]) -> tuple[str, str | None, type[ChainError]]:
    model = _model(ctx)
    epoch = ctx.get("epoch")
    commit_epoch = ctx.get("commit_epoch")
    if kind == "ModelRevealEpochMismatch":
        if commit_epoch is not None and epoch is not None:
            return (
                f"a reveal is accepted only in epoch {commit_epoch + 1} (the epoch after the commit in epoch "
                f"{commit_epoch}); this is epoch {epoch}.",
                "Wait for the boundary (`soma-console reveal --wait`)." if epoch <= commit_epoch else None,
                RevealTooEarly,
            )
        return ("a reveal is accepted only in the epoch right after its commit.", None, RevealTooEarly)
    table: dict[str, tuple[str, str | None, type[ChainError]]] = {
        "ModelInvalidState": (
            f"{model} is not in a state that allows this action.",
            "Check `soma-console models --mine`.",
            TransactionFailed,
        ),
        "ModelNotActive": (
            f"{model} is not active.",
            "Only an active model can do this; check `soma-console models --mine`.",
            TransactionFailed,
        ),
        "ModelNotPending": (f"{model} has no commit waiting for a reveal.", None, TransactionFailed),
        "ModelNotCreated": (f"{model} is not in the created state.", None, TransactionFailed),
        "ModelAlreadyInactive": (f"{model} is already inactive.", None, TransactionFailed),
        "ModelNotFound": (
            f"{model} does not exist on this chain.",
            "Check the id with `soma-console models`.",
            TransactionFailed,
        ),
        "NotModelOwner": (
            f"you do not own {model}.",
            "Only its owner can do this; check the wallet with `soma-console wallet show`.",
            NotOwner,
        ),
        "ModelEmbeddingCommitmentMismatch": (
            "the embedding does not match the one committed.",
            "Reveal with the embedding of the committed checkpoint.",
            TransactionFailed,
        ),
        "ModelDecryptionKeyCommitmentMismatch": (
            "the decryption key does not match the one committed.",
            "Reveal with the key journaled for that commit.",
            TransactionFailed,
        ),
        "ModelNoPendingUpdate": (f"{model} has no pending update to reveal.", None, TransactionFailed),
        "ModelArchitectureVersionMismatch": (
            f"the chain expects architecture version {ctx.get('chain_arch', '?')}, "
            f"not {ctx.get('arch', '?')}.",
            "Upgrade soma-console and soma-models.",
            TransactionFailed,
        ),
        "ModelCommissionRateTooHigh": (
            f"a commission of {ctx.get('commission', '?')} bps is above the maximum of 10000 bps.",
            "Use 0..10000 (100 bps = 1%).",
            TransactionFailed,
        ),
        "ModelMinStakeNotMet": (
            f"a stake of {soma(ctx.get('stake'))} is below the chain's minimum "
            f"of {soma(ctx.get('min_stake'))}.",
            "Stake at least the minimum.",
            TransactionFailed,
        ),
        "InsufficientGas": (
            "the wallet cannot pay the gas for this transaction.",
            "Fund it (on devnet: `soma-console wallet faucet`).",
            InsufficientFunds,
        ),
        "InsufficientCoinBalance": (
            "the wallet's balance is too low for this amount plus gas.",
            "Fund it or send less.",
            InsufficientFunds,
        ),
        "InvalidOwnership": (
            "the wallet does not own a coin the transaction used.",
            "Retry; if it persists run `soma-console wallet show`.",
            TransactionFailed,
        ),
        "ObjectNotFound": (
            "a coin the transaction used no longer exists (it was spent meanwhile).",
            "Retry the command.",
            TransactionFailed,
        ),
        "InvalidArguments": ("the chain rejected the transaction's arguments.", None, TransactionFailed),
    }
    if kind in table:
        return table[kind]
    return (f"the chain rejected the transaction ({kind}).", None, TransactionFailed)


def translate(exc: BaseException, *, url: str = "", timeout: float | None = None, **ctx: Any) -> ChainError:
    """Map an SDK/transport exception to a ChainError with a person's sentence."""
    if isinstance(exc, ChainError):
        return exc
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return ChainTimeout(
            f"the chain at {url} did not answer{within}.", hint="Check the node and your network, then retry."
        )
    text = redact(str(exc))
    low = text.lower()
    kind = error_kind(text)
    if kind is not None:
        message, hint, cls = _explain(kind, ctx)
        err = cls(message, kind=kind, hint=hint)
        return err
    if any(marker in low for marker in _UNREACHABLE):
        hint = (
            "Is the node running? Start a local one with `soma-console devnet`."
            if "127.0.0.1" in url or "localhost" in url
            else "Check the URL and your network."
        )
        return NodeUnreachable(f"the chain at {url} does not answer.", hint=hint)
    if "deadline" in low or "timed out" in low or "timeout" in low:
        return ChainTimeout(
            f"the chain at {url} did not answer in time.", hint="Retry; if it persists check the node."
        )
    status = grpc_status(text)
    if status is not None:
        return _explain_status(*status, url=url)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if len(first) > 300:
        first = first[:300] + "…"
    return ChainError(f"the chain call failed: {first}")


# The SDK passes on a failed gRPC call as tonic's Debug text:
# status: Internal, message: "…", details: [], metadata: MetadataMap { headers: {…} }
_STATUS_RE = re.compile(r'status:\s*([A-Za-z]+),\s*message:\s*"((?:[^"\\]|\\.)*)"')
_TOO_LARGE_RE = re.compile(r"found (\d+) bytes, the limit is:? (\d+) bytes")


def grpc_status(text: str) -> tuple[str, str] | None:
    """(code, message) from a raw tonic status text, or None if ``text`` is not one."""
    m = _STATUS_RE.search(text)
    if m is None:
        return None
    message = m.group(2).replace('\\"', '"').replace("\\\\", "\\").strip()
    return m.group(1), message


def _explain_status(code: str, message: str, *, url: str) -> ChainError:
    where = f"the chain at {url}" if url else "the chain"
    said = message.rstrip(".")
    if len(said) > 200:
        said = said[:200] + "…"
    too_large = _TOO_LARGE_RE.search(message)
    if too_large:
        found, limit = (int(x) / (1024 * 1024) for x in too_large.groups())
        return ChainError(
            f"{where} answered with {found:,.1f} MiB, more than the {limit:,.0f} MiB the SOMA SDK accepts.",
            hint="Update soma-console; if it is current, report this read as too big for the SDK.",
        )
    table: dict[str, tuple[str, str | None]] = {
        "Internal": (
            f"{where} failed while handling the request ({said}).",
            "Retry; if it persists, tell its operator.",
        ),
        "Unknown": (
            f"{where} failed while handling the request ({said}).",
            "Retry; if it persists, tell its operator.",
        ),
        "NotFound": (f"{where} does not know what was asked for ({said}).", None),
        "InvalidArgument": (f"{where} rejected the request ({said}).", None),
        "FailedPrecondition": (f"{where} cannot do this now ({said}).", "Retry in a moment."),
        "ResourceExhausted": (
            f"{where} is overloaded or the answer is too big ({said}).",
            "Retry in a moment.",
        ),
        "Unimplemented": (
            f"{where} does not support this request ({said}).",
            "Is it a SOMA full node of a compatible version?",
        ),
        "PermissionDenied": (f"{where} refused the request ({said}).", None),
        "Unauthenticated": (f"{where} refused the request ({said}).", None),
        "Aborted": (f"{where} aborted the request ({said}).", "Retry."),
        "Cancelled": (f"the request to {where.removeprefix('the ')} was cancelled ({said}).", "Retry."),
        "OutOfRange": (f"{where} could not answer this request ({said}).", None),
        "DataLoss": (f"{where} lost data while answering ({said}).", "Tell its operator."),
    }
    message_text, hint = table.get(code, (f"{where} answered {code} ({said}).", None))
    return ChainError(message_text, kind=code, hint=hint)
