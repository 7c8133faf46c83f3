"""Periods: parsing, calendar arithmetic and period indexes, in Python and as Ibis expressions.

A period is the half-open range of *local* dates ``[start, end)`` (DESIGN §4). Dates are the local
dates materialised in the analytics snapshot (``order_date``, ``refund_date``, ...), so nothing here
depends on a backend's session time zone.

Choices the definitions leave open, decided here:

- ``--as-of D`` means "as known at the start of local day D": facts dated D or later are ignored. The
  default as-of is today in the configured time zone.
- ``--period month|quarter|year --last N`` is one period spanning the N most recent *complete*
  calendar periods before the as-of date: with as-of 2024-03-15, ``--period month --last 1`` is
  February 2024 and ``--last 3`` is December 2023 – February 2024. An as-of date on a boundary
  (2024-03-01) makes February the last complete month too.
- The *previous* period (trend, NRR) of a period of whole calendar months is the same number of
  months before it (Feb → Jan, Q2 → Q1); any other period steps back by its length in days.
- Period indexes (used for cohorts and lifecycle) are integers: months since year 0
  (``year * 12 + month - 1``) and ISO weeks (Monday to Sunday) since Monday 1970-01-05. Labels are
  ``2024-01`` for months and ``2024-W05`` (ISO week-numbering year and week) for weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import ibis.expr.types as ir

from retentio.errors import UserError

PeriodKind = Literal["month", "quarter", "year"]
CohortUnit = Literal["month", "week"]

PERIOD_KINDS: tuple[str, ...] = ("month", "quarter", "year")
COHORT_UNITS: tuple[str, ...] = ("month", "week")

# Monday of ISO week 1970-W02: weekly indexes count whole weeks from here, so a week index never
# straddles two ISO weeks and stays non-negative for any date a shop can have.
EPOCH_MONDAY = date(1970, 1, 5)


@dataclass(frozen=True)
class Period:
    """Local dates ``[start, end)``; ``end`` is exclusive."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise UserError(
                "the period must end after it starts: "
                f"from {self.start.isoformat()} to {self.end.isoformat()}"
            )

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.end - self.start).days

    @property
    def whole_months(self) -> int | None:
        """How many calendar months the period spans when it starts and ends on a 1st, else None."""
        if self.start.day != 1 or self.end.day != 1:
            return None
        return month_index(self.end) - month_index(self.start)

    def previous(self) -> Period:
        """The previous period of equal length that ends where this one starts.

        A period of whole calendar months steps back by the same number of months (February's
        previous period is January, not the 29 days before February 1st); any other period steps
        back by the same number of days.
        """
        months = self.whole_months
        if months is not None:
            return Period(add_months(self.start, -months), self.start)
        return Period(self.start - timedelta(days=self.days), self.start)

    def contains(self, day: date) -> bool:
        """Whether a local date falls in ``[start, end)``."""
        return self.start <= day < self.end


def parse_date(text: str, option: str = "date") -> date:
    """An ISO date (``2024-01-31``); the message names the option and the accepted form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date: use YYYY-MM-DD, e.g. 2024-01-31") from None


def today_in(timezone: str) -> date:
    """The current local date in a time zone (the default as-of date)."""
    return datetime.now(ZoneInfo(timezone)).date()


def as_of_or_today(text: str | None, timezone: str) -> date:
    """The ``--as-of`` date given on the command line, or today in ``timezone`` when there is none."""
    return parse_date(text, "--as-of") if text else today_in(timezone)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after the month of ``day`` (day of month is dropped)."""
    index = month_index(day) + months
    return month_start_of_index(index)


def month_index(day: date) -> int:
    """Months since January of year 0: consecutive months have consecutive indexes."""
    return day.year * 12 + day.month - 1


def month_start_of_index(index: int) -> date:
    """The first day of the month with this index."""
    return date(index // 12, index % 12 + 1, 1)


def week_index(day: date) -> int:
    """ISO weeks (Monday to Sunday) since the week of 1970-01-05."""
    return (day - EPOCH_MONDAY).days // 7


def week_start_of_index(index: int) -> date:
    """The Monday of the week with this index."""
    return EPOCH_MONDAY + timedelta(days=7 * index)


def period_index(day: date, unit: CohortUnit) -> int:
    """Month or week index of a date."""
    return month_index(day) if unit == "month" else week_index(day)


def period_start_of_index(index: int, unit: CohortUnit) -> date:
    """First day of the month or week with this index."""
    return month_start_of_index(index) if unit == "month" else week_start_of_index(index)


def period_label(index: int, unit: CohortUnit) -> str:
    """``2024-01`` for a month, ``2024-W05`` (ISO year and week) for a week."""
    if unit == "month":
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    iso = week_start_of_index(index).isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def period_index_expr(local_date: ir.DateValue, unit: CohortUnit) -> ir.IntegerValue:
    """The same index as :func:`period_index`, computed in the engine.

    Months use ``year * 12 + month - 1`` (integer extraction agrees on every backend); weeks use the
    day difference to :data:`EPOCH_MONDAY`, which ibis 12 computes identically on DuckDB, PostgreSQL
    and Spark for *date* operands (DESIGN §2: never on timestamps).
    """
    if unit == "month":
        return (local_date.year() * 12 + local_date.month() - 1).cast("int64")
    import ibis

    days = local_date.delta(ibis.date(EPOCH_MONDAY), unit="day").cast("int64")
    return (days // 7).cast("int64")


def check_unit(unit: str) -> CohortUnit:
    """Validate a cohort/lifecycle unit."""
    if unit not in COHORT_UNITS:
        raise UserError(f"unknown period unit {unit!r}: use one of {', '.join(COHORT_UNITS)}")
    return unit  # type: ignore[return-value]


def last_complete_periods(kind: str, count: int, as_of: date) -> Period:
    """One period spanning the ``count`` most recent complete months/quarters/years before ``as_of``."""
    if kind not in PERIOD_KINDS:
        raise UserError(f"unknown --period {kind!r}: use one of {', '.join(PERIOD_KINDS)}")
    if count < 1:
        raise UserError(f"--last must be at least 1, got {count}")
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    if kind == "month":
        end = date(as_of.year, as_of.month, 1)
    elif kind == "quarter":
        end = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    else:
        end = date(as_of.year, 1, 1)
    return Period(add_months(end, -months * count), end)


def resolve_period(
    start: date | None,
    end: date | None,
    kind: str | None,
    last: int | None,
    as_of: date,
) -> Period:
    """The period a KPI command asks for: explicit ``--from/--to`` or ``--period/--last``.

    With neither, the default is the last complete month before the as-of date.
    """
    explicit = start is not None or end is not None
    relative = kind is not None or last is not None
    if explicit and relative:
        raise UserError("give either --from/--to or --period/--last, not both")
    if explicit:
        if start is None or end is None:
            raise UserError("--from and --to go together (the period is [from, to), local dates)")
        return Period(start, end)
    return last_complete_periods(kind or "month", last or 1, as_of)
