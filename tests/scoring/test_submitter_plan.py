"""The built-in submitter's decisions: which piece goes to which target (pure functions)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from soma_console.devnet.submitter import Piece, Scored, corpus_pieces, cosine_distance, plan_submissions


@dataclass
class T:
    id: str
    embedding: list[float]
    model_ids: list[str]
    distance_threshold: float = 0.5
    reward_pool: int = 100
    status: str = "open"
    extra: dict = field(default_factory=dict)


def _scored(key: str, emb: list[float], ids=("m1", "m2"), winner: int = 0) -> Scored:
    return Scored(Piece(key, key.encode()), tuple(ids), winner, (1.0,), tuple(emb))


def test_cosine_distance_is_one_minus_cos_in_f32():
    assert cosine_distance([1, 0], [1, 0]) == 0.0
    assert math.isclose(cosine_distance([1, 0], [0, 1]), 1.0)
    assert math.isclose(cosine_distance([1, 0], [-1, 0]), 2.0)
    a, b = [0.3, -1.2, 2.0], [1.0, 0.5, -0.25]
    expect = 1 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert math.isclose(cosine_distance(a, b), expect, rel_tol=1e-6)
    assert cosine_distance([0, 0], [1, 0]) == math.inf  # a zero vector never qualifies
    assert cosine_distance([1, 0, 0], [1, 0]) == math.inf  # wrong width never qualifies


def test_each_target_gets_the_nearest_piece_within_its_threshold():
    near_x = _scored("near-x", [1.0, 0.1])
    near_y = _scored("near-y", [0.1, 1.0])
    targets = [T("tx", [1.0, 0.0], ["m1", "m2"]), T("ty", [0.0, 1.0], ["m1", "m2"])]
    plans = plan_submissions(targets, {("m1", "m2"): [near_x, near_y]})
    assert {(p.target_id, p.scored.piece.key) for p in plans} == {("tx", "near-x"), ("ty", "near-y")}
    for p in plans:
        t = next(t for t in targets if t.id == p.target_id)
        assert p.distance == cosine_distance(p.scored.embedding, t.embedding)


def test_nothing_within_the_threshold_means_no_submission():
    far = _scored("far", [-1.0, 0.0])
    assert (
        plan_submissions([T("t", [1.0, 0.0], ["m1", "m2"], distance_threshold=0.9)], {("m1", "m2"): [far]})
        == []
    )
    # the threshold is inclusive (the chain checks distance <= threshold in f32)
    exact = _scored("exact", [0.0, 1.0])
    plans = plan_submissions(
        [T("t", [1.0, 0.0], ["m1", "m2"], distance_threshold=1.0)], {("m1", "m2"): [exact]}
    )
    assert [p.target_id for p in plans] == ["t"]


def test_scores_of_another_model_set_are_not_used():
    s = _scored("p", [1.0, 0.0], ids=("m1", "m3"))
    assert plan_submissions([T("t", [1.0, 0.0], ["m1", "m2"])], {("m1", "m3"): [s]}) == []


def test_the_winner_is_named_by_its_model_id_even_when_a_manifest_was_missing():
    # the chain returned manifests for m1 and m3 only: winner index 1 is m3, not target.model_ids[1]
    s = _scored("p", [1.0, 0.0], ids=("m1", "m3"), winner=1)
    plans = plan_submissions([T("t", [1.0, 0.0], ["m1", "m2", "m3"])], {("m1", "m2", "m3"): [s]})
    assert plans[0].scored.winner_model_id == "m3"


def test_richest_targets_first_unused_pieces_preferred_and_a_cap():
    a = _scored("a", [1.0, 0.0])
    b = _scored("b", [0.9, 0.2])
    targets = [T(f"t{i}", [1.0, 0.0], ["m1", "m2"], reward_pool=i) for i in range(5)]
    plans = plan_submissions(targets, {("m1", "m2"): [a, b]}, max_submissions=3)
    assert [p.target_id for p in plans] == ["t4", "t3", "t2"]
    assert [p.scored.piece.key for p in plans] == ["a", "b", "a"]  # the nearest, then the unused one
    closed = [T("t", [1.0, 0.0], ["m1", "m2"], status="filled")]
    assert plan_submissions(closed, {("m1", "m2"): [a]}) == []


def test_corpus_pieces_are_pieces_of_the_builtin_corpus():
    pieces = list(itertools.islice(corpus_pieces(1024), 5))
    assert len({p.key for p in pieces}) == 5
    assert all(512 <= len(p.data) <= 1024 for p in pieces)
    assert pieces[0].key.startswith("builtin/")
    assert pieces[0].blob_name != pieces[1].blob_name
