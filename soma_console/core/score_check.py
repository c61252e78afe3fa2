"""Would this checkpoint have won? Score it against the network's recently filled targets.

For each of the N most recent filled targets (or one epoch's), the winning data and the
competitors' revealed weights are fetched (streamed to disk, checked against the on-chain
checksums, cached by checksum on a bounded amount of disk, decrypted once), and the chain's
scoring loss is computed for the checkpoint and for every competitor exactly as the scoring
service computes it (:mod:`soma_console.scoring`). Competitors: the target's winner
(``winners``), all its assigned models (``assigned``), or models named by id. With ``model_id``
the model's current revealed weights are scored on the same targets too, so an update can be
compared with what it would replace. Torch is imported only when the scoring runs.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from soma_console.core.filled_targets import FilledTarget, recent_filled
from soma_console.errors import UserError

Progress = Callable[[str], None]
MODES = ("winners", "assigned")
ME = "checkpoint"
DEFAULT_TARGETS = 20


@dataclass(frozen=True)
class TargetVerdict:
    target_id: str
    my_loss: float
    winner_loss: float
    winner_model_id: str
    would_win: bool
    distance: float
    current_loss: float | None = None


@dataclass
class ScoreReport:
    checkpoint: str
    against: str
    targets: list[TargetVerdict] = field(default_factory=list)
    model_id: str | None = None
    has_current: bool = False
    tokens: int = 0
    seconds: float = 0.0
    device: str = ""
    skipped: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return len(self.targets)

    @property
    def would_win(self) -> int:
        return sum(1 for t in self.targets if t.would_win)

    @property
    def rate(self) -> float:
        return self.would_win / self.scored if self.scored else 0.0

    @property
    def mean_delta(self) -> float | None:
        """Mean of (my loss - winner's loss); negative is better."""
        if not self.targets:
            return None
        return sum(t.my_loss - t.winner_loss for t in self.targets) / len(self.targets)

    @property
    def beats_current(self) -> int:
        return sum(1 for t in self.targets if t.current_loss is not None and t.my_loss < t.current_loss)

    @property
    def mean_current_delta(self) -> float | None:
        rows = [t.my_loss - t.current_loss for t in self.targets if t.current_loss is not None]
        return sum(rows) / len(rows) if rows else None

    def summary(self) -> str:
        if not self.scored:
            return "no filled target could be scored"
        text = (
            f"would win {self.would_win} of {self.scored} targets ({self.rate:.0%}) against the "
            f"{self.against}; mean loss delta {self.mean_delta:+.4f}"
        )
        if self.has_current:
            text += (
                f"; beats the current weights of {self.model_id} on {self.beats_current} of "
                f"{self.scored} (mean delta {self.mean_current_delta:+.4f})"
            )
        elif self.model_id:
            text += f"; model {self.model_id} has no revealed weights to compare with"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "against": self.against,
            "targets": [
                {k: v for k, v in asdict(t).items() if k != "current_loss" or self.has_current}
                for t in self.targets
            ],
            "would_win": self.would_win,
            "scored": self.scored,
            "rate": self.rate,
            "mean_loss_delta": self.mean_delta,
            "model_id": self.model_id,
            "beats_current": self.beats_current if self.has_current else None,
            "mean_current_delta": self.mean_current_delta,
            "skipped": self.skipped,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "device": self.device,
        }


def parse_against(values: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """``("winners"|"assigned"|"models", model ids)`` from ``--against`` values."""
    from soma_console.encoding import normalize_model_id

    if not values:
        return "winners", ()
    if len(values) == 1 and values[0] in MODES:
        return values[0], ()
    if any(v in MODES for v in values):
        raise UserError("--against takes winners, assigned, or model ids, not a mix.")
    return "models", tuple(normalize_model_id(v) for v in values)


def competitors(t: FilledTarget, mode: str, models: Sequence[str]) -> tuple[str, ...]:
    if mode == "winners":
        return (t.winning_model_id,)
    if mode == "assigned":
        return t.model_ids
    return tuple(models)


def _arch_of(manifest: Any) -> Any:
    from soma_console.scoring.arch import arch_for_preset

    preset = (manifest.spec or {}).get("preset") or ("v1" if manifest.architecture == "v1" else "tiny")
    return arch_for_preset(str(preset))


def _fetch_with_fallback(fetch: Callable[[str], Path], url: str, fallback: str) -> Path:
    from soma_console.scoring.blobcache import BlobError

    try:
        return fetch(url)
    except BlobError as first:
        if url == fallback:
            raise
        try:
            return fetch(fallback)
        except BlobError:
            raise first from None


async def score_checkpoint(
    client: Any,
    rpc_url: str,
    checkpoint: Path,
    manifest: Any,
    cache_dir: Path,
    *,
    count: int | None = DEFAULT_TARGETS,
    epoch: int | None = None,
    against: Sequence[str] = (),
    model_id: str | None = None,
    seed: int = 0,
    device: str | None = None,
    cache_bytes: int | None = None,
    cpu_threads: int | None = None,
    progress: Progress | None = None,
) -> ScoreReport:
    """Score ``checkpoint`` (plaintext safetensors with its training manifest) against the chain."""
    from soma_console.encoding import normalize_model_id
    from soma_console.scoring.blobcache import DEFAULT_MAX_BYTES, BlobCache, BlobError
    from soma_console.scoring.scorer import ScoreError, plaintext_weights
    from soma_console.scoring.wire import ModelManifest
    from soma_console.secrets import Secret

    say = progress or (lambda _line: None)
    mode, named = parse_against(against)
    arch = _arch_of(manifest)
    own = normalize_model_id(model_id) if model_id else None
    report = ScoreReport(str(checkpoint), mode if mode != "models" else "named models", model_id=own)
    say("listing filled targets")
    targets = await recent_filled(client, count=count, epoch=epoch, progress=say)
    if not targets:
        return report
    wrong = [t for t in targets if len(t.embedding) != arch.embedding_dim]
    if wrong:
        raise UserError(
            f"the checkpoint is a {arch.name} model with {arch.embedding_dim}-value embeddings, but the "
            f"chain's targets have {len(wrong[0].embedding)} values; score a checkpoint of the chain's size."
        )

    needed: dict[str, list[str]] = {}
    for t in targets:
        for mid in competitors(t, mode, named):
            needed.setdefault(mid, []).append(t.target_id)
    if own:
        needed.setdefault(own, [])
        needed[own] = sorted({*needed[own], *(t.target_id for t in targets)})
    manifests: dict[str, ModelManifest] = {}
    for mid in needed:
        got = await client.get_model_manifests([mid])
        if got:
            m = got[0]
            key = getattr(m, "decryption_key", None)
            manifests[mid] = ModelManifest(
                str(m.url),
                str(m.checksum),
                int(m.size),
                Secret(str(key), label="decryption key") if key else None,
            )
    report.has_current = bool(own and own in manifests)

    cache = BlobCache(cache_dir, max_bytes=cache_bytes or DEFAULT_MAX_BYTES)
    base = rpc_url.rstrip("/")
    try:

        def fetch_all() -> tuple[dict[str, bytes], dict[str, Path]]:
            pieces: dict[str, bytes] = {}
            for i, t in enumerate(targets, start=1):
                say(f"fetching data {i}/{len(targets)}")
                d = t.data

                def get_data(url: str, d: Any = d, t: FilledTarget = t) -> Path:
                    return cache.fetch(url, d.checksum, d.size, f"the data of {t.target_id}")

                try:
                    path = _fetch_with_fallback(get_data, d.url, f"{base}/data/{t.target_id}")
                except BlobError as exc:
                    report.skipped.append(f"{t.target_id}: {exc}")
                    continue
                pieces[t.target_id] = path.read_bytes()  # at most a few MiB: the chain caps submissions
            weights: dict[str, Path] = {}
            for i, (mid, m) in enumerate(manifests.items(), start=1):
                say(f"fetching weights {i}/{len(manifests)}")

                def get_weights(url: str, m: ModelManifest = m, mid: str = mid) -> Path:
                    moved = ModelManifest(url, m.checksum, m.size, m.decryption_key)
                    return plaintext_weights(cache, moved, f"model {mid}")

                try:
                    weights[mid] = _fetch_with_fallback(get_weights, m.url, f"{base}/model/{mid}")
                except (BlobError, ScoreError) as exc:
                    report.skipped.append(f"{mid}: {exc}")
            return pieces, weights

        pieces, weights = await asyncio.to_thread(fetch_all)
        report_rows = _plan_and_score(
            report,
            targets,
            mode,
            named,
            own,
            arch,
            checkpoint,
            pieces,
            weights,
            seed,
            device,
            cpu_threads,
            say,
        )
        report.targets = await report_rows
    finally:
        cache.close()
    return report


async def _plan_and_score(
    report: ScoreReport,
    targets: list[FilledTarget],
    mode: str,
    named: Sequence[str],
    own: str | None,
    arch: Any,
    checkpoint: Path,
    pieces: dict[str, bytes],
    weights: dict[str, Path],
    seed: int,
    device: str | None,
    cpu_threads: int | None,
    say: Progress,
) -> list[TargetVerdict]:
    from soma_console.scoring.versus import VersusStats, evaluate_all

    usable: list[tuple[FilledTarget, tuple[str, ...]]] = []
    for t in targets:
        if t.target_id not in pieces:
            continue
        rivals = competitors(t, mode, named)
        missing = [m for m in rivals if m not in weights]
        if missing:
            report.skipped.append(f"{t.target_id}: no weights for {', '.join(missing)}")
            continue
        usable.append((t, rivals))
    plan: dict[str, list[str]] = {ME: [t.target_id for t, _ in usable]}
    for t, rivals in usable:
        for mid in rivals:
            plan.setdefault(mid, []).append(t.target_id)
    if own and own in weights:
        plan.setdefault(own, [])
        plan[own] = [*plan[own], *(t.target_id for t, _ in usable if t.target_id not in plan[own])]
    files = {ME: checkpoint, **weights}
    stats = VersusStats()
    results = await asyncio.to_thread(
        evaluate_all,
        arch,
        files,
        pieces,
        plan,
        seed=seed,
        device=device,
        cpu_threads=cpu_threads,
        progress=say,
        stats=stats,
    )
    report.tokens, report.seconds, report.device = stats.tokens, stats.seconds, stats.device
    from soma_console.scoring.compute import cosine_distance, pick_winner

    rows = []
    for t, rivals in usable:
        mine = results[(ME, t.target_id)]
        losses = [results[(m, t.target_id)].loss for m in rivals]
        best = pick_winner(losses)
        current = results.get((own, t.target_id)) if own else None
        my_loss = float(mine.loss)
        rows.append(
            TargetVerdict(
                target_id=t.target_id,
                my_loss=my_loss,
                winner_loss=float(losses[best]),
                winner_model_id=rivals[best],
                would_win=math.isfinite(my_loss) and my_loss < losses[best],
                distance=cosine_distance(mine.embedding, _np(t.embedding)),
                current_loss=None if current is None else float(current.loss),
            )
        )
    return rows


def _np(values: Sequence[float]) -> Any:
    import numpy as np

    return np.asarray(values, dtype=np.float32)


def dumps(report: ScoreReport) -> str:
    return json.dumps(report.to_json(), indent=2, sort_keys=True)


def update_verdict(report: ScoreReport) -> tuple[bool, str]:
    """Whether an update scored in ``report`` beats the model's current weights, and why.

    It beats them when its mean scoring loss over the scored targets is lower than the current
    weights' on the same targets. A model without revealed weights has nothing to lose; no
    scored target means no evidence, so the update is held back.
    """
    if report.model_id and not report.has_current:
        return True, f"model {report.model_id} has no revealed weights yet"
    delta = report.mean_current_delta
    if not report.scored or delta is None:
        return False, "no filled target could be scored, so there is no evidence the update is better"
    if delta < 0:
        return (
            True,
            f"lower loss than the current weights on {report.beats_current} of {report.scored} targets",
        )
    return False, (
        f"not better than the current weights (mean loss delta {delta:+.4f} over {report.scored} targets)"
    )


@dataclass(frozen=True)
class UpdateGate:
    """What the ``--commit-if-better`` gate decided for one update, and why."""

    commit: bool
    why: str
    summary: str  # the score's one-line summary, for the log
    report: ScoreReport


async def gate_update(
    session: Any, cache_dir: Path, weights: Path, manifest: Any, *, model_id: str, count: int
) -> UpdateGate:
    """Score ``weights`` (an update of ``model_id``) on the last ``count`` filled targets against
    the model's current revealed weights, and decide whether to commit it (:func:`update_verdict`).
    The autopilot's train rounds and the Modal cron's rounds both go through this."""
    report = await score_checkpoint(
        await session.client(),
        session.profile.rpc_url,
        weights,
        manifest,
        cache_dir,
        count=count,
        model_id=model_id,
    )
    ok, why = update_verdict(report)
    return UpdateGate(ok, why, report.summary(), report)
