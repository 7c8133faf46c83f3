"""The analytics snapshot: the tables every analytics expression reads.

The snapshot mirrors the store with analytics-friendly types: money as ``DECIMAL(18, 2)`` in the
currency unit, timestamps as naive ``TIMESTAMP`` meaning UTC (ibis maps zones differently per
backend), and *local dates* materialised once in Python with ``zoneinfo`` in the configured zone
(default Europe/Moscow), because the KPIs are defined in local time and backends disagree about
session time zones (see DESIGN §2). Group and filter on the ``*_date`` columns, never on a
backend's notion of "today".

Schema (columns in order; ``?`` = nullable):

- customers: customer_id, email?, phone?, first_name?, last_name?, birthday? DATE, gender?, city?,
  signup_at? TIMESTAMP, signup_date? DATE, acquisition_channel?, consent_email? BOOLEAN,
  consent_sms? BOOLEAN, locale?, is_placeholder BOOLEAN
- orders: order_id, customer_id, ordered_at TIMESTAMP, order_date DATE, total DECIMAL(18,2),
  discount? DECIMAL, shipping? DECIMAL, currency?, status VARCHAR ('completed' | 'cancelled'),
  is_cancelled BOOLEAN, channel?, coupon_code?, cost_of_goods? DECIMAL (derived: Σ quantity ×
  unit_cost of the order's lines; null when the order has no lines or a line without unit_cost),
  opens_purchase_day BOOLEAN (derived: the customer's first non-cancelled order of its local day, by
  ordered_at then order_id), on_first_purchase_day BOOLEAN (derived: non-cancelled and on the
  customer's first purchase day); both false for cancelled orders
- order_lines: order_id, sku, quantity INT, unit_price DECIMAL, unit_cost? DECIMAL, product_name?,
  category?
- refunds: refund_id, order_id, customer_id (from the order), refunded_at TIMESTAMP, refund_date DATE,
  amount DECIMAL, sku?, quantity? INT, reason?
- events: event_id, customer_id, occurred_at TIMESTAMP, event_date DATE, type, session_id?, page?,
  product_sku?, duration_s? DOUBLE, channel?
- reviews: review_id, customer_id, created_at TIMESTAMP, created_date DATE, rating INT, text, sku?,
  order_id?, language?
- tickets: ticket_id, customer_id, opened_at TIMESTAMP, opened_date DATE, subject, text, channel?,
  first_response_at? TIMESTAMP, resolved_at? TIMESTAMP, csat? INT, status?
- survey_responses: response_id, customer_id, answered_at TIMESTAMP, answered_date DATE, survey,
  score INT, question?, text?, reason?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

SNAPSHOT_TABLES = (
    "customers",
    "orders",
    "order_lines",
    "refunds",
    "events",
    "reviews",
    "tickets",
    "survey_responses",
)


@dataclass(frozen=True)
class AnalyticsTables:
    """Ibis table expressions over one backend's snapshot tables."""

    customers: ir.Table
    orders: ir.Table
    order_lines: ir.Table
    refunds: ir.Table
    events: ir.Table
    reviews: ir.Table
    tickets: ir.Table
    survey_responses: ir.Table
    backend: Any = None

    @classmethod
    def from_backend(cls, con: ibis.BaseBackend) -> AnalyticsTables:
        """Bind the snapshot tables of an ibis connection (DuckDB, PostgreSQL, PySpark, ...)."""
        return cls(**{name: con.table(name) for name in SNAPSHOT_TABLES}, backend=con)

    def fetch(self, expr: ir.Table) -> pa.Table:
        """Run ``expr`` and return the result as Arrow.

        On DuckDB the compiled SQL runs straight on the DuckDB connection: ibis's own ``to_pyarrow``
        imports pandas for its type converter (~0.3 s per process), which is a tenth of the budget of
        a ``retentio kpi`` call. Other backends go through ibis. Meant for small, aggregated results
        whose Arrow types DuckDB already gives exactly (counts, sums, dates, strings).
        """
        relation = getattr(self.backend, "_to_duckdb_relation", None)  # registers in-memory tables
        if getattr(self.backend, "name", None) == "duckdb" and relation is not None:
            result: pa.Table = relation(expr).to_arrow_table()
            return result
        return expr.to_pyarrow()
