"""A whole score, end to end: fetch and verify, decrypt, evaluate every model, pick the winner.

:class:`Scorer` is what the devnet's scoring service runs for each ``Score`` request, and what a
local command can call with files it already has (:meth:`Scorer.score_files`). Torch is imported
on first use, not with this module.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soma_console.errors import UserError
from soma_console.scoring.arch import Arch
from soma_console.scoring.blobcache import DEFAULT_MAX_BYTES, BlobCache, BlobError, parse_checksum
from soma_console.scoring.tokens import tokenize
from soma_console.scoring.wire import ModelManifest, ScoreRequest, ScoreResponse
from soma_console.secrets import Secret

log = logging.getLogger("soma_console.scoring")

DEFAULT_MAX_DATA_BYTES = 64 << 20  # the chain accepts 1 MiB submissions; room for experiments
DEFAULT_MODEL_MEMORY = 6 << 30
MAX_MODELS = 32  # a target names 3; more is not a request the chain's clients make


class ScoreError(Exception):
    """A score that cannot be computed; ``str()`` is one sentence for the caller."""


@dataclass(frozen=True)
class ScoreOutcome:
    """Every model's loss, the winner's embedding and its distance to the target."""

    winner: int
    losses: tuple[float, ...]
    embeddings: tuple[np.ndarray, ...]  # every model's, in request order
    distance: float
    tokens: int
    seconds: float

    @property
    def loss(self) -> float:
        return self.losses[self.winner]

    @property
    def embedding(self) -> np.ndarray:
        return self.embeddings[self.winner]

    def response(self) -> ScoreResponse:
        """What the chain's scoring service answers: the winner's loss, embedding and distance."""
        return ScoreResponse(
            winner=self.winner,
            loss_score=(self.loss,),
            embedding=tuple(float(x) for x in self.embedding),
            distance=(self.distance,),
        )


def _key_bytes(key: Secret, index: int) -> bytes:
    from soma_console.core.weights.keys import key_from_b58, raw_key

    try:
        return raw_key(key_from_b58(key))
    except UserError:
        raise ScoreError(f"Invalid decryption key for model {index}: not Base58 text of 32 bytes") from None


def plaintext_weights(cache: BlobCache, m: ModelManifest, what: str, index: int = 0) -> Path:
    """The verified (and, with a key, decrypted) weights of ``m``, cached by checksum."""
    blob = cache.fetch(m.url, m.checksum, m.size, what)
    if m.decryption_key is None:
        return blob
    key = _key_bytes(m.decryption_key, index)
    name = hashlib.blake2b(parse_checksum(m.checksum, "") + key, digest_size=16).hexdigest()

    def decrypt(dst: Path) -> None:
        from soma_console.core.weights.stream import decrypt_file

        with cache.pinned(blob):
            decrypt_file(blob, dst, Secret(key, label="decryption key"), expected_commitment=m.checksum)

    return cache.derive(f"{name}.safetensors", decrypt)


class Scorer:
    def __init__(
        self,
        arch: Arch,
        cache_dir: Path,
        *,
        cache_bytes: int = DEFAULT_MAX_BYTES,
        device: str | None = None,
        max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
        model_memory: int = DEFAULT_MODEL_MEMORY,
        cache: BlobCache | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        self.arch = arch
        self.cache = cache or BlobCache(cache_dir, max_bytes=cache_bytes)
        self.max_data_bytes = max_data_bytes
        self.model_memory = model_memory
        self._device_name = device
        self._cpu_threads = cpu_threads
        self._device: Any = None
        self._noise: Any = None
        self._models: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._model_bytes = 0
        self._compute = threading.Lock()
        self._fetchers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="scoring-fetch")
        self.loads = 0  # weights files loaded into a model since start

    def close(self) -> None:
        self._fetchers.shutdown(wait=False, cancel_futures=True)
        self.cache.close()
        self._models.clear()

    @staticmethod
    def health() -> bool:
        """True when this process can score (torch and the model code import)."""
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("torch", "soma_models", "arrgen"))

    # -- requests from the wire -----------------------------------------------------------------

    def check(self, req: ScoreRequest) -> None:
        """Refuse a request that cannot be scored, before anything is downloaded."""
        if not req.models:
            raise ScoreError("At least one model manifest is required")
        if len(req.models) > MAX_MODELS:
            raise ScoreError(f"model_manifests must be at most {MAX_MODELS} models, got {len(req.models)}")
        if not req.target_embedding:
            raise ScoreError("Target embedding must not be empty")
        if len(req.target_embedding) != self.arch.embedding_dim:
            raise ScoreError(
                f"Invalid target embedding: it has {len(req.target_embedding)} values, the "
                f"{self.arch.name} models' embeddings have {self.arch.embedding_dim}"
            )
        if req.data_size == 0:
            raise ScoreError("data_size must be positive: there is nothing to score")
        if req.data_size > self.max_data_bytes:
            raise ScoreError(f"data_size must be at most {self.max_data_bytes} bytes, got {req.data_size}")
        parse_checksum(req.data_checksum, "the data")
        for i, m in enumerate(req.models):
            parse_checksum(m.checksum, f"model {i}")
            if m.decryption_key is not None:
                _key_bytes(m.decryption_key, i)

    def score(self, req: ScoreRequest) -> ScoreOutcome:
        """Download, verify, decrypt and evaluate; raises :class:`ScoreError` with one sentence."""
        try:
            self.check(req)
            data_job = self._fetchers.submit(
                self.cache.fetch, req.data_url, req.data_checksum, req.data_size, "the data"
            )
            model_jobs = [self._fetchers.submit(self._plaintext, i, m) for i, m in enumerate(req.models)]
            data_path = data_job.result()
            weights = [job.result() for job in model_jobs]
        except BlobError as exc:
            raise ScoreError(str(exc)) from None
        with self.cache.pinned(data_path, *weights):
            data = data_path.read_bytes()
            return self._run(data, [(p.name, p) for p in weights], req.target_embedding, req.seed)

    def _plaintext(self, index: int, m: ModelManifest) -> Path:
        return plaintext_weights(self.cache, m, f"model {index}", index)

    # -- local files ----------------------------------------------------------------------------

    def score_files(
        self, data: bytes, weights: Sequence[Path], target: Sequence[float], seed: int = 0
    ) -> ScoreOutcome:
        """Score plaintext safetensors files on ``data`` (no download, no decryption)."""
        if not weights:
            raise ScoreError("At least one weights file is required")
        if len(target) != self.arch.embedding_dim:
            raise ScoreError(
                f"Invalid target embedding: it has {len(target)} values, the "
                f"{self.arch.name} models' embeddings have {self.arch.embedding_dim}"
            )
        sources = [(f"file:{Path(p).resolve()}:{Path(p).stat().st_mtime_ns}", Path(p)) for p in weights]
        return self._run(bytes(data), sources, target, seed)

    # -- evaluation -----------------------------------------------------------------------------

    def _ensure_torch(self) -> None:
        if self._device is None:
            from soma_console.scoring.compute import NoiseTable, pick_device

            self._device = pick_device(self._device_name)
            if self._device.type == "cpu" and self._cpu_threads:
                import torch

                # process-wide; small models run far faster on one thread of a busy machine
                torch.set_num_threads(self._cpu_threads)
            self._noise = NoiseTable()
            log.info("scoring: %s models on %s", self.arch.name, self._device)

    def _model(self, name: str, path: Path, index: int) -> Any:
        from soma_console.scoring.compute import WeightsError, load_model

        hit = self._models.get(name)
        if hit is not None:
            self._models.move_to_end(name)
            return hit[0]
        try:
            model = load_model(self.arch, path, self._device)
        except WeightsError as exc:
            raise ScoreError(f"model {index}: {exc}") from None
        self.loads += 1
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        self._models[name] = (model, size)
        self._model_bytes += size
        while self._model_bytes > self.model_memory and len(self._models) > 1:
            _, (_, old) = self._models.popitem(last=False)
            self._model_bytes -= old
        return model

    def _run(
        self, data: bytes, sources: list[tuple[str, Path]], target: Sequence[float], seed: int
    ) -> ScoreOutcome:
        from soma_console.scoring.compute import cosine_distance, evaluate, pick_winner

        if not data:
            raise ScoreError("the data is empty: there is nothing to score")
        seqs = tokenize(data)
        with self._compute:
            self._ensure_torch()
            started = time.perf_counter()
            results = []
            for i, (name, path) in enumerate(sources):
                model = self._model(name, path, i)
                dim = self.arch.embedding_dim
                results.append(evaluate(model, seqs, seed, self._device, self._noise, dim))
            losses = tuple(r.loss for r in results)
            winner = pick_winner(list(losses))
            emb = results[winner].embedding
            distance = cosine_distance(emb, np.asarray(target, dtype=np.float32))
            seconds = time.perf_counter() - started
        log.info(
            "scoring: %d bytes, %d models, winner %d (loss %.4f, distance %.4f) in %.2fs",
            len(data),
            len(sources),
            winner,
            losses[winner],
            distance,
            seconds,
        )
        embeddings = tuple(r.embedding for r in results)
        return ScoreOutcome(winner, losses, embeddings, distance, seqs.token_ids.size, seconds)
