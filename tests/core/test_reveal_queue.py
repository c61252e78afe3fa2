"""Reveal windows computed from the journal and a chain snapshot, with an injected clock."""

from __future__ import annotations

from soma_console.core.chainstate import ChainParams, ChainSnapshot
from soma_console.core.journal import Intent
from soma_console.core.reveal_queue import (
    CLOSING,
    MISSED,
    OPEN,
    REVEALED,
    UNCONFIRMED,
    UNKNOWN,
    WAITING,
    build_queue,
    entry_for,
    format_countdown,
    is_closing,
    retime,
)

T0 = 1_800_000_000.0  # a fixed "now" in unix seconds
DAY = 86_400


def snap(epoch: int, start: float, duration_s: int = DAY) -> ChainSnapshot:
    return ChainSnapshot(
        chain="devnet",
        taken_at=T0,
        epoch=epoch,
        epoch_start_ms=int(start * 1000),
        epoch_duration_ms=duration_s * 1000,
        params=ChainParams(duration_s * 1000, 10**9, 1, 5000),
        models=(),
    )


def intent(
    i: int = 1, *, state: str = "confirmed", commit_epoch: int | None = 10, update: bool = False
) -> Intent:
    return Intent(
        id=i,
        created_at=T0,
        updated_at=T0,
        chain="devnet",
        signer="ab" * 32,
        kind="commit",
        model_id="0x" + "11" * 32,
        artifact_id=1,
        params={"update": update, "weights_url": "http://x/y"},
        state=state,
        digest="d",
        commit_epoch=commit_epoch,
        reveal_digest=None,
        revealed_epoch=None,
        error=None,
        attempts=0,
    )


def test_waiting_during_the_commit_epoch_counts_down_to_the_boundary() -> None:
    e = entry_for(intent(), snap(10, T0 - 3600), now=T0)
    assert e.state == WAITING
    assert e.opens_at == T0 - 3600 + DAY
    assert e.closes_at == T0 - 3600 + 2 * DAY
    assert e.seconds_to_open == DAY - 3600
    assert e.seconds_to_close == 2 * DAY - 3600
    assert not e.actionable
    assert e.kind == "initial"


def test_open_in_the_reveal_epoch_with_time_left() -> None:
    e = entry_for(intent(update=True), snap(11, T0 - 1000), now=T0)
    assert e.state == OPEN
    assert e.actionable
    assert e.seconds_to_close == DAY - 1000
    assert e.fraction_left is not None and 0.98 < e.fraction_left < 0.99
    assert not e.alarm
    assert e.kind == "update"


def test_alarm_when_less_than_a_tenth_of_the_window_is_left() -> None:
    e = entry_for(intent(), snap(11, T0 - 0.95 * DAY), now=T0)
    assert e.state == CLOSING
    assert e.alarm
    assert e.actionable
    just_before = entry_for(intent(), snap(11, T0 - 0.89 * DAY), now=T0)
    assert just_before.state == OPEN and not just_before.alarm


def test_window_past_its_epoch_is_missed() -> None:
    assert entry_for(intent(), snap(12, T0), now=T0).state == MISSED
    assert entry_for(intent(state="missed"), snap(11, T0), now=T0).state == MISSED


def test_clock_moving_forward_shrinks_countdowns() -> None:
    s = snap(11, T0)
    a = entry_for(intent(), s, now=T0 + 10)
    b = entry_for(intent(), s, now=T0 + 70)
    assert a.seconds_to_close is not None and b.seconds_to_close is not None
    assert a.seconds_to_close - b.seconds_to_close == 60


def test_unconfirmed_unknown_and_revealed() -> None:
    assert entry_for(intent(state="submitted", commit_epoch=None), snap(10, T0), now=T0).state == UNCONFIRMED
    assert entry_for(intent(), None, now=T0).state == UNKNOWN
    assert entry_for(intent(state="revealed"), snap(11, T0), now=T0).state == REVEALED


def test_queue_orders_most_urgent_first_and_skips_failed_and_other_kinds() -> None:
    items = [
        intent(1, commit_epoch=10),  # open (epoch 11)
        intent(2, commit_epoch=11),  # waiting
        intent(3, state="revealed"),
        intent(4, state="failed"),
        intent(5, commit_epoch=9),  # missed
    ]
    other = Intent(**{**intent(6).__dict__, "kind": "commission"})
    q = build_queue([*items, other], snap(11, T0 - 100), now=T0)
    assert [(e.intent_id, e.state) for e in q] == [(1, OPEN), (2, WAITING), (5, MISSED), (3, REVEALED)]


def test_short_devnet_epochs() -> None:
    e = entry_for(intent(), snap(10, T0 - 20, duration_s=60), now=T0)
    assert e.seconds_to_open == 40
    assert e.seconds_to_close == 100


def test_format_countdown() -> None:
    assert format_countdown(None) == "-"
    assert format_countdown(5) == "00:05"
    assert format_countdown(3725) == "01:02:05"
    assert format_countdown(DAY + 61) == "1d 00:01:01"
    assert format_countdown(-3) == "00:00"


def test_an_overwritten_update_is_not_called_missed() -> None:
    from dataclasses import replace

    from soma_console.core.reveal_queue import OVERWRITTEN

    # core/lifecycle.py records a replaced update with this reason
    replaced = replace(intent(state="missed", update=True), error="overwritten by a later commit")
    assert entry_for(replaced, snap(12, T0), now=T0).state == OVERWRITTEN
    slashed = replace(intent(state="missed"), error="the reveal window closed without a reveal")
    assert entry_for(slashed, snap(12, T0), now=T0).state == MISSED


def test_retime_ticks_an_open_window_into_the_alarm_without_a_new_read() -> None:
    # read with 3 h of a day-long window left: open, no alarm
    e = entry_for(intent(), snap(11, T0 - 21 * 3600), now=T0)
    assert e.state == OPEN and not e.alarm
    later = retime(e, T0 + 3600)  # 2 h left: under 10% of the day
    assert later.state == CLOSING and later.alarm
    assert later.seconds_to_close == 7200.0 and later.fraction_left == 7200 / DAY
    # the same rule the queue itself applies on a fresh read at that moment
    fresh = entry_for(intent(), snap(11, T0 - 21 * 3600), now=T0 + 3600)
    assert (fresh.state, fresh.alarm, fresh.seconds_to_close) == (later.state, later.alarm, 7200.0)


def test_retime_keeps_a_waiting_window_waiting_past_its_estimated_opening() -> None:
    e = entry_for(intent(), snap(10, T0 - 3600), now=T0)
    assert e.state == WAITING
    past = retime(e, (e.opens_at or 0) + 60)  # the chain has not reported the new epoch yet
    assert past.state == WAITING and not past.alarm
    assert past.seconds_to_open == 0.0 and past.seconds_to_close == DAY - 60


def test_retime_leaves_settled_entries_alone() -> None:
    e = entry_for(intent(state="revealed"), snap(12, T0), now=T0)
    assert retime(e, T0 + 10 * DAY) is e


def test_the_alarm_rule_is_ten_percent_of_the_window() -> None:
    assert is_closing(0.099) and not is_closing(0.10) and not is_closing(0.5)
