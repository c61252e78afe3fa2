"""What a transaction-sending action will do, shown to the user before anything is sent.

Every action that sends a transaction is two-phase, in the command line and the console alike:
``plan_*`` reads the chain and the journal and returns an :class:`ActionPlan` (exactly what will be
sent, what it costs, when it takes effect, what cannot be undone); only after an explicit
confirmation (``--yes`` headless, a typed word in the console) is the plan executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a person must see before confirming comes first: what is sent and to which model, the
# money (stake, commission, fees, balance), the window; the technical proof (commitments, URL,
# sizes) after it. Labels not named here keep their place between the two groups.
FIRST_LABELS = (
    "Model",
    "Run",
    "Checkpoint",
    "Stake",
    "Add stake",
    "Stake now",
    "Commission",
    "New commission",
    "Commit epoch",
    "Reveal window",
    "Takes effect",
    "Effect",
    "Create fee",
    "Commit fee",
    "Fee",
    "Balance",
    "Sends",
)
LAST_LABELS = ("Weights URL", "Size", "Weights commitment", "Key commitment", "Embedding", "Architecture")


def _line_rank(label: str) -> int:
    if label in FIRST_LABELS:
        return FIRST_LABELS.index(label)
    if label.startswith("Model "):  # a reveal's "Model 0x12ab…" lines
        return 0
    if label in LAST_LABELS:
        return 1000 + LAST_LABELS.index(label)
    return 500


@dataclass(frozen=True)
class ActionPlan:
    action: str  # commit | reveal | stake | commission | deactivate | faucet
    title: str  # one line: "Commit checkpoint step 500 of run r1 as a new model"
    lines: tuple[tuple[str, str], ...]  # label -> value, in the order shown
    warnings: tuple[str, ...] = ()
    irreversible: bool = False
    confirm_word: str = "yes"  # the console asks the user to type this
    payload: Any = field(default=None, repr=False, compare=False)  # opaque to views

    def ordered_lines(self) -> list[tuple[str, str]]:
        """``lines`` with what matters most first (see FIRST_LABELS); stable otherwise."""
        return sorted(self.lines, key=lambda line: _line_rank(line[0]))

    def warning_texts(self) -> list[str]:
        return [*self.warnings, *(["This cannot be undone."] if self.irreversible else [])]

    def render_text(self) -> str:
        """The plan as text: the title, the warnings, then the lines (what matters first)."""
        lines = self.ordered_lines()
        width = max((len(label) for label, _ in lines), default=0)
        out = [self.title]
        out.extend(f"  ! {w}" for w in self.warning_texts())
        out.extend(f"  {label.ljust(width)}  {value}" for label, value in lines)
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
