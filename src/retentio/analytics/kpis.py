"""Retention KPIs for a period (DESIGN §4), computed in the engine, turned into numbers by pure rules.

Two layers: :func:`gather_counts_for` runs a few aggregate queries (per customer, then per group) and
returns :class:`KpiCounts` — the numerators and denominators; :func:`kpis_from_counts` turns counts
into the KPI object with no I/O, so every rule can be tested without a database.

Definitions (``[start, end)`` in local dates; W = active window in days; *orders* are non-cancelled
orders and *refunds* refunds of non-cancelled orders, see :mod:`retentio.analytics.summary`):

- net revenue = totals of orders dated in the period − refunds dated in the period, whatever the
  date of the refunded order (a refund in March of a January order lowers March).
- active at t: an order dated in ``[t − W, t)``. S = active at ``start``, E = active at ``end``,
  N = customers whose first-ever order is dated in the period.
- retention_rate = (E − N) / S — the classic CRR. It is not a proportion (it can leave [0, 1] when
  customers come back after a gap longer than W or when the period is longer than W), so it has no
  Wilson interval; cohort_retention is the proportion.
- cohort_retention = |S ∩ E| / S; churn_rate = 1 − cohort_retention = |S \\ E| / S.
- repeat_purchase_rate = customers with ≥ 2 orders / customers with ≥ 1 order, all orders before
  ``end`` (two orders on the same day are two orders).
- purchase_frequency = orders in the period / distinct customers ordering in the period.
- aov = net revenue / orders in the period.
- net_profit_per_customer = (net revenue − cost of goods − discounts − loyalty cost − campaign cost)
  / customers ordering in the period. Cost of goods = Σ quantity × unit_cost over the lines of the
  period's orders, known only when every one of those orders has lines and every line a
  ``unit_cost``; discounts = Σ ``orders.discount`` of the period's orders (an empty discount is no
  discount) — subtracted as DESIGN §4 says, even where a shop's totals are already net of
  discounts. Loyalty and campaign costs are not in the snapshot yet: unless given as arguments they
  are *missing*, the KPI is null and ``missing_costs`` names what is unknown (never counted as 0);
  ``net_profit_per_customer_known_costs`` shows the value with the known costs only.
- nrr = net revenue in the period of the customers who ordered in the previous equal-length period
  / their net revenue in that previous period; revenue_churn = 1 − nrr. Null when that previous
  revenue is ≤ 0 (a ratio to a non-positive base has no meaning).
- historical_clv = net revenue before ``end`` of the customers with an order before ``end`` / their
  number (mean net revenue per customer since the first order).
- nps over ``nps`` survey answers dated in the period with a score 0–10 (others ignored):
  100 × (promoters 9–10 − detractors 0–6) / answers, with the Rocks (2016) adjusted Wald interval.
- csat = share of 4–5 among ``csat`` survey answers 1–5 dated in the period (ticket CSAT is the
  support module's metric, not this one).

Honest numbers: a KPI whose denominator is 0 (an empty period, S = 0, ...) is null and its counts
are 0 — never a division by zero. ``counts`` holds the numerator and denominator of every KPI,
``intervals`` the Wilson 95 % interval of each proportion and the NPS interval. Money is a
``Decimal`` (JSON: a decimal string); ratios of money (aov, per-customer values) are rounded half-up
to the minor unit (0.01), sums are exact. Rates are unrounded floats.

Grouping (``by``) partitions *customers*, so every KPI — NPS and CSAT included — restricts cleanly:
``channel`` = the customer's ``acquisition_channel``, else the channel of their first order;
``city`` = ``customers.city``; ``cohort`` = month of the first order (``2024-01``); customers with no
value form the group ``null``. ``tier`` needs loyalty tiers, which the snapshot does not have yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis
import ibis.expr.types as ir

from retentio.analytics.periods import Period, month_start_of_index, period_index_expr
from retentio.analytics.render import KPI_KEYS, MONEY_KPIS
from retentio.analytics.stats import nps_interval, nps_score, wilson_interval
from retentio.analytics.summary import CustomerIds, restrict_to_customers, valid_orders, valid_refunds
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

# KPI_KEYS and MONEY_KPIS (imported above) are defined once in render.py: the CLI imports that module
# without ibis, which keeps command start-up fast.
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

GROUP_DIMENSIONS = ("channel", "city", "tier", "cohort")
LOYALTY_COST = "loyalty_cost"
CAMPAIGN_COST = "campaign_cost"
COST_OF_GOODS = "cost_of_goods"


@dataclass(frozen=True)
class KpiCounts:
    """Everything the KPIs of one period (and one group) are computed from."""

    active_start: int = 0  # S
    active_end: int = 0  # E
    new_customers: int = 0  # N
    retained: int = 0  # |S ∩ E|
    customers_with_orders: int = 0  # ≥ 1 order before end
    repeat_customers: int = 0  # ≥ 2 orders before end
    orders: int = 0  # orders in the period
    ordering_customers: int = 0  # distinct customers ordering in the period
    order_totals: Decimal = ZERO  # totals of the period's orders
    refunds: Decimal = ZERO  # refunds dated in the period
    nrr_customers: int = 0  # customers who ordered in the previous period
    nrr_revenue: Decimal = ZERO  # their net revenue in this period
    nrr_base_revenue: Decimal = ZERO  # their net revenue in the previous period
    clv_revenue: Decimal = ZERO  # net revenue before end of customers_with_orders
    cost_of_goods: Decimal | None = ZERO  # None = unknown for some order of the period
    discounts: Decimal = ZERO
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_satisfied: int = 0
    csat_responses: int = 0

    @property
    def net_revenue(self) -> Decimal:
        return self.order_totals - self.refunds


def _money(value: Decimal) -> str:
    return str(value)


def _money_ratio(numerator: Decimal, denominator: int | Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (numerator / Decimal(denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _interval(successes: int, trials: int) -> dict[str, Any] | None:
    interval = wilson_interval(successes, trials)
    return None if interval is None else interval.as_dict()


def kpis_from_counts(
    counts: KpiCounts,
    loyalty_cost: Decimal | None = None,
    campaign_cost: Decimal | None = None,
) -> dict[str, Any]:
    """The KPI object (keys of :data:`KPI_KEYS` plus ``counts``, ``intervals``, costs) from counts.

    Money values are ``Decimal`` here; :mod:`retentio.analytics.render` writes them as strings.
    """
    c = counts
    net_revenue = c.net_revenue
    retention_numerator = c.active_end - c.new_customers
    cohort_retention = _rate(c.retained, c.active_start)
    churned = c.active_start - c.retained

    missing_costs = [
        name
        for name, value in (
            (COST_OF_GOODS, c.cost_of_goods),
            (LOYALTY_COST, loyalty_cost),
            (CAMPAIGN_COST, campaign_cost),
        )
        if value is None
    ]
    known_costs = c.discounts + sum(
        (value for value in (c.cost_of_goods, loyalty_cost, campaign_cost) if value is not None), ZERO
    )
    known_profit = net_revenue - known_costs
    profit = None if missing_costs else known_profit

    nrr: float | None = None
    if c.nrr_base_revenue > 0:
        nrr = float(c.nrr_revenue / c.nrr_base_revenue)
    nps = nps_score(c.promoters, c.passives, c.detractors)
    nps_ci = nps_interval(c.promoters, c.passives, c.detractors)
    nps_responses = c.promoters + c.passives + c.detractors

    return {
        "S": c.active_start,
        "E": c.active_end,
        "N": c.new_customers,
        "retention_rate": _rate(retention_numerator, c.active_start),
        "cohort_retention": cohort_retention,
        "churn_rate": None if cohort_retention is None else churned / c.active_start,
        "repeat_purchase_rate": _rate(c.repeat_customers, c.customers_with_orders),
        "purchase_frequency": _rate(c.orders, c.ordering_customers),
        "aov": _money_ratio(net_revenue, c.orders),
        "net_revenue": net_revenue,
        "net_profit_per_customer": None if profit is None else _money_ratio(profit, c.ordering_customers),
        "nrr": nrr,
        "revenue_churn": None if nrr is None else 1.0 - nrr,
        "historical_clv": _money_ratio(c.clv_revenue, c.customers_with_orders),
        "nps": nps,
        "csat": _rate(c.csat_satisfied, c.csat_responses),
        "net_profit_per_customer_known_costs": _money_ratio(known_profit, c.ordering_customers),
        "missing_costs": missing_costs,
        "costs": {
            COST_OF_GOODS: c.cost_of_goods,
            "discounts": c.discounts,
            LOYALTY_COST: loyalty_cost,
            CAMPAIGN_COST: campaign_cost,
        },
        "counts": {
            "retention_rate": {"numerator": retention_numerator, "denominator": c.active_start},
            "cohort_retention": {"numerator": c.retained, "denominator": c.active_start},
            "churn_rate": {"numerator": churned, "denominator": c.active_start},
            "repeat_purchase_rate": {"numerator": c.repeat_customers, "denominator": c.customers_with_orders},
            "purchase_frequency": {"numerator": c.orders, "denominator": c.ordering_customers},
            "aov": {"numerator": net_revenue, "denominator": c.orders},
            "net_revenue": {"order_totals": c.order_totals, "refunds": c.refunds},
            "net_profit_per_customer": {"numerator": profit, "denominator": c.ordering_customers},
            "nrr": {
                "numerator": c.nrr_revenue,
                "denominator": c.nrr_base_revenue,
                "customers": c.nrr_customers,
            },
            "historical_clv": {"numerator": c.clv_revenue, "denominator": c.customers_with_orders},
            "nps": {
                "promoters": c.promoters,
                "passives": c.passives,
                "detractors": c.detractors,
                "responses": nps_responses,
            },
            "csat": {"numerator": c.csat_satisfied, "denominator": c.csat_responses},
        },
        "intervals": {
            "cohort_retention": _interval(c.retained, c.active_start),
            "churn_rate": _interval(churned, c.active_start),
            "repeat_purchase_rate": _interval(c.repeat_customers, c.customers_with_orders),
            "csat": _interval(c.csat_satisfied, c.csat_responses),
            "nps": None if nps_ci is None else nps_ci.as_dict(),
        },
    }


def kpi_change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """Absolute change (current − previous) of every KPI; null when either side is null."""
    change: dict[str, Any] = {}
    for key in KPI_KEYS:
        now, before = current.get(key), previous.get(key)
        if now is None or before is None:
            change[key] = None
        elif key in MONEY_KPIS:
            change[key] = Decimal(now) - Decimal(before)
        else:
            change[key] = now - before
    return change


def kpi_benchmarks(current: Mapping[str, Any], benchmarks: Mapping[str, float | Decimal]) -> dict[str, Any]:
    """For each benchmark the user gave: its value and current − benchmark (null if the KPI is null)."""
    out: dict[str, Any] = {}
    for key, value in benchmarks.items():
        if key not in KPI_KEYS:
            raise UserError(f"unknown KPI {key!r} in --benchmark: use one of {', '.join(KPI_KEYS)}")
        now = current.get(key)
        if key in MONEY_KPIS:
            reference: float | Decimal = Decimal(str(value))
            difference: Any = None if now is None else Decimal(now) - Decimal(str(value))
        else:
            reference = float(value)
            difference = None if now is None else now - float(value)
        out[key] = {"benchmark": reference, "difference": difference}
    return out


# --- the engine side -------------------------------------------------------------------------------


def _group_map(tables: AnalyticsTables, by: str, as_of: date | None) -> ir.Table:
    """customer_id → ``group`` for a grouping dimension (see the module docstring)."""
    customers = tables.customers
    if by == "city":
        return customers.select("customer_id", group=customers.city.cast("string"))
    orders = valid_orders(tables, as_of)
    if by == "channel":
        ranked = orders.mutate(
            position=ibis.row_number().over(
                group_by=orders.customer_id, order_by=[orders.ordered_at, orders.order_id]
            )
        )
        first = ranked.filter(ranked.position == 0).select(
            first_customer_id="customer_id", first_channel="channel"
        )
        joined = customers.left_join(first, customers.customer_id == first.first_customer_id)
        return joined.select(
            "customer_id",
            group=ibis.coalesce(joined.acquisition_channel, joined.first_channel).cast("string"),
        )
    if by == "cohort":
        first = orders.group_by("customer_id").aggregate(first_date=orders.order_date.min())
        return first.select("customer_id", group=period_index_expr(first.first_date, "month").cast("string"))
    if by == "tier":
        raise UserError(
            "--by tier needs loyalty tiers, which the analytics snapshot does not hold yet "
            "(they arrive with the loyalty programme)"
        )
    raise UserError(f"unknown --by {by!r}: use one of {', '.join(GROUP_DIMENSIONS)}")


def _with_group(table: ir.Table, groups: ir.Table | None) -> ir.Table:
    """Attach the ``group`` column by customer; unchanged without grouping (see :func:`_per_group`)."""
    if groups is None:
        return table
    mapping = groups.rename(group_customer_id="customer_id")
    joined = table.left_join(mapping, table.customer_id == mapping.group_customer_id)
    return joined.drop("group_customer_id")


def _per_group(table: ir.Table, columns: dict[str, Any], groups: ir.Table | None) -> ir.Table:
    """``columns`` aggregated per ``group``; without grouping one plain aggregate (no hash table)."""
    if groups is None:
        return table.aggregate(**columns).mutate(group=ibis.literal("all", type="string"))
    return table.group_by("group").aggregate(**columns)


def _as_decimal(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(CENT)


def gather_counts_for(
    tables: AnalyticsTables,
    periods: list[Period],
    active_window_days: int = 365,
    *,
    as_of: date | None = None,
    customer_ids: CustomerIds = None,
    groups: ir.Table | None = None,
) -> list[dict[str | None, KpiCounts]]:
    """Counts behind the KPIs of each period, per group (key ``"all"`` without grouping), in order.

    Every period is computed in the *same* scan of the facts (a column set per period), so the
    current and the previous period of ``retentio kpi`` cost one pass, not two. Four queries, each
    aggregated in the engine down to one row per group: orders and refunds per customer; the
    periods' orders (with their cost of goods, which the snapshot materialises per order); refunds
    dated in the periods; survey answers.
    """
    if active_window_days <= 0:
        raise UserError(f"the active window must be a positive number of days, got {active_window_days}")
    if not periods:
        return []
    window = timedelta(days=active_window_days)
    last_end = max(p.end for p in periods)
    first_start = min(p.start for p in periods)
    suffixes = [f"_{i}" for i in range(len(periods))]

    orders = valid_orders(tables, as_of, customer_ids)
    orders = orders.filter(orders.order_date < last_end)
    day = orders.order_date

    # Per customer, only what needs a customer: first order, latest order before each period
    # boundary (activity flags follow from it: active at t ⇔ latest order before t ≥ t − W; ordered
    # in [a, b) ⇔ latest order before b ≥ a), order counts before each end (repeat buyers) and the
    # revenue behind NRR and historical CLV. Plain sums over the periods' orders are one query
    # below, per group, with no customer hash table.
    boundaries = sorted({p.start for p in periods} | {p.end for p in periods})
    zero = ibis.literal(0, type="decimal(38, 2)")

    def last_name(boundary: date) -> str:
        return f"last_before_{boundary:%Y%m%d}"

    order_columns: dict[str, Any] = {"first_date": day.min()}
    order_columns |= {
        last_name(b): day.max() if b == last_end else day.max(where=day < b) for b in boundaries
    }
    refunds = valid_refunds(tables, as_of, customer_ids)
    refunds = refunds.filter(refunds.refund_date < last_end)
    refund_day = refunds.refund_date
    refund_columns: dict[str, Any] = {}
    for sfx, p in zip(suffixes, periods, strict=True):
        before_end = day < p.end
        in_period = (day >= p.start) & before_end
        previous = p.previous()
        in_previous = (day >= previous.start) & (day < p.start)
        whole = p.end == last_end  # the scan holds only orders before last_end: no filter needed
        order_columns |= {
            f"orders_before_end{sfx}": orders.count() if whole else orders.count(where=before_end),
            f"totals_before_end{sfx}": orders.total.sum() if whole else orders.total.sum(where=before_end),
            f"totals_in_period{sfx}": orders.total.sum(where=in_period),
            f"totals_in_previous{sfx}": orders.total.sum(where=in_previous),
        }
        refund_columns |= {
            f"refunds_before_end{sfx}": refunds.amount.sum(where=refund_day < p.end),
            f"refunds_in_period{sfx}": refunds.amount.sum(
                where=(refund_day >= p.start) & (refund_day < p.end)
            ),
            f"refunds_in_previous{sfx}": refunds.amount.sum(
                where=(refund_day >= previous.start) & (refund_day < p.start)
            ),
        }
    per_customer = orders.group_by("customer_id").aggregate(**order_columns)
    refunds_per_customer = refunds.group_by(refund_customer_id=refunds.customer_id).aggregate(
        **refund_columns
    )
    customers = per_customer.left_join(
        refunds_per_customer, per_customer.customer_id == refunds_per_customer.refund_customer_id
    )
    net_columns: dict[str, Any] = {}
    for sfx in suffixes:
        net_columns |= {
            f"net_before_end{sfx}": customers[f"totals_before_end{sfx}"].fill_null(zero)
            - customers[f"refunds_before_end{sfx}"].fill_null(zero),
            f"net_in_period{sfx}": customers[f"totals_in_period{sfx}"].fill_null(zero)
            - customers[f"refunds_in_period{sfx}"].fill_null(zero),
            f"net_in_previous{sfx}": customers[f"totals_in_previous{sfx}"].fill_null(zero)
            - customers[f"refunds_in_previous{sfx}"].fill_null(zero),
        }
    customers = _with_group(customers.mutate(**net_columns), groups)
    cid = customers.customer_id
    customer_columns: dict[str, Any] = {}
    for sfx, p in zip(suffixes, periods, strict=True):
        last_before_start = customers[last_name(p.start)]
        last_before_end = customers[last_name(p.end)]
        has_orders = customers.first_date < p.end
        active_start = last_before_start >= p.start - window  # null (no order before) → not counted
        active_end = last_before_end >= p.end - window
        base = last_before_start >= p.previous().start
        customer_columns |= {
            f"active_start{sfx}": cid.count(where=active_start),
            f"active_end{sfx}": cid.count(where=active_end),
            f"retained{sfx}": cid.count(where=active_start & active_end),
            f"new_customers{sfx}": cid.count(
                where=(customers.first_date >= p.start) & (customers.first_date < p.end)
            ),
            f"customers_with_orders{sfx}": cid.count(where=has_orders),
            f"repeat_customers{sfx}": cid.count(where=customers[f"orders_before_end{sfx}"] >= 2),
            f"ordering_customers{sfx}": cid.count(where=last_before_end >= p.start),
            f"order_totals{sfx}": customers[f"totals_in_period{sfx}"].sum(),
            f"nrr_customers{sfx}": cid.count(where=base),
            f"nrr_revenue{sfx}": customers[f"net_in_period{sfx}"].sum(where=base),
            f"nrr_base_revenue{sfx}": customers[f"net_in_previous{sfx}"].sum(where=base),
            f"clv_revenue{sfx}": customers[f"net_before_end{sfx}"].sum(where=has_orders),
        }
    customer_rows = _per_group(customers, customer_columns, groups)

    # Sums over the periods' orders and refunds, per group. Refunds dated in a period count whatever
    # the order's date and whether that customer ordered in the period: a refund in March of a
    # January order lowers March.
    period_orders = _with_group(orders.filter(day >= first_start), groups)
    refund_rows = _with_group(refunds.filter(refund_day >= first_start), groups)
    order_day = period_orders.order_date
    day_of_refund = refund_rows.refund_date
    order_sums: dict[str, Any] = {}
    refund_sums: dict[str, Any] = {}
    for sfx, p in zip(suffixes, periods, strict=True):
        dated = (order_day >= p.start) & (order_day < p.end)
        order_sums |= {
            f"orders{sfx}": period_orders.count(where=dated),
            f"discounts{sfx}": period_orders.discount.sum(where=dated),
            # The snapshot's orders.cost_of_goods: null when some line of the order has no cost.
            f"cost_of_goods{sfx}": period_orders.cost_of_goods.sum(where=dated),
            f"orders_costed{sfx}": period_orders.cost_of_goods.count(where=dated),
        }
        refund_sums[f"refunds{sfx}"] = refund_rows.amount.sum(
            where=(day_of_refund >= p.start) & (day_of_refund < p.end)
        )
    order_rows = _per_group(period_orders, order_sums, groups)
    refund_rows = _per_group(refund_rows, refund_sums, groups)

    answers = tables.survey_responses
    if as_of is not None:
        answers = answers.filter(answers.answered_date < as_of)
    answers = restrict_to_customers(answers, customer_ids)
    answers = answers.filter((answers.answered_date >= first_start) & (answers.answered_date < last_end))
    answers = _with_group(answers, groups)
    survey = answers.survey.lower()
    score = answers.score
    nps_answer = survey == "nps"
    csat_answer = (survey == "csat") & score.between(1, 5)
    response = answers.response_id
    survey_columns: dict[str, Any] = {}
    for sfx, p in zip(suffixes, periods, strict=True):
        dated = (answers.answered_date >= p.start) & (answers.answered_date < p.end)
        survey_columns |= {
            f"promoters{sfx}": response.count(where=dated & nps_answer & score.between(9, 10)),
            f"passives{sfx}": response.count(where=dated & nps_answer & score.between(7, 8)),
            f"detractors{sfx}": response.count(where=dated & nps_answer & score.between(0, 6)),
            f"csat_satisfied{sfx}": response.count(where=dated & csat_answer & (score >= 4)),
            f"csat_responses{sfx}": response.count(where=dated & csat_answer),
        }
    survey_rows = _per_group(answers, survey_columns, groups)

    merged: dict[str | None, dict[str, Any]] = {}
    for result in (customer_rows, order_rows, refund_rows, survey_rows):
        for row in tables.fetch(result).to_pylist():
            merged.setdefault(row.pop("group"), {}).update(row)
    return [_counts_by_group(merged, sfx, groups is None) for sfx in suffixes]


_INT_FIELDS = tuple(f.name for f in fields(KpiCounts) if f.type == "int")
_MONEY_FIELDS = ("order_totals", "refunds", "nrr_revenue", "nrr_base_revenue", "clv_revenue", "discounts")


def _counts_by_group(
    merged: Mapping[str | None, Mapping[str, Any]], sfx: str, ungrouped: bool
) -> dict[str | None, KpiCounts]:
    """The :class:`KpiCounts` of one period (columns ending in ``sfx``) for every group."""
    counts: dict[str | None, KpiCounts] = {}
    for group, row in merged.items():
        values: dict[str, Any] = {name: int(row.get(name + sfx) or 0) for name in _INT_FIELDS}
        values |= {name: _as_decimal(row.get(name + sfx)) for name in _MONEY_FIELDS}
        unknown = int(row.get("orders" + sfx) or 0) > int(row.get("orders_costed" + sfx) or 0)
        values["cost_of_goods"] = None if unknown else _as_decimal(row.get("cost_of_goods" + sfx))
        counts[group] = KpiCounts(**values)
    if ungrouped and "all" not in counts:
        counts["all"] = KpiCounts()
    return counts


def _group_label(by: str | None, group: str | None) -> str | None:
    if by == "cohort" and group is not None:
        return month_start_of_index(int(group)).strftime("%Y-%m")
    return group


def compute_kpis(
    tables: AnalyticsTables,
    start: date,
    end: date,
    active_window_days: int = 365,
    *,
    as_of: date | None = None,
    customer_ids: CustomerIds = None,
    by: str | None = None,
    benchmarks: Mapping[str, float | Decimal] | None = None,
    loyalty_cost: Decimal | None = None,
    campaign_cost: Decimal | None = None,
    compare_previous: bool = True,
) -> dict[str, Any]:
    """The KPI object of ``[start, end)`` (see the module docstring for every definition).

    Without ``by``: one flat object with the §4 keys at top level, ``from``/``to``, ``counts``,
    ``intervals``, costs, ``previous`` (the same KPIs for the previous equal-length period),
    ``change`` (current − previous) and ``benchmarks`` (when given). With ``by``:
    ``{"from", "to", "by", ..., "groups": [{"group": value, ...the same KPI object}, ...]}``, groups
    sorted by value with the ``null`` group last. ``as_of`` ignores facts dated on or after it and
    flags the period ``partial`` when it ends after ``as_of``. ``customer_ids`` restricts every fact
    to those customers (e.g. a segment's members). ``loyalty_cost``/``campaign_cost`` are the
    period's totals when known; unknown (None) they make net profit missing.
    """
    period = Period(start, end)
    if benchmarks:
        for key in benchmarks:
            if key not in KPI_KEYS:
                raise UserError(f"unknown KPI {key!r} in --benchmark: use one of {', '.join(KPI_KEYS)}")
    groups = None if by is None else _group_map(tables, by, as_of)

    previous_period = period.previous()
    gathered = gather_counts_for(
        tables,
        [period, previous_period] if compare_previous else [period],
        active_window_days,
        as_of=as_of,
        customer_ids=customer_ids,
        groups=groups,
    )
    objects = [
        {
            key: kpis_from_counts(value, loyalty_cost=loyalty_cost, campaign_cost=campaign_cost)
            for key, value in by_group.items()
        }
        for by_group in gathered
    ]
    current = objects[0]
    previous: dict[str | None, dict[str, Any]] = objects[1] if compare_previous else {}
    if compare_previous and groups is not None:
        for group in previous:
            current.setdefault(group, kpis_from_counts(KpiCounts(), loyalty_cost, campaign_cost))

    def finish(key: str | None, value: dict[str, Any]) -> dict[str, Any]:
        out = dict(value)
        if compare_previous:
            before = previous.get(key) or kpis_from_counts(KpiCounts(), loyalty_cost, campaign_cost)
            out["previous"] = {
                "from": previous_period.start.isoformat(),
                "to": previous_period.end.isoformat(),
                **before,
            }
            out["change"] = kpi_change(value, before)
        if benchmarks:
            out["benchmarks"] = kpi_benchmarks(value, benchmarks)
        return out

    header: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "active_window_days": active_window_days,
        "as_of": None if as_of is None else as_of.isoformat(),
        "partial": as_of is not None and end > as_of,
    }
    if groups is None:
        return {**header, **finish("all", current["all"])}
    ordered = sorted(current, key=lambda g: (g is None, "" if g is None else _sort_key(by, g)))
    return {
        **header,
        "by": by,
        "groups": [{"group": _group_label(by, g), **finish(g, current[g])} for g in ordered],
    }


def _sort_key(by: str | None, group: str) -> str:
    return f"{int(group):012d}" if by == "cohort" else group


def parse_benchmarks(items: Iterable[str]) -> dict[str, float | Decimal]:
    """``["retention_rate=0.35", "aov=1500"]`` → ``{"retention_rate": 0.35, "aov": Decimal("1500")}``."""
    out: dict[str, float | Decimal] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--benchmark {item!r}: use KPI=VALUE, e.g. retention_rate=0.35")
        if key not in KPI_KEYS:
            raise UserError(f"unknown KPI {key!r} in --benchmark: use one of {', '.join(KPI_KEYS)}")
        try:
            out[key] = Decimal(text.strip()) if key in MONEY_KPIS else float(text)
        except (ValueError, ArithmeticError):
            raise UserError(f"--benchmark {item!r}: {text!r} is not a number") from None
    return out


__all__ = [
    "KPI_KEYS",
    "KpiCounts",
    "compute_kpis",
    "gather_counts_for",
    "kpi_benchmarks",
    "kpi_change",
    "kpis_from_counts",
    "parse_benchmarks",
]
