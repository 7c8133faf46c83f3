"""SQLAlchemy models: the store, the single source of truth.

The eight contract tables (DESIGN §3) keep the canonical column names, except money, which is an
exact integer in minor units (``total_minor`` = kopecks). ``row_hash`` is a 64-bit digest of a row's
normalised values: ingest compares it to tell *unchanged* from *updated* without reading whole rows.

Platform state that later issues build on lives here too, each table owned by one domain package:
``ingest_runs`` (ingest), ``customer_scores`` and ``model_versions`` (models), ``segments`` and
``segment_memberships`` (analytics). Loyalty, feedback and campaign tables arrive with their issues
as new migrations; nothing here needs to change for them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from retentio.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


ID = String(128)


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    birthday: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(200))
    signup_at: Mapped[datetime | None]
    acquisition_channel: Mapped[str | None] = mapped_column(String(100))
    consent_email: Mapped[bool | None] = mapped_column(Boolean)
    consent_sms: Mapped[bool | None] = mapped_column(Boolean)
    locale: Mapped[str | None] = mapped_column(String(16))
    # Created because an order (or event, review, ...) named an id we had not seen; a later
    # customers row fills it in. See docs/data-contract.md, "Unknown customers".
    is_placeholder: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "customer_id", "ordered_at"),
        Index(None, "ordered_at"),
    )

    order_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), nullable=False)
    ordered_at: Mapped[datetime] = mapped_column(nullable=False)
    total_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(100))
    discount_minor: Mapped[int | None] = mapped_column(BigInteger)
    shipping_minor: Mapped[int | None] = mapped_column(BigInteger)
    coupon_code: Mapped[str | None] = mapped_column(String(100))
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), primary_key=True)
    sku: Mapped[str] = mapped_column(ID, primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    product_name: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str | None] = mapped_column(String(200))
    unit_cost_minor: Mapped[int | None] = mapped_column(BigInteger)
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (Index(None, "order_id"),)

    refund_id: Mapped[str] = mapped_column(ID, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.order_id"), nullable=False)
    refunded_at: Mapped[datetime] = mapped_column(nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sku: Mapped[str | None] = mapped_column(String(128))
    quantity: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index(None, "customer_id", "occurred_at"),)

    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    session_id: Mapped[str | None] = mapped_column(String(128))
    page: Mapped[str | None] = mapped_column(Text)
    product_sku: Mapped[str | None] = mapped_column(String(128))
    duration_s: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(100))
    properties: Mapped[str | None] = mapped_column(Text)  # JSON text, validated at ingest
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (Index(None, "customer_id"),)

    review_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    rating: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    sku: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(16))
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index(None, "customer_id"),)

    ticket_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    channel: Mapped[str | None] = mapped_column(String(100))
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    csat: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(32))
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index(None, "customer_id"), Index(None, "survey", "answered_at"))

    response_id: Mapped[str] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), nullable=False)
    answered_at: Mapped[datetime] = mapped_column(nullable=False)
    survey: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    question: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(200))
    row_hash: Mapped[int] = mapped_column(BigInteger, nullable=False)


CONTRACT_MODELS: dict[str, type[Base]] = {
    m.__tablename__: m for m in (Customer, Order, OrderLine, Refund, Event, Review, Ticket, SurveyResponse)
}


class StoreMeta(Base):
    """Key/value facts about the store."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class StoreState(Base):
    """One row: the store's identity and ``data_version``, which grows with every committed change to
    contract data (bumped atomically, see :func:`retentio.store.db.bump_data_version`)."""

    __tablename__ = "store_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_state_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(36), nullable=False)
    data_version: Mapped[int] = mapped_column(BigInteger, nullable=False)


class IngestRun(Base):
    """One ingest of one file: what was read and what became of it."""

    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    started_at: Mapped[datetime] = mapped_column(nullable=False)
    finished_at: Mapped[datetime] = mapped_column(nullable=False)
    read: Mapped[int] = mapped_column(Integer, nullable=False)
    loaded: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    placeholders_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejects_file: Mapped[str | None] = mapped_column(Text)


class ModelVersion(Base):
    """A fitted model (CLV, churn, recommendations) saved with its metadata."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    as_of: Mapped[datetime | None]
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    artifact_path: Mapped[str | None] = mapped_column(Text)


class CustomerScore(Base):
    """Per-customer predictions, one row per (customer, model); the latest scoring wins."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, nullable=False)
    as_of: Mapped[datetime] = mapped_column(nullable=False)
    clv: Mapped[float | None] = mapped_column(Float)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    next_order_at: Mapped[datetime | None]
    churn_risk: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Segment(Base):
    """A named rule segment (the rule is parsed by ``retentio.segments.rules``, never eval'ed)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    rule: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    refreshed_at: Mapped[datetime | None]


class SegmentMembership(Base):
    """Membership intervals: a customer is in the segment from ``entered_at`` until ``left_at``."""

    __tablename__ = "segment_memberships"
    __table_args__ = (Index(None, "segment_id", "left_at"), Index(None, "customer_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), nullable=False)
    customer_id: Mapped[str] = mapped_column(ID, nullable=False)
    entered_at: Mapped[datetime] = mapped_column(nullable=False)
    left_at: Mapped[datetime | None]
