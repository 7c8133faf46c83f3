"""The analytics snapshot's tables, declared once.

Every snapshot table is its contract table (:mod:`retentio.contract`) in analytics-friendly types —
money as ``DECIMAL(18,2)`` in the currency unit, timestamps as naive ``TIMESTAMP`` meaning UTC — plus
columns the snapshot adds: the *local date* of each timestamp that analytics group by, a few flags
read from the store row, and columns derived from other tables. :func:`snapshot_columns` gives, per
table, the ordered columns with their DuckDB type, Arrow type and nullability; the snapshot's DDL
(:mod:`retentio.store.snapshot`), the analytics test fixtures and the benchmarks' databases are all
built from it (``tests/store/test_snapshot_schema.py`` and
``tests/analytics/test_snapshot_declaration.py`` check that they are).

Changing what this returns changes the snapshot's on-disk shape: bump
:data:`retentio.store.snapshot.SNAPSHOT_SCHEMA` with it (the test pins a fingerprint of the DDL).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import pyarrow as pa

from retentio.contract import LOAD_ORDER, TABLES, Kind

SNAPSHOT_TABLES: tuple[str, ...] = LOAD_ORDER


class Source(StrEnum):
    """Where a snapshot column's values come from."""

    STORE = "store"  # the contract column of the same name
    LOCAL_DATE = "local_date"  # the local calendar day of the timestamp column ``of``
    ROW = "row"  # computed from the same store row (``is_cancelled``, ``is_placeholder``)
    ORDER = "order"  # copied from the row's order (``refunds.customer_id``)
    DERIVED = "derived"  # aggregated from other rows, kept current on every apply and rebuild


_DUCKDB_TYPES = {
    Kind.ID: "VARCHAR",
    Kind.TEXT: "VARCHAR",
    Kind.JSON: "VARCHAR",
    Kind.INT: "INTEGER",
    Kind.POSITIVE_INT: "INTEGER",
    Kind.RATING: "INTEGER",
    Kind.SCORE: "INTEGER",
    Kind.MONEY: "DECIMAL(18,2)",
    Kind.FLOAT: "DOUBLE",
    Kind.BOOL: "BOOLEAN",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.DATE: "DATE",
}
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "DECIMAL(18,2)": pa.decimal128(18, 2),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
}


@dataclass(frozen=True)
class SnapshotColumn:
    """One column of a snapshot table."""

    name: str
    duckdb_type: str
    nullable: bool
    source: Source
    of: str | None = None  # LOCAL_DATE: the timestamp column it is the local day of
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type a reader gets for this column from DuckDB."""
        return _ARROW_TYPES[self.duckdb_type]


# Contract columns the snapshot leaves out (free text stays; properties JSON does not).
_SKIPPED = {"events": {"properties"}}
# Local-date columns: (timestamp column, date column) per table.
_LOCAL_DATES = {
    "customers": ("signup_at", "signup_date"),
    "orders": ("ordered_at", "order_date"),
    "refunds": ("refunded_at", "refund_date"),
    "events": ("occurred_at", "event_date"),
    "reviews": ("created_at", "created_date"),
    "tickets": ("opened_at", "opened_date"),
    "survey_responses": ("answered_at", "answered_date"),
}
C, S = SnapshotColumn, Source
# Columns the snapshot adds besides local dates: (the column it follows, or None for the end; column).
_ADDED: dict[str, tuple[tuple[str | None, SnapshotColumn], ...]] = {
    "customers": (
        (None, C("is_placeholder", "BOOLEAN", False, S.ROW, description="named by another row only")),
    ),
    "orders": (
        ("status", C("is_cancelled", "BOOLEAN", True, S.ROW, description="status = 'cancelled'")),
        # Materialised so that the KPIs' cost of goods is one more aggregate in their scan of orders
        # instead of a join of every order line (4.5 s → ~0 at 19M lines).
        (
            None,
            C(
                "cost_of_goods",
                "DECIMAL(18,2)",
                True,
                S.DERIVED,
                description="Σ quantity × unit_cost of the order's lines; null when the order has no "
                "lines or a line without unit_cost",
            ),
        ),
        # With the two flags the BTYD summary (purchase days, value of the repeat days) is one
        # aggregation per customer instead of one per customer and day first (analytics.summary;
        # 10.3M orders: ~0.42 s warm, vs ~2.0 s for the hand-written SQL on raw orders; computing the
        # flags for every order, as a rebuild does, costs ~2.5 s: see docs/benchmarks.md).
        (
            None,
            C(
                "opens_purchase_day",
                "BOOLEAN",
                False,
                S.DERIVED,
                description="the customer's first non-cancelled order (by ordered_at, then order_id) "
                "of its local order_date; false for cancelled orders",
            ),
        ),
        (
            None,
            C(
                "on_first_purchase_day",
                "BOOLEAN",
                False,
                S.DERIVED,
                description="non-cancelled and dated on the customer's first purchase day; false for "
                "cancelled orders",
            ),
        ),
    ),
    "refunds": (
        ("order_id", C("customer_id", "VARCHAR", False, S.ORDER, description="the customer of the order")),
    ),
}
del C, S


@cache
def snapshot_columns(table: str) -> tuple[SnapshotColumn, ...]:
    """The columns of snapshot table ``table``, in the order of its DDL."""
    added = _ADDED.get(table, ())
    local = _LOCAL_DATES.get(table)
    out: list[SnapshotColumn] = []
    for column in TABLES[table].columns:
        if column.name in _SKIPPED.get(table, set()):
            continue
        out.append(SnapshotColumn(column.name, _DUCKDB_TYPES[column.kind], not column.required, Source.STORE))
        if local is not None and column.name == local[0]:
            out.append(
                SnapshotColumn(
                    local[1],
                    "DATE",
                    not column.required,
                    Source.LOCAL_DATE,
                    of=column.name,
                    description=f"local calendar day of {column.name} in the snapshot's time zone",
                )
            )
        out.extend(extra for after, extra in added if after == column.name)
    out.extend(extra for after, extra in added if after is None)
    return tuple(out)


def local_dates(table: str) -> list[tuple[str, str]]:
    """(timestamp column, local-date column) pairs of ``table``."""
    return [(c.of, c.name) for c in snapshot_columns(table) if c.source is Source.LOCAL_DATE and c.of]


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of ``table`` as a reader gets it (every field nullable, as in the DDL)."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in snapshot_columns(table)])


def create_table_sql(table: str) -> str:
    """DuckDB ``CREATE TABLE IF NOT EXISTS`` for ``table`` (no constraints: a cache of the store)."""
    columns = ", ".join(f'"{c.name}" {c.duckdb_type}' for c in snapshot_columns(table))
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


def describe(table: str) -> str:
    """One line per column: name, DuckDB type, ``?`` when nullable, and what it is if not a store column."""
    lines = []
    for c in snapshot_columns(table):
        line = f"{c.name} {c.duckdb_type}{'?' if c.nullable else ''}"
        lines.append(f"{line} — {c.description}" if c.description else line)
    return "\n".join(lines)
