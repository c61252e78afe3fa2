"""The devnet's built-in data submitter: plays the network's submitters so owners see wins.

Each epoch it takes a few pieces of the built-in corpus (the Python standard library's sources,
:mod:`soma_console.training.data_open`), hosts them on the devnet's blob server, scores each piece
against the model set of the open targets through the scoring service (``SomaClient.score``),
and submits the closest piece for every target it is close enough to
(``SomaClient.submit_data``), as a real submitter would.

The decision is in pure functions (:func:`plan_submissions`, :func:`cosine_distance`): the
lowest-loss model wins regardless of the target, so one score of (piece, model set) serves every
target with that model set; only the distance differs per target, and it is computed here the
way the scoring service computes it (``1 - cos`` in f32). A target gets the piece nearest to it
whose distance is within its threshold, preferring a piece no other target took this epoch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger("soma_console.devnet")

PIECE_BYTES = 1024  # one sequence: cheap to score, a bond of 66,560 shannons at 65/byte
PIECES_PER_EPOCH = 4
MAX_TARGETS = 200
MAX_SUBMISSIONS = 20


class TargetLike(Protocol):
    id: str
    status: str
    embedding: list[float]
    model_ids: list[str]
    distance_threshold: float
    reward_pool: int


@dataclass(frozen=True)
class Piece:
    key: str
    data: bytes

    @property
    def blob_name(self) -> str:
        return "submission-" + hashlib.blake2b(self.data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Scored:
    """One piece scored against one model set (the models the chain could find, in order)."""

    piece: Piece
    model_ids: tuple[str, ...]
    winner: int
    loss: tuple[float, ...]
    embedding: tuple[float, ...]

    @property
    def winner_model_id(self) -> str:
        return self.model_ids[self.winner]


@dataclass(frozen=True)
class Plan:
    target_id: str
    scored: Scored
    distance: float


@dataclass
class EpochReport:
    epoch: int
    open_targets: int = 0
    model_sets: int = 0
    scores: int = 0
    submitted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"submitter: epoch {self.epoch}: {self.open_targets} open targets, {self.scores} scores, "
            f"{len(self.submitted)} submitted"
        )
        if self.failed:
            text += f", {len(self.failed)} failed ({self.failed[0][1]})"
        return text


def cosine_distance(embedding: Sequence[float], target: Sequence[float]) -> float:
    """``1 - cos`` in f32, as the scoring service computes the winner's distance."""
    e = np.asarray(embedding, dtype=np.float32)
    t = np.asarray(target, dtype=np.float32)
    if e.shape != t.shape:
        return float("inf")
    with np.errstate(all="ignore"):
        d = np.float32(1.0) - np.dot(e / np.linalg.norm(e), t / np.linalg.norm(t))
    return float(d) if np.isfinite(d) else float("inf")


def plan_submissions(
    targets: Sequence[TargetLike],
    scores: Mapping[tuple[str, ...], Sequence[Scored]],
    max_submissions: int = MAX_SUBMISSIONS,
) -> list[Plan]:
    """Which piece to submit for which open target (richest targets first)."""
    plans: list[Plan] = []
    used: set[str] = set()
    for t in sorted(targets, key=lambda t: (-t.reward_pool, t.id)):
        if len(plans) >= max_submissions:
            break
        if t.status != "open":
            continue
        threshold = np.float32(t.distance_threshold)
        options = []
        for s in scores.get(tuple(t.model_ids), ()):
            if s.winner_model_id not in t.model_ids:
                continue
            d = cosine_distance(s.embedding, t.embedding)
            if np.float32(d) <= threshold:
                options.append((s.piece.key in used, d, s.piece.key, s))
        if not options:
            continue
        _, d, key, best = min(options, key=lambda o: o[:3])
        used.add(key)
        plans.append(Plan(t.id, best, d))
    return plans


def corpus_pieces(size: int = PIECE_BYTES) -> Iterator[Piece]:
    """Endless pieces of the built-in corpus, in order, starting over at the end."""
    from soma_console.training.data_open import open_source

    while True:
        produced = False
        for key, data, _ in open_source("builtin").documents():
            for start in range(0, len(data) - size // 2, size):
                chunk = data[start : start + size]
                if len(chunk) >= size // 2:
                    produced = True
                    yield Piece(f"{key}@{start}", chunk)
        if not produced:
            return


class Submitter:
    """Drives one epoch's submissions through the real SDK (``client``: a ``SomaClient``)."""

    def __init__(
        self,
        client: Any,
        signer: Any,
        blob_url: str,
        *,
        pieces: Iterator[Piece] | None = None,
        pieces_per_epoch: int = PIECES_PER_EPOCH,
        max_targets: int = MAX_TARGETS,
        max_submissions: int = MAX_SUBMISSIONS,
    ) -> None:
        self.client = client
        self.signer = signer
        self.blob_url = blob_url.rstrip("/")
        self.pieces = pieces if pieces is not None else corpus_pieces()
        self.pieces_per_epoch = pieces_per_epoch
        self.max_targets = max_targets
        self.max_submissions = max_submissions

    async def open_targets(self) -> list[Any]:
        out: list[Any] = []
        token = None
        while len(out) < self.max_targets:
            page = await self.client.list_targets(status="open", page_token=token)
            out.extend(t for t in page.targets if t.status == "open")
            token = page.next_page_token
            if not token:
                break
        return out[: self.max_targets]

    async def host(self, piece: Piece) -> str:
        import httpx

        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.put(f"{self.blob_url}/blobs/{piece.blob_name}", content=piece.data)
        r.raise_for_status()
        return str(r.json()["url"])

    async def manifests(self, model_ids: Sequence[str]) -> tuple[tuple[str, ...], list[Any]]:
        """The manifests the chain has for these models, with the ids they belong to."""
        ids: list[str] = []
        found: list[Any] = []
        for mid in model_ids:
            got = await self.client.get_model_manifests([mid])
            if got:
                ids.append(mid)
                found.append(got[0])
        return tuple(ids), found

    async def score_set(
        self, model_ids: Sequence[str], target_embedding: Sequence[float], pieces: Sequence[tuple[Piece, str]]
    ) -> list[Scored]:
        ids, manifests = await self.manifests(model_ids)
        if not manifests:
            return []
        out = []
        for piece, url in pieces:
            r = await self.client.score(url, manifests, list(target_embedding), data=piece.data)
            out.append(Scored(piece, ids, int(r.winner), tuple(r.loss_score), tuple(r.embedding)))
        return out

    async def run_epoch(self, epoch: int) -> EpochReport:
        report = EpochReport(epoch)
        targets = await self.open_targets()
        report.open_targets = len(targets)
        if not targets:
            return report
        pieces = [next(self.pieces) for _ in range(self.pieces_per_epoch)]
        hosted = [(p, await self.host(p)) for p in pieces]
        by_set: dict[tuple[str, ...], Any] = {}
        for t in targets:
            by_set.setdefault(tuple(t.model_ids), t)
        report.model_sets = len(by_set)
        scores: dict[tuple[str, ...], list[Scored]] = {}
        for model_set, first in by_set.items():
            scores[model_set] = await self.score_set(model_set, first.embedding, hosted)
            report.scores += len(scores[model_set])
        urls = dict((p.key, u) for p, u in hosted)
        for plan in plan_submissions(targets, scores, self.max_submissions):
            s = plan.scored
            try:
                await self.client.submit_data(
                    self.signer,
                    plan.target_id,
                    s.piece.data,
                    urls[s.piece.key],
                    s.winner_model_id,
                    list(s.embedding),
                    plan.distance,
                    list(s.loss),
                )
            except Exception as exc:  # a target filled meanwhile, a bond coin spent: next one
                report.failed.append((plan.target_id, _failure_kind(exc)))
                continue
            report.submitted.append(plan.target_id)
        return report


def _failure_kind(exc: BaseException) -> str:
    import re

    m = re.search(r"Failure \{ error: (\w+)", str(exc))
    return m.group(1) if m else f"{type(exc).__name__}: {str(exc)[:120]}"


class SubmitterThread:
    """Runs a :class:`Submitter` against a devnet's endpoints on its own thread and event loop.

    At start and after every epoch change it runs one pass and reports its summary through
    ``on_event``. Its signer is a fresh key funded from the faucet (topped up when low).
    """

    POLL_SECONDS = 1.0
    LOW_BALANCE = 0.5  # SOMA

    def __init__(self, urls: Mapping[str, str], on_event: Any = None) -> None:
        import threading

        self.urls = dict(urls)
        self.on_event = on_event or (lambda text: log.info("devnet: %s", text))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="devnet-submitter", daemon=True)
        self.reports: list[EpochReport] = []

    def start(self) -> SubmitterThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _main(self) -> None:
        import asyncio

        try:
            asyncio.run(self._loop())
        except Exception as exc:
            log.exception("devnet: the submitter stopped")
            self.on_event(f"submitter stopped: {type(exc).__name__}: {exc}")

    async def _loop(self) -> None:
        import asyncio

        from soma_sdk import Keypair, SomaClient

        client = await SomaClient(
            rpc_url=self.urls["rpc_url"],
            faucet_url=self.urls["faucet_url"],
            scoring_url=self.urls["scoring_url"],
        )
        signer = Keypair.generate()
        submitter = Submitter(client, signer, self.urls["blob_url"])
        self.on_event(f"submitter: signing as 0x{signer.address().removeprefix('0x')}")
        last: int | None = None
        while not self._stop.is_set():
            epoch = int((await client.get_epoch()).epoch)
            if epoch != last:
                last = epoch
                if await client.get_balance(signer.address()) < self.LOW_BALANCE:
                    await client.request_faucet(signer.address())
                try:
                    report = await submitter.run_epoch(epoch)
                except Exception as exc:  # one bad pass must not end the submitter
                    log.exception("devnet: submitter pass failed")
                    report = EpochReport(epoch, failed=[("", f"{type(exc).__name__}: {exc}")])
                self.reports.append(report)
                self.on_event(report.summary())
            await asyncio.sleep(self.POLL_SECONDS)
