"""Everything a commit needs before a transaction is built: the checkpoint, its encrypted
artifact (key journaled), and a public URL proven to serve exactly those bytes.

Order matters for safety: the key is journaled as soon as the encrypted file exists and before
anything is uploaded or sent, so no later crash can leave a commit whose key is lost. An artifact
prepared but never committed is reused by the next attempt (same key, same upload), so retrying
after a crash neither re-encrypts nor uploads twice.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import soma_console.core.weights as wts
from soma_console.config import ChainProfile, Settings
from soma_console.core.faults import fault_point
from soma_console.core.journal import Artifact, Journal
from soma_console.core.storage import publish, resolve_storage, verify_public
from soma_console.errors import UserError
from soma_console.fsutil import ensure_dir
from soma_console.training.manifest import Manifest, list_checkpoints, read_manifest

Progress = Callable[[str], None]

# Intent states that mean "this artifact went (or may have gone) on-chain".
_USED_STATES = ("intent", "submitted", "confirmed", "revealed", "missed")


@dataclass(frozen=True)
class CheckpointSource:
    weights: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def label(self) -> str:
        run = self.manifest.run or self.weights.parent.parent.name
        return f"{'final' if self.manifest.final else f'step {self.manifest.step}'} of run {run}"


def resolve_checkpoint(arg: str | Path, runs_dir: Path) -> CheckpointSource:
    """A checkpoint from a weights file, its manifest, a run directory or a run name."""
    text = str(arg)
    if text.startswith("modal://"):
        raise UserError(
            "a checkpoint on a Modal Volume is committed from a local copy.",
            hint="Download it with `soma-console modal download RUN STEP`, then commit the downloaded file.",
        )
    path = Path(text).expanduser()
    if not path.exists() and "/" not in text and (runs_dir / text).is_dir():
        path = runs_dir / text
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise UserError(
                f"{path} has no complete checkpoint.", hint="Train it further, or name a checkpoint file."
            )
        info = found[0]
        return CheckpointSource(info.path, info.manifest_path, info.manifest)
    if not path.exists():
        raise UserError(
            f"there is no checkpoint at {text}.",
            hint="Name a .safetensors file, its manifest, or a run (see `soma-console checkpoints`).",
        )
    manifest_path = path if path.suffix == ".json" else path.with_suffix(".json")
    if not manifest_path.is_file():
        raise UserError(
            f"{path.name} has no manifest beside it ({manifest_path.name}).",
            hint="Commit checkpoints written by `soma-console train`; the manifest carries the embedding.",
        )
    try:
        manifest = read_manifest(manifest_path)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"the manifest {manifest_path} cannot be read ({exc}).") from None
    weights = manifest_path.parent / manifest.weights
    if not weights.is_file():
        raise UserError(f"the manifest {manifest_path.name} names {manifest.weights}, which is missing.")
    return CheckpointSource(weights, manifest_path, manifest)


def check_embedding(manifest: Manifest) -> list[float]:
    emb = [float(x) for x in manifest.embedding]
    if not emb:
        raise UserError("the checkpoint's manifest has no embedding; it cannot be committed.")
    if manifest.embedding_dim and len(emb) != manifest.embedding_dim:
        raise UserError(
            f"the manifest's embedding has {len(emb)} values but says embedding_dim {manifest.embedding_dim}."
        )
    if not all(math.isfinite(x) for x in emb):
        raise UserError("the checkpoint's embedding contains NaN or infinity; train further and retry.")
    return emb


def _committed_use(journal: Journal, artifact: Artifact) -> str | None:
    for intent in journal.intents(kinds=("commit",), states=_USED_STATES):
        if intent.artifact_id == artifact.id:
            model = intent.model_id or "a new model"
            epoch = f" in epoch {intent.commit_epoch}" if intent.commit_epoch is not None else ""
            return f"{model}{epoch} (intent #{intent.id}, {intent.state})"
    return None


def _percent(progress: Progress, label: str) -> Callable[[int, int], None]:
    """A byte-count callback that reports ``label NN%`` each time another tenth is done."""
    shown = [-1]

    def report(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct // 10 != shown[0]:
            shown[0] = pct // 10
            progress(f"{label} {pct}%")

    return report


def _reusable_artifact(journal: Journal, digest: str, chain: str) -> Artifact | None:
    """An earlier, never committed artifact of the same weights; refuses weights already committed."""
    reusable: Artifact | None = None
    for earlier in journal.artifacts_for_source(digest, chain=chain):
        used = _committed_use(journal, earlier)
        if used is not None:
            raise UserError(
                f"this checkpoint was already committed to {used}.",
                hint="Train further and commit a new checkpoint; the same weights are never committed twice.",
            )
        if reusable is None and earlier.encrypted_path and os.path.isfile(earlier.encrypted_path):
            reusable = earlier
    return reusable


async def prepare_artifact(
    journal: Journal,
    source: CheckpointSource,
    *,
    chain: ChainProfile,
    settings: Settings,
    artifacts_dir: Path,
    storage: str | None,
    progress: Progress,
) -> Artifact:
    """Check, encrypt (key journaled), upload and verify; or reuse an earlier, unused attempt."""
    embedding = check_embedding(source.manifest)
    progress("checking weights")
    report = await asyncio.to_thread(wts.check_weights, source.weights)
    if not report.ok:
        raise UserError(f"{source.weights.name} is not valid model weights: {report.problems[0]}")
    if report.architecture != "v1" and not chain.is_devnet:
        raise UserError(
            f"{source.weights.name} is not the V1 architecture ({report.architecture or 'unknown'}); "
            f"the {chain.name} chain only scores V1 weights.",
            hint="Train with --preset v1; small presets are for the devnet only.",
        )
    progress("hashing weights")
    digest = await asyncio.to_thread(wts.file_digest, source.weights)
    reusable = await asyncio.to_thread(_reusable_artifact, journal, digest, chain.name)
    artifact = reusable or await _encrypt(
        journal, source, digest, embedding, report.architecture, chain, artifacts_dir, progress
    )
    if artifact.weights_url and artifact.verified_at:
        # An earlier attempt published it; prove the URL still serves exactly these bytes.
        progress("verifying the public copy")
        await verify_public(artifact.weights_url, artifact.size, artifact.commitment, None)
        return artifact
    backend = resolve_storage(storage, settings=settings, chain=chain)
    progress(f"uploading to {backend.describe()}")
    assert artifact.encrypted_path is not None

    verified = await publish(
        backend,
        Path(artifact.encrypted_path),
        f"{artifact.commitment}.weights",
        checksum=artifact.commitment,
        upload_progress=_percent(progress, "uploading"),
        verify_progress=_percent(progress, "verifying the public copy"),
    )
    journal.set_artifact_url(artifact.id, verified.url, verified=True)
    fault_point("after_upload")
    refreshed = journal.artifact(artifact.id)
    assert refreshed is not None
    return refreshed


async def _encrypt(
    journal: Journal,
    source: CheckpointSource,
    digest: str,
    embedding: list[float],
    architecture: str | None,
    chain: ChainProfile,
    artifacts_dir: Path,
    progress: Progress,
) -> Artifact:
    key = wts.new_key()
    dst = artifacts_dir / f"{digest[:20]}-{int(time.time())}.enc"

    def run() -> wts.EncryptedWeights:
        ensure_dir(artifacts_dir)
        return wts.encrypt_file(source.weights, dst, key, progress=_percent(progress, "encrypting"))

    enc = await asyncio.to_thread(run)
    return journal.add_artifact(
        chain=chain.name,
        source_path=str(source.weights),
        source_size=enc.source_size,
        source_digest=digest,
        encrypted_path=str(enc.path),
        size=enc.size,
        commitment=enc.commitment,
        key_commitment=wts.key_commitment(key),
        decryption_key=wts.key_to_b58(key),
        embedding=embedding,
        embedding_commitment=wts.embedding_commitment(embedding),
        architecture=architecture,
    )
