"""The analytics snapshot: the tables every analytics expression reads.

The snapshot mirrors the store with analytics-friendly types: money as ``DECIMAL(18, 2)`` in the
currency unit, timestamps as naive ``TIMESTAMP`` meaning UTC (ibis maps zones differently per
backend), and *local dates* materialised once in Python with ``zoneinfo`` in the configured zone
(default Europe/Moscow), because the KPIs are defined in local time and backends disagree about
session time zones (see DESIGN §2). Group and filter on the ``*_date`` columns, never on a
backend's notion of "today".

The tables and their columns (order, DuckDB and Arrow types, nullability, and what each added
column means) are declared once, in :mod:`retentio.store.snapshot_schema`;
``python -c "from retentio.store.snapshot_schema import describe; print(describe('orders'))"`` lists
a table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from retentio.store.snapshot_schema import SNAPSHOT_TABLES

__all__ = ["SNAPSHOT_TABLES", "AnalyticsTables"]


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
