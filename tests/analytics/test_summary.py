"""BTYD inputs per customer: identical to lifetimes' summary on the same transactions."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from retentio.analytics.summary import customer_summary, valid_orders, valid_refunds

CALIBRATION_END = date(2024, 3, 31)
OBSERVATION_END = date(2024, 6, 30)


def random_shop(rows: Any, seed: int = 3, customers: int = 40) -> Any:
    """Orders spread over Jan–Jun 2024 with same-day repeats, late-evening UTC orders and cancellations."""
    rng = random.Random(seed)
    n = 0
    for c in range(customers):
        first = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 120))
        for _ in range(rng.randint(1, 6)):
            at = first + timedelta(days=rng.choice([0, 0, 1, 3, 10, 40, 90]), hours=rng.randint(0, 23))
            status = "cancelled" if rng.random() < 0.1 else "completed"
            rows.order(f"o{n}", f"c{c:03d}", at, f"{rng.randint(100, 99999) / 100:.2f}", status=status)
            n += 1
    return rows


def transactions(rows: Any) -> pd.DataFrame:
    """The same orders as lifetimes sees them: one row per non-cancelled order at its local date."""
    return pd.DataFrame(
        [
            {
                "customer_id": o["customer_id"],
                "date": pd.Timestamp(o["order_date"]),
                "value": float(o["total"]),
            }
            for o in rows.orders
            if not o["is_cancelled"]
        ]
    )


def test_summary_matches_lifetimes(analytics_backend: Any, snapshot_rows: Any) -> None:
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

    rows = random_shop(snapshot_rows)
    tables = analytics_backend.load(rows)
    ours = (
        customer_summary(tables, CALIBRATION_END, unit_days=7.0, observation_end=OBSERVATION_END)
        .to_pandas()
        .set_index("customer_id")
        .sort_index()
    )
    frame = transactions(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = summary_data_from_transaction_data(
            frame,
            "customer_id",
            "date",
            monetary_value_col="value",
            observation_period_end=pd.Timestamp(CALIBRATION_END),
            freq="D",
            freq_multiplier=7,
        ).sort_index()
        holdout = calibration_and_holdout_data(
            frame,
            "customer_id",
            "date",
            calibration_period_end=pd.Timestamp(CALIBRATION_END),
            observation_period_end=pd.Timestamp(OBSERVATION_END),
            monetary_value_col="value",  # without it lifetimes 0.11.3 fails on pandas 3
            freq="D",
            freq_multiplier=7,
        ).sort_index()
    assert list(ours.index) == list(theirs.index)
    assert (ours["frequency"].to_numpy() == theirs["frequency"].to_numpy()).all()
    assert ours["recency"].to_numpy() == pytest.approx(theirs["recency"].to_numpy(), abs=1e-12)
    assert ours["T"].to_numpy() == pytest.approx(theirs["T"].to_numpy(), abs=1e-12)
    assert ours["monetary"].to_numpy() == pytest.approx(theirs["monetary_value"].to_numpy(), rel=1e-12)
    assert (ours["frequency_holdout"].to_numpy() == holdout["frequency_holdout"].to_numpy()).all()
    assert ours["duration_holdout"].to_numpy() == pytest.approx(holdout["duration_holdout"].to_numpy())
    assert (theirs["frequency"] > 0).sum() >= 10  # the data does exercise repeat purchases


def test_same_day_orders_merge_and_rfm_fields(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.order("a1", "a", "2024-01-01T10:00:00Z", "10")
    rows.order("a2", "a", "2024-01-15T10:00:00Z", "20")
    rows.order("a3", "a", "2024-01-15T20:30:00Z", "5")  # 23:30 Moscow: same local day as a2
    rows.order("a4", "a", "2024-01-15T21:30:00Z", "7")  # 00:30 Moscow on Jan 16: a new day
    rows.order("a5", "a", "2024-01-20T10:00:00Z", "100", status="cancelled")
    rows.order("b1", "b", "2024-01-29T10:00:00Z", "8")
    rows.order("b2", "b", "2024-02-10T10:00:00Z", "8")  # after calibration end: holdout
    tables = analytics_backend.load(rows)
    summary = customer_summary(tables, date(2024, 1, 29), unit_days=1.0, observation_end=date(2024, 2, 29))
    out = {r["customer_id"]: r for r in summary.to_pyarrow().to_pylist()}
    a, b = out["a"], out["b"]
    assert (a["frequency"], a["recency"], a["T"]) == (2, 15.0, 28.0)
    assert a["monetary"] == pytest.approx((25 + 7) / 2)  # repeat days Jan 15 (20 + 5) and Jan 16 (7)
    assert (a["orders"], a["purchase_days"]) == (4, 3)
    assert (a["first_order_date"], a["last_order_date"], a["recency_days"]) == (
        date(2024, 1, 1),
        date(2024, 1, 16),
        13,
    )
    assert (b["frequency"], b["T"], b["monetary"], b["frequency_holdout"]) == (0, 0.0, 0.0, 1)
    assert b["monetary_holdout"] == pytest.approx(8.0)
    assert a["duration_holdout"] == pytest.approx(31.0)
    no_holdout = customer_summary(tables, date(2024, 1, 29))
    assert "frequency_holdout" not in no_holdout.columns


def test_summary_rejects_bad_arguments(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(snapshot_rows)
    with pytest.raises(ValueError, match="unit_days"):
        customer_summary(tables, date(2024, 1, 1), unit_days=0)
    with pytest.raises(ValueError, match="after calibration_end"):
        customer_summary(tables, date(2024, 1, 1), observation_end=date(2024, 1, 1))


def test_refunds_of_cancelled_orders_are_ignored(analytics_backend: Any, snapshot_rows: Any) -> None:
    snapshot_rows.order("o1", "a", "2024-01-01T10:00:00Z", "10", status="cancelled")
    snapshot_rows.refund("r1", "o1", "2024-01-02T10:00:00Z", "10")
    snapshot_rows.order("o2", "a", "2024-01-03T10:00:00Z", "10")
    snapshot_rows.refund("r2", "o2", "2024-01-04T10:00:00Z", "3")
    tables = analytics_backend.load(snapshot_rows)
    assert valid_refunds(tables).refund_id.to_pyarrow().to_pylist() == ["r2"]
    assert valid_refunds(tables, as_of=date(2024, 1, 4)).count().to_pyarrow().as_py() == 0
    assert valid_orders(tables, customer_ids=["b"]).count().to_pyarrow().as_py() == 0
