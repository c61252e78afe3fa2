"""The weights pipeline against the SDK it must match byte for byte, and against real checkpoints."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from soma_sdk import SomaClient

from soma_console.core import weights as W
from soma_console.encoding import b58encode
from soma_console.errors import UserError
from soma_console.secrets import Secret
from soma_console.training.spec import TINY
from tests.devnet.helpers import funded, model_of
from tests.weights_helpers import TINY_DIMS, tiny_model, write_tiny_checkpoint

CHUNK = 64


def _sdk(data: bytes, key: Secret) -> tuple[bytes, str]:
    enc, returned_key = SomaClient.encrypt_weights(data, key=W.key_to_b58(key).reveal())
    assert returned_key == W.key_to_b58(key).reveal()
    return enc, SomaClient.commitment(enc)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# Encryption: byte-identical to the SDK
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3])
def test_encrypt_matches_the_sdk_at_every_boundary(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src, dst = tmp_path / "w.safetensors", tmp_path / "w.enc"
    src.write_bytes(data)
    key = W.new_key()
    result = W.encrypt_file(src, dst, key, chunk_size=CHUNK)
    enc, commitment = _sdk(data, key)
    assert dst.read_bytes() == enc
    assert result.commitment == commitment
    assert result.checksum == hashlib.blake2b(enc, digest_size=32).digest()
    assert (result.size, result.source_size) == (size, size)
    assert result.source_digest == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_several_megabytes_with_the_default_chunk(tmp_path: Path) -> None:
    data = os.urandom(3 * W.DEFAULT_CHUNK + 12345)
    src, dst = tmp_path / "big", tmp_path / "big.enc"
    src.write_bytes(data)
    key = W.new_key()
    seen: list[tuple[int, int]] = []
    result = W.encrypt_file(src, dst, key, progress=lambda done, total: seen.append((done, total)))
    enc, commitment = _sdk(data, key)
    assert dst.read_bytes() == enc and result.commitment == commitment
    assert seen[-1] == (len(data), len(data)) and len(seen) == 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=4000), chunk=st.integers(min_value=1, max_value=600))
def test_any_size_and_any_chunk_size_give_the_sdk_bytes(tmp_path: Path, data: bytes, chunk: int) -> None:
    src, dst, back = tmp_path / "p", tmp_path / "e", tmp_path / "d"
    src.write_bytes(data)
    key = W.new_key()
    result = W.encrypt_file(src, dst, key, chunk_size=chunk)
    enc, commitment = _sdk(data, key)
    assert dst.read_bytes() == enc and result.commitment == commitment
    assert W.decrypt_file(dst, back, key, chunk_size=max(1, chunk // 2 + 1)) == len(data)
    assert back.read_bytes() == data


def test_decrypt_round_trip_verifies_the_commitment(tmp_path: Path) -> None:
    data = os.urandom(1000)
    (tmp_path / "p").write_bytes(data)
    key = W.new_key()
    result = W.encrypt_file(tmp_path / "p", tmp_path / "e", key, chunk_size=100)
    # the SDK's own decryption agrees with our ciphertext
    assert SomaClient.decrypt_weights((tmp_path / "e").read_bytes(), W.key_to_b58(key).reveal()) == data
    size = W.decrypt_file(tmp_path / "e", tmp_path / "d", key, expected_commitment=result.commitment)
    assert size == 1000 and (tmp_path / "d").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o600
    # a ciphertext that is not the committed one is refused and nothing is written
    tampered = bytearray((tmp_path / "e").read_bytes())
    tampered[500] ^= 1
    (tmp_path / "t").write_bytes(bytes(tampered))
    with pytest.raises(UserError, match="does not match the recorded commitment"):
        W.decrypt_file(tmp_path / "t", tmp_path / "out", key, expected_commitment=result.commitment)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_file_digest_streams_blake2b(tmp_path: Path) -> None:
    data = os.urandom(W.DEFAULT_CHUNK + 7)
    (tmp_path / "f").write_bytes(data)
    assert W.file_digest(tmp_path / "f") == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert W.file_digest(tmp_path / "f", chunk_size=4099) == hashlib.blake2b(data, digest_size=32).hexdigest()


# ---------------------------------------------------------------------------------------------
# Atomicity and bad input
# ---------------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_a_failure_mid_write_leaves_no_output_and_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(os.urandom(10 * CHUNK))

    def fail_after_two_chunks(done: int, total: int) -> None:
        if done >= 2 * CHUNK:
            assert _leftovers(tmp_path), "the temp file should exist while writing"
            raise Boom

    with pytest.raises(Boom):
        W.encrypt_file(
            tmp_path / "p", tmp_path / "e", W.new_key(), chunk_size=CHUNK, progress=fail_after_two_chunks
        )
    assert not (tmp_path / "e").exists()
    assert _leftovers(tmp_path) == []


def test_a_failure_keeps_the_previous_output_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p").write_bytes(os.urandom(300))
    (tmp_path / "e").write_bytes(b"previous")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        W.encrypt_file(tmp_path / "p", tmp_path / "e", W.new_key(), chunk_size=CHUNK)
    assert (tmp_path / "e").read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_bad_paths_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    key = W.new_key()
    src = tmp_path / "p"
    src.write_bytes(b"x" * 100)
    cases = [
        (tmp_path / "missing", tmp_path / "o", "does not exist"),
        (tmp_path, tmp_path / "o", "is a directory"),
        (src, tmp_path / "no-such-dir" / "o", "does not exist"),
        (src, src, "is the input file"),
        (src, tmp_path / "." / "p", "is the input file"),
        (src, tmp_path, "is a directory"),
    ]
    os.link(src, tmp_path / "hardlink")
    cases.append((src, tmp_path / "hardlink", "is the input file"))
    for s, d, needle in cases:
        with pytest.raises(UserError, match=needle):
            W.encrypt_file(s, d, key)
    assert src.read_bytes() == b"x" * 100
    assert not (tmp_path / "o").exists() and not (tmp_path / "no-such-dir").exists()
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# Keys and commitments
# ---------------------------------------------------------------------------------------------


def test_keys_round_trip_and_match_the_sdk(remember_secret) -> None:
    key = W.new_key()
    raw = key.reveal()
    remember_secret(raw)
    assert isinstance(raw, bytes) and len(raw) == 32
    text = W.key_to_b58(key)
    assert text.reveal() == b58encode(raw)
    assert W.key_from_b58(text) == key and W.key_from_b58(text.reveal()) == key
    assert W.key_commitment(key) == SomaClient.commitment(raw)
    assert W.key_commitment(text) == W.key_commitment(key)  # a Base58 Secret works too
    # a key the SDK generated is one of ours
    _enc, sdk_key = SomaClient.encrypt_weights(b"")
    remember_secret(sdk_key)
    assert b58encode(W.raw_key(W.key_from_b58(sdk_key))) == sdk_key
    for shown in (repr(key), str(text), f"{key}", repr(W.key_from_b58(sdk_key))):
        assert raw.hex() not in shown and text.reveal() not in shown and sdk_key not in shown


@pytest.mark.parametrize(
    "bad", ["", "   ", "0OIl-not-base58", b58encode(b"\x01" * 31), b58encode(b"\x01" * 33)]
)
def test_bad_key_text_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(UserError) as err:
        W.key_from_b58(bad)
    assert "32 bytes" in str(err.value)
    if bad.strip():
        assert bad not in str(err.value)
    assert "'" not in str(err.value)  # not even the one offending character is quoted


def test_key_files_are_private_and_read_in_both_forms(tmp_path: Path, remember_secret) -> None:
    key = W.new_key()
    remember_secret(key.reveal())
    path = tmp_path / "k.key"
    W.write_key_file(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert W.read_key_file(path) == key
    with pytest.raises(UserError, match="already exists"):
        W.write_key_file(path, W.new_key())
    assert W.read_key_file(path) == key
    raw = tmp_path / "raw.key"
    raw.write_bytes(key.reveal())
    assert W.read_key_file(raw) == key
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"this is not a key at all, and it is long enough")
    with pytest.raises(UserError, match="neither 32 raw bytes") as err:
        W.read_key_file(garbage)
    assert "not a key at all" not in str(err.value)
    with pytest.raises(UserError, match="does not exist"):
        W.write_key_file(tmp_path / "nope" / "k", key)
    with pytest.raises(UserError, match="cannot read"):
        W.read_key_file(tmp_path / "absent.key")


async def test_commitments_equal_what_the_sdk_sends_to_the_chain(shared_devnet) -> None:
    """The SDK computes every commitment client-side; read them back from the chain it sent them to."""
    client = await shared_devnet.client()
    kp = await funded(shared_devnet)
    model_id = await client.create_model(kp, 0, 1.0)
    data = os.urandom(777)
    key = W.new_key()
    enc, _ = _sdk(data, key)
    embedding = [0.1, -2.5, 3e-7, 1e30, -0.0, float(np.float32(1 / 3))]
    url = f"{shared_devnet.blob_url}/blobs/commitments-{os.urandom(4).hex()}"
    await client.commit_model(kp, model_id, url, enc, W.key_to_b58(key).reveal(), embedding)
    _variant, fields = await model_of(client, model_id)
    assert fields.embedding_commitment == W.embedding_commitment(embedding)
    assert fields.decryption_key_commitment == W.key_commitment(key)
    assert fields.weights_commitment == SomaClient.commitment(enc)
    assert W.embedding_commitment(embedding) != W.embedding_commitment(embedding[:-1])


# ---------------------------------------------------------------------------------------------
# check_weights
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-preset checkpoint written by the trainer's own save code."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "step-000050.safetensors")


def _header(path: Path) -> tuple[dict, int]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), n


def _write(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_the_expected_layout_is_what_soma_models_saves() -> None:
    header = json.loads(_saved_header(tiny_model().save_bytes()))
    header.pop("__metadata__", None)
    got = {name: tuple(info["shape"]) for name, info in header.items()}
    assert got == W.expected_layout(**TINY_DIMS)
    assert {info["dtype"] for info in header.values()} == {"F32"}


def _saved_header(raw: bytes) -> bytes:
    (n,) = struct.unpack("<Q", raw[:8])
    return raw[8 : 8 + n]


def test_a_tiny_trainer_checkpoint_is_small_and_fine(tiny_checkpoint: Path) -> None:
    report = W.check_weights(tiny_checkpoint)
    assert report.ok, report.problems
    assert report.architecture == "small"
    assert report.config == TINY_DIMS
    assert report.tensors == len(W.expected_layout(**TINY_DIMS))
    assert report.size == tiny_checkpoint.stat().st_size
    assert report.parameters == sum(p.numel() for p in tiny_model().parameters())
    assert report.to_json()["ok"] is True


def test_a_v1_header_is_recognised_without_a_4_8_gb_file(tmp_path: Path) -> None:
    dims = W.v1_dims()
    assert dims == {"embedding_dim": 2048, "num_layers": 24, "ffn": 8192, "vocab": 264}
    header, offset = {}, 0
    for name, shape in W.expected_layout(**dims).items():
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path = tmp_path / "v1.safetensors"
    with open(path, "wb") as fh:  # a sparse file: the right size, no data written
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + offset)
    report = W.check_weights(path, scan_values=False)
    assert (report.architecture, report.ok, report.parameters) == ("v1", True, 1_209_684_232)


def test_a_truncated_checkpoint_is_reported(tiny_checkpoint: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:-100])
    report = W.check_weights(cut)
    assert not report.ok and report.architecture is None
    assert "truncated" in report.problems[0]
    header_cut = tmp_path / "header-cut.safetensors"
    header_cut.write_bytes(tiny_checkpoint.read_bytes()[:200])
    with pytest.raises(UserError, match="ends inside its header"):
        W.check_weights(header_cut)


def test_a_header_lying_about_offsets_is_reported(tiny_checkpoint: Path, tmp_path: Path) -> None:
    header, n = _header(tiny_checkpoint)
    data = tiny_checkpoint.read_bytes()[8 + n :]
    overlapping = json.loads(json.dumps(header))
    begin = overlapping["embedding.weight"]["data_offsets"][0]
    overlapping["final_norm.beta"]["data_offsets"] = [begin, begin + 4 * TINY.embedding_dim]
    report = W.check_weights(_write(tmp_path / "overlap.safetensors", overlapping, data))
    assert not report.ok and "overlap" in report.problems[0]
    beyond = json.loads(json.dumps(header))
    beyond["predictor.bias"]["data_offsets"] = [len(data) * 2, len(data) * 2 + 4 * 264]
    report = W.check_weights(_write(tmp_path / "beyond.safetensors", beyond, data))
    assert not report.ok and "unused bytes" in report.problems[0]
    mismatched = json.loads(json.dumps(header))
    mismatched["predictor.bias"]["shape"] = [265]
    report = W.check_weights(_write(tmp_path / "shape.safetensors", mismatched, data))
    assert "does not match its shape" in report.problems[0]
    bad_dtype = json.loads(json.dumps(header))
    bad_dtype["predictor.bias"]["dtype"] = "F128"
    assert (
        "unknown dtype" in W.check_weights(_write(tmp_path / "dt.safetensors", bad_dtype, data)).problems[0]
    )


def test_a_foreign_safetensors_file_is_not_v1(tmp_path: Path) -> None:
    from safetensors.numpy import save

    path = tmp_path / "resnet.safetensors"
    path.write_bytes(
        save({"conv1.weight": np.zeros((8, 3, 3, 3), np.float32), "fc.bias": np.ones(10, np.float32)})
    )
    report = W.check_weights(path)
    assert (report.ok, report.architecture, report.tensors) == (False, None, 2)
    assert "not a V1-family model" in report.problems[0]


def test_v1_names_with_a_wrong_shape_or_dtype_are_reported(tmp_path: Path) -> None:
    from safetensors.numpy import save

    tensors = {name: np.zeros(shape, np.float32) for name, shape in W.expected_layout(**TINY_DIMS).items()}
    tensors["encoder.layers.1.attention.key.weight"] = np.zeros((64, 32), np.float32)
    tensors["final_norm.gamma"] = np.zeros(64, np.float16)
    tensors["encoder.layers.1.extra"] = np.zeros(3, np.float32)
    del tensors["encoder.layers.0.norm_2.beta"]
    path = tmp_path / "wrong.safetensors"
    path.write_bytes(save(tensors))
    report = W.check_weights(path)
    assert not report.ok and report.architecture is None
    text = "\n".join(report.problems)
    assert "encoder.layers.1.attention.key.weight has shape [64, 32], the V1 layout needs [64, 64]" in text
    assert "final_norm.gamma is F16" in text
    assert "missing: encoder.layers.0.norm_2.beta" in text
    assert "not part of the V1 model: encoder.layers.1.extra" in text


def test_nan_and_inf_values_are_found(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load, save

    tensors = load(tiny_checkpoint.read_bytes())
    tensors["predictor.weight"][3, 5] = np.nan
    tensors["encoder.layers.0.norm_1.gamma"][0] = -np.inf
    path = tmp_path / "nan.safetensors"
    path.write_bytes(save(tensors))
    report = W.check_weights(path)
    assert report.architecture == "small" and not report.ok
    assert report.problems == (
        "2 tensor(s) hold NaN or Inf values: encoder.layers.0.norm_1.gamma (1), predictor.weight (1)",
    )
    assert W.check_weights(path, scan_values=False).ok


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "only 0 bytes"),
        (b"garbage!", "impossible header length"),
        (struct.pack("<Q", 10) + b"not json!!", "not JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", 15) + b'{"a":{},"a":{}}', "names 'a' twice"),
        (os.urandom(4096), "safetensors"),
    ],
)
def test_files_that_are_not_safetensors_raise_one_sentence(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(UserError, match=needle) as err:
        W.check_weights(path)
    assert str(path) in str(err.value)


def test_an_encrypted_checkpoint_is_not_safetensors(tiny_checkpoint: Path, tmp_path: Path) -> None:
    W.encrypt_file(tiny_checkpoint, tmp_path / "w.enc", W.new_key())
    with pytest.raises(UserError, match="not a safetensors file"):
        W.check_weights(tmp_path / "w.enc")
    with pytest.raises(UserError, match="is a directory"):
        W.check_weights(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        W.check_weights(tmp_path / "nope.safetensors")
