"""The ranks of a torch DDP run: which one this process is, its process group, what all ranks agree on.

Every rank builds the same global micro-batch from the same seeded stream and trains on its own
slice, so the data position is one number for the whole job and a DDP run means the same as a
single process with ``gpus`` times the micro-batch.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: its rank among ``world`` ranks (rank 0 is the main one)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(d: Dist, device: torch.device, init_method: str | None) -> None:
    if not d.active:
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=init_method or "env://",
        rank=d.rank,
        world_size=d.world,
        timeout=_dt.timedelta(minutes=30),
    )


def agree_micro_batch(micro_batch: int, d: Dist, device: torch.device) -> int:
    """The smallest probed micro-batch over all ranks (every rank must accumulate the same way)."""
    if not d.active:
        return micro_batch
    t = torch.tensor([micro_batch], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())
