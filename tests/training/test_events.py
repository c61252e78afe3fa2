"""The event stream parses into the same records however it arrives."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soma_console.training import events as ev

FOREIGN = [
    "Downloading data: 100%|██████████| 3/3 [00:01<00:00]",
    "Traceback (most recent call last):",
    '{"not": "an event"}',
    "[2026-01-01 00:00:00] torch: some warning { with a brace",
    "",
    "\x1b[31mred text\x1b[0m",
]


def _events() -> st.SearchStrategy[ev.Event]:
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
    text = st.text(min_size=0, max_size=30)
    steps = st.integers(min_value=0, max_value=10**9)
    return st.one_of(
        st.builds(
            ev.Step,
            step=steps,
            total_steps=steps,
            loss=st.one_of(finite, st.just(math.inf), st.just(-math.inf)),
            ce=finite,
            sigreg=finite,
            lr=finite,
            tokens_per_s=finite,
        ),
        st.builds(ev.Started, run=text, framework=text, device=text, preset=text, total_steps=steps),
        st.builds(ev.CheckpointSaved, step=steps, path=text, manifest=text, loss=st.none() | finite),
        st.builds(ev.Eval, step=steps, eval_loss=finite),
        st.builds(ev.Finished, step=steps, final_path=text),
        st.builds(ev.Error, error=text, summary=text, step=st.none() | steps),
    )


def _comparable(records: list[ev.AnyRecord]) -> list[object]:
    return [r for r in records if isinstance(r, ev.Event)]


def _stream(events: list[ev.Event], foreign: list[str]) -> str:
    lines: list[str] = []
    for i, e in enumerate(events):
        if foreign:
            lines.append(foreign[i % len(foreign)])
        lines.append(e.to_line())
    return "".join(line + "\n" for line in lines)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def _feed(chunks: list[bytes] | list[str]) -> list[ev.AnyRecord]:
    asm = ev.LineAssembler()
    out: list[ev.AnyRecord] = []
    for c in chunks:
        out.extend(asm.feed(c))
    return out + asm.flush()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_events(), min_size=1, max_size=8), cuts=st.lists(st.integers(0, 10**6), max_size=40))
def test_any_chunking_gives_the_same_records(events: list[ev.Event], cuts: list[int]) -> None:
    data = _stream(events, FOREIGN).encode("utf-8")
    whole_lines = [ev.parse_line(line) for line in data.decode("utf-8").split("\n")[:-1]]
    expected = _comparable(whole_lines)
    # Round trip: each event comes back as itself (NaN-free floats compare equal; inf survives).
    assert expected == events
    assert _comparable(_feed([data])) == expected
    assert _comparable(_feed(_split(data, cuts))) == expected
    # Byte by byte: multi-byte UTF-8 characters are cut in half along the way.
    assert _comparable(_feed([data[i : i + 1] for i in range(len(data))])) == expected


@given(events=st.lists(_events(), min_size=1, max_size=5))
@settings(max_examples=30, deadline=None)
def test_foreign_lines_survive_as_log_lines(events: list[ev.Event]) -> None:
    records = _feed([_stream(events, FOREIGN).encode()])
    logs = [r.text for r in records if isinstance(r, ev.LogLine)]
    assert logs == [FOREIGN[i % len(FOREIGN)] for i in range(len(events))]


def test_nan_is_sent_as_a_string_and_read_back_as_nan() -> None:
    line = ev.Step(
        step=1, total_steps=2, loss=math.nan, ce=1.0, sigreg=0.0, lr=1e-3, tokens_per_s=1.0
    ).to_line()
    assert "NaN" not in line  # valid JSON
    back = ev.parse_line(line)
    assert isinstance(back, ev.Step)
    assert math.isnan(back.loss)


def test_unknown_fields_are_ignored_and_unknown_types_are_log_lines() -> None:
    line = '{"soma_event":"eval","v":99,"step":3,"eval_loss":1.5,"new_field":[1,2]}'
    rec = ev.parse_line(line)
    assert rec == ev.Eval(step=3, eval_loss=1.5, t=rec.t)
    assert isinstance(ev.parse_line('{"soma_event":"from_the_future","v":2}'), ev.LogLine)
    assert isinstance(ev.parse_line('{"soma_event":"step","v":1}'), ev.LogLine)  # required fields missing


def test_a_prefix_before_the_json_is_tolerated() -> None:
    e = ev.Eval(step=5, eval_loss=2.0)
    assert ev.parse_line(f"2026-01-01T00:00:00Z stdout {e.to_line()}") == e


def test_via_a_file_written_in_pieces(tmp_path: Path) -> None:
    events = [
        ev.Step(step=i, total_steps=9, loss=1.0 / (i + 1), ce=0.5, sigreg=0.1, lr=1e-3, tokens_per_s=9.0)
        for i in range(9)
    ]
    data = _stream(events, FOREIGN).encode()
    path = tmp_path / "events.jsonl"
    asm = ev.LineAssembler()
    got: list[ev.AnyRecord] = []
    with open(path, "wb") as w, open(path, "rb") as r:
        for piece in _split(data, [7, 100, 101, 555, 1000, 1333]):
            w.write(piece)
            w.flush()
            got.extend(asm.feed(r.read()))
    got.extend(asm.flush())
    assert _comparable(got) == events


def test_via_a_pipe_from_another_process() -> None:
    """A child writes events (plus foreign lines) in odd-sized, unflushed-then-flushed pieces."""
    events = [ev.Eval(step=i, eval_loss=float(i)) for i in range(50)]
    data = _stream(events, FOREIGN)
    child = (
        "import sys, os\n"
        "data = sys.stdin.buffer.read()\n"
        "i = 0\n"
        "for n in [1, 3, 7, 4096, 13, 2]*1000:\n"
        "    os.write(1, data[i:i+n]); i += n\n"
        "    if i >= len(data): break\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(data.encode())
    proc.stdin.close()
    asm = ev.LineAssembler()
    got: list[ev.AnyRecord] = []
    while chunk := os.read(proc.stdout.fileno(), 37):
        got.extend(asm.feed(chunk))
    got.extend(asm.flush())
    assert proc.wait() == 0
    assert _comparable(got) == events
