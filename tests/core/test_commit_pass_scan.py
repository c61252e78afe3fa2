"""The single pass's NaN/Inf scan against the check's own scanner, whatever the chunking."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from soma_console.core import weights as W
from soma_console.core.weights.layout import nonfinite_counts
from soma_console.core.weights.pipeline import NonfiniteScan, encrypt_stream
from soma_console.core.weights.safetensors import read_header, validate


def _file(tmp_path: Path) -> Path:
    """Tensors of several float widths at odd offsets (an F16 tensor of odd length shifts every
    later element off its natural alignment), with NaN/Inf in the first, middle and last places."""
    rng = np.random.default_rng(7)
    f16 = rng.standard_normal(333).astype("<f2")
    f16[[0, 100, 332]] = [np.nan, np.inf, -np.inf]
    f32 = rng.standard_normal(501).astype("<f4")
    f32[[1, 250, 500]] = np.nan
    bf16 = rng.integers(0, 0x7F00, 77, dtype="<u2")  # finite bfloat16 bit patterns...
    bf16[[3, 76]] = 0x7FC0  # ...and two NaNs
    i32 = np.arange(9, dtype="<i4")  # not a float: never counted
    f64 = rng.standard_normal(65)
    f64[64] = np.inf
    parts = [("a.f16", "F16", f16), ("b.f32", "F32", f32), ("c.bf16", "BF16", bf16), ("d.i32", "I32", i32)]
    parts.append(("e.f64", "F64", f64))
    header, offset, blobs = {}, 0, []
    for name, dtype, values in parts:
        raw = values.tobytes()
        header[name] = {"dtype": dtype, "shape": [len(values)], "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    path = tmp_path / "odd.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


@pytest.mark.parametrize("chunk", [1, 3, 7, 16, 100, 1000, 4096, 1 << 20])
def test_the_streamed_scan_counts_what_the_check_counts_for_any_chunk_size(
    tmp_path: Path, chunk: int
) -> None:
    path = _file(tmp_path)
    header = read_header(path)
    tensors = validate(header.raw, header.data_len)
    expected = nonfinite_counts(path, header, tensors)
    assert expected == {"a.f16": 3, "b.f32": 3, "c.bf16": 2, "e.f64": 1}
    data = path.read_bytes()
    scan = NonfiniteScan(tensors, header.data_start)
    result = encrypt_stream(io.BytesIO(data), len(data), W.new_key(), scan=scan, chunk_size=chunk)
    assert result.nonfinite == expected
    assert result.size == len(data)


def test_a_clean_file_has_no_findings(tmp_path: Path) -> None:
    values = np.linspace(-1, 1, 1001, dtype="<f4").tobytes()
    text = json.dumps({"w": {"dtype": "F32", "shape": [1001], "data_offsets": [0, len(values)]}}).encode()
    data = struct.pack("<Q", len(text)) + text + values
    path = tmp_path / "clean.safetensors"
    path.write_bytes(data)
    header = read_header(path)
    scan = NonfiniteScan(validate(header.raw, header.data_len), header.data_start)
    sunk: list[bytes] = []
    result = encrypt_stream(
        io.BytesIO(data),
        len(data),
        W.new_key(),
        scan=scan,
        sink=lambda c: sunk.append(bytes(c)),
        chunk_size=64,
    )
    assert result.nonfinite == {}
    sent = b"".join(sunk)  # what the sink saw, in order, is the ciphertext the pass committed to
    assert len(sent) == len(data) and hashlib.blake2b(sent, digest_size=32).digest() == result.out_digest
