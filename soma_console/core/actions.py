"""What a transaction-sending action will do, shown to the user before anything is sent.

Every action that sends a transaction is two-phase, in the command line and the console alike:
``plan_*`` reads the chain and the journal and returns an :class:`ActionPlan` (exactly what will be
sent, what it costs, when it takes effect, what cannot be undone); only after an explicit
confirmation (``--yes`` headless, a typed word in the console) is the plan executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ActionPlan:
    action: str  # commit | reveal | stake | commission | deactivate | faucet
    title: str  # one line: "Commit checkpoint step 500 of run r1 as a new model"
    lines: tuple[tuple[str, str], ...]  # label -> value, in the order shown
    warnings: tuple[str, ...] = ()
    irreversible: bool = False
    confirm_word: str = "yes"  # the console asks the user to type this
    payload: Any = field(default=None, repr=False, compare=False)  # opaque to views

    def render_text(self) -> str:
        width = max((len(label) for label, _ in self.lines), default=0)
        out = [self.title]
        out.extend(f"  {label.ljust(width)}  {value}" for label, value in self.lines)
        out.extend(f"  ! {w}" for w in self.warnings)
        if self.irreversible:
            out.append("  ! This cannot be undone.")
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "title": self.title,
            "lines": [{"label": a, "value": b} for a, b in self.lines],
            "warnings": list(self.warnings),
            "irreversible": self.irreversible,
        }


@dataclass(frozen=True)
class ActionResult:
    action: str
    ok: bool
    summary: str  # one line for the action log
    digest: str | None = None
    model_id: str | None = None
    epoch: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
