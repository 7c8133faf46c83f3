"""Pure rules: Wilson and NPS intervals, period parsing and arithmetic."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retentio.analytics.periods import (
    Period,
    add_months,
    last_complete_periods,
    parse_date,
    period_index,
    period_label,
    period_start_of_index,
    resolve_period,
)
from retentio.analytics.stats import nps_interval, nps_score, wilson_interval
from retentio.errors import UserError


def test_wilson_known_values() -> None:
    # Reference values: Brown, Cai & DasGupta (2001) / any statistics package.
    half = wilson_interval(5, 10)
    assert half is not None
    assert (half.low, half.high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    zero = wilson_interval(0, 10)
    assert zero is not None and zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    full = wilson_interval(10, 10)
    assert full is not None and full.high == 1.0 and full.low == pytest.approx(0.7225, abs=1e-4)
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@settings(max_examples=200)
@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_wilson_contains_the_estimate_and_narrows_with_n(successes: int, trials: int) -> None:
    successes = min(successes, trials)
    interval = wilson_interval(successes, trials)
    assert interval is not None
    assert 0.0 <= interval.low <= successes / trials <= interval.high <= 1.0
    bigger = wilson_interval(successes * 4, trials * 4)
    assert bigger is not None
    assert bigger.high - bigger.low <= interval.high - interval.low + 1e-12


def test_nps_score_and_interval() -> None:
    assert nps_score(0, 0, 0) is None and nps_interval(0, 0, 0) is None
    assert nps_score(6, 2, 2) == pytest.approx(40.0)
    assert nps_score(0, 5, 0) == 0.0
    # Adjusted Wald (Rocks 2016): n' = 13, p' = 6.75/13, d' = 2.75/13.
    interval = nps_interval(6, 2, 2)
    assert interval is not None
    centre = (6.75 - 2.75) / 13
    half = 1.959963984540054 * ((6.75 / 13 + 2.75 / 13 - centre**2) / 13) ** 0.5
    assert (interval.low, interval.high) == (
        pytest.approx(100 * (centre - half)),
        pytest.approx(100 * (centre + half)),
    )
    everyone = nps_interval(1000, 0, 0)
    assert everyone is not None and everyone.high == 100.0 and 95 < everyone.low < 100


def test_parse_date_messages() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(UserError, match=r"--from '31\.01\.2024' is not a date: use YYYY-MM-DD"):
        parse_date("31.01.2024", "--from")


def test_period_previous_is_calendar_aware() -> None:
    assert Period(date(2024, 3, 1), date(2024, 4, 1)).previous() == Period(date(2024, 2, 1), date(2024, 3, 1))
    assert Period(date(2024, 4, 1), date(2024, 7, 1)).previous() == Period(date(2024, 1, 1), date(2024, 4, 1))
    assert Period(date(2024, 3, 10), date(2024, 3, 17)).previous() == Period(
        date(2024, 3, 3), date(2024, 3, 10)
    )
    with pytest.raises(UserError, match="must end after"):
        Period(date(2024, 3, 1), date(2024, 3, 1))


def test_last_complete_periods() -> None:
    as_of = date(2024, 3, 15)
    assert last_complete_periods("month", 1, as_of) == Period(date(2024, 2, 1), date(2024, 3, 1))
    assert last_complete_periods("month", 3, as_of) == Period(date(2023, 12, 1), date(2024, 3, 1))
    assert last_complete_periods("quarter", 1, as_of) == Period(date(2023, 10, 1), date(2024, 1, 1))
    assert last_complete_periods("year", 2, date(2024, 1, 1)) == Period(date(2022, 1, 1), date(2024, 1, 1))
    with pytest.raises(UserError, match="unknown --period"):
        last_complete_periods("decade", 1, as_of)
    with pytest.raises(UserError, match="--last must be at least 1"):
        last_complete_periods("month", 0, as_of)


def test_resolve_period() -> None:
    as_of = date(2024, 3, 15)
    assert resolve_period(None, None, None, None, as_of) == Period(date(2024, 2, 1), date(2024, 3, 1))
    assert resolve_period(date(2024, 1, 1), date(2024, 2, 1), None, None, as_of).days == 31
    with pytest.raises(UserError, match="not both"):
        resolve_period(date(2024, 1, 1), date(2024, 2, 1), "month", 1, as_of)
    with pytest.raises(UserError, match="go together"):
        resolve_period(date(2024, 1, 1), None, None, None, as_of)


def test_period_indexes_and_labels() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 1)
    assert add_months(date(2024, 1, 15), -13) == date(2022, 12, 1)
    assert period_label(period_index(date(2024, 2, 29), "month"), "month") == "2024-02"
    # ISO weeks: 2024-12-30 (Monday) is in 2025-W01; 2021-01-03 (Sunday) is in 2020-W53.
    assert period_label(period_index(date(2024, 12, 31), "week"), "week") == "2025-W01"
    assert period_label(period_index(date(2021, 1, 3), "week"), "week") == "2020-W53"
    assert period_start_of_index(period_index(date(2024, 3, 14), "week"), "week") == date(2024, 3, 11)
