"""The weights pipeline: check a checkpoint, encrypt it for the chain, decrypt it back.

* :mod:`.keys`: decryption keys (always inside a ``Secret``), key files, key and embedding
  commitments.
* :mod:`.stream`: streaming AES-256-CTR with the ciphertext commitment in the same pass.
* :mod:`.safetensors`: header parsing and validation without loading tensors.
* :mod:`.layout`: the V1 layout and ``check_weights``.
"""

from __future__ import annotations

from soma_console.core.weights.keys import (
    KEY_LEN,
    embedding_commitment,
    key_commitment,
    key_from_b58,
    key_to_b58,
    new_key,
    raw_key,
    read_key_file,
    write_key_file,
)
from soma_console.core.weights.layout import (
    WeightsReport,
    check_weights,
    expected_layout,
    inspect_layout,
    v1_dims,
    with_nonfinite,
)
from soma_console.core.weights.safetensors import Header, TensorInfo
from soma_console.core.weights.stream import (
    DEFAULT_CHUNK,
    EncryptedWeights,
    decrypt_file,
    encrypt_file,
    file_digest,
)

__all__ = [
    "DEFAULT_CHUNK",
    "KEY_LEN",
    "EncryptedWeights",
    "Header",
    "TensorInfo",
    "WeightsReport",
    "check_weights",
    "decrypt_file",
    "embedding_commitment",
    "encrypt_file",
    "expected_layout",
    "file_digest",
    "inspect_layout",
    "key_commitment",
    "key_from_b58",
    "key_to_b58",
    "new_key",
    "raw_key",
    "read_key_file",
    "v1_dims",
    "with_nonfinite",
    "write_key_file",
]
