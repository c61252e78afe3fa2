"""Data-submission targets: their object, how they are drawn and which models they get.

Follows the chain (protocol version 3), see docs/devnet.md "The economy":

* seed = the first 8 bytes (u64 LE) of Blake2b-256(tx digest ‖ creation number as u64 LE);
* embedding = soma-arrgen's ``normal_array(seed, [dim], 0, 1)`` (f32);
* models = the ``k`` Active models with the lowest ``cosine distance / (√stake share + 1e-10)``,
  best first; with every stake 0 the shares are equal;
* every target copies the current distance threshold and reward per target.

A :class:`Target` serialises to the chain's ``TargetV1`` BCS, which is what GetObject returns
and what the SDK decodes in ``fetch_submission_data``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soma_console.core.bcs import Writer
from soma_console.core.txdata import blake2b256, tensor_bcs
from soma_console.core.txkinds import Manifest

OPEN, FILLED, CLAIMED = "open", "filled", "claimed"
CLAIMABLE = "claimable"
_STATUS_TAGS = {OPEN: 0, FILLED: 1, CLAIMED: 2}


def f32(x: float) -> float:
    """``x`` rounded to the nearest f32, as a Python float."""
    return float(np.float32(x))


def target_seed(tx_digest: bytes, creation_num: int) -> int:
    h = blake2b256(tx_digest + creation_num.to_bytes(8, "little"))
    return int.from_bytes(h[:8], "little")


def target_embedding(seed: int, dim: int) -> tuple[float, ...]:
    import arrgen  # soma-arrgen: the chain's deterministic generator (StdRng + Normal)

    values = np.asarray(arrgen.normal_array(seed, [dim], 0.0, 1.0), dtype=np.float32)
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class Candidate:
    model_id: bytes
    embedding: tuple[float, ...]
    stake: int


class RowCache:
    """Each model's embedding as an f32 row, converted once per embedding (not per draw)."""

    def __init__(self) -> None:
        self._rows: dict[bytes, tuple[tuple[float, ...], np.ndarray]] = {}

    def row(self, model_id: bytes, embedding: tuple[float, ...]) -> np.ndarray:
        cached = self._rows.get(model_id)
        if cached is not None and cached[0] is embedding:
            return cached[1]
        row = np.asarray(embedding, dtype=np.float32)
        self._rows[model_id] = (embedding, row)
        return row


class ActiveModels:
    """The Active models as one matrix, so that drawing a target is one matrix product."""

    def __init__(self, candidates: Sequence[Candidate], rows: RowCache | None = None) -> None:
        sizes = {len(c.embedding) for c in candidates}
        if len(sizes) > 1:
            # A mixed registry (only a store from an older devnet can hold one): nothing to draw.
            candidates = []
            self.dim = -1
        else:
            self.dim = sizes.pop() if sizes else 0
        self.ids = [c.model_id for c in candidates]
        if candidates:
            cache = rows if rows is not None else RowCache()
            self.matrix = np.stack([cache.row(c.model_id, c.embedding) for c in candidates])
            stakes = np.asarray([c.stake for c in candidates], dtype=np.float64)
        else:
            self.matrix = np.zeros((0, 0), dtype=np.float32)
            stakes = np.zeros(0)
        roots = np.sqrt(stakes)
        total = roots.sum()
        share = roots / total if total > 0 else np.full(len(candidates), 1.0 / max(len(candidates), 1))
        self.voting_power = share.astype(np.float32)
        norms = np.linalg.norm(self.matrix, axis=1) if candidates else np.zeros(0)
        self.norms = np.maximum(norms, np.float32(1e-8)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def can_draw(self, dim: int) -> bool:
        """Whether targets of ``dim`` values can be assigned to these models."""
        return bool(self.ids) and self.dim == dim

    def nearest(self, embedding: Sequence[float], k: int) -> tuple[bytes, ...]:
        if not self.ids:
            return ()
        t = np.asarray(embedding, dtype=np.float32)
        t_norm = np.float32(max(float(np.linalg.norm(t)), 1e-8))
        sims = (self.matrix @ t) / (self.norms * t_norm)
        dist = np.float32(1.0) - sims.astype(np.float32)
        score = dist / (self.voting_power + np.float32(1e-10))
        order = np.argsort(score, kind="stable")[: min(k, len(self.ids))]
        return tuple(self.ids[i] for i in order)


@dataclass
class Target:
    target_id: bytes
    embedding: tuple[float, ...]
    model_ids: tuple[bytes, ...]
    distance_threshold: float
    reward_pool: int
    generation_epoch: int
    status: str = OPEN
    fill_epoch: int | None = None
    submitter: bytes | None = None
    winning_model_id: bytes | None = None
    winning_model_owner: bytes | None = None
    bond_amount: int = 0
    winning_manifest: Manifest | None = None
    winning_embedding: tuple[float, ...] | None = None
    winning_distance: float | None = None
    winning_loss: tuple[float, ...] | None = None
    version: int = 1
    previous_transaction: bytes = bytes(32)

    def clone(self) -> Target:
        return dataclasses.replace(self)

    def view_status(self, current_epoch: int) -> str:
        """The status as ListTargets shows it (expired and past-window targets are claimable)."""
        if self.status == OPEN and current_epoch > self.generation_epoch:
            return CLAIMABLE
        if self.status == FILLED and self.fill_epoch is not None and current_epoch >= self.fill_epoch + 2:
            return CLAIMABLE
        return self.status

    def to_bcs(self) -> bytes:
        """``TargetV1`` in the chain's field order."""
        w = Writer().raw(tensor_bcs(self.embedding))
        w.seq(list(self.model_ids), w.raw)
        w.raw(tensor_bcs((self.distance_threshold,)))
        w.u64(self.reward_pool).u64(self.generation_epoch)
        w.uleb(_STATUS_TAGS[self.status])
        if self.status == FILLED:
            w.u64(self.fill_epoch or 0)
        w.option(self.submitter, w.raw)
        w.option(self.winning_model_id, w.raw)
        w.option(self.winning_model_owner, w.raw)
        w.u64(self.bond_amount)
        m = self.winning_manifest
        if m is None:
            w.u8(0)
        else:
            w.u8(1).uleb(0).string(m.url).uleb(0).var_bytes(m.checksum).u64(m.size)
        for tensor in (
            self.winning_embedding,
            None if self.winning_distance is None else (self.winning_distance,),
            self.winning_loss,
        ):
            if tensor is None:
                w.u8(0)
            else:
                w.u8(1).raw(tensor_bcs(tensor))
        w.uleb(0)  # submission_reports: no validators, never any
        return w.to_bytes()

    def digest(self) -> bytes:
        """The object digest: as for owned objects, with ``Owner::Shared { 1 }``."""
        w = Writer().raw(b"Object::").uleb(3).u64(self.version)
        w.var_bytes(self.target_id + self.to_bcs())
        w.uleb(1).u64(1)
        w.var_bytes(self.previous_transaction)
        return blake2b256(w.to_bytes())

    def to_json(self) -> str:
        m = self.winning_manifest
        return json.dumps(
            {
                "embedding": list(self.embedding),
                "models": [x.hex() for x in self.model_ids],
                "threshold": self.distance_threshold,
                "reward": self.reward_pool,
                "gen": self.generation_epoch,
                "status": self.status,
                "fill": self.fill_epoch,
                "submitter": _hex(self.submitter),
                "win_model": _hex(self.winning_model_id),
                "win_owner": _hex(self.winning_model_owner),
                "bond": self.bond_amount,
                "manifest": None if m is None else [m.url, m.checksum.hex(), m.size],
                "win_embedding": None if self.winning_embedding is None else list(self.winning_embedding),
                "win_distance": self.winning_distance,
                "win_loss": None if self.winning_loss is None else list(self.winning_loss),
                "version": self.version,
                "prev": self.previous_transaction.hex(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, target_id: bytes, text: str) -> Target:
        d = json.loads(text)
        m = d["manifest"]
        return cls(
            target_id=target_id,
            embedding=tuple(d["embedding"]),
            model_ids=tuple(bytes.fromhex(x) for x in d["models"]),
            distance_threshold=d["threshold"],
            reward_pool=d["reward"],
            generation_epoch=d["gen"],
            status=d["status"],
            fill_epoch=d["fill"],
            submitter=_unhex(d["submitter"]),
            winning_model_id=_unhex(d["win_model"]),
            winning_model_owner=_unhex(d["win_owner"]),
            bond_amount=d["bond"],
            winning_manifest=None if m is None else Manifest(m[0], bytes.fromhex(m[1]), m[2]),
            winning_embedding=None if d["win_embedding"] is None else tuple(d["win_embedding"]),
            winning_distance=d["win_distance"],
            winning_loss=None if d["win_loss"] is None else tuple(d["win_loss"]),
            version=d["version"],
            previous_transaction=bytes.fromhex(d["prev"]),
        )


def _hex(b: bytes | None) -> str | None:
    return None if b is None else b.hex()


def _unhex(s: str | None) -> bytes | None:
    return None if s is None else bytes.fromhex(s)


@dataclass
class Economy:
    """The emission pool and the target controller's state (part of the system state)."""

    emission_balance: int = 0
    emission_per_epoch: int = 0
    distance_threshold: float = 0.0
    targets_generated_this_epoch: int = 0
    hits_this_epoch: int = 0
    hits_ema: int = 0
    reward_per_target: int = 0
    # All-time total of rewards paid out as coins (claims), for the status view.
    rewards_paid: int = 0

    def copy(self) -> Economy:
        return dataclasses.replace(self)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Economy:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def active_candidates(models: Iterable[tuple[bytes, Any]]) -> list[Candidate]:
    """Every Active model with its embedding and pool balance, in id order."""
    out = [
        Candidate(mid, m.embedding or (), m.staking_pool.soma_balance)
        for mid, m in models
        if m.state == "active"
    ]
    out.sort(key=lambda c: c.model_id)
    return out
