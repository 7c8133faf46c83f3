"""The shared snapshot fixture itself: local dates, money types and both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def test_fixture_materialises_local_dates_and_exact_money(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.order("o1", "c1", "2024-01-31T20:30:00Z", "100.10")  # 23:30 in Moscow: still Jan 31
    rows.order("o2", "c1", "2024-01-31T21:30:00Z", "5", status="cancelled")  # 00:30 Feb 1 in Moscow
    rows.refund("r1", "o1", "2024-02-02T10:00:00", "40.05")
    tables = analytics_backend.load(rows)
    orders = tables.orders.order_by("order_id").to_pyarrow().to_pylist()
    assert [o["order_date"] for o in orders] == [dt.date(2024, 1, 31), dt.date(2024, 2, 1)]
    assert [o["ordered_at"] for o in orders] == [
        dt.datetime(2024, 1, 31, 20, 30),
        dt.datetime(2024, 1, 31, 21, 30),
    ]
    assert [o["is_cancelled"] for o in orders] == [False, True]
    assert orders[0]["total"] == Decimal("100.10")
    refund = tables.refunds.to_pyarrow().to_pylist()[0]
    assert refund["customer_id"] == "c1" and refund["amount"] == Decimal("40.05")
    assert refund["refund_date"] == dt.date(2024, 2, 2)
    assert tables.customers.count().execute() == 1
    assert tables.survey_responses.count().execute() == 0


def test_make_rows_takes_another_time_zone(duckdb_backend: Any, make_rows: Any) -> None:
    rows = make_rows(timezone="UTC")
    rows.order("o1", "c1", "2024-01-31T21:30:00+00:00", "1")
    tables = duckdb_backend.load(rows)
    assert tables.orders.order_date.to_pyarrow().to_pylist() == [dt.date(2024, 1, 31)]
