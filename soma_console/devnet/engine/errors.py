"""How a transaction can go wrong on the devnet.

* :class:`ExecutionFailure`: the transaction ran and failed. Like the chain, the devnet still
  charges the base fee, records the failure in the effects and seals it in a checkpoint; the
  SDK raises ``RuntimeError("… Failure { error: <kind> }")``. ``kind`` is the chain's own name
  for the error (``ModelRevealEpochMismatch``, ``NotModelOwner``, …).
* :class:`TxRejected`: the transaction never ran (bad signature, stale or foreign gas coin,
  malformed input). Nothing is charged; the RPC answers with an error status whose category is
  ``code`` (a gRPC status name, so this module needs no gRPC import).
"""

from __future__ import annotations


class ExecutionFailure(Exception):
    def __init__(self, kind: str, detail: str | None = None, *, object_id: bytes | None = None) -> None:
        self.kind = kind
        self.detail = detail
        self.object_id = object_id
        super().__init__(kind if detail is None else f"{kind}: {detail}")


class TxRejected(Exception):
    def __init__(self, message: str, *, code: str = "INVALID_ARGUMENT") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class StateError(Exception):
    """The state directory cannot be used (wrong version, locked, not a devnet database)."""
