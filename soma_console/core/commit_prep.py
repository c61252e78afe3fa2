"""Everything a commit needs before a transaction is built: the checkpoint, its encrypted
artifact (key journaled), and a public URL proven to serve exactly those bytes.

Order matters for safety: the key is journaled as soon as the encrypted file exists and before
anything is uploaded or sent, so no later crash can leave a commit whose key is lost. An artifact
prepared but never committed is reused by the next attempt (same key, same upload), so retrying
after a crash neither re-encrypts nor uploads twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import soma_console.core.weights as wts
from soma_console.config import ChainProfile, Settings
from soma_console.core.commit_pass import CommitPass, abandoned, percent
from soma_console.core.faults import fault_point
from soma_console.core.journal import Artifact, Journal
from soma_console.core.storage import (
    PublicUrlError,
    StorageBackend,
    publish,
    resolve_storage,
    verify_public_fast,
)
from soma_console.core.storage.streaming import StreamingBackend
from soma_console.errors import UserError
from soma_console.training.manifest import Manifest, list_checkpoints, read_manifest

Progress = Callable[[str], None]
log = logging.getLogger(__name__)

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
        local = bool(earlier.encrypted_path and os.path.isfile(earlier.encrypted_path))
        if reusable is None and (local or earlier.weights_url):
            reusable = earlier
    return reusable


def _same_file(journal: Journal, source: CheckpointSource, chain: str) -> bool:
    """Whether an earlier, finished attempt started from this very file (then the file is hashed
    first, to reuse that attempt or refuse a second commit of the same weights)."""
    try:
        size = source.weights.stat().st_size
    except OSError:
        return False
    path = str(source.weights)
    return any(
        a.commitment and a.source_path == path and a.source_size == size
        for a in journal.artifacts(chain=chain)
    )


async def _clean_abandoned(journal: Journal, backend: StorageBackend, chain: str, progress: Progress) -> None:
    """Remove what an interrupted streamed attempt left: its partial upload, then its journal row
    (no intent can name it: intents are written only after an artifact is complete)."""
    for art in journal.pending_artifacts(chain=chain):
        if not abandoned(art):
            continue  # another process is streaming this one right now
        name = f"{art.key_commitment}.weights"
        discard = getattr(backend, "discard", None)
        if discard is not None and art.weights_url == backend.public_url(name):
            progress("removing an interrupted upload")
            await asyncio.to_thread(discard, name)
        journal.drop_artifact(art.id)


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
    """Check, encrypt (key journaled), upload and verify; or reuse an earlier, unused attempt.

    A fresh commit reads the checkpoint once: one streamed pass checks it, hashes it, encrypts it
    and feeds the upload. The key is journaled before the first byte is sent; a pass that stops
    half-way (an error, a kill) leaves a journal row that the next attempt uses to clean up.
    """
    embedding = check_embedding(source.manifest)
    progress("checking the header and layout")
    report, header, tensors = await asyncio.to_thread(wts.inspect_layout, source.weights)
    if not report.ok or header is None:
        raise UserError(f"{source.weights.name} is not valid model weights: {report.problems[0]}")
    if report.architecture != "v1" and not chain.is_devnet:
        raise UserError(
            f"{source.weights.name} is not the V1 architecture ({report.architecture or 'unknown'}); "
            f"the {chain.name} chain only scores V1 weights.",
            hint="Train with --preset v1; small presets are for the devnet only.",
        )
    backend = resolve_storage(storage, settings=settings, chain=chain)
    await _clean_abandoned(journal, backend, chain.name, progress)
    if await asyncio.to_thread(_same_file, journal, source, chain.name):
        digest = await asyncio.to_thread(
            wts.file_digest, source.weights, progress=percent(progress, "hashing weights", 10)
        )
        reusable = await asyncio.to_thread(_reusable_artifact, journal, digest, chain.name)
        if reusable is not None:
            return await _publish_reused(journal, reusable, source, backend, header, tensors, progress)
    job = CommitPass(
        journal, source.weights, chain, backend, header, tensors, embedding, report.architecture, progress
    )
    if not isinstance(backend, StreamingBackend):
        return await job.via_file(artifacts_dir)
    artifact = await job.streamed(_verify_quietly(progress))
    try:
        await asyncio.to_thread(_reusable_artifact, journal, artifact.source_digest, chain.name)
    except UserError:
        # The same weights, under another path, were committed before: take this attempt back.
        await job.forget(artifact, f"{artifact.key_commitment}.weights")
        raise
    return artifact


async def _verify(url: str, size: int, commitment: str, progress: Progress) -> None:
    progress("verifying the public copy")
    started = time.perf_counter()
    await verify_public_fast(url, size, commitment, progress=percent(progress, "verifying the public copy"))
    log.info("read-back check: %d bytes in %.2f s", size, time.perf_counter() - started)


def _verify_quietly(progress: Progress) -> Callable[[str, int, str], Awaitable[None]]:
    async def verify(url: str, size: int, commitment: str) -> None:
        await _verify(url, size, commitment, progress)

    return verify


async def _publish_reused(
    journal: Journal,
    artifact: Artifact,
    source: CheckpointSource,
    backend: StorageBackend,
    header: wts.Header,
    tensors: dict[str, wts.TensorInfo],
    progress: Progress,
) -> Artifact:
    """Finish an earlier attempt of the same weights: prove its public copy, or send it again."""
    if artifact.weights_url:
        try:
            await _verify(artifact.weights_url, artifact.size, artifact.commitment, progress)
        except PublicUrlError:
            if artifact.verified_at or not isinstance(backend, StreamingBackend):
                raise  # it was proven once and changed since: say so rather than paper over it
        else:
            journal.set_artifact_url(artifact.id, artifact.weights_url, verified=True)
            return _reloaded(journal, artifact.id)
    local = Path(artifact.encrypted_path) if artifact.encrypted_path else None
    if local is not None and await asyncio.to_thread(local.is_file):
        progress(f"uploading to {backend.describe()}")
        verified = await publish(
            backend,
            local,
            f"{artifact.commitment}.weights",
            checksum=artifact.commitment,
            upload_progress=percent(progress, "uploading", 10),
            verify_progress=percent(progress, "verifying the public copy", 10),
        )
        journal.set_artifact_url(artifact.id, verified.url, verified=True)
        fault_point("after_upload")
        return _reloaded(journal, artifact.id)
    if not isinstance(backend, StreamingBackend):
        raise UserError("the earlier attempt's encrypted file is gone and its upload cannot be proven.")
    # The same key over the same file gives the same ciphertext (CTR): send it again.
    job = CommitPass(
        journal, source.weights, None, backend, header, tensors, None, artifact.architecture, progress
    )
    return await job.resend(artifact, _verify_quietly(progress))


def _reloaded(journal: Journal, artifact_id: int) -> Artifact:
    refreshed = journal.artifact(artifact_id)
    assert refreshed is not None
    return refreshed
