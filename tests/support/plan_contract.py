"""What a plan of each kind looks like from the console's side, as the live services make it.

The console decides nothing from a plan but its confirmation word and whether it is marked
irreversible; the payload is opaque to it, yet its keys are where a made-up world drifts first.
tests/live/test_live_actions.py checks the live services' plans against this table on a devnet,
tests/tui/test_fake_world.py checks the test world's plans against it: so the two cannot drift
apart without one of them failing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from soma_console.core.actions import ActionPlan
from tests.conftest import REPO

CONSOLE_DOC = REPO / "docs" / "console.md"


@dataclass(frozen=True)
class PlanShape:
    word: str
    irreversible: bool
    payload_keys: frozenset[str] | None  # None: the payload differs by design (a commit's artifact)


PLAN_SHAPES: dict[str, PlanShape] = {
    "commit": PlanShape("commit", irreversible=False, payload_keys=None),
    "reveal": PlanShape("reveal", irreversible=False, payload_keys=frozenset({"intents"})),
    "stake": PlanShape("stake", irreversible=False, payload_keys=frozenset({"model_id", "amount"})),
    "commission": PlanShape("commission", irreversible=False, payload_keys=frozenset({"model_id", "bps"})),
    "deactivate": PlanShape("deactivate", irreversible=True, payload_keys=frozenset({"model_id"})),
}


def payload_keys(payload: Any) -> frozenset[str]:
    if dataclasses.is_dataclass(payload) and not isinstance(payload, type):
        return frozenset(f.name for f in dataclasses.fields(payload))
    return frozenset(dict(payload))


def check_plan(plan: ActionPlan) -> None:
    """Fail unless ``plan`` has the shape the live services give a plan of its kind."""
    shape = PLAN_SHAPES[plan.action]
    assert plan.confirm_word == shape.word, f"{plan.action}: typed word {plan.confirm_word!r}"
    assert plan.irreversible == shape.irreversible, f"{plan.action}: irreversible={plan.irreversible}"
    if shape.payload_keys is not None:
        assert payload_keys(plan.payload) == shape.payload_keys, f"{plan.action}: {plan.payload!r}"


def documented_word(task: str) -> str:
    """The confirmation word docs/console.md's "Doing things" table gives for ``task``."""
    for line in CONSOLE_DOC.read_text().splitlines():
        if line.startswith(f"| {task} |"):
            words = re.findall(r"[Tt]ype `([a-z]+)`", line)
            assert words, f"docs/console.md names no word for {task!r}"
            return words[-1]
    raise AssertionError(f"docs/console.md has no row for {task!r}")
