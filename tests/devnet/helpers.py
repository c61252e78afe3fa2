"""Shared steps for the devnet tests: every chain interaction goes through the real soma_sdk."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from soma_sdk import Keypair, SomaClient

SHANNONS = 1_000_000_000
BASE_FEE = 1000
WRITE_FEE = 300
EMBEDDING = [0.25, -0.5, 1.0, 2.0]


def failure_kind(exc: BaseException) -> str:
    """The chain's error name from the SDK's message ('… Failure { error: X }')."""
    m = re.search(r"Failure \{ error: (\w+)", str(exc))
    assert m, f"not a transaction failure: {exc}"
    return m.group(1)


async def funded(devnet: Any, soma: float = 10.0) -> Keypair:
    kp = Keypair.generate()
    devnet.fund(kp.address(), soma=soma)
    return kp


def registry_entry(state: SimpleNamespace, model_id: str) -> tuple[str, SimpleNamespace]:
    """(variant, fields) of one model in a system state: ('Pending', namespace(...))."""
    wrapped = vars(state.model_registry.models)[model_id]
    ((variant, fields),) = vars(wrapped.V1).items()
    return variant, fields


async def model_of(client: SomaClient, model_id: str) -> tuple[str, SimpleNamespace]:
    return registry_entry(await client.get_latest_system_state(), model_id)


@dataclass
class Weights:
    """One commit's secrets and what was sent with it."""

    encrypted: bytes
    key: str
    embedding: list[float]
    url: str


def make_weights(
    blob_url: str = "http://127.0.0.1:1/blobs/none", size: int = 2048, embedding: list[float] | None = None
) -> Weights:
    enc, key = SomaClient.encrypt_weights(os.urandom(size))
    return Weights(enc, key, list(embedding or EMBEDDING), f"{blob_url}/blobs/w-{os.urandom(4).hex()}")


async def commit(client: SomaClient, kp: Keypair, model_id: str, w: Weights) -> Any:
    return await client.commit_model(kp, model_id, w.url, w.encrypted, w.key, w.embedding)


async def reveal(client: SomaClient, kp: Keypair, model_id: str, w: Weights) -> Any:
    return await client.reveal_model(kp, model_id, w.key, w.embedding)


def fee(result: Any) -> int:
    return int(result.V1.transaction_fee.total_fee)
