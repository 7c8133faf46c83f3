"""The customer feature table, hand-computed on a tiny shop, identical on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from retentio.segments import features as features_module
from retentio.segments.features import FEATURES, customer_features

AS_OF = date(2023, 3, 1)  # not a leap year: a 29 Feb birthday falls on 1 Mar


def shop(rows: Any) -> Any:
    rows.customer(
        "ann",
        city="Москва",
        acquisition_channel="ads",
        locale="ru",
        consent_email=True,
        birthday=date(1990, 3, 1),
    )
    rows.customer("bob", city="Казань", consent_email=False, birthday=date(2000, 2, 29))
    rows.customer("cat", birthday=date(1985, 12, 31))
    rows.customer("dan")  # no data at all
    # ann: two kept orders, one cancelled, one on the as-of day (too late); refunds before/after as-of.
    rows.order("a1", "ann", "2023-01-10T09:00:00Z", "1000.00")
    rows.order("a2", "ann", "2023-02-20T20:59:00Z", "500.50")  # 23:59 Moscow, 20 Feb
    rows.order("a3", "ann", "2023-02-25T10:00:00Z", "999.00", status="cancelled")
    rows.order("a4", "ann", "2023-02-28T21:30:00Z", "700.00")  # 00:30 Moscow, 1 Mar = as-of: ignored
    rows.refund("ra1", "a1", "2023-02-01T10:00:00Z", "100.25")
    rows.refund("ra3", "a3", "2023-02-26T10:00:00Z", "999.00")  # of a cancelled order: not subtracted
    rows.refund("ra2", "a2", "2023-03-05T10:00:00Z", "50.00")  # after as-of
    rows.event("ea1", "ann", "2022-12-01T10:00:00Z", "visit")  # 90 days before as-of: inside the window
    rows.event("ea2", "ann", "2022-11-30T10:00:00Z", "visit")  # 91 days before: outside
    rows.event("ea3", "ann", "2023-02-27T10:00:00Z", "email_open")
    rows.event("ea4", "ann", "2023-02-27T10:05:00Z", "email_open")
    rows.event("ea5", "ann", "2023-02-27T10:06:00Z", "email_click")
    rows.review("va1", "ann", "2023-01-15T10:00:00Z", 5)
    rows.review("va2", "ann", "2023-01-16T10:00:00Z", 4)
    rows.review("va3", "ann", "2023-01-17T10:00:00Z", 1)
    rows.review("va4", "ann", "2023-03-02T10:00:00Z", 1)  # after as-of
    rows.survey("sa1", "ann", "2023-01-20T10:00:00Z", "nps", 9)
    rows.survey("sa2", "ann", "2023-02-20T10:00:00Z", "nps", 4)  # latest NPS
    rows.survey("sa3", "ann", "2023-03-20T10:00:00Z", "nps", 10)  # after as-of
    rows.survey("sa4", "ann", "2023-02-21T10:00:00Z", "csat", 5)
    rows.ticket("ta1", "ann", "2023-02-01T10:00:00Z", status="open")
    rows.ticket("ta2", "ann", "2023-02-02T10:00:00Z", status="Resolved")
    rows.ticket("ta3", "ann", "2023-02-03T10:00:00Z", status="open", resolved_at="2023-02-04T10:00:00Z")
    rows.ticket("ta4", "ann", "2023-02-04T10:00:00Z")  # no status: open
    # bob: one order whose refund equals it; a cancelled-only customer would have orders = 0.
    rows.order("b1", "bob", "2022-11-01T10:00:00Z", "200.00")
    rows.refund("rb1", "b1", "2022-11-05T10:00:00Z", "200.00")
    rows.review("vb1", "bob", "2022-11-06T10:00:00Z", 2)
    rows.survey("sb1", "bob", "2022-11-07T10:00:00Z", "nps", 3)
    rows.survey("sb2", "bob", "2022-11-07T10:00:00Z", "nps", 8)  # same moment: the larger response id wins
    # cat: only a cancelled order and a late event.
    rows.order("c1", "cat", "2023-02-10T10:00:00Z", "50.00", status="cancelled")
    rows.event("ec1", "cat", "2023-02-15T10:00:00Z", "visit")
    rows.event("ec2", "cat", "2023-02-25T10:00:00Z", "email_sent")  # our send, not the customer's doing
    return rows


EXPECTED: dict[str, dict[str, Any]] = {
    "ann": {
        "orders": 2,
        "net_revenue": Decimal("1400.25"),
        "aov": 700.125,
        "first_order_date": date(2023, 1, 10),
        "last_order_date": date(2023, 2, 20),
        "days_since_first_order": 50,
        "days_since_last_order": 9,
        "days_since_last_activity": 2,  # email click on 27 Feb
        "positive_reviews": 2,
        "negative_reviews": 1,
        "avg_rating": 10 / 3,
        "last_nps": 4,
        "last_csat": 5,
        "open_tickets": 2,
        "tickets": 4,
        "email_opens_90d": 2,
        "email_clicks_90d": 1,
        "visits_90d": 1,
        "city": "Москва",
        "channel": "ads",
        "locale": "ru",
        "age": 33,  # birthday today
        "birthday_in_days": 0,
        "consent_email": True,
        "tier": None,
    },
    "bob": {
        "orders": 1,
        "net_revenue": Decimal("0.00"),
        "aov": 0.0,
        "first_order_date": date(2022, 11, 1),
        "last_order_date": date(2022, 11, 1),
        "days_since_first_order": 120,
        "days_since_last_order": 120,
        "days_since_last_activity": 120,
        "positive_reviews": 0,
        "negative_reviews": 1,
        "avg_rating": 2.0,
        "last_nps": 8,
        "last_csat": None,
        "open_tickets": 0,
        "tickets": 0,
        "email_opens_90d": 0,
        "email_clicks_90d": 0,
        "visits_90d": 0,
        "city": "Казань",
        "channel": None,
        "locale": None,
        "age": 23,  # 29 Feb 2000: the 23rd birthday is 1 Mar 2023, today
        "birthday_in_days": 0,
        "consent_email": False,
        "tier": None,
    },
    "cat": {
        "orders": 0,
        "net_revenue": Decimal("0.00"),
        "aov": None,
        "first_order_date": None,
        "last_order_date": None,
        "days_since_first_order": None,
        "days_since_last_order": None,
        "days_since_last_activity": 14,  # the visit on 15 Feb (the cancelled order was earlier)
        "positive_reviews": 0,
        "negative_reviews": 0,
        "avg_rating": None,
        "last_nps": None,
        "open_tickets": 0,
        "tickets": 0,
        "visits_90d": 1,
        "age": 37,
        "birthday_in_days": 305,
        "consent_email": None,
        "rfm_segment": None,
    },
    "dan": {
        "orders": 0,
        "net_revenue": Decimal("0.00"),
        "days_since_last_activity": None,
        "age": None,
        "birthday_in_days": None,
        "churn_risk": None,
        "clv": None,
    },
}


def by_customer(table: Any) -> dict[str, dict[str, Any]]:
    return {row["customer_id"]: row for row in table.to_pyarrow().to_pylist()}


def test_features_are_hand_computed_values(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    result = by_customer(customer_features(tables, AS_OF))
    assert sorted(result) == ["ann", "bob", "cat", "dan"]
    for customer_id, expected in EXPECTED.items():
        for name, value in expected.items():
            got = result[customer_id][name]
            if isinstance(value, float):
                assert got == pytest.approx(value), (customer_id, name)
            else:
                assert got == value, (customer_id, name, got)


def test_schema_matches_the_documented_features(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    table = customer_features(tables, AS_OF)
    assert list(table.columns) == list(FEATURES)
    for name, feature in FEATURES.items():
        assert table.schema()[name] == feature.dtype, name
        assert f"\n{name} " in features_module.__doc__, f"{name} is not documented in the module docstring"


def test_rfm_segment_comes_from_the_rfm_module(duckdb_backend: Any, snapshot_rows: Any) -> None:
    from retentio.analytics.rfm import rfm_table

    tables = duckdb_backend.load(shop(snapshot_rows))
    expected = {r["customer_id"]: r["segment"] for r in rfm_table(tables, AS_OF).to_pyarrow().to_pylist()}
    result = by_customer(customer_features(tables, AS_OF))
    assert set(expected) == {"ann", "bob"}
    assert {cid: row["rfm_segment"] for cid, row in result.items()} == {**expected, "cat": None, "dan": None}


def test_scores_join_by_customer(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    scores = pa.table({"customer_id": ["ann", "cat"], "churn_risk": [0.25, 0.75], "p_alive": [0.9, None]})
    result = by_customer(customer_features(tables, AS_OF, scores=scores))
    assert (result["ann"]["churn_risk"], result["ann"]["p_alive"], result["ann"]["clv"]) == (0.25, 0.9, None)
    assert (result["cat"]["churn_risk"], result["cat"]["p_alive"]) == (0.75, None)
    assert result["bob"]["churn_risk"] is None
    frame = pd.DataFrame({"customer_id": ["bob"], "clv": [123.5]})
    assert by_customer(customer_features(tables, AS_OF, scores=frame))["bob"]["clv"] == 123.5


def test_scores_must_be_one_row_per_customer(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    with pytest.raises(ValueError, match="one row per customer"):
        customer_features(tables, AS_OF, scores=pa.table({"customer_id": ["a", "a"], "clv": [1.0, 2.0]}))


def test_birthday_in_a_leap_year_and_across_new_year(duckdb_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.customer("leap", birthday=date(2000, 2, 29))
    rows.customer("eve", birthday=date(1999, 12, 31))
    tables = duckdb_backend.load(rows)
    leap_year = by_customer(customer_features(tables, date(2024, 2, 28)))
    assert (leap_year["leap"]["birthday_in_days"], leap_year["leap"]["age"]) == (1, 23)
    assert leap_year["eve"]["birthday_in_days"] == 307
    new_year = by_customer(customer_features(tables, date(2025, 1, 1)))
    assert (new_year["eve"]["birthday_in_days"], new_year["eve"]["age"]) == (364, 25)
    assert (new_year["leap"]["birthday_in_days"], new_year["leap"]["age"]) == (59, 24)  # 1 Mar 2025


def test_open_tickets_are_those_open_at_as_of(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    # Resolved after as-of (00:00 Moscow on 1 Mar = 21:00 UTC on 28 Feb): still open at as-of.
    rows.ticket("t1", "eve", "2023-02-10T10:00:00Z", status="resolved", resolved_at="2023-02-28T21:30:00Z")
    # Resolved just before as-of, local time: closed.
    rows.ticket("t2", "eve", "2023-02-10T11:00:00Z", status="resolved", resolved_at="2023-02-28T20:30:00Z")
    rows.ticket("t3", "eve", "2023-02-10T12:00:00Z", status="closed")  # closed, time unknown
    tables = analytics_backend.load(rows)
    eve = by_customer(customer_features(tables, AS_OF, timezone="Europe/Moscow"))["eve"]
    assert (eve["tickets"], eve["open_tickets"]) == (3, 1)
    # In UTC the first resolution (21:30 on 28 Feb) is before as-of as well.
    utc = by_customer(customer_features(tables, AS_OF, timezone="UTC"))["eve"]
    assert utc["open_tickets"] == 0


def test_registry_serves_only_the_asked_columns_by_one_definition(
    duckdb_backend: Any, snapshot_rows: Any
) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    base = tables.customers.select("customer_id")
    part = features_module.feature_table(tables, AS_OF, base, ["days_since_last_activity", "last_nps_date"])
    assert list(part.columns) == ["customer_id", "days_since_last_activity", "last_nps_date"]
    whole = by_customer(customer_features(tables, AS_OF))
    for customer, row in by_customer(part).items():
        assert row["days_since_last_activity"] == whole[customer]["days_since_last_activity"]
    with pytest.raises(KeyError, match="not in the feature registry"):
        features_module.feature_table(tables, AS_OF, base, ["no_such_feature"])
