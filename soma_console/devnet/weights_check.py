"""After a reveal, check in the background that the revealed weights are what they claim.

The chain itself never checks that the revealed key decrypts the committed weights, so the
reveal always succeeds; the devnet then fetches the manifest URL (streamed, with timeouts),
checks size and checksum, decrypts with the revealed key (AES-256-CTR, zero initial counter)
and parses the safetensors header, without ever holding the file in memory. The result is an
annotation on the registry (``GET /devnet/registry`` on the blob port), nothing more.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from soma_console.core.weights.layout import infer_dims, v1_dims
from soma_console.core.weights.safetensors import MAX_HEADER, decode_header_json, validate
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.models import Model
from soma_console.devnet.engine.objects import hex_id
from soma_console.encoding import b58encode

log = logging.getLogger("soma_console.devnet")


def _described(dims: dict[str, int]) -> dict[str, int]:
    """The devnet registry's names for the dimensions."""
    return {
        "vocab_size": dims["vocab"],
        "embedding_dim": dims["embedding_dim"],
        "num_layers": dims["num_layers"],
        "ffn_dim": dims["ffn"],
    }


V1 = _described(v1_dims())
TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


class _Mismatch(Exception):
    pass


def analyse_header(header: dict[str, Any], data_len: int) -> dict[str, Any]:
    """Validate a safetensors header against the data length; describe the model it holds.

    Looser than ``soma-console weights check``: the devnet only annotates what it was given, so
    any file whose dimensions can be read is described, whether or not every tensor is there.
    """
    tensors = validate(header, data_len)
    out: dict[str, Any] = {
        "safetensors": True,
        "tensors": len(tensors),
        "parameters": sum(t.count for t in tensors.values()),
    }
    dims = infer_dims(tensors)
    if dims is None:
        out["architecture"] = "unknown"
        return out
    described = _described(dims)
    out.update(described)
    out["architecture"] = "v1" if described == V1 else "small"
    return out


def check_weights(url: str, size: int, checksum: bytes, key: bytes) -> dict[str, Any]:
    """Fetch, verify and inspect one weights file. Never raises; the result says what happened."""
    result: dict[str, Any] = {"url": url, "checked_at_ms": int(time.time() * 1000)}
    decryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).decryptor()
    hasher = hashlib.blake2b(digest_size=32)
    head = bytearray()
    header_len: int | None = None
    header_error: str | None = None
    total = 0
    try:
        with (
            httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code != 200:
                raise _Mismatch(f"GET {url} answered HTTP {resp.status_code}")
            for chunk in _chunks(resp):
                total += len(chunk)
                if total > size:
                    raise _Mismatch(f"the file is larger than the committed {size} bytes")
                hasher.update(chunk)
                plain = decryptor.update(chunk)
                if header_error is None and (header_len is None or len(head) < 8 + header_len):
                    head += plain[: 8 + (header_len or MAX_HEADER) - len(head)]
                    if header_len is None and len(head) >= 8:
                        header_len = struct.unpack("<Q", bytes(head[:8]))[0]
                        if header_len > MAX_HEADER:
                            header_error = "not safetensors: the header length is implausible"
    except _Mismatch as exc:
        return {**result, "status": "mismatch", "error": str(exc)}
    except httpx.HTTPError as exc:
        return {**result, "status": "unreachable", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["size_ok"] = total == size
    result["checksum_ok"] = hasher.digest() == checksum
    if not result["size_ok"] or not result["checksum_ok"]:
        return {
            **result,
            "status": "mismatch",
            "error": f"got {total} bytes with checksum {b58encode(hasher.digest())}",
        }
    try:
        if header_error is not None:
            raise ValueError(header_error)
        if header_len is None or len(head) < 8 + header_len:
            raise ValueError("not safetensors: the file is shorter than its header")
        header = decode_header_json(bytes(head[8 : 8 + header_len]))
        info = analyse_header(header, total - 8 - header_len)
    except (ValueError, UnicodeDecodeError) as exc:
        return {**result, "status": "not_safetensors", "safetensors": False, "error": str(exc)[:300]}
    return {**result, "status": "ok", **info}


def _chunks(resp: httpx.Response) -> Iterator[bytes]:
    yield from resp.iter_bytes(1024 * 1024)


class WeightsChecker:
    """One background thread working through reveal checks, so a big file never stalls the node."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[tuple[bytes, Model] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="devnet-weights-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, model_id: bytes, model: Model) -> None:
        if model.manifest is None or model.decryption_key is None or model.weights_commitment is None:
            return
        if (model_id, model.weights_commitment) in self.engine.weights_checks():
            return
        self.idle.clear()
        self._queue.put((model_id, model))

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            model_id, model = job
            manifest = model.manifest
            assert manifest is not None
            assert model.decryption_key is not None
            assert model.weights_commitment is not None
            result = check_weights(manifest.url, manifest.size, manifest.checksum, model.decryption_key)
            log.info("devnet: weights of %s: %s", hex_id(model_id), result.get("status"))
            try:
                self.engine.record_weights_check(model_id, model.weights_commitment, result)
            except Exception:  # the engine may be closing
                log.exception("devnet: could not record a weights check")
            if self._queue.empty():
                self.idle.set()


def registry_view(engine: Engine) -> dict[str, Any]:
    """The registry as JSON, with each model's weights check: the devnet's own status page."""
    snap = engine.snapshot()
    checks = engine.weights_checks()
    models: dict[str, Any] = {}
    for model_id, m in sorted(snap.models.items()):
        entry: dict[str, Any] = {
            "state": m.state,
            "owner": m.owner.hex(),
            "stake": m.stake,
            "commission_rate": m.commission_rate,
            "next_epoch_commission_rate": m.next_epoch_commission_rate,
            "create_epoch": m.create_epoch,
            "commit_epoch": m.commit_epoch,
            "manifest": None
            if m.manifest is None
            else {"url": m.manifest.url, "size": m.manifest.size, "checksum": b58encode(m.manifest.checksum)},
            "pending_update": None
            if m.pending_update is None
            else {"commit_epoch": m.pending_update.commit_epoch, "url": m.pending_update.manifest.url},
            "weights_check": None
            if m.weights_commitment is None
            else checks.get((model_id, m.weights_commitment)),
        }
        models[hex_id(model_id)] = entry
    return {
        "epoch": snap.meta.epoch,
        "epoch_start_ms": snap.meta.epoch_start_ms,
        "supply": engine.supply(),
        "models": models,
    }
