"""What a plan carries from ``plan_*`` to ``execute``: one frozen dataclass per plan kind.

A plan's payload is opaque to the views; only the action that made it reads it back. Typed fields
(instead of a dict read by string keys) make a renamed or missing field a type error, not a
``KeyError`` at the moment the transaction is about to leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from soma_console.core.actions import ActionPlan
from soma_console.errors import UserError


@dataclass(frozen=True)
class CommitPayload:
    artifact_id: int  # the journaled artifact (encrypted file, key, embedding)
    model_id: str | None  # None: create a model first
    create: bool
    stake: int | None  # shannons; a new model only
    commission: int | None  # bps; a new model only
    update: bool  # an update of an active model (dropped, not slashed, when unrevealed)
    architecture_version: int | None
    source: str  # the checkpoint's weights file


@dataclass(frozen=True)
class RevealPayload:
    intents: tuple[int, ...]  # commit intents to reveal, most urgent first


@dataclass(frozen=True)
class StakePayload:
    model_id: str
    amount: int  # shannons


@dataclass(frozen=True)
class CommissionPayload:
    model_id: str
    bps: int


@dataclass(frozen=True)
class DeactivatePayload:
    model_id: str


ModelPayload = StakePayload | CommissionPayload | DeactivatePayload
P = TypeVar("P")


def payload_of(plan: ActionPlan, kind: type[P]) -> P:
    """``plan``'s payload, which must be a ``kind``: a plan made elsewhere is refused, not sent."""
    if not isinstance(plan.payload, kind):
        raise UserError(f"this {plan.action} plan was not made by this console; plan it again.")
    return plan.payload
