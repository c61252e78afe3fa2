"""A plan's payload is typed per kind: a plan carrying the wrong shape is refused before anything is sent."""

from __future__ import annotations

import pytest

from soma_console.core.actions import ActionPlan
from soma_console.core.onchain.payloads import (
    CommissionPayload,
    RevealPayload,
    StakePayload,
    payload_of,
)
from soma_console.errors import UserError


def test_the_payload_of_its_own_kind_comes_back_as_it_was() -> None:
    stake = StakePayload("0x" + "ab" * 32, 5 * 10**9)
    plan = ActionPlan("stake", "Add stake", (), confirm_word="stake", payload=stake)
    assert payload_of(plan, StakePayload) is stake
    assert payload_of(plan, StakePayload).amount == 5 * 10**9


@pytest.mark.parametrize(
    "payload",
    [
        {"model_id": "0x" + "ab" * 32, "shannons": 5},  # an untyped dict with a drifted key
        CommissionPayload("0x" + "ab" * 32, 100),  # another kind's payload
        None,
    ],
)
def test_a_payload_of_another_shape_is_refused_in_one_sentence(payload: object) -> None:
    plan = ActionPlan("stake", "Add stake", (), confirm_word="stake", payload=payload)
    with pytest.raises(UserError, match="was not made by this console; plan it again"):
        payload_of(plan, StakePayload)


def test_payloads_are_frozen() -> None:
    reveal = RevealPayload((3, 1))
    with pytest.raises(AttributeError):
        reveal.intents = ()  # type: ignore[misc]
