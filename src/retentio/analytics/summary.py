"""Per-customer facts: the order and refund filters every analytics module shares, and the BTYD inputs.

Shared facts (used by kpis, cohorts, lifecycle, rfm):

- An *order* is a non-cancelled order (``is_cancelled`` false). A customer whose only order was fully
  refunded still ordered: the order was not cancelled, so it counts for activity, frequency and
  first-order dates; only *revenue* nets the refund out.
- A *refund* counts only when it refunds a non-cancelled order: a cancelled order never added
  revenue, so subtracting its refund would count money twice. Refunds are dated by their own local
  ``refund_date`` (not the order's date).
- ``as_of`` cuts facts at the start of that local day (``date < as_of``).

BTYD inputs (:func:`customer_summary`), following Fader, Hardie & Lee (2005, "Counting your
customers the easy way", Marketing Science 24:275–284) and the ``lifetimes`` conventions:

- Time is in days of local dates, divided by ``unit_days`` (7 → weeks). Orders on the same local day
  merge into one purchase (their totals add up).
- ``calibration_end`` is the *last day* of calibration (inclusive, as in
  ``lifetimes.utils.summary_data_from_transaction_data(observation_period_end=...)``), unlike the
  exclusive ``as_of`` of the KPIs: an order on that day counts.
- ``frequency`` = purchase days − 1 (repeat purchases); ``recency`` (BTYD t_x) = first to last
  purchase day; ``T`` = first purchase day to ``calibration_end``; ``monetary`` = mean value of the
  *repeat* purchase days (0 when there are none), gross of refunds: a refund does not undo the
  purchase event the models count, and Gamma-Gamma models the spend per transaction.
- ``recency_days`` is RFM recency (days from the last purchase day to ``calibration_end``), a
  different quantity from BTYD ``recency`` (REFERENCE, "Numerical traps").
- With ``observation_end`` (inclusive), ``frequency_holdout`` counts purchase days in
  ``(calibration_end, observation_end]`` (as lifetimes does), ``monetary_holdout`` is the mean value
  of those purchase *days* (lifetimes averages single transactions instead; with same-day orders
  merged ours stays comparable with ``monetary``), and ``duration_holdout`` their span in units.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TypeAlias

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retentio.analytics.tables import AnalyticsTables

CustomerIds: TypeAlias = Iterable[str] | ir.Table | None


def customer_id_table(customer_ids: Iterable[str] | ir.Table) -> ir.Table:
    """A one-column table ``customer_id`` from ids (an ibis table passes through)."""
    if isinstance(customer_ids, ir.Table):
        return customer_ids.select("customer_id")
    ids = sorted({str(value) for value in customer_ids})
    return ibis.memtable(pa.table({"customer_id": pa.array(ids, pa.string())}))


def restrict_to_customers(table: ir.Table, customer_ids: CustomerIds) -> ir.Table:
    """Keep rows of ``customer_ids`` (all rows when None); a semi-join, so big id lists stay in the engine."""
    if customer_ids is None:
        return table
    ids = customer_id_table(customer_ids)
    return table.semi_join(ids, table.customer_id == ids.customer_id)


def valid_orders(
    tables: AnalyticsTables, as_of: date | None = None, customer_ids: CustomerIds = None
) -> ir.Table:
    """Non-cancelled orders dated before ``as_of`` (all when None), optionally for some customers."""
    orders = tables.orders.filter(~tables.orders.is_cancelled)
    if as_of is not None:
        orders = orders.filter(orders.order_date < as_of)
    return restrict_to_customers(orders, customer_ids)


def valid_refunds(
    tables: AnalyticsTables, as_of: date | None = None, customer_ids: CustomerIds = None
) -> ir.Table:
    """Refunds of non-cancelled orders, dated before ``as_of`` (all when None).

    Written as "not a refund of an excluded order" (cancelled, or dated on/after ``as_of``): every
    refund's order is in the snapshot (ingest rejects refunds of unknown orders) and the snapshot
    copies the order's ``customer_id`` onto the refund, so this equals a semi-join with the valid
    orders while hashing only the few excluded ones instead of all of them.
    """
    orders = tables.orders
    excluded = orders.is_cancelled
    if as_of is not None:
        excluded = excluded | (orders.order_date >= as_of)
    excluded_orders = orders.filter(excluded).select(excluded_order_id="order_id")
    refunds = tables.refunds
    if as_of is not None:
        refunds = refunds.filter(refunds.refund_date < as_of)
    refunds = restrict_to_customers(refunds, customer_ids)
    return refunds.anti_join(excluded_orders, refunds.order_id == excluded_orders.excluded_order_id)


def customer_summary(
    tables: AnalyticsTables,
    calibration_end: date,
    unit_days: float = 7.0,
    observation_end: date | None = None,
    customer_ids: CustomerIds = None,
) -> ir.Table:
    """BTYD inputs and RFM basics per customer with a purchase on or before ``calibration_end``.

    Columns: ``customer_id``, ``frequency`` (int), ``recency``, ``T``, ``monetary`` (float64, in
    ``unit_days``), ``orders``, ``purchase_days``, ``first_order_date``, ``last_order_date``,
    ``recency_days`` (RFM recency at ``calibration_end``) and, with ``observation_end``,
    ``frequency_holdout``, ``monetary_holdout``, ``duration_holdout``. See the module docstring.
    """
    if unit_days <= 0:
        raise ValueError(f"unit_days must be positive, got {unit_days}")
    if observation_end is not None and observation_end <= calibration_end:
        raise ValueError("observation_end must be after calibration_end")
    orders = valid_orders(tables, customer_ids=customer_ids)
    calibration = orders.filter(orders.order_date <= calibration_end)
    # One aggregation per customer: the snapshot flags the order that opens each purchase day and the
    # orders of the first purchase day (store.snapshot), so purchase days are a filtered count and the
    # repeat value is all value minus the first day's — no per-(customer, day) aggregation first.
    per_customer = calibration.group_by("customer_id").aggregate(
        first_order_date=calibration.order_date.min(),
        last_order_date=calibration.order_date.max(),
        purchase_days=calibration.count(where=calibration.opens_purchase_day),
        orders=calibration.count(),
        repeat_value=calibration.total.sum() - calibration.total.sum(where=calibration.on_first_purchase_day),
    )
    end = ibis.date(calibration_end)
    span_days = per_customer.last_order_date.delta(per_customer.first_order_date, unit="day")
    age_days = end.delta(per_customer.first_order_date, unit="day")
    frequency = (per_customer.purchase_days - 1).cast("int64")
    repeat_value = per_customer.repeat_value.cast("float64")
    summary = per_customer.select(
        "customer_id",
        frequency=frequency,
        recency=span_days.cast("float64") / unit_days,
        T=age_days.cast("float64") / unit_days,
        monetary=ibis.ifelse(frequency > 0, repeat_value / frequency.cast("float64"), 0.0),
        orders=per_customer.orders.cast("int64"),
        purchase_days=per_customer.purchase_days.cast("int64"),
        first_order_date=per_customer.first_order_date,
        last_order_date=per_customer.last_order_date,
        recency_days=end.delta(per_customer.last_order_date, unit="day").cast("int64"),
    )
    if observation_end is None:
        return summary
    holdout_orders = orders.filter(
        (orders.order_date > calibration_end) & (orders.order_date <= observation_end)
    )
    holdout = holdout_orders.group_by("customer_id").aggregate(
        holdout_days=holdout_orders.count(where=holdout_orders.opens_purchase_day),
        holdout_value=holdout_orders.total.sum(),
    )
    holdout = holdout.rename(holdout_customer_id="customer_id")
    joined = summary.left_join(holdout, summary.customer_id == holdout.holdout_customer_id)
    holdout_count = joined.holdout_days.fill_null(0).cast("int64")
    # An integer literal cast in SQL: PostgreSQL reads a bare ``31.0`` as NUMERIC, not double.
    duration = ibis.literal((observation_end - calibration_end).days).cast("float64") / unit_days
    return joined.select(
        *summary.columns,
        frequency_holdout=holdout_count,
        monetary_holdout=ibis.ifelse(
            holdout_count > 0,
            joined.holdout_value.cast("float64") / holdout_count.cast("float64"),
            0.0,
        ),
        duration_holdout=duration,
    )
