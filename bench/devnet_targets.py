"""Target drawing and ListTargets at network scale, in-process (the engine's own code paths).

    python -m bench.devnet_targets [--models 10000] [--dim 2048] [--targets 20000]

Measures: building the Active-model matrix, drawing one epoch's 20 targets (arrgen embedding +
stake-weighted cosine KNN over every model), one spawn-on-fill draw with the matrix cached, and
one ListTargets page (100 targets with embeddings) out of ``--targets`` live targets.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from soma_console.devnet import target_views
from soma_console.devnet.engine import economy as econ
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.targets import ActiveModels, Candidate, RowCache, Target
from soma_console.devnet.proto import services_pb2 as svc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--targets", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((args.models, args.dim)).astype(np.float32)
    candidates = [
        Candidate(i.to_bytes(32, "big"), tuple(float(x) for x in emb[i]), int(rng.integers(1, 10**12)))
        for i in range(args.models)
    ]
    p = ChainParams(target_embedding_dim=args.dim)
    out: dict[str, float] = {}
    rows = RowCache()
    t0 = time.perf_counter()
    active = ActiveModels(candidates, rows)
    out["build_matrix_first_s"] = time.perf_counter() - t0
    # after an epoch boundary every model object is new but the embeddings are the same tuples
    t0 = time.perf_counter()
    active = ActiveModels(candidates, rows)
    out["build_matrix_again_s"] = time.perf_counter() - t0
    e = econ.genesis_economy(p)
    econ.advance_targets(e, p)
    t0 = time.perf_counter()
    drawn = [
        econ.draw_target(
            e,
            p,
            active,
            seed_digest=bytes(32),
            seed_num=n,
            target_id=n.to_bytes(32, "big"),
            epoch=1,
            tx_digest=bytes(32),
        )
        for n in range(20)
    ]
    out["draw_epoch_20_targets_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    econ.draw_target(
        e, p, active, seed_digest=bytes(32), seed_num=99, target_id=bytes(32), epoch=1, tx_digest=bytes(32)
    )
    out["draw_one_spawn_s"] = time.perf_counter() - t0
    template = drawn[0]
    many = [
        Target(n.to_bytes(32, "big"), template.embedding, template.model_ids, 0.978, 1, n % 50)
        for n in range(args.targets)
    ]
    t0 = time.perf_counter()
    page = target_views.list_targets(svc.ListTargetsRequest(status_filter="open", page_size=100), 49, many)
    out["list_targets_page_s"] = time.perf_counter() - t0
    out["list_targets_page_len"] = len(page.targets)
    print(json.dumps({"models": args.models, "dim": args.dim, "targets": args.targets, **out}, indent=1))
    Path("bench/out").mkdir(parents=True, exist_ok=True)
    Path("bench/out/devnet_targets.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
