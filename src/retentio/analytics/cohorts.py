"""Acquisition-cohort matrices (DESIGN §4): customers or revenue by periods since the first order.

Definitions (orders = non-cancelled orders, refunds = refunds of those orders, local dates; see
:mod:`retentio.analytics.summary`):

- A customer's cohort is the month (or ISO week) of their first order; ``size`` = customers in it.
- Column k is the k-th period after the cohort's (column 0 = the cohort period itself).
- ``metric="customers"``: share of the cohort with an order in period k (column 0 is 1.0 by
  construction). With ``cumulative=True``: share with an order in period k *or later* ("still
  returning"), so the row never increases.
- ``metric="revenue"``: net revenue in period k / cohort size, where net revenue = totals of the
  cohort's orders dated in period k − refunds of the cohort's orders *dated* in period k (a refund
  lowers the period it happened in, as in the KPIs; a cell can therefore be negative). With
  ``cumulative=True``: revenue in periods 0..k / size (cumulative revenue per customer). Values are
  ``Decimal`` rounded half-up to 0.01 (JSON: strings).
- ``as_of`` (exclusive) cuts the facts; the default is the day after the latest order. A row has one
  column per period from the cohort's up to the period containing ``as_of − 1 day``; a cell whose
  period ends after ``as_of`` is flagged ``partial`` (its period is not over), so a low last cell is
  not read as a drop.
- ``start``/``end`` keep only cohorts whose first order falls in ``[start, end)``;
  ``customer_ids`` restricts to some customers (e.g. a segment) *before* cohorts are formed.
- Each row also carries ``counts`` (customers with an order in period k, or in k or later when
  cumulative) and, for revenue, ``revenue`` (the net revenue of the cell, exact).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis.expr.types as ir

from retentio.analytics.periods import (
    CohortUnit,
    check_unit,
    period_index,
    period_index_expr,
    period_label,
    period_start_of_index,
)
from retentio.analytics.summary import CustomerIds, valid_orders, valid_refunds
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

CENT = Decimal("0.01")
METRICS = ("customers", "revenue")


def default_as_of(tables: AnalyticsTables, customer_ids: CustomerIds = None) -> date | None:
    """The day after the latest order (None when there are no orders)."""
    orders = valid_orders(tables, customer_ids=customer_ids)
    latest = orders.order_date.max().to_pyarrow().as_py()
    return None if latest is None else latest + timedelta(days=1)


def _first_periods(orders: ir.Table, unit: CohortUnit) -> ir.Table:
    """Per customer: first order date, cohort index and the index of the last active period."""
    per_customer = orders.group_by("customer_id").aggregate(
        first_date=orders.order_date.min(), last_date=orders.order_date.max()
    )
    return per_customer.select(
        cohort_customer_id=per_customer.customer_id,
        first_date=per_customer.first_date,
        cohort=period_index_expr(per_customer.first_date, unit),
        last_period=period_index_expr(per_customer.last_date, unit),
    )


def cohort_matrix(
    tables: AnalyticsTables,
    by: str = "month",
    metric: str = "customers",
    cumulative: bool = False,
    as_of: date | None = None,
    customer_ids: CustomerIds = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """The cohort matrix as ``{"by", "metric", "cumulative", "as_of", "cohorts": [...]}``.

    Each cohort row: ``cohort`` (label ``2024-01`` / ``2024-W05``), ``start`` (first day), ``size``,
    ``values`` (floats for customers, ``Decimal`` for revenue), ``partial`` and ``counts`` per
    column, and ``revenue`` per column for the revenue metric. See the module docstring.
    """
    unit = check_unit(by)
    if metric not in METRICS:
        raise UserError(f"unknown --metric {metric!r}: use one of {', '.join(METRICS)}")
    if as_of is None:
        as_of = default_as_of(tables, customer_ids)
    header: dict[str, Any] = {
        "by": unit,
        "metric": metric,
        "cumulative": cumulative,
        "as_of": None if as_of is None else as_of.isoformat(),
    }
    if as_of is None:
        return {**header, "cohorts": []}
    orders = valid_orders(tables, as_of, customer_ids)
    first = _first_periods(orders, unit)
    if start is not None:
        first = first.filter(first.first_date >= start)
    if end is not None:
        first = first.filter(first.first_date < end)

    if cumulative:
        # "In period k or later" only needs each customer's last active period.
        last = first.mutate(k=first.last_period - first.cohort)
        cells = last.group_by(["cohort", "k"]).aggregate(customers=last.count())
    else:
        activity = orders.select("customer_id", period=period_index_expr(orders.order_date, unit)).distinct()
        activity = activity.join(first, activity.customer_id == first.cohort_customer_id)
        activity = activity.mutate(k=activity.period - activity.cohort)
        cells = activity.group_by(["cohort", "k"]).aggregate(customers=activity.count())

    customers_by_cell: dict[tuple[int, int], int] = {
        (row["cohort"], row["k"]): row["customers"] for row in cells.to_pyarrow().to_pylist()
    }
    # Every customer orders in their cohort's own period, so sizes follow from the cells: column 0
    # (per-period counts) or the sum over last-active columns (cumulative). One query fewer.
    sizes: dict[int, int] = defaultdict(int)
    for (cohort, k), count in customers_by_cell.items():
        if cumulative or k == 0:
            sizes[cohort] += count
    revenue_by_cell: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    if metric == "revenue":
        dated = orders.mutate(period=period_index_expr(orders.order_date, unit))
        dated = dated.join(first, dated.customer_id == first.cohort_customer_id)
        dated = dated.mutate(k=dated.period - dated.cohort)
        order_cells = dated.group_by(["cohort", "k"]).aggregate(amount=dated.total.sum())
        refunds = valid_refunds(tables, as_of, customer_ids)
        refunds = refunds.mutate(period=period_index_expr(refunds.refund_date, unit))
        refunds = refunds.join(first, refunds.customer_id == first.cohort_customer_id)
        refunds = refunds.mutate(k=refunds.period - refunds.cohort)
        refund_cells = refunds.group_by(["cohort", "k"]).aggregate(amount=-refunds.amount.sum())
        for result in (order_cells, refund_cells):
            for cell in result.to_pyarrow().to_pylist():
                # A refund dated before its customer's first order is bad data; it lands in column 0.
                revenue_by_cell[(cell["cohort"], max(0, cell["k"]))] += Decimal(cell["amount"])

    last_period = period_index(as_of - timedelta(days=1), unit)
    rows = []
    for cohort in sorted(sizes):
        size = sizes[cohort]
        width = last_period - cohort + 1
        ks = range(width)
        partial = [period_start_of_index(cohort + k + 1, unit) > as_of for k in ks]
        counts = [customers_by_cell.get((cohort, k), 0) for k in ks]
        if cumulative:
            # counts hold customers whose *last* active column is k: "in k or later" is a suffix sum.
            running, suffix = 0, []
            for value in reversed(counts):
                running += value
                suffix.append(running)
            counts = suffix[::-1]
        row: dict[str, Any] = {
            "cohort": period_label(cohort, unit),
            "start": period_start_of_index(cohort, unit).isoformat(),
            "size": size,
        }
        if metric == "customers":
            row["values"] = [count / size for count in counts]
        else:
            revenue = [revenue_by_cell.get((cohort, k), Decimal(0)) for k in ks]
            if cumulative:
                total, sums = Decimal(0), []
                for amount in revenue:
                    total += amount
                    sums.append(total)
                revenue = sums
            row["values"] = [(amount / size).quantize(CENT, rounding=ROUND_HALF_UP) for amount in revenue]
            row["revenue"] = [amount.quantize(CENT) for amount in revenue]
        row["partial"] = partial
        row["counts"] = counts
        rows.append(row)
    return {**header, "cohorts": rows}
