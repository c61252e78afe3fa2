"""Fixed inputs shared by the scoring tests: tiny models, data of two batches, a target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soma_console.devnet.node import DevnetConfig, DevnetNode
from tests.scoring.reference import RefResult, reference_score, tiny_weights

SEED = 3


def _data() -> bytes:
    # 16 full sequences and a short 17th: two batches, the second with EOS and PAD.
    rng = np.random.default_rng(11)
    text = b"the model with the lowest loss wins the target. " * 200
    noise = rng.integers(0, 256, 16 * 1024 + 300 - len(text), dtype=np.uint8).tobytes()
    return text + noise


@pytest.fixture(scope="session")
def score_inputs() -> dict:
    rng = np.random.default_rng(5)
    return {
        "data": _data(),
        "weights": [tiny_weights(s) for s in (101, 202, 303)],
        "target": [float(x) for x in rng.normal(size=64).astype(np.float32)],
        "seed": SEED,
    }


@pytest.fixture(scope="session")
def reference(score_inputs) -> RefResult:
    i = score_inputs
    return reference_score(i["data"], i["weights"], i["target"], i["seed"])


def start_tiny_devnet(state_dir: Path) -> DevnetNode:
    """An in-process devnet on free ports with the tiny model preset, epochs advanced by hand."""
    node = DevnetNode(
        DevnetConfig(
            state_dir=state_dir,
            rpc_port=0,
            faucet_port=0,
            scoring_port=0,
            admin_port=0,
            blob_port=0,
            epoch_seconds=0,
            check_weights=False,
            model_preset="tiny",
        )
    )
    node.start()
    return node
