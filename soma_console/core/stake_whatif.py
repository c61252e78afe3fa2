"""What-if for stake: how a model's share of this epoch's targets would change with more stake.

The chain assigns each target to the ``k`` active models with the lowest
``cosine distance / (√stake / Σ√stake + 1e-10)``. Replaying that rule (the active models read from
the system state through the console's own reader) over this epoch's targets (their embeddings,
read page by page) with the model's stake as it is and with ``+extra``
gives the number of targets it was, and would have been, assigned. The targets of the next epoch
are drawn at random, so the share is an estimate of the expected share, not a promise.

``k`` is the chain's ``target_models_per_target``, read from the protocol config the epoch read
reports (3 by default, which is used when a node does not report it). The matrix work runs in a
worker thread, a page of targets at a time; ``max_targets`` stops after that many targets and
``budget_s`` after that much time (a sample: the console's stake plan uses the time limit so that
it answers in seconds on a big network).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from soma_console.core.chain import ChainSession
from soma_console.errors import UserError

MODELS_PER_TARGET = 3  # the chain's default target_models_per_target, when the node does not say


@dataclass(frozen=True)
class WhatIf:
    model_id: str
    epoch: int
    targets: int
    stake_shannons: int
    extra_shannons: int
    assigned_now: int
    assigned_after: int
    models_per_target: int = MODELS_PER_TARGET
    sampled: bool = False  # stopped at max_targets: the counts are of a sample of the epoch's targets

    @property
    def expected_now(self) -> float:
        """The share of targets as a fraction (0 with no targets)."""
        return self.assigned_now / self.targets if self.targets else 0.0

    @property
    def expected_after(self) -> float:
        return self.assigned_after / self.targets if self.targets else 0.0

    def plan_lines(self, soma: Any) -> list[tuple[str, str]]:
        """What the added stake does to the model's targets, as stake plans show it."""
        if not self.targets:
            return [("Expected targets", f"no targets in epoch {self.epoch} to estimate from")]
        sample = f"a sample of {self.targets}" if self.sampled else f"all {self.targets}"
        return [
            (
                "Expected targets",
                f"{self.expected_now:.1%} of targets now → {self.expected_after:.1%} with "
                f"+{soma(self.extra_shannons)} ({self.assigned_now} → {self.assigned_after} of {sample} "
                f"epoch-{self.epoch} targets, {self.models_per_target} models a target; an estimate)",
            )
        ]

    def to_json(self) -> dict[str, Any]:
        n = max(self.targets, 1)
        return {
            "model_id": self.model_id,
            "epoch": self.epoch,
            "targets": self.targets,
            "stake_shannons": self.stake_shannons,
            "extra_shannons": self.extra_shannons,
            "assigned_now": self.assigned_now,
            "share_now": self.assigned_now / n if self.targets else 0.0,
            "assigned_after": self.assigned_after,
            "share_after": self.assigned_after / n if self.targets else 0.0,
            "models_per_target": self.models_per_target,
            "sampled": self.sampled,
        }


def _power(stakes: np.ndarray) -> np.ndarray:
    roots = np.sqrt(stakes.astype(np.float64))
    total = roots.sum()
    share = roots / total if total > 0 else np.full(len(stakes), 1.0 / max(len(stakes), 1))
    return share.astype(np.float32)


def assigned(
    matrix: np.ndarray, norms: np.ndarray, power: np.ndarray, targets: np.ndarray, focus: int, k: int
) -> int:
    """How many of ``targets`` (rows) get model ``focus`` among their ``k`` nearest."""
    if len(targets) == 0:
        return 0
    t_norm = np.maximum(np.linalg.norm(targets, axis=1), np.float32(1e-8)).astype(np.float32)
    sims = (targets @ matrix.T) / (t_norm[:, None] * norms[None, :])
    score = (np.float32(1.0) - sims.astype(np.float32)) / (power[None, :] + np.float32(1e-10))
    top = np.argsort(score, axis=1, kind="stable")[:, : min(k, matrix.shape[0])]
    return int((top == focus).any(axis=1).sum())


async def _target_embeddings(session: ChainSession, epoch: int) -> AsyncIterator[np.ndarray]:
    for status in ("open", "filled"):
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "status": status,
                "epoch": epoch,
                "read_mask": "id,embedding",
                "limit": 1000,
            }
            if token:
                kwargs["page_token"] = token
            page = await session.call("list_targets", **kwargs)
            rows = [list(t.embedding) for t in (page.targets or []) if getattr(t, "embedding", None)]
            if rows:
                yield np.asarray(rows, dtype=np.float32)
            token = getattr(page, "next_page_token", None) or None
            if not token:
                break


def _both(
    matrix: np.ndarray,
    norms: np.ndarray,
    powers: tuple[np.ndarray, np.ndarray],
    page: np.ndarray,
    focus: int,
    k: int,
) -> tuple[int, int]:
    """``assigned`` for two stake vectors at once: the distances once, then a partial sort per
    vector (the focus model is among the k lowest scores when its score is at most the k-th)."""
    if len(page) == 0:
        return 0, 0
    t_norm = np.maximum(np.linalg.norm(page, axis=1), np.float32(1e-8)).astype(np.float32)
    dist = np.float32(1.0) - ((page @ matrix.T) / (t_norm[:, None] * norms[None, :])).astype(np.float32)
    kk = min(k, matrix.shape[0])
    counts = []
    for power in powers:
        score = dist / (power[None, :] + np.float32(1e-10))
        kth = np.partition(score, kk - 1, axis=1)[:, kk - 1]
        counts.append(int((score[:, focus] <= kth).sum()))
    return counts[0], counts[1]


async def active_set(session: ChainSession) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every active model's id, embedding (one row each) and stake, from the system state read
    through the console's own reader (the SDK's reads stop at 4 MiB, about 600 models), decoded in
    a worker thread (10,000 models: 20 million floats)."""
    from soma_console.core.chain_reads import decode_system_state

    raw = [await session.reader.system_state_bytes()]

    def decode() -> tuple[list[str], np.ndarray, np.ndarray]:
        state = decode_system_state(raw.pop(), url=session.profile.rpc_url)
        ids: list[str] = []
        rows: list[np.ndarray] = []
        stakes: list[int] = []
        for model_id, m in state.model_registry.models.items():
            if str(m.state).lower() != "active" or not len(m.embedding):
                continue
            text = str(model_id).lower()
            ids.append(text if text.startswith("0x") else "0x" + text)
            rows.append(np.asarray(m.embedding, dtype=np.float32))
            stakes.append(int(m.staking_pool.soma_balance) if m.HasField("staking_pool") else 0)
        matrix = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        return ids, matrix, np.asarray(stakes, dtype=np.float64)

    return await asyncio.to_thread(decode)


async def models_per_target(session: ChainSession) -> int:
    """The chain's ``target_models_per_target`` from the protocol config (a small read)."""
    clock = await session.reader.clock()
    k = clock.attribute("target_models_per_target")
    return k if k is not None and k > 0 else MODELS_PER_TARGET


async def stake_whatif(
    session: ChainSession,
    model_id: str,
    extra_shannons: int,
    *,
    max_targets: int | None = None,
    budget_s: float | None = None,
) -> WhatIf:
    want = model_id.lower() if model_id.lower().startswith("0x") else "0x" + model_id.lower()
    k = await models_per_target(session)
    ids, matrix, stakes = await active_set(session)
    if want not in ids:  # a short id, as tables print them: a unique prefix of an active model's
        hits = [i for i in ids if i.startswith(want)] if len(want) >= 6 else []
        want = hits[0] if len(hits) == 1 else want
    if want not in ids:
        raise UserError(f"model {want} is not active, so it is assigned no targets; stake counts once it is.")
    focus = ids.index(want)
    norms = np.maximum(np.linalg.norm(matrix, axis=1), np.float32(1e-8)).astype(np.float32)
    after = stakes.copy()
    after[focus] += extra_shannons
    powers = (_power(stakes), _power(after))
    epoch = (await session.head()).epoch
    total = now = later = 0
    sampled = False
    started = time.monotonic()
    async for page in _target_embeddings(session, epoch):
        if budget_s is not None and total and time.monotonic() - started > budget_s:
            sampled = True  # out of time: the pages counted so far are the sample
            break
        if page.shape[1] != matrix.shape[1]:
            continue
        if max_targets is not None and total + len(page) > max_targets:
            page = page[: max_targets - total]
            sampled = True
        total += len(page)
        a, b = await asyncio.to_thread(_both, matrix, norms, powers, page, focus, k)
        now += a
        later += b
        if sampled or (max_targets is not None and total >= max_targets):
            sampled = True
            break
    return WhatIf(want, epoch, total, int(stakes[focus]), extra_shannons, now, later, k, sampled)


# The stake plan's estimate: this epoch's targets a page at a time for at most PLAN_BUDGET_S (then
# the pages read are the sample), so that the plan comes in seconds on a network of 10,000 models
# and 86,400 targets an epoch (a 1000-target page against 10,000 models is about 1.5 s of matrix
# work on a loaded 2-core machine); PLAN_TIMEOUT_S guards the whole read.
PLAN_BUDGET_S = 8.0
PLAN_TIMEOUT_S = 30.0


async def stake_plan_whatif(
    session: ChainSession, model_id: str, extra_shannons: int
) -> list[tuple[str, str]]:
    """The "Expected targets" line of a stake plan: what ``extra_shannons`` more stake does to the
    model's share of targets. Never raises: an estimate that cannot be made says why instead."""
    from soma_console.core.chain_errors import soma

    try:
        w = await asyncio.wait_for(
            stake_whatif(session, model_id, extra_shannons, budget_s=PLAN_BUDGET_S), PLAN_TIMEOUT_S
        )
    except UserError:
        return [("Expected targets", "none until the model is active (only active models get targets)")]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # an estimate: the plan stands without it
        reason = "it took too long" if isinstance(exc, TimeoutError) else str(exc).rstrip(".")
        return [("Expected targets", f"not estimated ({reason})")]
    return w.plan_lines(soma)
