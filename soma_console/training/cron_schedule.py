"""The two schedules of the Modal cron, checked before anything is deployed.

* **Reveals** run on their own cheap CPU-only schedule derived from the chain's epoch duration: a
  wall-clock cron expression (``*/10 * * * *``), so a redeploy never moves it (a ``modal.Period``
  restarts from the deploy time). Its gap is at most a sixth of an epoch and at most an hour, so a
  reveal window (one epoch long) sees at least six attempts; a chain whose epochs are too short for
  that (under six minutes: Modal's finest cron step is a minute) is refused.
* **Training rounds** run on the user's ``--every`` or ``--cron``; they commit but never gate a
  reveal. Their schedule is bounded (no gap over a week, none under ten minutes) and a cron
  expression is parsed here, field by field, because ``modal.Cron`` accepts any string.

Everything here is pure: no modal, no network.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from soma_console.errors import UsageError

MIN_TRAIN_PERIOD = timedelta(minutes=10)
MAX_TRAIN_PERIOD = timedelta(days=7)
REVEAL_ATTEMPTS_PER_WINDOW = 6
MAX_REVEAL_GAP_S = 3600
MIN_EPOCH_S = REVEAL_ATTEMPTS_PER_WINDOW * 60

_EVERY = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, low, high, names) for minute, hour, day of month, month, day of week
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _describe(td: timedelta) -> str:
    s = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def parse_every(text: str) -> timedelta:
    """``90m``, ``6h``, ``1d``: the period between training rounds (10 minutes to 7 days)."""
    match = _EVERY.match(text)
    if match is None:
        raise UsageError(
            f"--every {text!r} is not a period.", hint="Use a number and a unit, like 30m, 6h or 1d."
        )
    period = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if period < MIN_TRAIN_PERIOD:
        raise UsageError(f"--every {text} is too often; a round trains for a while, so use 10m or more.")
    if period > MAX_TRAIN_PERIOD:
        raise UsageError(
            f"--every {text} is longer than {_describe(MAX_TRAIN_PERIOD)}; a schedule that rare is "
            "almost certainly a typo.",
            hint="Use 7d or less (reveals have their own schedule either way).",
        )
    return period


@dataclass(frozen=True)
class CronExpr:
    """A parsed five-field cron expression (UTC), as Modal runs it."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches_day(self, d: datetime) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow  # both restricted: either matches (classic cron)

    def firings(self, start: datetime, end: datetime) -> list[datetime]:
        out: list[datetime] = []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end:
            if self.matches_day(day):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        t = day.replace(hour=h, minute=m)
                        if start <= t <= end:
                            out.append(t)
            day += timedelta(days=1)
        return out

    def max_gap(self, start: datetime | None = None) -> timedelta | None:
        """The longest wait between two firings over the next two years (None: it never fires)."""
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        times = self.firings(start, start + timedelta(days=2 * 366))
        if len(times) < 2:
            return None
        return max(b - a for a, b in itertools.pairwise(times))


def _field(text: str, name: str, low: int, high: int, names: dict[str, int], expr: str) -> frozenset[int]:
    def bad(why: str) -> UsageError:
        return UsageError(
            f"--cron {expr!r} is not a valid schedule: the {name} field {text!r} {why}.",
            hint='Use five fields (minute hour day-of-month month day-of-week), e.g. "0 */6 * * *", UTC.',
        )

    def number(tok: str) -> int:
        tok = tok.lower()
        if tok in names:
            return names[tok]
        if not tok.isdigit():
            raise bad(f"has {tok!r}, which is not a number")
        value = int(tok)
        if not low <= value <= high:
            raise bad(f"has {value}, outside {low}..{high}")
        return value

    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise bad("has an empty item")
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise bad(f"has the step {step_text!r}")
            step = int(step_text)
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            first, _, last = rng.partition("-")
            a, b = number(first), number(last)
            if a > b:
                raise bad(f"has the backwards range {rng!r}")
        else:
            a = number(rng)
            b = high if step_text else a
        values.update(range(a, b + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> CronExpr:
    """Parse and check a cron expression; a bad one is one sentence naming the field."""
    parts = expr.split()
    if len(parts) != 5:
        raise UsageError(
            f"--cron {expr!r} is not a valid schedule: it has {len(parts)} fields, not 5.",
            hint='Use minute hour day-of-month month day-of-week, e.g. "0 */6 * * *" (UTC).',
        )
    sets = [_field(p, *spec, expr) for p, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = CronExpr(expr, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")
    if not any(
        cron.matches_day(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i)) for i in range(366 * 4)
    ):
        raise UsageError(f"--cron {expr!r} never fires (no such date).")
    return cron


def check_train_cron(expr: str) -> CronExpr:
    cron = parse_cron(expr)
    gap = cron.max_gap()
    if gap is None or gap > MAX_TRAIN_PERIOD:
        raise UsageError(
            f"--cron {expr!r} leaves up to {_describe(gap) if gap else 'forever'} between rounds; "
            f"the most allowed is {_describe(MAX_TRAIN_PERIOD)}.",
            hint='Fire at least weekly, e.g. "0 */6 * * *".',
        )
    if gap < MIN_TRAIN_PERIOD:
        raise UsageError(
            f"--cron {expr!r} fires every {_describe(gap)}; a round trains for a while, so leave 10 "
            "minutes or more between rounds."
        )
    return cron


@dataclass(frozen=True)
class RevealSchedule:
    cron: str
    gap_s: int
    epoch_s: float

    @property
    def attempts_per_window(self) -> int:
        return int(self.epoch_s // self.gap_s)


def reveal_schedule(epoch_s: float) -> RevealSchedule:
    """The wall-clock reveal schedule for epochs of ``epoch_s`` seconds, or a refusal."""
    if epoch_s < MIN_EPOCH_S:
        raise UsageError(
            f"this chain's epochs last {epoch_s:g} s: too short for a Modal schedule (one round a minute "
            f"at most) to promise {REVEAL_ATTEMPTS_PER_WINDOW} reveal attempts in every window.",
            hint="Reveal from this machine with `soma-console autopilot --yes` instead.",
        )
    budget = min(MAX_REVEAL_GAP_S, epoch_s / REVEAL_ATTEMPTS_PER_WINDOW)
    for minutes in (60, 30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1):
        if minutes * 60 <= budget:
            expr = {60: "0 * * * *", 1: "* * * * *"}.get(minutes, f"*/{minutes} * * * *")
            return RevealSchedule(expr, minutes * 60, epoch_s)
    raise AssertionError("unreachable: epoch_s >= MIN_EPOCH_S gives a budget of a minute or more")
