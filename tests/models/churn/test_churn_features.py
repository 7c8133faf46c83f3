"""Churn features: nothing after the cutoff leaks in, and hand-made histories give the documented values."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import ibis
import pandas as pd
import pytest

from retentio.analytics.tables import AnalyticsTables
from retentio.models.churn.features import FEATURE_COLUMNS, SHARED_FEATURES, cutoff_instant, feature_frame
from retentio.segments.features import customer_features, feature_table


def as_known_at(tables: AnalyticsTables, cutoff: date, timezone: str) -> AnalyticsTables:
    """The tables as seen on the morning of ``cutoff``: later rows gone, later resolutions undone."""
    instant = ibis.literal(cutoff_instant(cutoff, timezone))
    orders = tables.orders.filter(tables.orders.order_date < cutoff)
    tickets = tables.tickets.filter(tables.tickets.opened_date < cutoff)
    later = tickets.resolved_at.notnull() & (tickets.resolved_at >= instant)
    tickets = tickets.mutate(
        resolved_at=ibis.ifelse(later, ibis.null("timestamp"), tickets.resolved_at),
        csat=ibis.ifelse(later, ibis.null("int32"), tickets.csat),
        status=ibis.ifelse(later, ibis.literal("open"), tickets.status),
    )
    return replace(
        tables,
        orders=orders,
        order_lines=tables.order_lines.semi_join(orders, "order_id"),
        refunds=tables.refunds.filter(tables.refunds.refund_date < cutoff),
        events=tables.events.filter(tables.events.event_date < cutoff),
        reviews=tables.reviews.filter(tables.reviews.created_date < cutoff),
        tickets=tickets,
        survey_responses=tables.survey_responses.filter(tables.survey_responses.answered_date < cutoff),
    )


def test_features_at_a_cutoff_ignore_everything_after_it(generated_tables: AnalyticsTables) -> None:
    cutoff = date(2025, 3, 1)
    later = generated_tables.orders.filter(generated_tables.orders.order_date >= cutoff).count().execute()
    assert later > 1000  # the check below is only meaningful with plenty of later data to leak
    full, full_info = feature_frame(generated_tables, cutoff, 90)
    known, known_info = feature_frame(as_known_at(generated_tables, cutoff, "Europe/Moscow"), cutoff, 90)
    assert len(full) > 500
    pd.testing.assert_frame_equal(full, known)
    # The BG/NBD fit saw the same calibration data too.
    assert full_info["customers"] == known_info["customers"]
    assert full_info["params"] == pytest.approx(known_info["params"], rel=1e-12)

    # And the features do move with the cutoff (the comparison above is not vacuous).
    moved, _ = feature_frame(generated_tables, cutoff + timedelta(days=60), 90)
    assert len(moved) > len(full)


def test_hand_made_history_gives_documented_values(csv_store) -> None:  # type: ignore[no-untyped-def]
    cutoff = date(2024, 6, 1)

    def order(order_id: str, day: str, total: str, status: str = "completed") -> dict[str, str]:
        return {
            "order_id": order_id,
            "customer_id": "c1",
            "ordered_at": f"{day}T09:00:00Z",
            "total": total,
            "status": status,
        }

    _, tables = csv_store(
        {
            "orders": [
                order("o1", "2023-09-01", "1000.00"),
                order("o2", "2023-10-01", "2000.00"),
                order("o3", "2023-10-01", "500.00"),  # same day: one purchase day for the gaps
                order("o4", "2023-12-30", "1500.00"),
                order("o5", "2024-05-20", "900.00", "cancelled"),  # activity, not an order
                order("o6", "2024-06-15", "800.00"),  # after the cutoff
            ],
            "refunds": [
                {
                    "refund_id": "r1",
                    "order_id": "o2",
                    "refunded_at": "2023-10-05T09:00:00Z",
                    "amount": "300.00",
                }
            ],
            "events": [
                {
                    "event_id": "e1",
                    "customer_id": "c1",
                    "occurred_at": "2024-01-10T09:00:00Z",
                    "type": "email_open",
                },
                {
                    "event_id": "e2",
                    "customer_id": "c1",
                    "occurred_at": "2024-02-01T09:00:00Z",
                    "type": "email_open",
                },
                {
                    "event_id": "e3",
                    "customer_id": "c1",
                    "occurred_at": "2024-05-25T09:00:00Z",
                    "type": "visit",
                },
                {
                    "event_id": "e4",
                    "customer_id": "c1",
                    "occurred_at": "2024-06-02T09:00:00Z",
                    "type": "email_open",
                },
            ],
            "reviews": [
                {
                    "review_id": "v1",
                    "customer_id": "c1",
                    "created_at": "2023-10-03T09:00:00Z",
                    "rating": "5",
                    "text": "ok",
                },
                {
                    "review_id": "v2",
                    "customer_id": "c1",
                    "created_at": "2024-01-05T09:00:00Z",
                    "rating": "2",
                    "text": "bad",
                },
            ],
            "tickets": [
                # Resolved only after the cutoff: open at the cutoff, and its CSAT unknown then.
                {
                    "ticket_id": "t1",
                    "customer_id": "c1",
                    "opened_at": "2024-05-01T09:00:00Z",
                    "subject": "s",
                    "text": "t",
                    "resolved_at": "2024-06-10T09:00:00Z",
                    "csat": "1",
                    "status": "resolved",
                },
                {
                    "ticket_id": "t2",
                    "customer_id": "c1",
                    "opened_at": "2024-01-02T09:00:00Z",
                    "subject": "s",
                    "text": "t",
                    "resolved_at": "2024-01-03T09:00:00Z",
                    "csat": "2",
                    "status": "resolved",
                },
            ],
            "survey_responses": [
                {
                    "response_id": "n1",
                    "customer_id": "c1",
                    "answered_at": "2024-01-20T09:00:00Z",
                    "survey": "nps",
                    "score": "3",
                },
                {
                    "response_id": "n2",
                    "customer_id": "c1",
                    "answered_at": "2024-06-20T09:00:00Z",
                    "survey": "nps",
                    "score": "10",
                },
            ],
        }
    )
    frame, _ = feature_frame(tables, cutoff, 90, with_btyd=False)
    row = frame.set_index("customer_id").loc["c1"]
    expected = {
        "recency_days": 154.0,  # 2023-12-30 → 2024-06-01
        "frequency": 4.0,
        "monetary": 4700.0,  # 1000 + 2000 + 500 + 1500 − 300
        "aov": 1175.0,
        "tenure_days": 274.0,
        "gap_mean_days": 60.0,  # purchase days 09-01, 10-01, 12-30: gaps 30 and 90
        "gap_median_days": 60.0,
        "overdue_ratio": 154.0 / 60.0,
        "orders_90d": 0.0,
        "orders_180d": 1.0,
        "spend_180d": 1500.0,
        "email_opens_90d": 0.0,  # the opens are 143 and 121 days back
        "email_opens_prev_90d": 2.0,
        "visits_30d": 1.0,
        "days_since_last_activity": 7.0,  # the visit on 2024-05-25 (after the cancelled order on 05-20)
        "days_since_last_email_open": 121.0,
        "reviews": 2.0,
        "negative_reviews": 1.0,
        "last_rating": 2.0,
        "avg_rating": 3.5,
        "tickets": 2.0,
        "open_tickets": 1.0,
        "last_ticket_csat": 2.0,
        "last_nps": 3.0,
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value), name
    assert row["gap_std_days"] == pytest.approx(pd.Series([30.0, 90.0]).std())
    assert pd.Timestamp(row["last_negative_review_date"]).date() == date(2024, 1, 5)
    assert pd.Timestamp(row["last_nps_date"]).date() == date(2024, 1, 20)
    assert set(FEATURE_COLUMNS) <= set(frame.columns)
    assert pd.isna(row["loyalty_tier_rank"])


def test_our_email_sends_are_not_customer_activity(csv_store) -> None:  # type: ignore[no-untyped-def]
    # The registry's definition: a customer we e-mailed on 20 May has not been active since January.
    _, tables = csv_store(
        {
            "customers": [{"customer_id": "c1"}],
            "orders": [
                {"order_id": "o1", "customer_id": "c1", "ordered_at": "2024-01-10T09:00:00Z", "total": "10"}
            ],
            "events": [
                {
                    "event_id": "e1",
                    "customer_id": "c1",
                    "occurred_at": "2024-05-20T09:00:00Z",
                    "type": "email_sent",
                }
            ],
        }
    )
    frame, _ = feature_frame(tables, date(2024, 6, 1), 90, with_btyd=False)
    assert frame.set_index("customer_id").loc["c1", "days_since_last_activity"] == 143.0  # since 10 Jan


def test_shared_features_are_the_registry_features(generated_tables: AnalyticsTables) -> None:
    """Every model column that segments know too has the registry's value, customer by customer."""
    cutoff = date(2025, 3, 1)
    frame, _ = feature_frame(generated_tables, cutoff, 90, with_btyd=False)
    registry = customer_features(generated_tables, cutoff).to_pandas().set_index("customer_id")
    registry = registry.join(
        feature_table(
            generated_tables,
            cutoff,
            generated_tables.customers.select("customer_id"),
            ["last_nps_date"],
        )
        .to_pandas()
        .set_index("customer_id")
    )
    model = frame.set_index("customer_id")
    assert len(model) > 500
    for name, registry_name in SHARED_FEATURES.items():
        mine = model[name]
        theirs = registry.loc[model.index, registry_name]
        if name in FEATURE_COLUMNS:
            pd.testing.assert_series_equal(
                mine.astype("float64"), pd.to_numeric(theirs).astype("float64"), check_names=False, rtol=1e-12
            )
        else:
            assert [pd.Timestamp(v) if pd.notna(v) else None for v in mine] == [
                pd.Timestamp(v) if pd.notna(v) else None for v in theirs
            ], name
