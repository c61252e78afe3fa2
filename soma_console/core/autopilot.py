"""Autopilot: reveal every commit in its window without a person watching, and shout when a
window is about to close unrevealed.

One loop, one ChainSession: each round reads the chain, settles the journal (``reconcile``),
reveals every open window, and raises the alarm for an open window with less than
``reveal_queue.ALARM_FRACTION`` of it left. Failures back off exponentially, but never past the
point where an open window could close: while one is open the loop retries every few seconds.
Optionally it runs train → commit rounds on a schedule (``TrainRound``). The Modal cron's reveal
round (:func:`soma_console.core.onchain.cron_steps.run_reveal_round`) is one such round on the cron's journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from soma_console.core.actions import ActionResult
from soma_console.core.autoclaim import AutoClaim
from soma_console.core.chain_errors import ChainError
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.onchain.rounds import reveal_round
from soma_console.core.reveal_queue import CLOSING, OPEN, WAITING, format_countdown
from soma_console.errors import UserError
from soma_console.secrets import redact

log = logging.getLogger("soma_console.autopilot")

Say = Callable[[str, str], None]  # (level, message): "info" | "warn" | "alarm"


@dataclass
class AutopilotConfig:
    interval: float = 15.0  # seconds between rounds when nothing is due
    urgent_interval: float = 3.0  # while a window is open and unrevealed
    max_backoff: float = 300.0
    hook: str | None = None  # a command run on each warning, message in $SOMA_ALERT
    webhook: str | None = None  # a URL that gets {"text": message} POSTed on each warning
    hook_timeout: float = 20.0


@dataclass
class TrainRound:
    """``every`` seconds: resume ``run`` for ``steps`` more steps, then commit its newest checkpoint
    as an update of ``model_id`` (or as a new model when None)."""

    run: str
    steps: int
    every: float
    model_id: str | None = None
    # Commit only when the new checkpoint beats the model's current weights on this many of the
    # most recent filled targets (``soma_console.core.score_check``); None: always commit.
    gate_targets: int | None = None
    last_started: float | None = None
    argv_prefix: list[str] = field(default_factory=lambda: [sys.executable, "-m", "soma_console"])


class Autopilot:
    def __init__(
        self,
        lifecycle: Lifecycle,
        config: AutopilotConfig,
        say: Say,
        *,
        train: TrainRound | None = None,
        claims: AutoClaim | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lc = lifecycle
        self.config = config
        self.say = say
        self.train = train
        self.claims = claims
        self.clock = clock
        self.failures = 0
        self._alarmed: set[tuple[int, str]] = set()

    async def round(self) -> list[ActionResult]:
        """One pass (:func:`~soma_console.core.onchain.rounds.reveal_round`): settle, reveal what is
        due, then warn about what is closing."""
        done = await reveal_round(
            self.lc, clock=self.clock, on_settled=self._said_settled, on_revealed=self._said_revealed
        )
        for e in done.queue:
            if e.alarm and (e.intent_id, e.state) not in self._alarmed:
                self._alarmed.add((e.intent_id, e.state))
                msg = (
                    f"reveal window for model {e.model_id} (epoch {e.reveal_epoch}) closes in "
                    f"{format_countdown(e.seconds_to_close)} and it is NOT revealed"
                )
                self.say("alarm", msg)
                await self.alert(msg)
        done.raise_failure()  # after the alarms; run() backs off and retries
        return done.results

    async def _said_revealed(self, result: ActionResult) -> None:
        self.say("info", f"{result.summary} ({result.digest})")

    async def _said_settled(self, line: str) -> None:
        self.say("alarm" if line.startswith("MISSED") else "info", line)
        if line.startswith("MISSED"):
            await self.alert(line)

    def next_delay(self, ok: bool) -> float:
        snap = self.lc.session.latest
        urgent = False
        soon: float | None = None
        if snap is not None:
            for e in self.lc.queue(snap, self.clock()):
                if e.state in (OPEN, CLOSING):
                    urgent = True
                elif e.state == WAITING and e.seconds_to_open is not None:
                    soon = e.seconds_to_open if soon is None else min(soon, e.seconds_to_open)
        if ok:
            self.failures = 0
            delay = self.config.interval
        else:
            self.failures += 1
            delay = min(self.config.max_backoff, self.config.interval * 2 ** min(self.failures, 8))
        if urgent:
            delay = min(delay, self.config.urgent_interval)
        if soon is not None:
            delay = min(delay, max(0.5, soon + 1.0))  # be there right after the boundary
        return delay

    async def _claim(self) -> None:
        """Claim what is due. Claiming needs the model list, which a big network can make
        unreadable: a failed claim step is said and retried next round, and never counts as a
        failed reveal round (the reveals it follows went through)."""
        assert self.claims is not None
        try:
            await self.claims.round(self.say)
        except (ChainError, UserError) as exc:
            self.say("warn", f"claims skipped this round: {exc}")

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> None:
        while not stop.is_set():
            ok = True
            try:
                await self.round()
                if self.claims is not None:
                    await self._claim()
                if self.train is not None:
                    await self.maybe_train()
            except (ChainError, UserError) as exc:
                ok = False
                self.say("warn", f"round failed: {exc}")
            except Exception as exc:  # an unexpected failure must not stop the reveals
                ok = False
                log.exception("autopilot round crashed")
                self.say("warn", f"round crashed: {type(exc).__name__}: {redact(str(exc))}")
            if once:
                if not ok:
                    raise UserError("the autopilot round failed (see above).")
                return
            delay = self.next_delay(ok)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def alert(self, message: str) -> None:
        """Run the hook command and POST the webhook; a failing hook is reported, never fatal."""
        await send_alert(self.config, message, self.say)

    async def maybe_train(self) -> None:
        t = self.train
        assert t is not None
        now = self.clock()
        if t.last_started is not None and now - t.last_started < t.every:
            return
        t.last_started = now
        self.say("info", f"training round: run {t.run}, {t.steps} more steps")
        run_dir = self.lc.ctx.home.runs_dir / t.run
        home = self.lc.ctx.home
        argv = [*t.argv_prefix]
        if home.config_dir == home.data_dir:  # an explicit --home; the child must use it too
            argv += ["--home", str(home.data_dir)]
        argv += ["train", "--run", t.run, "--json"]
        if run_dir.is_dir():
            argv.append("--resume")
        argv += ["--steps", str(await _next_target(run_dir, t.steps))]
        await _run_quiet(argv)
        if t.gate_targets and t.model_id and not await self._beats_current(t):
            return
        plan = await self.lc.plan_commit(t.run, model_id=t.model_id)
        result = await self.lc.execute(plan)
        if t.model_id is None:
            t.model_id = result.model_id
        self.say("info", f"{result.summary} ({result.digest})")

    async def _beats_current(self, t: TrainRound) -> bool:
        from soma_console.core.commit_prep import resolve_checkpoint
        from soma_console.core.score_check import gate_update

        assert t.model_id is not None and t.gate_targets
        home = self.lc.ctx.home
        src = resolve_checkpoint(t.run, home.runs_dir)
        gate = await gate_update(
            self.lc.session,
            home.data_dir / "score-cache",
            src.weights,
            src.manifest,
            model_id=t.model_id,
            count=t.gate_targets,
        )
        self.say("info", f"{src.label}: {gate.summary}")
        if not gate.commit:
            self.say("warn", f"not committing {src.label}: {gate.why}")
        return gate.commit


async def send_alert(config: AutopilotConfig, message: str, say: Say) -> None:
    """Run ``config.hook`` (message in $SOMA_ALERT) and POST ``config.webhook``; failures are said, never
    raised."""
    if config.hook:
        try:
            proc = await asyncio.create_subprocess_exec(
                *shlex.split(config.hook),
                env={**os.environ, "SOMA_ALERT": message},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await asyncio.wait_for(proc.wait(), config.hook_timeout)
        except (OSError, TimeoutError) as exc:
            say("warn", f"the alert hook failed: {exc}")
    if config.webhook:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=config.hook_timeout) as client:
                resp = await client.post(
                    config.webhook,
                    content=json.dumps({"text": message}),
                    headers={"content-type": "application/json"},
                )
                resp.raise_for_status()
        except httpx.HTTPError as exc:
            say("warn", f"the alert webhook failed: {type(exc).__name__}")


async def _next_target(run_dir: Path, steps: int) -> int:
    from soma_console.training.manifest import list_checkpoints

    found = await asyncio.to_thread(list_checkpoints, run_dir)
    return (found[0].manifest.step if found else 0) + steps


async def _run_quiet(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise UserError(f"the training round failed: {redact(tail[0])}")
