"""KPIs of DESIGN §4 on tiny hand-computed shops, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retentio.analytics.kpis import KPI_KEYS, KpiCounts, compute_kpis, kpis_from_counts, parse_benchmarks
from retentio.errors import UserError

FEB = (date(2024, 2, 1), date(2024, 3, 1))


def february_shop(rows: Any) -> Any:
    """The shop every number in test_february_kpis_by_hand is computed from (W = 60 days).

    Period February 2024; activity windows: at Feb 1 [2023-12-03, 2024-02-01), at Mar 1
    [2024-01-01, 2024-03-01).
    """
    rows.order("a1", "a", "2024-01-10T09:00:00Z", "100")
    rows.order("a2", "a", "2024-02-05T09:00:00Z", "50", discount="5")
    rows.order("a3", "a", "2024-02-06T09:00:00Z", "500", status="cancelled")
    rows.refund("ra", "a2", "2024-03-05T09:00:00Z", "10")  # refund dated in March: not February's
    rows.order("b1", "b", "2023-12-20T09:00:00Z", "80")  # active at start only: churned
    rows.order("c1", "c", "2024-02-29T20:30:00Z", "30")  # 23:30 Moscow on Feb 29: February
    rows.order("d1", "d", "2024-02-29T21:30:00Z", "40")  # 00:30 Moscow on Mar 1: March
    rows.order("e1", "e", "2024-02-10T08:00:00Z", "20")  # two orders on one day
    rows.order("e2", "e", "2024-02-10T15:00:00Z", "25")
    rows.order("f1", "f", "2024-02-12T09:00:00Z", "999", status="cancelled")  # never a customer
    rows.order("g1", "g", "2024-01-15T09:00:00Z", "60")
    rows.refund("rg", "g1", "2024-02-03T09:00:00Z", "60")  # January order refunded in February
    rows.order("h1", "h", "2024-02-20T09:00:00Z", "70")  # only order, fully refunded: still ordered
    rows.refund("rh", "h1", "2024-02-25T09:00:00Z", "70")
    for rid, score in enumerate((10, 9, 9, 7, 3)):
        rows.survey(f"n{rid}", "a", "2024-02-15T09:00:00Z", "nps", score)
    rows.survey("n-bad", "a", "2024-02-15T09:00:00Z", "nps", 11)  # not a 0–10 answer
    rows.survey("n-mar", "a", "2024-02-29T21:00:00Z", "nps", 0)  # Mar 1 local
    rows.survey("n-jan", "a", "2024-01-31T20:59:00Z", "nps", 0)  # Jan 31 local
    rows.survey("s1", "c", "2024-02-15T09:00:00Z", "csat", 5)
    rows.survey("s2", "c", "2024-02-15T09:00:00Z", "csat", 4)
    rows.survey("s3", "c", "2024-02-15T09:00:00Z", "CSAT", 2)
    rows.survey("s-bad", "c", "2024-02-15T09:00:00Z", "csat", 0)
    return rows


def test_february_kpis_by_hand(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(february_shop(snapshot_rows))
    k = compute_kpis(tables, *FEB, active_window_days=60)

    assert set(KPI_KEYS) <= set(k)
    assert (k["from"], k["to"]) == ("2024-02-01", "2024-03-01")
    assert (k["S"], k["E"], k["N"]) == (3, 5, 3)  # S = a, b, g; E = a, c, e, g, h; N = c, e, h
    assert k["retention_rate"] == pytest.approx(2 / 3)
    assert k["counts"]["retention_rate"] == {"numerator": 2, "denominator": 3}
    assert k["cohort_retention"] == pytest.approx(2 / 3)  # a and g still active
    assert k["churn_rate"] == pytest.approx(1 / 3)
    assert k["counts"]["churn_rate"] == {"numerator": 1, "denominator": 3}
    # Before Mar 1: a (2), b, c, e (2, same day), g, h; d's order is on Mar 1 local.
    assert k["repeat_purchase_rate"] == pytest.approx(2 / 6)
    assert k["counts"]["repeat_purchase_rate"] == {"numerator": 2, "denominator": 6}
    assert k["purchase_frequency"] == pytest.approx(5 / 4)
    assert k["counts"]["purchase_frequency"] == {"numerator": 5, "denominator": 4}
    # 50 + 30 + 20 + 25 + 70 − (60 + 70) refunds dated in February.
    assert k["net_revenue"] == Decimal("65.00")
    assert k["counts"]["net_revenue"] == {"order_totals": Decimal("195.00"), "refunds": Decimal("130.00")}
    assert k["aov"] == Decimal("13.00")
    # NRR base = January buyers a, g: January 160; February a 50 − g's refund 60 = −10.
    assert k["nrr"] == pytest.approx(-10 / 160)
    assert k["revenue_churn"] == pytest.approx(1 + 10 / 160)
    assert k["counts"]["nrr"] == {
        "numerator": Decimal("-10.00"),
        "denominator": Decimal("160.00"),
        "customers": 2,
    }
    # Since the first order, before Mar 1: 435 totals − 130 refunds over 6 customers.
    assert k["historical_clv"] == Decimal("50.83")
    assert k["counts"]["historical_clv"] == {"numerator": Decimal("305.00"), "denominator": 6}
    assert k["nps"] == pytest.approx(40.0)
    assert k["counts"]["nps"] == {"promoters": 3, "passives": 1, "detractors": 1, "responses": 5}
    assert k["csat"] == pytest.approx(2 / 3)
    # No order lines: cost of goods unknown; loyalty and campaign costs do not exist yet.
    assert k["net_profit_per_customer"] is None
    assert k["missing_costs"] == ["cost_of_goods", "loyalty_cost", "campaign_cost"]
    assert k["costs"]["discounts"] == Decimal("5.00")
    assert k["net_profit_per_customer_known_costs"] == Decimal("15.00")  # (65 − 5) / 4

    intervals = k["intervals"]
    assert intervals["cohort_retention"]["low"] < 2 / 3 < intervals["cohort_retention"]["high"]
    assert intervals["csat"]["low"] < 2 / 3 < intervals["csat"]["high"]
    assert intervals["nps"]["low"] < 40 < intervals["nps"]["high"]

    # The previous period of a calendar month is the previous month: January.
    previous = k["previous"]
    assert (previous["from"], previous["to"]) == ("2024-01-01", "2024-02-01")
    assert (previous["S"], previous["E"], previous["N"]) == (1, 3, 2)  # S = b; E = a, b, g; N = a, g
    assert previous["net_revenue"] == Decimal("160.00")
    assert k["change"]["S"] == 2
    assert k["change"]["retention_rate"] == pytest.approx(2 / 3 - 1.0)
    assert k["change"]["net_revenue"] == Decimal("-95.00")


def test_refund_lowers_the_period_it_is_dated_in(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(february_shop(snapshot_rows))
    march = compute_kpis(tables, date(2024, 3, 1), date(2024, 4, 1), active_window_days=60)
    # March: d's 40 (00:30 local on Mar 1) − a's 10 refunded on Mar 5.
    assert march["net_revenue"] == Decimal("30.00")
    assert march["counts"]["net_revenue"]["refunds"] == Decimal("10.00")
    assert march["N"] == 1


def test_empty_period_gives_null_rates_and_zero_counts(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(snapshot_rows)  # no data at all
    k = compute_kpis(tables, *FEB)
    for key in KPI_KEYS:
        if key in ("S", "E", "N"):
            assert k[key] == 0
        elif key == "net_revenue":
            assert k[key] == Decimal("0.00")
        else:
            assert k[key] is None, key
    assert k["counts"]["retention_rate"] == {"numerator": 0, "denominator": 0}
    assert k["counts"]["nps"]["responses"] == 0
    assert all(value is None for value in k["intervals"].values())


def test_only_refunded_order_still_counts_as_ordering(analytics_backend: Any, snapshot_rows: Any) -> None:
    snapshot_rows.order("o1", "x", "2024-02-10T10:00:00Z", "100")
    snapshot_rows.refund("r1", "o1", "2024-02-11T10:00:00Z", "100")
    tables = analytics_backend.load(snapshot_rows)
    k = compute_kpis(tables, *FEB)
    assert (k["N"], k["E"]) == (1, 1)
    assert k["counts"]["purchase_frequency"] == {"numerator": 1, "denominator": 1}
    assert k["net_revenue"] == Decimal("0.00")
    assert k["aov"] == Decimal("0.00")


def test_nps_with_only_passives_is_zero_with_a_real_interval(
    analytics_backend: Any, snapshot_rows: Any
) -> None:
    for i, score in enumerate((7, 8, 7, 8)):
        snapshot_rows.survey(f"s{i}", "x", "2024-02-10T10:00:00Z", "nps", score)
    k = compute_kpis(analytics_backend.load(snapshot_rows), *FEB)
    assert k["nps"] == 0.0
    interval = k["intervals"]["nps"]
    assert interval["low"] < 0 < interval["high"]
    assert interval["low"] == pytest.approx(-interval["high"])


def test_net_profit_with_known_costs(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.order("o1", "x", "2024-02-10T10:00:00Z", "100", discount="10")
    rows.line("o1", "sku1", 2, "50", unit_cost="20")
    rows.order("o2", "y", "2024-02-11T10:00:00Z", "60")
    rows.line("o2", "sku2", 1, "30", unit_cost="12.50")
    rows.line("o2", "sku3", 1, "30", unit_cost="7.50")
    rows.order("o3", "y", "2024-01-11T10:00:00Z", "60")  # January: its missing cost does not matter
    tables = analytics_backend.load(rows)
    k = compute_kpis(tables, *FEB, loyalty_cost=Decimal("3"), campaign_cost=Decimal("7"))
    # 160 − COGS (40 + 20) − discounts 10 − loyalty 3 − campaign 7 = 80 over 2 customers.
    assert k["costs"]["cost_of_goods"] == Decimal("60.00")
    assert k["missing_costs"] == []
    assert k["net_profit_per_customer"] == Decimal("40.00")
    assert k["counts"]["net_profit_per_customer"] == {"numerator": Decimal("80.00"), "denominator": 2}

    partial = compute_kpis(tables, *FEB)
    assert partial["net_profit_per_customer"] is None
    assert partial["missing_costs"] == ["loyalty_cost", "campaign_cost"]


def test_a_line_without_unit_cost_makes_cost_of_goods_missing(
    analytics_backend: Any, snapshot_rows: Any
) -> None:
    snapshot_rows.order("o1", "x", "2024-02-10T10:00:00Z", "100")
    snapshot_rows.line("o1", "sku1", 1, "50", unit_cost="20")
    snapshot_rows.line("o1", "sku2", 1, "50")
    k = compute_kpis(analytics_backend.load(snapshot_rows), *FEB, loyalty_cost=Decimal(0), campaign_cost=0)
    assert k["costs"]["cost_of_goods"] is None
    assert k["missing_costs"] == ["cost_of_goods"]
    assert k["net_profit_per_customer"] is None


def test_by_city_and_cohort_partition_customers(analytics_backend: Any, snapshot_rows: Any) -> None:
    rows = february_shop(snapshot_rows)
    rows.customer("a", city="Moscow")
    rows.customer("b", city="Moscow")
    rows.customer("c", city="Kazan")
    tables = analytics_backend.load(rows)
    by_city = compute_kpis(tables, *FEB, active_window_days=60, by="city")
    assert "S" not in by_city
    groups = {g["group"]: g for g in by_city["groups"]}
    assert list(groups) == ["Kazan", "Moscow", None]
    assert (groups["Moscow"]["S"], groups["Moscow"]["E"], groups["Moscow"]["N"]) == (2, 1, 0)
    assert groups["Moscow"]["retention_rate"] == pytest.approx(0.5)
    assert groups["Kazan"]["N"] == 1 and groups["Kazan"]["S"] == 0
    assert groups["Kazan"]["csat"] == pytest.approx(2 / 3)  # c answered the CSAT survey
    assert groups["Moscow"]["nps"] == pytest.approx(40.0)  # a answered the NPS survey
    assert sum(g["S"] for g in groups.values()) == 3
    assert sum(g["net_revenue"] for g in groups.values()) == Decimal("65.00")

    by_cohort = compute_kpis(tables, *FEB, active_window_days=60, by="cohort")
    cohorts = {g["group"]: g for g in by_cohort["groups"]}
    assert list(cohorts) == ["2023-12", "2024-01", "2024-02"]  # d's first order is in March
    assert cohorts["2024-01"]["historical_clv"] == Decimal("75.00")  # a 150, g 60 − 60
    assert cohorts["2024-02"]["N"] == 3


def test_by_channel_uses_acquisition_channel_then_first_order_channel(
    analytics_backend: Any, snapshot_rows: Any
) -> None:
    rows = snapshot_rows
    rows.customer("x", acquisition_channel="ads")
    rows.order("x1", "x", "2024-02-02T10:00:00Z", "10", channel="web")
    rows.order("y1", "y", "2024-02-03T10:00:00Z", "20", channel="app")
    rows.order("y2", "y", "2024-02-04T10:00:00Z", "30", channel="web")
    k = compute_kpis(analytics_backend.load(rows), *FEB, by="channel")
    groups = {g["group"]: g["net_revenue"] for g in k["groups"]}
    assert groups == {"ads": Decimal("10.00"), "app": Decimal("50.00")}


def test_customer_filter_restricts_every_fact(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(february_shop(snapshot_rows))
    k = compute_kpis(tables, *FEB, active_window_days=60, customer_ids=["a", "c"])
    assert (k["S"], k["E"], k["N"]) == (1, 2, 1)
    assert k["net_revenue"] == Decimal("80.00")
    assert k["counts"]["nps"]["responses"] == 5
    assert k["counts"]["csat"]["denominator"] == 3
    nobody = compute_kpis(tables, *FEB, customer_ids=[])
    assert (nobody["S"], nobody["E"], nobody["net_revenue"]) == (0, 0, Decimal("0.00"))


def test_as_of_cuts_facts_and_flags_partial(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(february_shop(snapshot_rows))
    k = compute_kpis(tables, *FEB, active_window_days=60, as_of=date(2024, 2, 15))
    assert k["partial"] is True and k["as_of"] == "2024-02-15"
    # Known on Feb 15: a2 and e's two orders; g's refund of Feb 3.
    assert k["counts"]["purchase_frequency"] == {"numerator": 3, "denominator": 2}
    assert k["net_revenue"] == Decimal("35.00")
    assert compute_kpis(tables, *FEB, as_of=date(2024, 3, 1))["partial"] is False


def test_benchmarks_and_unknown_keys(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(february_shop(snapshot_rows))
    marks = parse_benchmarks(["retention_rate=0.5", "aov=10"])
    k = compute_kpis(tables, *FEB, active_window_days=60, benchmarks=marks)
    assert k["benchmarks"]["retention_rate"]["difference"] == pytest.approx(2 / 3 - 0.5)
    assert k["benchmarks"]["aov"] == {"benchmark": Decimal("10"), "difference": Decimal("3.00")}
    with pytest.raises(UserError, match="unknown KPI"):
        parse_benchmarks(["retention=0.3"])
    with pytest.raises(UserError, match="KPI=VALUE"):
        parse_benchmarks(["0.3"])
    with pytest.raises(UserError, match="not a number"):
        parse_benchmarks(["nps=high"])


def test_tier_grouping_is_a_clear_error(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(snapshot_rows)
    with pytest.raises(UserError, match="loyalty tiers"):
        compute_kpis(tables, *FEB, by="tier")
    with pytest.raises(UserError, match="unknown --by"):
        compute_kpis(tables, *FEB, by="planet")
    with pytest.raises(UserError, match="must end after"):
        compute_kpis(tables, date(2024, 3, 1), date(2024, 2, 1))


# --- pure rules -------------------------------------------------------------------------------------

counts_strategy = st.builds(
    lambda s, e, n, r, cwo, rep, orders, oc, pro, pas, det, sat, resp: KpiCounts(
        active_start=s,
        active_end=max(e, r),
        new_customers=n,
        retained=min(r, s),
        customers_with_orders=cwo,
        repeat_customers=min(rep, cwo),
        orders=max(orders, oc),
        ordering_customers=oc,
        promoters=pro,
        passives=pas,
        detractors=det,
        csat_satisfied=min(sat, resp),
        csat_responses=resp,
    ),
    *[st.integers(0, 50)] * 13,
)


@settings(max_examples=60, deadline=None)
@given(counts_strategy)
def test_proportions_stay_in_unit_interval(counts: KpiCounts) -> None:
    k = kpis_from_counts(counts)
    for key in ("cohort_retention", "churn_rate", "repeat_purchase_rate", "csat"):
        value = k[key]
        assert value is None or 0.0 <= value <= 1.0
        interval = k["intervals"][key]
        if value is not None:
            assert 0.0 <= interval["low"] <= value <= interval["high"] <= 1.0
    if k["cohort_retention"] is not None:
        assert k["cohort_retention"] + k["churn_rate"] == pytest.approx(1.0)
    assert k["nps"] is None or -100.0 <= k["nps"] <= 100.0
    assert k["purchase_frequency"] is None or k["purchase_frequency"] >= 1.0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcde"),
            st.integers(0, 120),  # day offset from 2023-12-01
            st.sampled_from(["completed", "completed", "cancelled"]),
        ),
        max_size=15,
    )
)
def test_engine_rates_are_proportions(duckdb_backend: Any, make_rows: Any, orders: list[Any]) -> None:
    rows = make_rows()
    for i, (customer, offset, status) in enumerate(orders):
        day = date.fromordinal(date(2023, 12, 1).toordinal() + offset)
        rows.order(f"o{i}", customer, f"{day.isoformat()}T10:00:00Z", "10", status=status)
    k = compute_kpis(duckdb_backend.load(rows), *FEB, active_window_days=45)
    for key in ("cohort_retention", "churn_rate", "repeat_purchase_rate"):
        assert k[key] is None or 0.0 <= k[key] <= 1.0
    assert k["E"] >= k["counts"]["cohort_retention"]["numerator"]
    assert k["N"] <= k["counts"]["purchase_frequency"]["denominator"]
