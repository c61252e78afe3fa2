"""The two schedules, checked before anything is deployed (pure functions, no Modal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soma_console.errors import UsageError
from soma_console.training.cron_schedule import (
    REVEAL_ATTEMPTS_PER_WINDOW,
    check_train_cron,
    parse_cron,
    parse_every,
    reveal_schedule,
)


@pytest.mark.parametrize(
    ("epoch_s", "expr"),
    [
        (86400, "0 * * * *"),
        (6 * 3600, "0 * * * *"),
        (3600, "*/10 * * * *"),
        (1800, "*/5 * * * *"),
        (360, "* * * * *"),
    ],
)
def test_the_reveal_schedule_gives_every_window_enough_attempts(epoch_s: float, expr: str) -> None:
    sched = reveal_schedule(epoch_s)
    assert sched.cron == expr
    gap = parse_cron(sched.cron).max_gap()
    assert gap is not None and gap.total_seconds() == sched.gap_s
    # wherever a window starts, it sees at least this many attempts
    assert epoch_s // sched.gap_s >= REVEAL_ATTEMPTS_PER_WINDOW


@pytest.mark.parametrize("epoch_s", [0, 60, 359])
def test_epochs_too_short_for_a_modal_schedule_are_refused(epoch_s: float) -> None:
    with pytest.raises(UsageError, match="too short"):
        reveal_schedule(epoch_s)


def test_every_is_bounded() -> None:
    assert parse_every("6h") == timedelta(hours=6)
    assert parse_every("7d") == timedelta(days=7)
    for text, why in (("9m", "too often"), ("8d", "longer than 7d"), ("6 hours", "not a period")):
        with pytest.raises(UsageError, match=why):
            parse_every(text)


def test_cron_expressions_are_parsed_not_trusted() -> None:
    c = parse_cron("0 */6 * * *")
    assert c.hours == frozenset({0, 6, 12, 18}) and c.minutes == frozenset({0})
    assert c.max_gap() == timedelta(hours=6)
    assert parse_cron("30 2 * * mon-fri").max_gap() == timedelta(days=3)  # Friday to Monday
    assert parse_cron("0 0 * * 7").weekdays == frozenset({0})  # 7 is Sunday too
    # day of month and day of week both restricted: either one fires (classic cron)
    both = parse_cron("0 0 1 * 1")
    fired = both.firings(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC))
    assert [t.day for t in fired] == [1, 8]
    for expr, why in (
        ("* * * *", "4 fields"),
        ("0 24 * * *", "hour field .* outside 0..23"),
        ("0 0 0 * *", "day of month"),
        ("0 0 * 13 *", "month"),
        ("x * * * *", "not a number"),
        ("5-1 * * * *", "backwards"),
        ("*/0 * * * *", "step"),
        ("0 0 30 2 *", "never fires"),
    ):
        with pytest.raises(UsageError, match=why):
            parse_cron(expr)


def test_training_cron_gaps_are_bounded() -> None:
    check_train_cron("0 */6 * * *")
    check_train_cron("0 3 * * sun")  # weekly is the most allowed
    with pytest.raises(UsageError, match="up to"):
        check_train_cron("0 0 1 * *")  # monthly
    with pytest.raises(UsageError, match="fires every 1m"):
        check_train_cron("* * * * *")
