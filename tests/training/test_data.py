"""Data sources, the held-out split, and exact resume of the shuffled stream."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from soma_models.v1.tokenizer import tokenize

from soma_console.training.data_heldout import HeldOut, heldout_set, tokenize_doc
from soma_console.training.data_open import builtin_files, open_source
from soma_console.training.data_prefetch import Prefetcher
from soma_console.training.data_sources import DataError
from soma_console.training.data_stream import TrainStream

SEQ = 64


def _docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "soma", "weights", "epoch", "reveal", "ünïcode", "🙂"]
    return [" ".join(rng.choice(words, size=int(rng.integers(5, 80)))) for _ in range(n)]


def _write_jsonl(path: Path, docs: list[str]) -> None:
    path.write_text(
        "".join(json.dumps({"id": i, "text": d}) + "\n" for i, d in enumerate(docs)), encoding="utf-8"
    )


def _take(stream: TrainStream, n: int) -> list[np.ndarray]:
    return [next(stream) for _ in range(n)]


def test_builtin_source_is_the_running_pythons_stdlib() -> None:
    files = builtin_files()
    assert files[0].name == "topics.py"
    assert files[0].parent.name == "pydoc_data"
    assert len(files) > 100
    assert all(f.suffix == ".py" for f in files)
    src = open_source("builtin")
    key, data, _ = next(src.documents())
    assert key.startswith("builtin/pydoc_data/topics.py")
    assert len(data) > 1000


def test_sequences_are_the_tokenizers_output() -> None:
    data = bytes(range(256)) * 3
    ours = tokenize_doc(data, SEQ)
    theirs = tokenize(data, max_seq_len=SEQ)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.tolist() == [b.token_ids, b.targets, b.pos_ids]


def test_heldout_never_trains(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "d.jsonl", _docs(300))
    src = open_source(str(tmp_path / "d.jsonl"))
    held, split = heldout_set(src, SEQ, 0.1, 8)
    assert len(held) == 8
    stream = TrainStream(src, SEQ, split, seed=1, buffer_size=16)
    train = {a.tobytes() for a in _take(stream, 300)}
    assert not train & {h.tobytes() for h in held}
    # The split is a pure function of the data.
    again, _ = heldout_set(open_source(str(tmp_path / "d.jsonl")), SEQ, 0.1, 8)
    assert [a.tobytes() for a in again] == [h.tobytes() for h in held]


@pytest.mark.parametrize("kind", ["builtin", "jsonl", "parquet", "text", "binary", "folder"])
def test_resume_from_any_snapshot_continues_identically(tmp_path: Path, kind: str) -> None:
    data = _make_source(tmp_path, kind)
    src = open_source(data)
    _, split = heldout_set(src, SEQ, 0.05, 2)
    stream = TrainStream(src, SEQ, split, seed=3, buffer_size=8)
    rng = np.random.default_rng(0)
    for _ in range(4):
        _take(stream, int(rng.integers(1, 60)))
        snap = stream.snapshot()
        expected = _take(stream, 40)
        resumed = TrainStream(open_source(data), SEQ, split, seed=3, buffer_size=8, state=snap)
        got = _take(resumed, 40)
        assert [a.tobytes() for a in got] == [e.tobytes() for e in expected]
        stream = resumed


def _make_source(tmp_path: Path, kind: str) -> str:
    if kind == "builtin":
        return "builtin"
    docs = _docs(80)
    if kind == "jsonl":
        _write_jsonl(tmp_path / "d.jsonl", docs)
        return str(tmp_path / "d.jsonl")
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"text": docs}), tmp_path / "d.parquet")
        return str(tmp_path / "d.parquet")
    if kind == "text":
        (tmp_path / "d.txt").write_text("\n\n".join(docs), encoding="utf-8")
        return str(tmp_path / "d.txt")
    if kind == "binary":
        (tmp_path / "blob.bin").write_bytes(os.urandom(20_000))
        return str(tmp_path / "blob.bin")
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    _write_jsonl(folder / "a.jsonl", docs[:30])
    (folder / "sub" / "b.txt").write_text("\n\n".join(docs[30:]), encoding="utf-8")
    (folder / "c.bin").write_bytes(bytes(range(256)) * 20)
    (folder / "empty.txt").write_bytes(b"")
    return str(folder)


def test_text_files_keep_their_bytes(tmp_path: Path) -> None:
    good = "first paragraph\nwith two lines\n\nsecond, ünïcode\n".encode()
    bad = b"a text file that is not utf-8: \xff\xfe\n"
    (tmp_path / "good.txt").write_bytes(good)
    (tmp_path / "bad.txt").write_bytes(bad)
    [(_, data, _)] = list(open_source(str(tmp_path / "good.txt")).documents())
    assert data == good  # paragraphs packed back together exactly
    [(_, data, _)] = list(open_source(str(tmp_path / "bad.txt")).documents())
    assert data == bad


def test_binary_files_are_data(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 4
    (tmp_path / "model.weird").write_bytes(blob)
    [(_, data, _)] = list(open_source(str(tmp_path / "model.weird")).documents())
    assert data == blob


def test_a_single_small_file_still_gets_a_heldout_set(tmp_path: Path) -> None:
    (tmp_path / "small.md").write_text("tiny " * 200)
    src = open_source(str(tmp_path / "small.md"))
    held, split = heldout_set(src, SEQ, 0.001, 4)
    assert 1 <= len(held) <= 4
    assert split.extra
    train = {a.tobytes() for a in _take(TrainStream(src, SEQ, split, seed=0, buffer_size=4), 50)}
    assert not train & {h.tobytes() for h in held}


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no non-empty files"),
        (lambda p: (p / "zero.txt").write_bytes(b"") or p / "zero.txt", "no non-empty files"),
    ],
)
def test_missing_or_empty_paths_are_clear_errors(tmp_path: Path, setup, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError) as info:
        open_source(str(setup(tmp_path)))
    assert needle in str(info.value)


def test_prefetcher_delivers_the_same_batches_and_positions_as_inline(tmp_path: Path) -> None:
    src = open_source("builtin")
    split = HeldOut(0.02)
    inline = Prefetcher(TrainStream(src, SEQ, split, 5, 16), 3, lambda a: a, depth=0)
    threaded = Prefetcher(TrainStream(src, SEQ, split, 5, 16), 3, lambda a: a, depth=3)
    try:
        for _ in range(20):
            a, b = inline.next(), threaded.next()
            assert np.array_equal(a.batch, b.batch)
            assert a.state.position() == b.state.position()
    finally:
        threaded.close()
