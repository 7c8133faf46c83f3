"""The journey funnel, hand-computed on a tiny shop, identical on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from retentio.analytics.journey import check_steps, customer_journeys, journey_funnel
from retentio.analytics.stats import wilson_interval
from retentio.errors import UserError


def shop(rows: Any) -> Any:
    """a: the whole way to a third order; b: stops at the cart (orders without a checkout); c: views a
    product before visiting (does not count) and after; g: cancelled first order, real one two days
    later; d: bought before the first visit (left out); e: visits late in January."""
    rows.customer("a", acquisition_channel="ads")
    rows.customer("b", acquisition_channel="seo")
    rows.customer("g", acquisition_channel="ads")
    rows.customer("d", acquisition_channel="ads")
    rows.customer("e", acquisition_channel="seo")
    ev = rows.event
    ev("a1", "a", "2024-01-01T10:00:00Z", "visit")
    ev("a2", "a", "2024-01-01T11:00:00Z", "product_view")
    ev("a3", "a", "2024-01-01T12:00:00Z", "add_to_cart")
    ev("a4", "a", "2024-01-01T12:30:00Z", "checkout")
    rows.order("oa1", "a", "2024-01-01T13:00:00Z", "10")
    rows.order("oa2", "a", "2024-01-05T13:00:00Z", "10")
    rows.order("oa3", "a", "2024-01-15T13:00:00Z", "10")
    ev("b1", "b", "2024-01-02T10:00:00Z", "visit")
    ev("b2", "b", "2024-01-02T12:00:00Z", "product_view")
    ev("b3", "b", "2024-01-02T13:00:00Z", "add_to_cart")
    rows.order("ob1", "b", "2024-01-05T10:00:00Z", "10")
    ev("c0", "c", "2024-01-03T09:00:00Z", "product_view")
    ev("c1", "c", "2024-01-03T10:00:00Z", "visit")
    ev("c2", "c", "2024-01-03T14:00:00Z", "product_view")
    ev("g1", "g", "2024-01-04T10:00:00Z", "visit")
    ev("g2", "g", "2024-01-04T10:30:00Z", "product_view")
    ev("g3", "g", "2024-01-04T11:00:00Z", "add_to_cart")
    ev("g4", "g", "2024-01-04T11:30:00Z", "checkout")
    rows.order("og0", "g", "2024-01-04T11:45:00Z", "10", status="cancelled")
    rows.order("og1", "g", "2024-01-06T11:30:00Z", "10")
    rows.order("od0", "d", "2023-12-01T10:00:00Z", "10")
    ev("d1", "d", "2024-01-04T10:00:00Z", "visit")
    ev("e1", "e", "2024-01-20T10:00:00Z", "visit")
    return rows


STEPS = ["visit", "product_view", "add_to_cart", "checkout", "first_order", "second_order", "third_order"]


def test_funnel_counts_rates_times_and_top_channels(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    funnel = journey_funnel(tables, as_of=date(2024, 2, 1), by_channel=True)
    steps = {s.step: s for s in funnel.steps}
    assert [s.step for s in funnel.steps] == STEPS
    assert [s.customers for s in funnel.steps] == [5, 4, 3, 2, 2, 1, 1]
    assert funnel.excluded_prior_buyers == 1
    assert funnel.customers == 5
    hours = [s.median_hours_from_previous for s in funnel.steps]
    assert hours[0] is None
    assert hours[1:] == pytest.approx([1.5, 1.0, 0.5, 24.25, 96.0, 240.0])
    assert [s.top_channel for s in funnel.steps] == ["ads"] * 7  # visit: ads 2, seo 2 → alphabetical

    data = steps["add_to_cart"].as_dict()
    assert (data["customers"], data["previous_customers"], data["drop_off"]) == (3, 4, 1)
    assert data["conversion_from_previous"] == 0.75
    assert data["conversion_from_top"] == 0.6
    interval = wilson_interval(3, 4)
    assert interval is not None
    assert data["conversion_from_previous_ci"] == interval.as_dict()
    assert data["median_days_from_previous"] == pytest.approx(1 / 24)
    first = funnel.steps[0].as_dict()
    assert (first["conversion_from_previous"], first["drop_off"], first["conversion_from_top"]) == (
        None,
        None,
        1.0,
    )

    by_channel = {channel: [s.customers for s in stats] for channel, stats in funnel.by_channel.items()}
    assert by_channel == {
        "ads": [2, 2, 2, 2, 2, 1, 1],
        "seo": [2, 1, 1, 0, 0, 0, 0],
        "unknown": [1, 1, 0, 0, 0, 0, 0],
    }
    assert funnel.by_channel["seo"][3].conversion_from_previous == 0.0
    assert funnel.by_channel["seo"][4].conversion_from_previous is None  # nobody at the step before
    assert funnel.map_data()[4] == {
        "step": "first_order",
        "customers": 2,
        "conversion_from_previous": 1.0,
        "median_hours_from_previous": pytest.approx(24.25),
        "top_channel": "ads",
    }


def test_entry_window_and_as_of(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(shop(snapshot_rows))
    windowed = journey_funnel(tables, start=date(2024, 1, 1), end=date(2024, 1, 15), as_of=date(2024, 2, 1))
    assert [s.customers for s in windowed.steps] == [4, 4, 3, 2, 2, 1, 1]  # e entered on 20 Jan
    assert windowed.excluded_prior_buyers == 1
    early = journey_funnel(tables, as_of=date(2024, 1, 5))  # facts dated before 5 Jan only
    assert [s.customers for s in early.steps] == [4, 4, 3, 2, 1, 0, 0]


def test_per_customer_journey_times(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    journeys = {r["customer_id"]: r for r in customer_journeys(tables).to_pyarrow().to_pylist()}
    assert sorted(journeys) == ["a", "b", "c", "e", "g"]
    assert (
        str(journeys["c"]["product_view_at"]) == "2024-01-03 14:00:00"
    )  # the view before the visit does not count
    assert journeys["g"]["first_order_at"].day == 6  # the cancelled order is not an order
    assert journeys["b"]["first_order_at"] is None  # no checkout before it
    assert journeys["c"]["channel"] == "unknown"
    assert journeys["a"]["entry_date"] == date(2024, 1, 1)


def test_custom_steps_start_at_the_first_order(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    funnel = journey_funnel(tables, steps=["first_order", "second_order", "third_order"])
    assert [s.customers for s in funnel.steps] == [4, 1, 1]  # a, b, g, d buy once; only a again
    assert funnel.excluded_prior_buyers == 0
    windowed = journey_funnel(
        tables, start=date(2024, 1, 1), end=date(2024, 2, 1), steps=["first_order", "visit"]
    )
    assert [s.customers for s in windowed.steps] == [3, 0]  # nobody visits after their first order


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["visit"], "at least two steps"),
        (["visit", "visit"], "once"),
        (["second_order", "first_order"], "must come in order"),
        (["visit", "drop table"], "not an event type"),
    ],
)
def test_bad_steps_are_user_errors(steps: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_steps(steps)
