"""The commit's single pass over a checkpoint: NaN/Inf scan, hashes, encryption and upload at once.

Order, for safety: the fresh key is journaled (with the URL the object will have, and an empty
commitment that marks the row unfinished) before the first byte leaves; the pass then streams the
ciphertext into the storage backend; only a complete, finished upload fills in the commitment.
A pass that fails is cleaned up at once (upload aborted, row dropped); one that is killed is
cleaned up by the next attempt (see ``commit_prep._clean_abandoned``). Either way no intent ever
names an unfinished artifact, so nothing half-done can reach the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import soma_console.core.weights as wts
from soma_console.config import ChainProfile
from soma_console.core.faults import fault_point
from soma_console.core.journal import Artifact, Journal
from soma_console.core.storage import StorageBackend, publish
from soma_console.core.storage.streaming import StreamingBackend, UploadStream
from soma_console.core.weights.pipeline import NonfiniteScan, PassResult, encrypt_stream, open_source
from soma_console.encoding import b58encode
from soma_console.errors import UserError
from soma_console.fsutil import PRIVATE_FILE_MODE, atomic_writer, ensure_dir
from soma_console.secrets import Secret

log = logging.getLogger(__name__)
PENDING_PREFIX = "pending:"
Progress = Callable[[str], None]
ByteProgress = Callable[[int, int], None]
Verify = Callable[[str, int, str], Awaitable[None]]


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


def percent(progress: Progress, label: str, step: int = 5) -> ByteProgress:
    """A byte-count callback that reports ``label NN% (x of y, rate/s)`` every ``step`` percent."""
    shown = [-1]
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        if pct // step != shown[0]:
            shown[0] = pct // step
            rate = done / max(time.perf_counter() - started, 1e-6)
            progress(f"{label} {pct}% ({_human(done)} of {_human(total)}, {_human(rate)}/s)")

    return report


@dataclass(frozen=True)
class _Sent:
    result: PassResult
    url: str
    upload_seconds: float


class CommitPass:
    """One checkpoint on its way to a public, verified, journaled artifact."""

    def __init__(
        self,
        journal: Journal,
        source_path: Path,
        chain: ChainProfile | None,
        backend: StorageBackend,
        header: wts.Header,
        tensors: dict[str, wts.TensorInfo],
        embedding: list[float] | None,
        architecture: str | None,
        progress: Progress,
    ) -> None:
        self.journal, self.source, self.chain, self.backend = journal, source_path, chain, backend
        self.header, self.tensors = header, tensors
        self.embedding, self.architecture, self.progress = embedding, architecture, progress

    def _refuse_nonfinite(self, result: PassResult) -> None:
        if result.nonfinite:
            report = wts.with_nonfinite(
                wts.WeightsReport(self.source, result.size, None, {}, len(self.tensors), ()), result.nonfinite
            )
            raise UserError(f"{self.source.name} is not valid model weights: {report.problems[0]}")

    def _journal_key(self, key: Secret, url: str, size: int) -> Artifact:
        assert self.chain is not None and self.embedding is not None
        art = self.journal.add_artifact(
            chain=self.chain.name,
            source_path=str(self.source),
            source_size=size,
            source_digest=f"{PENDING_PREFIX}{os.getpid()}",  # who is streaming it, until it completes
            encrypted_path=None,
            size=0,
            commitment="",  # unfinished until the pass completes
            key_commitment=wts.key_commitment(key),
            decryption_key=wts.key_to_b58(key),
            embedding=self.embedding,
            embedding_commitment=wts.embedding_commitment(self.embedding),
            architecture=self.architecture,
        )
        self.journal.set_artifact_url(art.id, url, verified=False)
        return art

    # -- the streamed pass ------------------------------------------------------------------------

    def _run_pass(self, key: Secret, name: str, size: int, stop: threading.Event) -> _Sent:
        """Blocking: open the upload, stream the file through it, finish it (or abort it)."""
        assert isinstance(self.backend, StreamingBackend)
        stream: UploadStream = self.backend.open_stream(name, size)
        half = [False]
        sent = [0]

        def sink(chunk: memoryview) -> None:
            if not half[0] and (sent[0] + len(chunk)) * 2 >= size:
                # The chunk that crosses the middle goes in two writes, with the crash test's
                # fault point between them: a kill there leaves a genuinely partial upload.
                half[0] = True
                cut = max(0, size // 2 - sent[0])
                stream.write(chunk[:cut])
                fault_point("during_upload")
                stream.write(chunk[cut:])
            else:
                stream.write(chunk)
            sent[0] += len(chunk)

        try:
            with open_source(self.source) as inp:
                result = encrypt_stream(
                    inp,
                    size,
                    key,
                    sink=sink,
                    scan=NonfiniteScan(self.tensors, self.header.data_start),
                    progress=percent(self.progress, "checking, encrypting and uploading"),
                    stop=stop,
                )
            if result.size != size:
                raise UserError(f"{self.source} changed size while it was read; commit it again.")
            self._refuse_nonfinite(result)
            url = stream.finish(b58encode(result.out_digest))
        except BaseException:
            stream.abort()
            raise
        return _Sent(result, url, stream.busy_seconds)

    async def _stream(self, key: Secret, name: str, size: int) -> _Sent:
        stop = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self._run_pass, key, name, size, stop))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()  # the pass stops at its next chunk and aborts the upload
            with contextlib.suppress(BaseException):
                await task
            raise

    async def forget(self, art: Artifact, name: str) -> None:
        discard = getattr(self.backend, "discard", None)
        if discard is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(discard, name)
        self.journal.drop_artifact(art.id)

    async def streamed(self, verify: Verify) -> Artifact:
        """A fresh key, journaled; one pass; then the read-back check."""
        size = self.source.stat().st_size
        key = wts.new_key()
        name = f"{wts.key_commitment(key)}.weights"
        art = self._journal_key(key, self.backend.public_url(name), size)
        self.progress(f"checking, encrypting and uploading to {self.backend.describe()}")
        try:
            sent = await self._stream(key, name, size)
        except BaseException:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self.forget(art, name))
            raise
        r = sent.result
        commitment = b58encode(r.out_digest)
        self.journal.complete_artifact(
            art.id, size=r.size, commitment=commitment, source_digest=r.in_digest.hex()
        )
        self.journal.set_artifact_url(art.id, sent.url, verified=False)
        log.info(
            "commit pass: %d bytes in %.2f s (%.0f MB/s); upload calls %.2f s",
            r.size,
            r.seconds,
            r.size / max(r.seconds, 1e-9) / 1e6,
            sent.upload_seconds,
        )
        return await self._verified(art.id, sent.url, r.size, commitment, verify)

    async def _verified(
        self, artifact_id: int, url: str, size: int, commitment: str, verify: Verify
    ) -> Artifact:
        await verify(url, size, commitment)
        self.journal.set_artifact_url(artifact_id, url, verified=True)
        fault_point("after_upload")
        refreshed = self.journal.artifact(artifact_id)
        assert refreshed is not None
        return refreshed

    async def resend(self, art: Artifact, verify: Verify) -> Artifact:
        """Send an earlier attempt again with its own key (CTR makes the same ciphertext)."""
        key = wts.key_from_b58(art.decryption_key)
        name = f"{art.key_commitment}.weights"
        self.progress(f"uploading again to {self.backend.describe()}")
        sent = await self._stream(key, name, art.source_size)
        if b58encode(sent.result.out_digest) != art.commitment:
            raise UserError(
                f"{self.source} no longer matches the earlier attempt to commit it.",
                hint="It changed since; commit it again as new weights.",
            )
        return await self._verified(art.id, sent.url, art.size, art.commitment, verify)

    # -- backends that only take whole files (presigned PUT URLs) --------------------------------

    async def via_file(self, artifacts_dir: Path) -> Artifact:
        """One pass into a local encrypted file (journaled with its key), then upload that file."""
        assert self.chain is not None and self.embedding is not None
        key = wts.new_key()
        dst = artifacts_dir / f"{wts.key_commitment(key)[:20]}-{int(time.time())}.enc"
        self.progress("checking and encrypting")

        def run() -> PassResult:
            ensure_dir(artifacts_dir)
            size = self.source.stat().st_size
            with open_source(self.source) as inp, atomic_writer(dst, mode=PRIVATE_FILE_MODE) as out:
                result = encrypt_stream(
                    inp,
                    size,
                    key,
                    sink=out.write,
                    scan=NonfiniteScan(self.tensors, self.header.data_start),
                    progress=percent(self.progress, "checking and encrypting"),
                )
                self._refuse_nonfinite(result)  # inside the writer: nothing is left behind
            return result

        r = await asyncio.to_thread(run)
        commitment = b58encode(r.out_digest)
        art = self.journal.add_artifact(
            chain=self.chain.name,
            source_path=str(self.source),
            source_size=r.size,
            source_digest=r.in_digest.hex(),
            encrypted_path=str(dst),
            size=r.size,
            commitment=commitment,
            key_commitment=wts.key_commitment(key),
            decryption_key=wts.key_to_b58(key),
            embedding=self.embedding,
            embedding_commitment=wts.embedding_commitment(self.embedding),
            architecture=self.architecture,
        )
        self.progress(f"uploading to {self.backend.describe()}")
        verified = await publish(
            self.backend,
            dst,
            f"{commitment}.weights",
            checksum=commitment,
            upload_progress=percent(self.progress, "uploading"),
            verify_progress=percent(self.progress, "verifying the public copy"),
        )
        self.journal.set_artifact_url(art.id, verified.url, verified=True)
        fault_point("after_upload")
        refreshed = self.journal.artifact(art.id)
        assert refreshed is not None
        return refreshed


def abandoned(art: Artifact) -> bool:
    """Whether an unfinished artifact's pass is over (its process is gone), not still running in
    another process (a second commit from the same home, say the console and cron)."""
    if not art.source_digest.startswith(PENDING_PREFIX):
        return True
    try:
        pid = int(art.source_digest.removeprefix(PENDING_PREFIX))
    except ValueError:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (owned by someone else)
    return False
