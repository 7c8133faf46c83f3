"""Engagement: email rates, visit frequency and session duration, hand-computed, on both backends."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from retentio.analytics.engagement import (
    channel_groups,
    customer_engagement,
    engagement_report,
    rfm_groups,
    rule_groups,
)
from retentio.analytics.stats import wilson_interval
from retentio.errors import UserError

START, END = date(2024, 1, 1), date(2024, 2, 1)  # 31 days


def shop(rows: Any) -> Any:
    rows.customer("a", consent_email=True, acquisition_channel="ads")
    rows.customer("b", consent_email=None, acquisition_channel="ads")
    rows.customer("c", consent_email=True)
    rows.customer("d", consent_email=False)
    rows.customer("e", consent_email=False)
    ev = rows.event
    ev("a0", "a", "2023-12-31T10:00:00Z", "visit", duration_s=999.0)  # before the period
    ev("a1", "a", "2024-01-04T10:00:00Z", "email_send")
    ev("a2", "a", "2024-01-04T10:00:00Z", "email_send")
    ev("a3", "a", "2024-01-05T10:00:00Z", "email_open")
    ev("a4", "a", "2024-01-06T10:00:00Z", "email_open")
    ev("a5", "a", "2024-01-06T10:01:00Z", "email_click")
    ev("a6", "a", "2024-01-10T10:00:00Z", "visit", session_id="s1", duration_s=100.0)
    ev("a7", "a", "2024-01-10T10:02:00Z", "product_view", session_id="s1", duration_s=20.0)
    ev("a8", "a", "2024-01-12T10:00:00Z", "visit", duration_s=50.0)  # a session of its own
    ev("b1", "b", "2024-01-07T10:00:00Z", "email_open")  # no consent flag, but an email reached them
    ev("b2", "b", "2024-01-08T10:00:00Z", "visit")  # duration unknown
    ev("b3", "b", "2024-01-08T10:05:00Z", "product_view", duration_s=30.0)  # no session id: not a session
    ev("b4", "b", "2024-01-09T10:00:00Z", "product_view", session_id="s9", duration_s=30.0)  # no visit:
    ev("b5", "b", "2024-01-09T10:01:00Z", "add_to_cart", session_id="s9", duration_s=15.0)  # pages add up
    ev("e1", "e", "2024-01-09T10:00:00Z", "email_click")  # a click without a recorded open
    rows.order("oa", "a", "2023-12-01T10:00:00Z", "100")
    return rows


def test_per_customer_engagement(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    rows = {r["customer_id"]: r for r in customer_engagement(tables, START, END).to_pyarrow().to_pylist()}
    a = rows["a"]
    assert (a["email_receiving"], a["email_sends"], a["email_opens"], a["email_clicks"]) == (True, 2, 2, 1)
    assert (a["visits"], a["sessions"], a["timed_sessions"]) == (2, 2, 2)
    assert a["visits_per_30d"] == pytest.approx(60 / 31)
    # s1 lasts 100 s (its visit's length; the page's 20 s is inside it), the lone visit 50 s.
    assert (a["session_seconds_mean"], a["session_seconds_median"]) == (75.0, 75.0)
    b = rows["b"]
    assert (b["email_receiving"], b["email_opens"], b["visits"], b["sessions"], b["timed_sessions"]) == (
        True,
        1,
        1,
        2,
        1,
    )
    assert b["session_seconds_mean"] == 45.0
    assert [rows[c]["email_receiving"] for c in "cde"] == [True, False, True]
    assert rows["d"]["visits_per_30d"] == 0.0


def test_overall_and_per_channel_rates(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    report = engagement_report(tables, START, END, channel_groups(tables), "channel")
    overall = report.overall.as_dict()
    assert {k: overall[k] for k in ("customers", "email_receiving", "openers", "clickers")} == {
        "customers": 5,
        "email_receiving": 4,
        "openers": 2,
        "clickers": 2,
    }
    assert (overall["open_rate"], overall["click_rate"], overall["click_to_open_rate"]) == (0.5, 0.5, 0.5)
    interval = wilson_interval(2, 4)
    assert interval is not None and overall["open_rate_ci"] == interval.as_dict()
    assert (overall["opens_per_send"], overall["clicks_per_send"]) == (1.5, 1.0)
    assert (overall["visits"], overall["visitors"]) == (3, 2)
    assert overall["visits_per_30d_mean"] == pytest.approx(18 / 31)
    assert overall["visits_per_30d_median"] == 0.0
    assert (overall["sessions"], overall["timed_sessions"]) == (4, 3)
    assert (overall["session_seconds_mean"], overall["session_seconds_median"]) == (65.0, 50.0)

    groups = {g.group: g.as_dict() for g in report.groups}
    assert sorted(groups) == ["ads", "unknown"]
    ads, unknown = groups["ads"], groups["unknown"]
    assert (ads["customers"], ads["openers"], ads["clickers"], ads["click_to_open_rate"]) == (2, 2, 1, 0.5)
    assert ads["visits_per_30d_mean"] == pytest.approx(45 / 31)
    assert ads["visits_per_30d_median"] == pytest.approx(45 / 31)
    assert (unknown["customers"], unknown["email_receiving"], unknown["clickers"]) == (3, 2, 1)
    assert (unknown["open_rate"], unknown["click_to_open_rate"], unknown["opens_per_send"]) == (
        0.0,
        None,
        None,
    )
    assert (unknown["sessions"], unknown["session_seconds_median"]) == (0, None)
    assert report.as_dict()["grouped_by"] == "channel"


def test_rule_segments_and_rfm_as_groups(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    groups = rule_groups(tables, END, {"buyers": "orders >= 1", "emailable": "consent_email"})
    report = engagement_report(tables, START, END, groups, "segment")
    by_name = {g.group: g for g in report.groups}
    assert (by_name["buyers"].customers, by_name["emailable"].customers) == (1, 2)  # a is in both
    assert by_name["emailable"].openers == 1
    rfm = {
        g.group: g.customers for g in engagement_report(tables, START, END, rfm_groups(tables, END)).groups
    }
    assert sum(rfm.values()) == 1  # only a has an order


def test_period_must_be_positive(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    with pytest.raises(UserError, match="must end after it starts"):
        customer_engagement(tables, END, START)
    with pytest.raises(UserError, match="no segments"):
        rule_groups(tables, END, {})
