"""Shared fixtures for the analytics tests: a snapshot built from a few Python rows, on every backend.

Usage (the interface is stable; other analytics tests depend on it). Test modules cannot import
from a conftest, so the builder comes as fixtures: ``snapshot_rows`` (a fresh ``SnapshotRows`` in
Europe/Moscow) and ``make_rows`` (``make_rows(timezone="Asia/Tokyo")`` for more or other zones)::

    def test_something(analytics_backend, snapshot_rows) -> None:
        rows = snapshot_rows
        rows.order("o1", "c1", "2024-01-31T20:30:00Z", "100.00")  # 23:30 Moscow, local date 2024-01-31
        rows.refund("r1", "o1", "2024-02-02T10:00:00", "40.00")
        tables = analytics_backend.load(rows)  # AnalyticsTables on DuckDB, then on PostgreSQL

``SnapshotRows`` follows the analytics snapshot schema declared in
``retentio.store.snapshot_schema``: timestamps are given as aware datetimes or ISO strings (naive = UTC)
and stored as naive UTC; the ``*_date`` columns are computed here in the snapshot's time zone
(default Europe/Moscow) exactly as the real snapshot does; money is ``decimal128(18, 2)``.
Customers named by an order, event, review, ticket or survey answer are added automatically
(``is_placeholder=False``) unless given with ``customer(...)``. A refund's ``customer_id`` comes from
its order.

``analytics_backend`` is parametrised over ``duckdb`` (in-memory) and ``postgres`` (a fresh schema
from the ``pg_url`` fixture; skipped without a server unless ``REQUIRE_POSTGRES=1``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa
import pytest

from retentio.analytics.tables import SNAPSHOT_TABLES, AnalyticsTables
from retentio.store.snapshot_schema import arrow_schema

# Arrow schemas of the snapshot tables, from the snapshot's one declaration (the real DDL's columns).
# The derived columns are computed below in Python, as an independent check of the snapshot's SQL
# (tests/analytics/test_snapshot_declaration.py checks that every declared one is filled).
SNAPSHOT_SCHEMAS: dict[str, pa.Schema] = {name: arrow_schema(name) for name in SNAPSHOT_TABLES}

Timestamp = datetime | str
Money = Decimal | str | int | float


def to_utc(value: Timestamp) -> datetime:
    """An aware datetime or ISO string (naive = UTC, trailing ``Z`` allowed) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _money(value: Money | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass
class SnapshotRows:
    """Rows of an analytics snapshot, written the way a test reads best; see the module docstring."""

    timezone: str = "Europe/Moscow"
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    order_lines: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    survey_responses: list[dict[str, Any]] = field(default_factory=list)

    def _stamp(self, value: Timestamp) -> tuple[datetime, date]:
        """Naive UTC timestamp and local date, as the snapshot stores them."""
        utc = to_utc(value)
        return utc.replace(tzinfo=None), utc.astimezone(ZoneInfo(self.timezone)).date()

    def _ensure_customer(self, customer_id: str) -> None:
        if customer_id not in self.customers:
            self.customers[customer_id] = {"customer_id": customer_id, "is_placeholder": False}

    def customer(self, customer_id: str, **fields: Any) -> SnapshotRows:
        """Add or update a customer; ``signup_at`` also fills ``signup_date``."""
        row = self.customers.setdefault(customer_id, {"customer_id": customer_id, "is_placeholder": False})
        if "signup_at" in fields and fields["signup_at"] is not None:
            fields["signup_at"], fields["signup_date"] = self._stamp(fields["signup_at"])
        row.update(fields)
        return self

    def order(
        self,
        order_id: str,
        customer_id: str,
        ordered_at: Timestamp,
        total: Money,
        *,
        status: str = "completed",
        discount: Money | None = None,
        shipping: Money | None = None,
        **fields: Any,
    ) -> SnapshotRows:
        """Add an order (``status='cancelled'`` for a cancelled one); other columns via keywords."""
        self._ensure_customer(customer_id)
        at, local = self._stamp(ordered_at)
        self.orders.append(
            {
                "order_id": order_id,
                "customer_id": customer_id,
                "ordered_at": at,
                "order_date": local,
                "total": _money(total),
                "discount": _money(discount),
                "shipping": _money(shipping),
                "status": status,
                "is_cancelled": status == "cancelled",
                **fields,
            }
        )
        return self

    def line(
        self,
        order_id: str,
        sku: str,
        quantity: int,
        unit_price: Money,
        *,
        unit_cost: Money | None = None,
        **fields: Any,
    ) -> SnapshotRows:
        """Add an order line."""
        self.order_lines.append(
            {
                "order_id": order_id,
                "sku": sku,
                "quantity": quantity,
                "unit_price": _money(unit_price),
                "unit_cost": _money(unit_cost),
                **fields,
            }
        )
        return self

    def refund(
        self, refund_id: str, order_id: str, refunded_at: Timestamp, amount: Money, **fields: Any
    ) -> SnapshotRows:
        """Add a refund of an order added before (its customer comes from the order)."""
        owners = [o["customer_id"] for o in self.orders if o["order_id"] == order_id]
        if not owners:
            raise ValueError(f"refund {refund_id}: add order {order_id} first")
        at, local = self._stamp(refunded_at)
        self.refunds.append(
            {
                "refund_id": refund_id,
                "order_id": order_id,
                "customer_id": owners[0],
                "refunded_at": at,
                "refund_date": local,
                "amount": _money(amount),
                **fields,
            }
        )
        return self

    def event(
        self, event_id: str, customer_id: str, occurred_at: Timestamp, type: str, **fields: Any
    ) -> SnapshotRows:
        """Add an event (visit, email_open, ...)."""
        self._ensure_customer(customer_id)
        at, local = self._stamp(occurred_at)
        self.events.append(
            {
                "event_id": event_id,
                "customer_id": customer_id,
                "occurred_at": at,
                "event_date": local,
                "type": type,
                **fields,
            }
        )
        return self

    def review(
        self,
        review_id: str,
        customer_id: str,
        created_at: Timestamp,
        rating: int,
        text: str = "",
        **fields: Any,
    ) -> SnapshotRows:
        """Add a review (rating 1–5)."""
        self._ensure_customer(customer_id)
        at, local = self._stamp(created_at)
        self.reviews.append(
            {
                "review_id": review_id,
                "customer_id": customer_id,
                "created_at": at,
                "created_date": local,
                "rating": rating,
                "text": text,
                **fields,
            }
        )
        return self

    def ticket(
        self,
        ticket_id: str,
        customer_id: str,
        opened_at: Timestamp,
        subject: str = "",
        text: str = "",
        **fields: Any,
    ) -> SnapshotRows:
        """Add a support ticket; ``first_response_at``/``resolved_at`` accept the same forms as times."""
        self._ensure_customer(customer_id)
        at, local = self._stamp(opened_at)
        for key in ("first_response_at", "resolved_at"):
            if fields.get(key) is not None:
                fields[key] = self._stamp(fields[key])[0]
        self.tickets.append(
            {
                "ticket_id": ticket_id,
                "customer_id": customer_id,
                "opened_at": at,
                "opened_date": local,
                "subject": subject,
                "text": text,
                **fields,
            }
        )
        return self

    def survey(
        self,
        response_id: str,
        customer_id: str,
        answered_at: Timestamp,
        survey: str,
        score: int,
        **fields: Any,
    ) -> SnapshotRows:
        """Add a survey answer (``survey`` = ``nps`` 0–10, ``csat`` 1–5, ``exit``, ...)."""
        self._ensure_customer(customer_id)
        at, local = self._stamp(answered_at)
        self.survey_responses.append(
            {
                "response_id": response_id,
                "customer_id": customer_id,
                "answered_at": at,
                "answered_date": local,
                "survey": survey,
                "score": score,
                **fields,
            }
        )
        return self

    def _cost_of_goods(self, order_id: str) -> Decimal | None:
        """The snapshot's derived ``orders.cost_of_goods``: null without lines or with an uncosted line."""
        lines = [line for line in self.order_lines if line["order_id"] == order_id]
        if not lines or any(line.get("unit_cost") is None for line in lines):
            return None
        return sum((line["quantity"] * line["unit_cost"] for line in lines), Decimal("0.00"))

    def _purchase_day_flags(self) -> dict[str, tuple[bool, bool]]:
        """The snapshot's derived (opens_purchase_day, on_first_purchase_day) of every order."""
        valid = sorted(
            (o for o in self.orders if not o.get("is_cancelled")),
            key=lambda o: (o["customer_id"], o["ordered_at"], o["order_id"]),
        )
        first_day: dict[str, Any] = {}
        seen: set[tuple[str, Any]] = set()
        flags = {o["order_id"]: (False, False) for o in self.orders}
        for order in valid:
            customer, day = order["customer_id"], order["order_date"]
            first_day.setdefault(customer, day)
            flags[order["order_id"]] = ((customer, day) not in seen, day == first_day[customer])
            seen.add((customer, day))
        return flags

    def arrow_tables(self) -> dict[str, pa.Table]:
        """The eight snapshot tables as Arrow tables with the snapshot schema (empty ones included)."""
        flags = self._purchase_day_flags()
        rows: dict[str, list[dict[str, Any]]] = {
            "customers": list(self.customers.values()),
            "orders": [
                {
                    **order,
                    "cost_of_goods": self._cost_of_goods(order["order_id"]),
                    "opens_purchase_day": flags[order["order_id"]][0],
                    "on_first_purchase_day": flags[order["order_id"]][1],
                }
                for order in self.orders
            ],
            "order_lines": self.order_lines,
            "refunds": self.refunds,
            "events": self.events,
            "reviews": self.reviews,
            "tickets": self.tickets,
            "survey_responses": self.survey_responses,
        }
        out: dict[str, pa.Table] = {}
        for name in SNAPSHOT_TABLES:
            schema = SNAPSHOT_SCHEMAS[name]
            for row in rows[name]:
                unknown = set(row) - set(schema.names)
                if unknown:
                    raise ValueError(f"{name}: unknown column(s) {sorted(unknown)}")
            out[name] = pa.Table.from_pylist(
                [{col: row.get(col) for col in schema.names} for row in rows[name]], schema=schema
            )
        return out


def load_into(con: ibis.BaseBackend, rows: SnapshotRows) -> AnalyticsTables:
    """Create the snapshot tables in an ibis connection and bind them."""
    for name, table in rows.arrow_tables().items():
        con.create_table(name, table, overwrite=True)
    return AnalyticsTables.from_backend(con)


def postgres_connect(url: str) -> ibis.BaseBackend:
    """An ibis PostgreSQL connection for a ``pg_url`` (keeps its ``search_path`` option)."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    options = unquote(query["options"][0]) if "options" in query else None
    schema = None
    if options and "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0]
    return ibis.postgres.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.path.lstrip("/"),
        schema=schema,
        options=options,
    )


@dataclass
class AnalyticsBackend:
    """One backend under test: ``name`` ('duckdb' | 'postgres'), its ibis ``con`` and ``load(rows)``."""

    name: str
    con: ibis.BaseBackend

    def load(self, rows: SnapshotRows) -> AnalyticsTables:
        """Write ``rows`` as the snapshot tables (replacing earlier ones) and bind them."""
        return load_into(self.con, rows)


@pytest.fixture(params=["duckdb", "postgres"])
def analytics_backend(request: pytest.FixtureRequest) -> Iterator[AnalyticsBackend]:
    """Each analytics test runs once on DuckDB (in memory) and once on PostgreSQL (fresh schema)."""
    if request.param == "duckdb":
        con = ibis.duckdb.connect()
    else:
        con = postgres_connect(str(request.getfixturevalue("pg_url")))
    try:
        yield AnalyticsBackend(name=request.param, con=con)
    finally:
        con.disconnect()


@pytest.fixture
def snapshot_rows() -> SnapshotRows:
    """A fresh, empty ``SnapshotRows`` (time zone Europe/Moscow)."""
    return SnapshotRows()


@pytest.fixture
def make_rows() -> Callable[..., SnapshotRows]:
    """A factory of fresh ``SnapshotRows``: ``make_rows()`` or ``make_rows(timezone="UTC")``."""
    return SnapshotRows


@pytest.fixture
def duckdb_backend() -> Iterator[AnalyticsBackend]:
    """DuckDB only, for property tests that run many examples (hypothesis) and for CLI tests."""
    con = ibis.duckdb.connect()
    try:
        yield AnalyticsBackend(name="duckdb", con=con)
    finally:
        con.disconnect()
