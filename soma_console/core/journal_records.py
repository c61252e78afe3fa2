"""What the journal holds, as Python values: prepared artifacts, intents and audit entries.

An artifact's decryption key is only ever held inside a :class:`~soma_console.secrets.Secret`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from soma_console.secrets import Secret

INTENT_STATES = ("intent", "submitted", "confirmed", "revealed", "failed", "missed")
OPEN_STATES = ("intent", "submitted")


@dataclass(frozen=True)
class Artifact:
    """A prepared (encrypted) weights file. ``decryption_key`` is Base58 inside a Secret."""

    id: int
    created_at: float
    chain: str
    source_path: str
    source_size: int
    source_digest: str
    encrypted_path: str | None
    size: int
    commitment: str
    key_commitment: str
    decryption_key: Secret = field(repr=False)
    embedding: list[float] | None = field(default=None, repr=False)
    embedding_commitment: str | None = None
    architecture: str | None = None
    weights_url: str | None = None
    verified_at: float | None = None


@dataclass(frozen=True)
class Intent:
    id: int
    created_at: float
    updated_at: float
    chain: str
    signer: str
    kind: str
    model_id: str | None
    artifact_id: int | None
    params: dict[str, Any]
    state: str
    digest: str | None
    commit_epoch: int | None
    reveal_digest: str | None
    revealed_epoch: int | None
    error: str | None
    attempts: int

    @property
    def reveal_epoch(self) -> int | None:
        return None if self.commit_epoch is None else self.commit_epoch + 1


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    chain: str
    signer: str
    kind: str
    model_id: str | None
    intent_id: int | None
    summary: dict[str, Any]
    digest: str | None
    status: str
    error: str | None


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def artifact_from_row(r: sqlite3.Row) -> Artifact:
    return Artifact(
        id=r["id"],
        created_at=r["created_at"],
        chain=r["chain"],
        source_path=r["source_path"],
        source_size=r["source_size"],
        source_digest=r["source_digest"],
        encrypted_path=r["encrypted_path"],
        size=r["size"],
        commitment=r["commitment"],
        key_commitment=r["key_commitment"],
        decryption_key=Secret(r["decryption_key"], label="decryption key"),
        embedding=loads(r["embedding_json"]),
        embedding_commitment=r["embedding_commitment"],
        architecture=r["architecture"],
        weights_url=r["weights_url"],
        verified_at=r["verified_at"],
    )


def intent_from_row(r: sqlite3.Row) -> Intent:
    return Intent(
        id=r["id"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        chain=r["chain"],
        signer=r["signer"],
        kind=r["kind"],
        model_id=r["model_id"],
        artifact_id=r["artifact_id"],
        params=loads(r["params_json"]) or {},
        state=r["state"],
        digest=r["digest"],
        commit_epoch=r["commit_epoch"],
        reveal_digest=r["reveal_digest"],
        revealed_epoch=r["revealed_epoch"],
        error=r["error"],
        attempts=r["attempts"],
    )


def audit_from_row(r: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=r["id"],
        at=r["at"],
        chain=r["chain"],
        signer=r["signer"],
        kind=r["kind"],
        model_id=r["model_id"],
        intent_id=r["intent_id"],
        summary=loads(r["summary_json"]) or {},
        digest=r["digest"],
        status=r["status"],
        error=r["error"],
    )
