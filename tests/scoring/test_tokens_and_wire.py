"""The tokenizer against soma_models' reference tokenizer; the BCS messages byte for byte."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from soma_models.v1.tokenizer import tokenize as reference_tokenize

from soma_console.core.bcs import BcsError
from soma_console.encoding import uleb128
from soma_console.scoring.tokens import tokenize
from soma_console.scoring.wire import (
    ModelManifest,
    ScoreRequest,
    ScoreResponse,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from soma_console.secrets import Secret


@pytest.mark.parametrize("size", [1, 7, 1023, 1024, 1025, 2048, 3000, 16 * 1024 + 5])
def test_tokenize_matches_the_reference(size):
    data = os.urandom(size)
    ours = tokenize(data)
    ref = reference_tokenize(data, 1024)
    assert len(ours) == len(ref)
    np.testing.assert_array_equal(ours.token_ids, np.array([s.token_ids for s in ref]))
    np.testing.assert_array_equal(ours.targets, np.array([s.targets for s in ref]))
    np.testing.assert_array_equal(ours.pos_ids, np.array([s.pos_ids for s in ref]))


def test_batches_are_sixteen_sequences_in_order():
    seqs = tokenize(bytes(range(256)) * 4 * 17)  # 17 full sequences
    sizes = [b[0].shape[0] for b in seqs.batches()]
    assert sizes == [16, 1]
    assert seqs.batch_count() == 2
    last_tokens, _, last_pos = list(seqs.batches())[1]
    assert last_pos[0, 0] == 16 * 1024  # absolute offsets, not 0..S-1
    assert last_tokens[0, 0] == 0


def _string(text: str) -> bytes:
    raw = text.encode()
    return uleb128(len(raw)) + raw


def test_request_layout_is_bcs_in_field_order():
    key = "1" * 32
    req = ScoreRequest(
        data_url="http://h/d",
        data_checksum="CS",
        data_size=5,
        models=(
            ModelManifest("http://h/m", "MC", 9, Secret(key, label="decryption key")),
            ModelManifest("u", "c", 1),
        ),
        target_embedding=(1.0, -2.5),
        seed=7,
    )
    expected = (
        _string("http://h/d")
        + _string("CS")
        + struct.pack("<Q", 5)
        + b"\x02"
        + _string("http://h/m")
        + _string("MC")
        + struct.pack("<Q", 9)
        + b"\x01"
        + _string(key)
        + _string("u")
        + _string("c")
        + struct.pack("<Q", 1)
        + b"\x00"
        + b"\x02"
        + struct.pack("<ff", 1.0, -2.5)  # f32 bit patterns as u32 LE: the same bytes
        + struct.pack("<Q", 7)
    )
    assert encode_request(req) == expected
    back = decode_request(expected)
    assert back.models[0].decryption_key is not None
    assert back.models[0].decryption_key.reveal() == key
    assert back.target_embedding == (1.0, -2.5)
    assert key not in repr(back)


def test_response_round_trip_and_trailing_bytes_refused():
    resp = ScoreResponse(winner=2, loss_score=(4.5,), embedding=(0.25, -1.0, 3.0), distance=(0.75,))
    raw = encode_response(resp)
    assert raw[:8] == struct.pack("<Q", 2)
    assert decode_response(raw) == resp
    with pytest.raises(BcsError):
        decode_response(raw + b"\x00")
