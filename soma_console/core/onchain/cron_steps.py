"""The Modal cron's chain steps, run in the container on the cron's own journal.

* :func:`run_reveal_round`: one :meth:`~soma_console.core.autopilot.Autopilot.round` (reveal what is
  due, alarm on a closing or missed window);
* :func:`run_cron_round`: the same reveal round (:func:`~soma_console.core.onchain.rounds.reveal_round`),
  then a commit of the newly trained checkpoint.

Both work through :func:`cron_lifecycle`: the signer from ``SOMA_SECRET_KEY``, and ``persist`` (which
puts the journal back on the Volume) called after every journal write that must survive the container.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from soma_console.config import Home
from soma_console.context import AppContext
from soma_console.core.autopilot import Autopilot, AutopilotConfig
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.onchain.rounds import reveal_round
from soma_console.core.reveal_queue import (
    MISSED,
    REVEALED,
)
from soma_console.errors import UserError
from soma_console.secrets import redact


@asynccontextmanager
async def cron_lifecycle(home: Home, *, chain: str, persist: Callable[[], None]) -> AsyncIterator[Lifecycle]:
    """The lifecycle a Modal cron round works with: the signer from ``SOMA_SECRET_KEY``, the journal
    in ``home``, ``persist`` called after every journal write (and once at the end, however it ends)."""
    from soma_console.config import Settings
    from soma_console.core.chain_identity import adopt_chain_identity
    from soma_console.core.wallet import load_signer

    settings = Settings.load(home)
    ctx = AppContext(home=home, settings=settings, chain=settings.resolve_chain(chain))
    signer = load_signer(home)
    assert signer is not None
    journal = Journal.open(home.journal_path)
    session = ChainSession(
        ctx.chain,
        address=signer.address,
        timeout=settings.rpc_timeout,
        max_state_bytes=settings.max_state_bytes,
    )
    lc = Lifecycle(ctx, session, journal, signer)
    lc.persist = persist
    try:
        if await adopt_chain_identity(session, journal) is not None:
            persist()  # another network under this chain name: its entries were set aside
        yield lc
    finally:
        await session.close()
        journal.close()
        persist()


async def run_cron_round(
    home: Home,
    checkpoint: Path,
    manifest: Any,
    *,
    chain: str,
    persist: Callable[[], None],
    gate_targets: int | None = None,
) -> dict[str, Any]:
    """One scheduled round on the chain (the Modal cron's chain step): reveal what is due, then commit
    ``checkpoint`` as an update of this journal's model (a new model the first time).

    With ``gate_targets`` (``cron deploy --commit-if-better N``) an update is committed only if it
    beats the model's current revealed weights on the last N filled targets; otherwise the round
    says so in ``skipped`` (and ``score``) and commits nothing.

    The signer comes from ``SOMA_SECRET_KEY`` and the storage spec from ``SOMA_STORAGE`` (both Modal
    secrets). ``persist`` is called after every journal write that must survive the container.
    """
    out: dict[str, Any] = {"revealed": [], "committed": None, "skipped": None}
    async with cron_lifecycle(home, chain=chain, persist=persist) as lc:
        session = lc.session
        done = await reveal_round(lc)
        done.raise_failure()
        out["revealed"] = done.revealed
        snap = await session.snapshot()
        model_id = _cron_model(lc, snap)
        row = None if model_id is None else snap.model(model_id)
        if row is not None and row.status == "pending":
            out["skipped"] = f"model {model_id} still waits for its first reveal; committing next round"
        elif row is not None and row.status not in ("created", "active"):
            out["skipped"] = f"model {model_id} is {row.status}; not committing to it"
        elif held := await _held_back(lc, home, checkpoint, manifest, model_id, gate_targets, out):
            out["skipped"] = held
        else:
            plan = await lc.plan_commit(checkpoint, model_id=model_id, storage=os.environ.get("SOMA_STORAGE"))
            out["committed"] = (await lc.execute(plan)).data
        out["pending"] = [
            e.to_json()
            for e in lc.queue(await session.head(), lc.clock())
            if e.state not in (REVEALED, MISSED)
        ]
        return out


async def _held_back(
    lc: Lifecycle,
    home: Home,
    checkpoint: Path,
    manifest: Any,
    model_id: str | None,
    gate_targets: int | None,
    out: dict[str, Any],
) -> str | None:
    """Why the update must not be committed (the gate said no), or None to commit it. A new model
    has nothing to lose, so only updates are scored."""
    if not gate_targets or model_id is None:
        return None
    from soma_console.core.score_check import gate_update  # scoring imports torch
    from soma_console.training.manifest import read_manifest

    if isinstance(manifest, str | Path):  # the container hands over the manifest's path
        manifest = read_manifest(Path(manifest))
    cache = home.data_dir / "score-cache"
    weights = Path(checkpoint)
    gate = await gate_update(lc.session, cache, weights, manifest, model_id=model_id, count=gate_targets)
    out["score"] = {"summary": gate.summary, "commit": gate.commit, "why": gate.why}
    return None if gate.commit else f"not committing {weights.name} to {model_id}: {gate.why}"


def _cron_model(lc: Lifecycle, snap: ChainSnapshot) -> str | None:
    """The model this journal has been committing to (newest first), if it still exists."""
    for intent in lc.journal.intents(chain=lc.chain.name, kinds=("commit", "create")):
        if intent.model_id and intent.state in ("confirmed", "revealed") and snap.model(intent.model_id):
            return intent.model_id
    return None


async def run_reveal_round(
    home: Home,
    *,
    chain: str,
    persist: Callable[[], None],
    hook: str | None = None,
    webhook: str | None = None,
) -> dict[str, Any]:
    """One reveal round of the Modal cron (CPU only, on its own schedule): settle the journal, reveal
    every open window, and raise the alarm (hook/webhook) for a window closing unrevealed or missed.
    It is :meth:`Autopilot.round`, once, with the cron's journal; a failure raises after the alarms."""
    said: list[dict[str, str]] = []

    def say(level: str, message: str) -> None:
        said.append({"level": level, "message": redact(message)})

    async with cron_lifecycle(home, chain=chain, persist=persist) as lc:
        pilot = Autopilot(lc, AutopilotConfig(hook=hook, webhook=webhook), say)
        try:
            results = await pilot.round()
        except (ChainError, UserError) as exc:
            exc.add_note(json.dumps(said))
            raise
        snap = lc.session.latest or await lc.session.head()
        pending = [e.to_json() for e in lc.queue(snap, lc.clock()) if e.state not in (REVEALED, MISSED)]
    revealed = [r for res in results for r in res.data.get("revealed", [])]
    epoch_s = snap.epoch_duration_ms / 1000.0 if snap.epoch_duration_ms else None
    return {"revealed": revealed, "pending": pending, "said": said, "epoch_s": epoch_s}
