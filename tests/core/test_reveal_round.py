"""The one autopilot round's order and failure handling, with the lifecycle stubbed at its boundary.

The real thing runs against the devnet in tests/lifecycle/test_autopilot.py (the command),
tests/lifecycle/test_cron_round.py (the Modal cron) and tests/live/test_live_actions.py (the console);
this pins what all three rely on: settle from the small read first, reveal, then settle from the
model list, and a failed reveal handed back only after that second settle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from soma_console.core.actions import ActionResult
from soma_console.core.chain_errors import ChainError
from soma_console.core.onchain.rounds import reveal_round


@dataclass
class Entry:
    actionable: bool
    alarm: bool = False


@dataclass
class StubSession:
    calls: list[str]

    async def head(self) -> str:
        self.calls.append("head")
        return "clock-read"


@dataclass
class StubLifecycle:
    due: bool = True
    fail: bool = False
    calls: list[str] = field(default_factory=list)
    settle_lines: dict[bool, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session = StubSession(self.calls)

    def clock(self) -> float:
        return 100.0

    def persist(self) -> None:
        self.calls.append("persist")

    async def reconcile(self, snap: Any, *, read_models: bool) -> list[str]:
        self.calls.append(f"reconcile(read_models={read_models})")
        return self.settle_lines.get(read_models, [])

    def queue(self, snap: Any, now: float) -> list[Entry]:
        self.calls.append("queue")
        return [Entry(actionable=self.due and "execute" not in self.calls)]

    async def plan_reveal(self) -> str:
        self.calls.append("plan_reveal")
        return "plan"

    async def execute(self, plan: str) -> ActionResult:
        self.calls.append("execute")
        if self.fail:
            raise ChainError("the node refused the reveal")
        return ActionResult("reveal", True, "revealed 0xab", data={"revealed": [{"model_id": "0xab"}]})


def run(lc: StubLifecycle, **kw: Any) -> Any:
    return asyncio.run(reveal_round(cast(Any, lc), **kw))


def test_a_round_settles_on_the_clock_read_reveals_then_settles_from_the_model_list() -> None:
    lc = StubLifecycle(settle_lines={True: ["MISSED: the window closed"]})
    said: list[str] = []

    async def on_settled(line: str) -> None:
        said.append(line)

    done = run(lc, on_settled=on_settled)
    assert lc.calls == [
        "head",
        "reconcile(read_models=False)",
        "queue",
        "plan_reveal",
        "execute",
        "head",
        "queue",
        "head",
        "reconcile(read_models=True)",
        "persist",  # a settled journal is put back at once (the Modal cron's Volume)
    ]
    assert done.revealed == [{"model_id": "0xab"}] and done.failure is None
    assert said == done.settled == ["MISSED: the window closed"]


def test_the_console_tick_stops_after_the_reveal() -> None:
    lc = StubLifecycle()
    done = run(lc, snap="poll", clock=lambda: 5.0, settle_models=False)
    assert lc.calls == ["reconcile(read_models=False)", "queue", "plan_reveal", "execute"]
    assert len(done.results) == 1


def test_nothing_due_sends_nothing() -> None:
    lc = StubLifecycle(due=False)
    done = run(lc)
    assert "plan_reveal" not in lc.calls and "execute" not in lc.calls
    assert done.results == [] and done.failure is None


def test_a_failed_reveal_is_handed_back_after_the_second_settle() -> None:
    lc = StubLifecycle(fail=True)
    done = run(lc)
    assert lc.calls[-1] == "reconcile(read_models=True)"
    assert isinstance(done.failure, ChainError) and done.results == []
    with pytest.raises(ChainError, match="refused the reveal"):
        done.raise_failure()
