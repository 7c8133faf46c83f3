"""The churn label: did a buyer place no order in the horizon after the cutoff?

For a cutoff date c (local, exclusive as everywhere in analytics) and a horizon of H days, the
population is every customer with at least one non-cancelled order dated before c, and

    churned = 1  if the customer has no non-cancelled order dated in [c, c + H), else 0.

A label is only *observed* when the data run to at least c + H; :func:`latest_observable_cutoff`
gives the last cutoff whose horizon is complete.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from retentio.analytics.summary import valid_orders
from retentio.analytics.tables import AnalyticsTables


def churn_labels(tables: AnalyticsTables, cutoff: date, horizon_days: int) -> ir.Table:
    """``customer_id``, ``churned`` (int8 0/1) for every buyer before ``cutoff``."""
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    orders = valid_orders(tables)
    before = orders.filter(orders.order_date < cutoff).select("customer_id").distinct()
    end = cutoff + timedelta(days=horizon_days)
    future = orders.filter(orders.order_date >= cutoff, orders.order_date < end)
    returned = future.select(returning_id=future.customer_id).distinct()
    joined = before.left_join(returned, before.customer_id == returned.returning_id)
    return joined.select("customer_id", churned=ibis.ifelse(joined.returning_id.isnull(), 1, 0).cast(dt.int8))


def data_end(tables: AnalyticsTables) -> date | None:
    """The day after the last order date (the exclusive end of the observed data), or None."""
    last = tables.orders.order_date.max().to_pyarrow().as_py()
    return None if last is None else last + timedelta(days=1)


def latest_observable_cutoff(tables: AnalyticsTables, horizon_days: int) -> date | None:
    """The last cutoff whose whole horizon lies inside the data (None without orders)."""
    end = data_end(tables)
    return None if end is None else end - timedelta(days=horizon_days)
