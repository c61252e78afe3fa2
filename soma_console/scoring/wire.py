"""The BCS messages of ``/scoring.Scoring/Score`` and ``/Health``.

The scoring service is gRPC with BCS bodies, not protobuf. Field order:

* ``ScoreRequest { data_url: String, data_checksum: String (Base58 Blake2b-256), data_size: u64,
  model_manifests: Vec<{ url: String, checksum: String, size: u64, decryption_key:
  Option<String> (Base58, 32 bytes) }>, target_embedding: Vec<u32> (f32 bits), seed: u64 }``
* ``ScoreResponse { winner: u64, loss_score: Vec<u32>, embedding: Vec<u32>, distance: Vec<u32> }``
  (each ``Vec<u32>`` holds f32 bit patterns).
* ``HealthRequest {}`` (zero bytes) → ``HealthResponse { ok: bool }``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from soma_console.core.bcs import Reader, Writer
from soma_console.secrets import Secret


@dataclass(frozen=True)
class ModelManifest:
    url: str
    checksum: str
    size: int
    decryption_key: Secret | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ScoreRequest:
    data_url: str
    data_checksum: str
    data_size: int
    models: tuple[ModelManifest, ...]
    target_embedding: tuple[float, ...]
    seed: int = 0


@dataclass(frozen=True)
class ScoreResponse:
    winner: int
    loss_score: tuple[float, ...]
    embedding: tuple[float, ...]
    distance: tuple[float, ...]


def _f32_bits(values: Sequence[float]) -> list[int]:
    return list(struct.unpack(f"<{len(values)}I", struct.pack(f"<{len(values)}f", *values)))


def _from_bits(bits: Sequence[int]) -> tuple[float, ...]:
    return struct.unpack(f"<{len(bits)}f", struct.pack(f"<{len(bits)}I", *bits))


def _write_f32s(w: Writer, values: Sequence[float]) -> None:
    w.seq(_f32_bits(values), w.u32)


def _read_f32s(r: Reader) -> tuple[float, ...]:
    return _from_bits(r.seq(r.u32))


def encode_request(req: ScoreRequest) -> bytes:
    w = Writer().string(req.data_url).string(req.data_checksum).u64(req.data_size)

    def manifest(m: ModelManifest) -> None:
        w.string(m.url).string(m.checksum).u64(m.size)
        key = m.decryption_key
        w.option(None if key is None else str(key.reveal()), w.string)

    w.seq(list(req.models), manifest)
    _write_f32s(w, req.target_embedding)
    return w.u64(req.seed).to_bytes()


def decode_request(data: bytes) -> ScoreRequest:
    r = Reader(data)
    data_url, checksum, size = r.string(), r.string(), r.u64()

    def manifest() -> ModelManifest:
        url, sum_, n = r.string(), r.string(), r.u64()
        key = r.option(r.string)
        return ModelManifest(url, sum_, n, None if key is None else Secret(key, label="decryption key"))

    models = tuple(r.seq(manifest))
    target = _read_f32s(r)
    seed = r.u64()
    r.finish()
    return ScoreRequest(data_url, checksum, size, models, target, seed)


def encode_response(resp: ScoreResponse) -> bytes:
    w = Writer().u64(resp.winner)
    _write_f32s(w, resp.loss_score)
    _write_f32s(w, resp.embedding)
    _write_f32s(w, resp.distance)
    return w.to_bytes()


def decode_response(data: bytes) -> ScoreResponse:
    r = Reader(data)
    winner = r.u64()
    loss, emb, dist = _read_f32s(r), _read_f32s(r), _read_f32s(r)
    r.finish()
    return ScoreResponse(winner, loss, emb, dist)


def encode_health(ok: bool) -> bytes:
    return Writer().u8(1 if ok else 0).to_bytes()
