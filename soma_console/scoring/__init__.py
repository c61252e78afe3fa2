"""The chain's scoring computation, reproduced: loss, embedding, distance and winner.

Given some data, a target embedding, a seed and a few models' weight manifests, the chain's
scoring service downloads and verifies every blob, decrypts the weights, runs each model over the
data and reports the model with the lowest loss together with its embedding and its cosine
distance to the target. This package does the same, the same way (see
``docs/devnet.md``, "Scoring service"):

* :mod:`.arch`: the model shapes (``v1`` and the devnet's ``tiny``) and the data contract's
  constants. No torch.
* :mod:`.tokens`: bytes to fixed 1024-byte sequences with absolute positions. No torch.
* :mod:`.wire`: the BCS ``ScoreRequest``/``ScoreResponse`` of ``/scoring.Scoring/Score``. No torch.
* :mod:`.blobcache`: downloads verified against their Blake2b-256 checksum, cached by checksum
  on a bounded amount of disk.
* :mod:`.compute`: the per-model evaluation in torch (fp32, GPU when present).
* :mod:`.scorer`: :class:`~soma_console.scoring.scorer.Scorer`, the whole request end to end;
  what the devnet's scoring service and a local ``score`` command call.

Importing this package (or ``arch``, ``tokens``, ``wire``) does not import torch.
"""

from __future__ import annotations
