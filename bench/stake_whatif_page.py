"""Stake what-if at network size: one 1000-target page against 10,000 active models (2048 values).

    python -m bench.stake_whatif_page [--models 10000] [--targets 1000] [--dim 2048]

Random embeddings and stakes; times the matrix work the estimate does per page (the distances once,
then a partial sort for the stake as it is and with the addition), which the console's stake plan
runs in a worker thread until its time budget is spent; and the read of the active set itself
(a system state message with every model's embedding, decoded into the matrix).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from soma_console.core.stake_whatif import _both, _power


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=2048)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(args.models, args.dim)).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1).astype(np.float32)
    stakes = rng.uniform(1, 100, args.models) * 1e9
    after = stakes.copy()
    after[5] += 50e9
    powers = (_power(stakes), _power(after))
    page = rng.normal(size=(args.targets, args.dim)).astype(np.float32)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        _both(matrix, norms, powers, page, 5, 3)
        runs.append(time.perf_counter() - t0)
    out = {**vars(args), "page_s_best": round(min(runs), 2), "page_s_runs": [round(r, 2) for r in runs]}
    out.update(_active_set_read(matrix, stakes))
    print(json.dumps(out))


def _active_set_read(matrix: np.ndarray, stakes: np.ndarray) -> dict[str, float]:
    """The active set as the what-if reads it: a system state message with every model (encoded
    here, in-process), decoded and turned into the matrix (``active_set``, a worker thread)."""
    import asyncio
    from types import SimpleNamespace

    from soma_console.core.stake_whatif import active_set
    from soma_console.devnet.proto import services_pb2 as svc

    resp = svc.GetEpochResponse()
    registry = resp.epoch.system_state.model_registry
    for i, (row, stake) in enumerate(zip(matrix, stakes, strict=True)):
        entry = registry.models[f"0x{i:064x}"]
        entry.state = "active"
        entry.embedding.extend(row.tolist())
        entry.staking_pool.soma_balance = int(stake)
    raw = resp.SerializeToString()

    async def state_bytes() -> bytes:
        return raw

    reader = SimpleNamespace(system_state_bytes=state_bytes)
    session = SimpleNamespace(reader=reader, profile=SimpleNamespace(rpc_url="-"))
    t0 = time.perf_counter()
    ids, got, _ = asyncio.run(active_set(session))  # type: ignore[arg-type]
    assert got.shape == matrix.shape and len(ids) == len(matrix)
    return {"state_mib": round(len(raw) / 2**20, 1), "active_set_s": round(time.perf_counter() - t0, 2)}


if __name__ == "__main__":
    main()
