"""Cohort matrices and lifecycle counts on hand-computed shops, on DuckDB and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retentio.analytics.cohorts import cohort_matrix
from retentio.analytics.lifecycle import lifecycle
from retentio.errors import UserError


def three_month_shop(rows: Any) -> Any:
    """January cohort a, b, c; February cohort d; as of 2024-03-15 March is not over."""
    rows.order("a1", "a", "2024-01-05T10:00:00Z", "100")
    rows.order("a2", "a", "2024-02-05T10:00:00Z", "50")
    rows.order("a3", "a", "2024-03-05T10:00:00Z", "20")
    rows.order("b1", "b", "2024-01-31T20:30:00Z", "40")  # 23:30 Moscow on Jan 31: January cohort
    rows.order("b2", "b", "2024-03-02T10:00:00Z", "60")
    rows.refund("rb", "b1", "2024-02-10T10:00:00Z", "30")  # January order, refund dated February
    rows.order("c1", "c", "2024-01-20T10:00:00Z", "10")
    rows.order("c2", "c", "2024-01-20T18:00:00Z", "15")  # same day
    rows.order("c3", "c", "2024-02-20T10:00:00Z", "999", status="cancelled")
    rows.order("d1", "d", "2024-02-29T21:30:00Z", "70")  # 00:30 Moscow on Mar 1: March cohort
    rows.order("e1", "e", "2024-02-10T10:00:00Z", "80")
    rows.order("late", "a", "2024-03-20T10:00:00Z", "5")  # after as-of: ignored
    return rows


AS_OF = date(2024, 3, 15)


def test_customer_matrix_by_hand(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(three_month_shop(snapshot_rows))
    matrix = cohort_matrix(tables, "month", "customers", as_of=AS_OF)
    rows = {row["cohort"]: row for row in matrix["cohorts"]}
    assert list(rows) == ["2024-01", "2024-02", "2024-03"]
    january = rows["2024-01"]
    assert january["size"] == 3
    assert january["counts"] == [3, 1, 2]  # Feb: a (c's order is cancelled); Mar: a, b
    assert january["values"] == [1.0, pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert january["partial"] == [False, False, True]
    assert rows["2024-02"] == {
        "cohort": "2024-02",
        "start": "2024-02-01",
        "size": 1,
        "values": [1.0, 0.0],
        "partial": [False, True],
        "counts": [1, 0],
    }
    assert rows["2024-03"]["size"] == 1 and rows["2024-03"]["partial"] == [True]


def test_cumulative_customers_never_increase(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(three_month_shop(snapshot_rows))
    matrix = cohort_matrix(tables, "month", "customers", cumulative=True, as_of=AS_OF)
    january = matrix["cohorts"][0]
    assert january["counts"] == [3, 2, 2]  # in Feb or later: a, b; in Mar or later: a, b
    assert january["values"] == [1.0, pytest.approx(2 / 3), pytest.approx(2 / 3)]


def test_revenue_matrix_attributes_refunds_to_their_period(
    analytics_backend: Any, snapshot_rows: Any
) -> None:
    tables = analytics_backend.load(three_month_shop(snapshot_rows))
    matrix = cohort_matrix(tables, "month", "revenue", as_of=AS_OF)
    january = matrix["cohorts"][0]
    # Jan: 100 + 40 + 10 + 15; Feb: 50 − 30 (b's refund); Mar: 20 + 60.
    assert january["revenue"] == [Decimal("165.00"), Decimal("20.00"), Decimal("80.00")]
    assert january["values"] == [Decimal("55.00"), Decimal("6.67"), Decimal("26.67")]
    cumulative = cohort_matrix(tables, "month", "revenue", cumulative=True, as_of=AS_OF)["cohorts"][0]
    assert cumulative["revenue"] == [Decimal("165.00"), Decimal("185.00"), Decimal("265.00")]
    assert cumulative["values"][-1] == Decimal("88.33")


def test_weekly_cohorts_and_filters(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(three_month_shop(snapshot_rows))
    weekly = cohort_matrix(tables, "week", "customers", as_of=AS_OF)
    labels = [row["cohort"] for row in weekly["cohorts"]]
    # a: Fri Jan 5 (W01); c: Sat Jan 20 (W03); b: Wed Jan 31 (W05); e: Sat Feb 10 (W06); d: Fri Mar 1 (W09)
    assert labels == ["2024-W01", "2024-W03", "2024-W05", "2024-W06", "2024-W09"]
    assert weekly["cohorts"][0]["start"] == "2024-01-01"
    assert len(weekly["cohorts"][0]["values"]) == 11  # W01 … W11 (Mar 11–17 holds Mar 14)
    only_february = cohort_matrix(tables, "month", as_of=AS_OF, start=date(2024, 2, 1), end=date(2024, 3, 1))
    assert [row["cohort"] for row in only_february["cohorts"]] == ["2024-02"]
    segment = cohort_matrix(tables, "month", as_of=AS_OF, customer_ids=["b", "d"])
    assert [(row["cohort"], row["size"]) for row in segment["cohorts"]] == [("2024-01", 1), ("2024-03", 1)]


def test_default_as_of_and_empty_shop(duckdb_backend: Any, snapshot_rows: Any) -> None:
    empty = cohort_matrix(duckdb_backend.load(snapshot_rows), "month")
    assert empty["cohorts"] == [] and empty["as_of"] is None
    tables = duckdb_backend.load(three_month_shop(snapshot_rows))
    matrix = cohort_matrix(tables, "month")
    assert matrix["as_of"] == "2024-03-21"  # the day after the latest order
    with pytest.raises(UserError, match="unknown --metric"):
        cohort_matrix(tables, "month", "profit")
    with pytest.raises(UserError, match="unknown period unit"):
        cohort_matrix(tables, "day")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(0, 200), st.booleans()),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["month", "week"]),
    st.booleans(),
)
def test_column_zero_is_one_and_shares_are_proportions(
    duckdb_backend: Any, make_rows: Any, orders: list[Any], unit: str, cumulative: bool
) -> None:
    rows = make_rows()
    for i, (customer, offset, cancelled) in enumerate(orders):
        day = date.fromordinal(date(2024, 1, 1).toordinal() + offset)
        rows.order(
            f"o{i}", customer, f"{day}T10:00:00Z", "10", status="cancelled" if cancelled else "completed"
        )
    matrix = cohort_matrix(duckdb_backend.load(rows), unit, "customers", cumulative=cumulative)
    for row in matrix["cohorts"]:
        assert row["values"][0] == 1.0
        assert all(0.0 <= value <= 1.0 for value in row["values"])
        if cumulative:
            assert row["values"] == sorted(row["values"], reverse=True)
    assert sum(row["size"] for row in matrix["cohorts"]) == len(
        {customer for customer, _, cancelled in orders if not cancelled}
    )


def test_lifecycle_by_hand(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.order("a1", "a", "2024-01-05T10:00:00Z", "1")
    rows.order("a2", "a", "2024-02-05T10:00:00Z", "1")
    rows.order("a3", "a", "2024-04-05T10:00:00Z", "1")
    rows.order("b1", "b", "2024-01-10T10:00:00Z", "1")
    rows.order("b2", "b", "2024-03-10T10:00:00Z", "1")
    rows.order("c1", "c", "2024-02-29T20:30:00Z", "1")  # Feb 29 local
    rows.order("c2", "c", "2024-03-01T10:00:00Z", "1")
    rows.order("d1", "d", "2024-03-15T10:00:00Z", "1", status="cancelled")
    tables = analytics_backend.load(rows)
    periods = lifecycle(tables, "month", date(2024, 1, 1), date(2024, 5, 1), as_of=date(2024, 4, 20))
    table = {p["period"]: (p["new"], p["returning"], p["resurrected"], p["dormant"]) for p in periods}
    assert table == {
        "2024-01": (2, 0, 0, 0),  # a, b new
        "2024-02": (1, 1, 0, 1),  # c new, a returning, b dormant
        "2024-03": (0, 1, 1, 1),  # c returning, b resurrected, a dormant
        "2024-04": (0, 0, 1, 2),  # a resurrected, b and c dormant
    }
    assert [p["partial"] for p in periods] == [False, False, False, True]
    for p in periods:
        assert p["active"] == p["new"] + p["returning"] + p["resurrected"]
    for before, after in itertools.pairwise(periods):
        assert after["previous_active"] == before["active"]


def test_lifecycle_default_range_and_empty(duckdb_backend: Any, snapshot_rows: Any) -> None:
    assert lifecycle(duckdb_backend.load(snapshot_rows)) == []
    snapshot_rows.order("a1", "a", "2024-01-05T10:00:00Z", "1")
    snapshot_rows.order("a2", "a", "2024-01-20T10:00:00Z", "1")
    weeks = lifecycle(duckdb_backend.load(snapshot_rows), "week")
    assert [(w["period"], w["new"], w["resurrected"], w["dormant"]) for w in weeks] == [
        ("2024-W01", 1, 0, 0),
        ("2024-W02", 0, 0, 1),
        ("2024-W03", 0, 1, 0),
    ]
