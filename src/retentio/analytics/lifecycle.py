"""Customer lifecycle per period: new, returning, resurrected and dormant counts.

Periods are whole calendar months or ISO weeks (local dates); a customer is *active* in a period
when they have a non-cancelled order dated in it. For each period p:

- ``new``: the customer's first-ever order is in p;
- ``returning``: active in p and in p − 1;
- ``resurrected``: active in p, not in p − 1, with a first order before p − 1 (back after a gap);
- ``dormant``: active in p − 1, not in p (lapsed this period);
- ``active`` = new + returning + resurrected (the three are disjoint and cover every active
  customer);
- ``previous_active`` = active in p − 1 = returning + dormant (the identity the tests check).

Every period that contains a date of ``[start, end)`` is reported, whole. ``as_of`` (exclusive) cuts
the facts; a period that ends after it is flagged ``partial`` (its dormant count is not final).
Exposed on the command line as ``retentio cohorts --lifecycle``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from retentio.analytics.periods import (
    check_unit,
    period_index,
    period_index_expr,
    period_label,
    period_start_of_index,
)
from retentio.analytics.summary import CustomerIds, valid_orders
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

STATES = ("new", "returning", "resurrected", "dormant")


def lifecycle(
    tables: AnalyticsTables,
    by: str = "month",
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    customer_ids: CustomerIds = None,
) -> list[dict[str, Any]]:
    """One row per period: ``period`` label, ``start``, ``end``, the four states, ``active``,
    ``previous_active`` and ``partial``. ``start``/``end`` default to the first and last order dates."""
    unit = check_unit(by)
    orders = valid_orders(tables, as_of, customer_ids)
    if start is None or end is None:
        bounds = orders.aggregate(first=orders.order_date.min(), last=orders.order_date.max())
        row = bounds.to_pyarrow().to_pylist()[0]
        if row["first"] is None:
            return []
        start = start or row["first"]
        end = end or row["last"] + timedelta(days=1)
    if end <= start:
        raise UserError(f"the period must end after it starts: from {start.isoformat()} to {end.isoformat()}")
    first_period = period_index(start, unit)
    last_period = period_index(end - timedelta(days=1), unit)

    activity = orders.select("customer_id", period=period_index_expr(orders.order_date, unit)).distinct()
    first = activity.group_by("customer_id").aggregate(first_period=activity.period.min())
    first = first.rename(first_customer_id="customer_id")
    shifted = activity.select(prev_customer_id="customer_id", prev_period=activity.period + 1)

    current = activity.filter(activity.period.between(first_period, last_period))
    current = current.join(first, current.customer_id == first.first_customer_id)
    current = current.left_join(
        shifted,
        (current.customer_id == shifted.prev_customer_id) & (current.period == shifted.prev_period),
    )
    was_active = current.prev_period.notnull()
    is_new = current.first_period == current.period
    active_rows = current.group_by("period").aggregate(
        new=current.customer_id.count(where=is_new),
        returning=current.customer_id.count(where=was_active),
        resurrected=current.customer_id.count(where=~is_new & ~was_active),
        active=current.customer_id.count(),
    )
    lapsed = shifted.filter(shifted.prev_period.between(first_period, last_period))
    lapsed = lapsed.anti_join(
        activity,
        (lapsed.prev_customer_id == activity.customer_id) & (lapsed.prev_period == activity.period),
    )
    dormant_rows = lapsed.group_by(period=lapsed.prev_period).aggregate(dormant=lapsed.count())

    counts: dict[int, dict[str, int]] = {}
    for result in (active_rows, dormant_rows):
        for row in result.to_pyarrow().to_pylist():
            counts.setdefault(row.pop("period"), {}).update(row)

    out = []
    for index in range(first_period, last_period + 1):
        values = counts.get(index, {})
        period_end = period_start_of_index(index + 1, unit)
        new, returning = values.get("new", 0), values.get("returning", 0)
        resurrected, dormant = values.get("resurrected", 0), values.get("dormant", 0)
        out.append(
            {
                "period": period_label(index, unit),
                "start": period_start_of_index(index, unit).isoformat(),
                "end": period_end.isoformat(),
                "new": new,
                "returning": returning,
                "resurrected": resurrected,
                "dormant": dormant,
                "active": values.get("active", 0),
                "previous_active": returning + dormant,
                "partial": as_of is not None and period_end > as_of,
            }
        )
    return out
