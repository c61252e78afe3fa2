"""Fill a devnet with active models through the real SDK, as fast as the node takes them.

    from bench.active_models import fill_active
    ids = await fill_active(rpc_url, admin_url, fund, count=1000)

Each model is created, committed (a small encrypted file, a 2048-float embedding) and, after
one epoch boundary, revealed: every step a real signed transaction through ``soma_sdk``.
``signers`` keys work in parallel (one key's transactions share its gas coins, so each key
works through its share in order). ``fund(address, soma)`` mints one coin for an address (the
devnet's admin Fund call); ``advance()`` closes the epoch.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

EMBEDDING_DIM = 2048
STAKE_SOMA = 1.0  # the chain's minimum


@dataclass
class Filled:
    model_ids: list[str]
    commit_epoch: int
    reveal_epoch: int


async def fill_active(
    rpc_url: str,
    fund: Callable[[str, float], object],
    advance: Callable[[], int],
    *,
    count: int,
    signers: int = 16,
    weights_url: str = "http://127.0.0.1:1/blobs/filler",
    progress: Callable[[str], None] | None = None,
) -> Filled:
    from soma_sdk import Keypair, SomaClient

    say = progress or (lambda _line: None)
    signers = max(1, min(signers, count))
    shares = [count // signers + (1 if i < count % signers else 0) for i in range(signers)]
    keys = [Keypair.generate() for _ in range(signers)]
    for kp, share in zip(keys, shares, strict=True):
        # One coin per key: create_model takes the stake from the gas coin it picks.
        fund(kp.address(), share * (STAKE_SOMA * 1.01) + 2.0)
    encrypted, key = SomaClient.encrypt_weights(os.urandom(256))
    rng = random.Random(7)
    embeddings = [[rng.uniform(-1, 1) for _ in range(EMBEDDING_DIM)] for _ in range(8)]
    owned: list[list[str]] = [[] for _ in keys]

    async def create_and_commit(i: int) -> int:
        client = await SomaClient(rpc_url=rpc_url)
        epoch = 0
        for n in range(shares[i]):
            model_id = await client.create_model(keys[i], 1000, STAKE_SOMA)
            owned[i].append(model_id)
            emb = embeddings[(i + n) % len(embeddings)]
            result = await client.commit_model(keys[i], model_id, weights_url, encrypted, key, emb)
            epoch = int(result.V1.executed_epoch)
        return epoch

    async def reveal_all(i: int) -> None:
        client = await SomaClient(rpc_url=rpc_url)
        for n, model_id in enumerate(owned[i]):
            await client.reveal_model(keys[i], model_id, key, embeddings[(i + n) % len(embeddings)])

    epochs = await asyncio.gather(*(create_and_commit(i) for i in range(signers)))
    commit_epoch = max(epochs)
    if min(epochs) != commit_epoch:
        raise RuntimeError(
            "the epoch changed while the commits were sent; use a chain that advances on request"
        )
    say(f"{count} models created and committed in epoch {commit_epoch}")
    reveal_epoch = advance()
    await asyncio.gather(*(reveal_all(i) for i in range(signers)))
    say(f"{count} models revealed in epoch {reveal_epoch}")
    return Filled([m for ids in owned for m in ids], commit_epoch, reveal_epoch)
