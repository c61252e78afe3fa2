"""After a reveal, check in the background that the revealed weights are what they claim.

The chain itself never checks that the revealed key decrypts the committed weights, so the
reveal always succeeds; the devnet then fetches the manifest URL (streamed, with timeouts),
checks size and checksum, decrypts with the revealed key (AES-256-CTR, zero initial counter)
and parses the safetensors header, without ever holding the file in memory. The result is an
annotation on the registry (``GET /devnet/registry`` on the blob port), nothing more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from soma_console.core.encoding import b58encode
from soma_console.devnet.engine.chain import Engine
from soma_console.devnet.engine.models import Model
from soma_console.devnet.engine.objects import hex_id

log = logging.getLogger("soma_console.devnet")

V1 = {"embedding_dim": 2048, "num_layers": 24, "ffn_dim": 8192, "vocab_size": 264}
_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit
TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)


class _Mismatch(Exception):
    pass


def analyse_header(header: dict[str, Any], data_len: int) -> dict[str, Any]:
    """Validate a safetensors header against the data length; describe the model it holds."""
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    spans = []
    params = 0
    for name, info in tensors.items():
        if not isinstance(info, dict):
            raise ValueError(f"tensor {name} has no description")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPE_BYTES or not isinstance(shape, list) or not isinstance(offsets, list):
            raise ValueError(f"tensor {name} has an invalid description")
        count = 1
        for d in shape:
            if not isinstance(d, int) or d < 0:
                raise ValueError(f"tensor {name} has an invalid shape")
            count *= d
        begin, end = offsets
        if (
            not (isinstance(begin, int) and isinstance(end, int))
            or end - begin != count * _DTYPE_BYTES[dtype]
        ):
            raise ValueError(f"tensor {name}'s byte range does not match its shape")
        spans.append((begin, end))
        params += count
    spans.sort()
    cursor = 0
    for begin, end in spans:
        if begin != cursor:
            raise ValueError("tensor data is not contiguous")
        cursor = end
    if cursor != data_len:
        raise ValueError(f"tensors cover {cursor} bytes but the file holds {data_len}")
    out: dict[str, Any] = {"safetensors": True, "tensors": len(tensors), "parameters": params}
    emb = tensors.get("embedding.weight")
    inner = tensors.get("encoder.layers.0.pwff.linear_inner.weight")
    if emb is not None and len(emb["shape"]) == 2 and inner is not None:
        layers = {
            int(k.split(".")[2])
            for k in tensors
            if k.startswith("encoder.layers.") and k.split(".")[2].isdigit()
        }
        dims = {
            "vocab_size": emb["shape"][0],
            "embedding_dim": emb["shape"][1],
            "num_layers": len(layers),
            "ffn_dim": inner["shape"][1],
        }
        out.update(dims)
        out["architecture"] = "v1" if dims == V1 else "small"
    else:
        out["architecture"] = "unknown"
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
        header = json.loads(bytes(head[8 : 8 + header_len]))
        if not isinstance(header, dict):
            raise ValueError("not safetensors: the header is not a JSON object")
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
