"""The devnet's scoring service: ``/scoring.Scoring/Score`` and ``/Health`` on the scoring port.

Same wire format as the chain's service (gRPC framing, BCS bodies; see
:mod:`soma_console.scoring.wire`) and the same computation (:mod:`soma_console.scoring`), so
``soma_sdk.SomaClient.score`` and ``scoring_health`` work against the devnet unchanged.

Errors follow the upstream rule: a message with "must be", "required", "must not", "Checksum"
or "Invalid" in it is ``INVALID_ARGUMENT``, any other failure ``INTERNAL``. Scores run one at a
time on a worker thread of their own, so the chain keeps serving while a model is evaluated.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from soma_console.core.bcs import BcsError
from soma_console.scoring.arch import Arch
from soma_console.scoring.scorer import ScoreError, Scorer
from soma_console.scoring.wire import decode_request, encode_health, encode_response

log = logging.getLogger("soma_console.devnet")

_INVALID_WORDS = ("must be", "required", "must not", "Checksum", "Invalid")
DEFAULT_CACHE_BYTES = 4 << 30
SMALL_MODEL_DIM = 512


def status_for(message: str) -> grpc.StatusCode:
    """The gRPC code upstream's scoring server gives an error with this message."""
    if any(w in message for w in _INVALID_WORDS):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


def _identity(data: bytes) -> bytes:
    return data


class ScoringService:
    """The scorer behind the scoring port; ``handler()`` for the gRPC server, ``close()`` at stop."""

    def __init__(self, arch: Arch, cache_dir: Path, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        # A small model gains nothing from more CPU threads, and on a busy machine they spin
        # against each other (tiny: ~40x slower on two threads of a loaded 2-core box).
        threads = 1 if arch.embedding_dim < SMALL_MODEL_DIM else None
        self.scorer = Scorer(arch, cache_dir, cache_bytes=cache_bytes, cpu_threads=threads)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devnet-scoring")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.scorer.close()

    async def _health(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return encode_health(self.scorer.health())

    async def _score(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            req = decode_request(request)
        except BcsError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid ScoreRequest: {exc}")
            raise  # pragma: no cover - abort raises
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self._pool, self.scorer.score, req)
        except ScoreError as exc:
            message = str(exc)
            await context.abort(status_for(message), message)
            raise  # pragma: no cover
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("devnet: scoring failed")
            message = f"Runtime competition error: {type(exc).__name__}: {exc}"
            await context.abort(grpc.StatusCode.INTERNAL, message)
            raise  # pragma: no cover
        return encode_response(outcome.response())

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: object) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=_identity, response_serializer=_identity
            )

        return grpc.method_handlers_generic_handler(
            "scoring.Scoring", {"Health": unary(self._health), "Score": unary(self._score)}
        )
