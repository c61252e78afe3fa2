"""What-if for stake: how a model's share of this epoch's targets would change with more stake.

The chain assigns each target to the ``k`` active models with the lowest
``cosine distance / (√stake / Σ√stake + 1e-10)``. Replaying that rule over this epoch's targets
(their embeddings, read page by page) with the model's stake as it is and with ``+extra``
gives the number of targets it was, and would have been, assigned. The targets of the next epoch
are drawn at random, so the share is an estimate of the expected share, not a promise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soma_console.core.chain import ChainSession
from soma_console.errors import UserError

MODELS_PER_TARGET = 3  # the chain's target_models_per_target


@dataclass(frozen=True)
class WhatIf:
    model_id: str
    epoch: int
    targets: int
    stake_shannons: int
    extra_shannons: int
    assigned_now: int
    assigned_after: int

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


async def stake_whatif(session: ChainSession, model_id: str, extra_shannons: int) -> WhatIf:
    want = model_id.lower() if model_id.lower().startswith("0x") else "0x" + model_id.lower()
    active: Sequence[Any] = await session.call("get_active_models")
    ids = [str(m.model_id).lower() for m in active]
    if want not in ids:
        raise UserError(f"model {want} is not active, so it is assigned no targets; stake counts once it is.")
    focus = ids.index(want)
    matrix = np.asarray([list(m.embedding) for m in active], dtype=np.float32)
    norms = np.maximum(np.linalg.norm(matrix, axis=1), np.float32(1e-8)).astype(np.float32)
    stakes = np.asarray([int(m.stake) for m in active], dtype=np.float64)
    after = stakes.copy()
    after[focus] += extra_shannons
    power_now, power_after = _power(stakes), _power(after)
    epoch = (await session.snapshot()).epoch
    total = now = later = 0
    async for page in _target_embeddings(session, epoch):
        if page.shape[1] != matrix.shape[1]:
            continue
        total += len(page)
        now += assigned(matrix, norms, power_now, page, focus, MODELS_PER_TARGET)
        later += assigned(matrix, norms, power_after, page, focus, MODELS_PER_TARGET)
    return WhatIf(want, epoch, total, int(stakes[focus]), extra_shannons, now, later)
