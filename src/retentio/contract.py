"""The input data contract (DESIGN §3) as data.

One :class:`TableSpec` per canonical table: its columns, their kinds and which are required. Ingest
validates against it, the store's models mirror it (``tests/store/test_schema.py`` checks they agree),
and the generator writes it. Money columns arrive as decimals and are stored as integer minor units
(``<name>_minor``), timestamps as timezone-aware UTC (:data:`ARROW_TYPES`: the Arrow type of each
kind as ingest writes it and the store returns it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa


class Kind(StrEnum):
    """How a column's text is parsed and checked."""

    ID = "id"  # non-empty string, stripped
    TEXT = "text"  # free string, may be empty
    INT = "int"  # integer
    POSITIVE_INT = "positive_int"  # integer > 0
    MONEY = "money"  # decimal with at most 2 fraction digits, stored as minor units
    TIMESTAMP = "timestamp"  # ISO or dd.mm.yyyy[ hh:mm[:ss]]; naive values are in the configured zone
    DATE = "date"  # ISO or dd.mm.yyyy
    BOOL = "bool"  # 1/0, true/false, yes/no, да/нет
    FLOAT = "float"  # e.g. durations
    JSON = "json"  # a JSON document
    RATING = "rating"  # integer 1..5
    SCORE = "score"  # integer 0..10 (NPS) or 1..5 (CSAT): range checked per survey


# The Arrow type of each kind in store shape (money as integer minor units, timestamps as UTC): what
# ingest validates into and what the snapshot reads back from the store. Here, in the contract, so
# that the store need not import ingest.
ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.ID: pa.string(),
    Kind.TEXT: pa.string(),
    Kind.JSON: pa.string(),
    Kind.INT: pa.int64(),
    Kind.POSITIVE_INT: pa.int64(),
    Kind.RATING: pa.int64(),
    Kind.SCORE: pa.int64(),
    Kind.MONEY: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] | None = None
    non_negative: bool = False

    @property
    def stored_name(self) -> str:
        """Name of the column in the store (money gets a ``_minor`` suffix)."""
        return f"{self.name}_minor" if self.kind is Kind.MONEY else self.name


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # Foreign reference checked at ingest: (column, table) pairs.
    references: tuple[tuple[str, str], ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


C = Column
ORDER_STATUSES = ("completed", "cancelled")

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "customers",
            key=("customer_id",),
            columns=(
                C("customer_id", Kind.ID, required=True),
                C("email", Kind.TEXT),
                C("phone", Kind.TEXT),
                C("first_name", Kind.TEXT),
                C("last_name", Kind.TEXT),
                C("birthday", Kind.DATE),
                C("gender", Kind.TEXT),
                C("city", Kind.TEXT),
                C("signup_at", Kind.TIMESTAMP),
                C("acquisition_channel", Kind.TEXT),
                C("consent_email", Kind.BOOL),
                C("consent_sms", Kind.BOOL),
                C("locale", Kind.TEXT),
            ),
        ),
        TableSpec(
            "orders",
            key=("order_id",),
            columns=(
                C("order_id", Kind.ID, required=True),
                C("customer_id", Kind.ID, required=True),
                C("ordered_at", Kind.TIMESTAMP, required=True),
                C("total", Kind.MONEY, required=True, non_negative=True),
                C("currency", Kind.TEXT),
                C("status", Kind.TEXT, choices=ORDER_STATUSES),
                C("channel", Kind.TEXT),
                C("discount", Kind.MONEY, non_negative=True),
                C("shipping", Kind.MONEY, non_negative=True),
                C("coupon_code", Kind.TEXT),
            ),
            references=(("customer_id", "customers"),),
        ),
        TableSpec(
            "order_lines",
            key=("order_id", "sku"),
            columns=(
                C("order_id", Kind.ID, required=True),
                C("sku", Kind.ID, required=True),
                C("quantity", Kind.POSITIVE_INT, required=True),
                C("unit_price", Kind.MONEY, required=True, non_negative=True),
                C("product_name", Kind.TEXT),
                C("category", Kind.TEXT),
                C("unit_cost", Kind.MONEY, non_negative=True),
            ),
        ),
        TableSpec(
            "refunds",
            key=("refund_id",),
            columns=(
                C("refund_id", Kind.ID, required=True),
                C("order_id", Kind.ID, required=True),
                C("refunded_at", Kind.TIMESTAMP, required=True),
                C("amount", Kind.MONEY, required=True, non_negative=True),
                C("sku", Kind.TEXT),
                C("quantity", Kind.POSITIVE_INT),
                C("reason", Kind.TEXT),
            ),
        ),
        TableSpec(
            "events",
            key=("event_id",),
            columns=(
                C("event_id", Kind.ID, required=True),
                C("customer_id", Kind.ID, required=True),
                C("occurred_at", Kind.TIMESTAMP, required=True),
                C("type", Kind.ID, required=True),
                C("session_id", Kind.TEXT),
                C("page", Kind.TEXT),
                C("product_sku", Kind.TEXT),
                C("duration_s", Kind.FLOAT, non_negative=True),
                C("channel", Kind.TEXT),
                C("properties", Kind.JSON),
            ),
            references=(("customer_id", "customers"),),
        ),
        TableSpec(
            "reviews",
            key=("review_id",),
            columns=(
                C("review_id", Kind.ID, required=True),
                C("customer_id", Kind.ID, required=True),
                C("created_at", Kind.TIMESTAMP, required=True),
                C("rating", Kind.RATING, required=True),
                C("text", Kind.TEXT, required=True),
                C("sku", Kind.TEXT),
                C("order_id", Kind.TEXT),
                C("language", Kind.TEXT),
            ),
            references=(("customer_id", "customers"),),
        ),
        TableSpec(
            "tickets",
            key=("ticket_id",),
            columns=(
                C("ticket_id", Kind.ID, required=True),
                C("customer_id", Kind.ID, required=True),
                C("opened_at", Kind.TIMESTAMP, required=True),
                C("subject", Kind.TEXT, required=True),
                C("text", Kind.TEXT, required=True),
                C("channel", Kind.TEXT),
                C("first_response_at", Kind.TIMESTAMP),
                C("resolved_at", Kind.TIMESTAMP),
                C("csat", Kind.RATING),
                C("status", Kind.TEXT),
            ),
            references=(("customer_id", "customers"),),
        ),
        TableSpec(
            "survey_responses",
            key=("response_id",),
            columns=(
                C("response_id", Kind.ID, required=True),
                C("customer_id", Kind.ID, required=True),
                C("answered_at", Kind.TIMESTAMP, required=True),
                C("survey", Kind.ID, required=True),
                C("score", Kind.SCORE, required=True),
                C("question", Kind.TEXT),
                C("text", Kind.TEXT),
                C("reason", Kind.TEXT),
            ),
            references=(("customer_id", "customers"),),
        ),
    )
}

# Ingest order that satisfies the references (customers before what points at them).
LOAD_ORDER = (
    "customers",
    "orders",
    "order_lines",
    "refunds",
    "events",
    "reviews",
    "tickets",
    "survey_responses",
)
# Survey score ranges by survey kind; other surveys accept 0..10.
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "exit": (1, 5)}
