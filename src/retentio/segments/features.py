"""The customer feature table: one row per customer, the vocabulary of rule segments.

``customer_features(tables, as_of)`` describes every customer *as at the start of* ``as_of`` (local
date in the snapshot's time zone): only rows whose local date is before ``as_of`` count, so features
at a past as-of reproduce what was known then. "Days since" is ``as_of − date`` in whole days (an
order placed yesterday is 1 day ago). The rule language (:mod:`retentio.segments.rules`) checks rules
against :data:`FEATURES`, so the table below is the list of names users may write.

==========================  =======  ===========================================================
name                        type     definition
==========================  =======  ===========================================================
customer_id                 string   the customer's id
orders                      number   non-cancelled orders before as-of (0 if none)
net_revenue                 number   DECIMAL(18,2): totals of those orders − refunds of them
                                     dated before as-of (0 if none)
aov                         number   FLOAT: net_revenue / orders; null without orders (a ratio for
                                     rules and ranking; report money from net_revenue)
first_order_date            date     local date of the first non-cancelled order
last_order_date             date     local date of the last non-cancelled order before as-of
days_since_first_order      number   as_of − first_order_date, days; null without orders
days_since_last_order       number   as_of − last_order_date, days; null without orders
days_since_last_activity    number   as_of − the latest local date of any order (cancelled ones
                                     too: the customer did come back) or event other than an
                                     email send (``email_send``/``email_sent``); null if none
positive_reviews            number   reviews with rating ≥ 4
negative_reviews            number   reviews with rating ≤ 2
avg_rating                  number   FLOAT: mean review rating; null without reviews
last_nps                    number   score (0–10) of the latest ``nps`` survey answer; null if none
last_csat                   number   score (1–5) of the latest ``csat`` survey answer; null if none
open_tickets                number   tickets open at as-of: not resolved before it (and, without
                                     a resolved_at, not marked resolved/closed)
tickets                     number   tickets opened before as-of
email_opens_90d             number   ``email_open`` events in [as_of − 90 days, as_of)
email_clicks_90d            number   ``email_click`` events in the same window
visits_90d                  number   ``visit`` events in the same window
city                        string   customers.city
channel                     string   customers.acquisition_channel
locale                      string   customers.locale
age                         number   full years from birthday to as_of; null without birthday
birthday_in_days            number   days from as_of to the next birthday (0 = today; a 29 Feb
                                     birthday falls on 1 Mar in other years); null without one
consent_email               boolean  customers.consent_email (null = unknown)
rfm_segment                 string   named RFM segment at as_of (``retentio.analytics.rfm``)
tier                        string   loyalty tier; null until the loyalty programme fills it
churn_risk                  number   FLOAT: latest churn model score, from ``scores``; else null
clv                         number   FLOAT: latest CLV prediction, from ``scores``; else null
p_alive                     number   FLOAT: latest P(alive), from ``scores``; else null
expected_purchases          number   FLOAT: purchases the CLV model expects over its horizon
next_order_date             date     local date of the expected next order (CLV model); else null
==========================  =======  ===========================================================

Counts are 0, not null, for customers with nothing to count. Every expression is plain Ibis over the
snapshot's local-date columns, so DuckDB and PostgreSQL give identical tables.

This is the one registry of customer features: each name has one definition, here. Other feature
tables (the churn model's, :mod:`retentio.models.churn.features`) take the features they share from
:func:`feature_table` and add only their own.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from retentio.analytics.summary import valid_orders, valid_refunds
from retentio.analytics.tables import AnalyticsTables

EMAIL_WINDOW_DAYS = 90
POSITIVE_RATING = 4
NEGATIVE_RATING = 2
CLOSED_TICKET_STATUSES = ("resolved", "closed")
SCORE_COLUMNS = ("churn_risk", "clv", "p_alive", "expected_purchases")
# Events we cause rather than the customer (email sends): not customer activity.
OUTBOUND_EVENT_TYPES = ("email_send", "email_sent")
MONEY = dt.Decimal(18, 2)
# The zone of the snapshot's local dates when the caller does not say (the settings' default).
DEFAULT_TIMEZONE = "Europe/Moscow"


class ValueType(StrEnum):
    """The four value types of the rule language."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    DATE = "date"


@dataclass(frozen=True)
class Feature:
    """One column of the feature table: its rule type, ibis dtype and meaning."""

    name: str
    type: ValueType
    dtype: dt.DataType
    description: str


_N, _S, _B, _D = ValueType.NUMBER, ValueType.STRING, ValueType.BOOLEAN, ValueType.DATE
_INT, _FLOAT, _STR = dt.int64, dt.float64, dt.string

FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("customer_id", _S, _STR, "the customer's id"),
        Feature("orders", _N, _INT, "non-cancelled orders before as-of"),
        Feature("net_revenue", _N, MONEY, "order totals − refunds before as-of"),
        Feature("aov", _N, _FLOAT, "net_revenue / orders"),
        Feature("first_order_date", _D, dt.date, "local date of the first order"),
        Feature("last_order_date", _D, dt.date, "local date of the last order"),
        Feature("days_since_first_order", _N, _INT, "days from the first order to as-of"),
        Feature("days_since_last_order", _N, _INT, "days from the last order to as-of"),
        Feature("days_since_last_activity", _N, _INT, "days from the last order or event to as-of"),
        Feature("positive_reviews", _N, _INT, "reviews rated 4 or 5"),
        Feature("negative_reviews", _N, _INT, "reviews rated 1 or 2"),
        Feature("avg_rating", _N, _FLOAT, "mean review rating"),
        Feature("last_nps", _N, _INT, "latest NPS score (0–10)"),
        Feature("last_csat", _N, _INT, "latest CSAT score (1–5)"),
        Feature("open_tickets", _N, _INT, "tickets not resolved or closed"),
        Feature("tickets", _N, _INT, "tickets opened"),
        Feature("email_opens_90d", _N, _INT, "email opens in the last 90 days"),
        Feature("email_clicks_90d", _N, _INT, "email clicks in the last 90 days"),
        Feature("visits_90d", _N, _INT, "site/app visits in the last 90 days"),
        Feature("city", _S, _STR, "city"),
        Feature("channel", _S, _STR, "acquisition channel"),
        Feature("locale", _S, _STR, "locale"),
        Feature("age", _N, _INT, "age in full years"),
        Feature("birthday_in_days", _N, _INT, "days until the next birthday"),
        Feature("consent_email", _B, dt.boolean, "agreed to receive email"),
        Feature("rfm_segment", _S, _STR, "named RFM segment"),
        Feature("tier", _S, _STR, "loyalty tier"),
        Feature("churn_risk", _N, _FLOAT, "churn model probability"),
        Feature("clv", _N, _FLOAT, "predicted customer lifetime value"),
        Feature("p_alive", _N, _FLOAT, "probability the customer is still active"),
        Feature("expected_purchases", _N, _FLOAT, "purchases expected over the CLV horizon"),
        Feature("next_order_date", _D, dt.date, "expected date of the next order"),
    )
}

FEATURE_TYPES: dict[str, ValueType] = {name: f.type for name, f in FEATURES.items()}
# Columns the registry computes for other feature tables but that rules do not see: name → dtype.
AUXILIARY: dict[str, dt.DataType] = {"last_nps_date": dt.date, "last_csat_date": dt.date}


# Counts that are 0 (not unknown) for a customer with nothing to count.
_ZERO_FILLED = frozenset(
    {
        "orders",
        "positive_reviews",
        "negative_reviews",
        "open_tickets",
        "tickets",
        "email_opens_90d",
        "email_clicks_90d",
        "visits_90d",
    }
)


@dataclass(frozen=True)
class _At:
    """What every part of the feature table is computed from."""

    tables: AnalyticsTables
    as_of: date
    timezone: str
    scores: Any

    @property
    def as_of_lit(self) -> ir.DateValue:
        return ibis.literal(self.as_of, type=dt.date)


def cutoff_instant(as_of: date, timezone: str) -> datetime:
    """The start of the local day ``as_of`` as a naive UTC timestamp (how the snapshot stores time)."""
    local = datetime.combine(as_of, time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC).replace(tzinfo=None)


def customer_features(
    tables: AnalyticsTables, as_of: date, scores: Any = None, timezone: str = DEFAULT_TIMEZONE
) -> ir.Table:
    """The feature table at ``as_of`` (see the module docstring for every column).

    ``scores`` is an optional pyarrow table or pandas frame with ``customer_id`` and any of
    ``churn_risk``, ``clv``, ``p_alive``, ``expected_purchases``, ``next_order_at`` (one row per
    customer, e.g. from :func:`retentio.models.registry.fold_latest_scores`); missing columns stay
    null. ``timezone`` is the snapshot's zone (the local midnight of ``as_of`` decides whether a
    ticket was resolved, and turns ``next_order_at`` into ``next_order_date``).
    """
    everyone = tables.customers.select("customer_id")
    return feature_table(tables, as_of, everyone, FEATURES, timezone=timezone, scores=scores)


def feature_table(
    tables: AnalyticsTables,
    as_of: date,
    base: ir.Table,
    names: Iterable[str],
    *,
    timezone: str = DEFAULT_TIMEZONE,
    scores: Any = None,
) -> ir.Table:
    """``base`` (one row per customer, with ``customer_id``) and the registry's columns ``names``.

    ``names`` are :data:`FEATURES` or :data:`AUXILIARY` columns; each is computed by its one
    definition here (only the parts that ``names`` need are built), left-joined on ``customer_id``,
    zero-filled if it is a count and cast to its dtype. The result keeps ``base``'s columns first.
    """
    wanted = [name for name in dict.fromkeys(names) if name != "customer_id"]
    unknown = [name for name in wanted if name not in FEATURES and name not in AUXILIARY]
    if unknown:
        raise KeyError(f"not in the feature registry: {', '.join(unknown)}")
    clashing = [name for name in wanted if name in base.columns]
    if clashing:
        raise ValueError(f"base already has column(s) {', '.join(clashing)}")
    at = _At(tables, as_of, timezone, scores)
    joined = base
    for part_name in dict.fromkeys(_PART_OF[name] for name in wanted if name in _PART_OF):
        part = _PARTS[part_name](at)
        if part is None:
            continue
        extra = [part[c] for c in part.columns if c in wanted]
        joined = joined.left_join(part, joined.customer_id == part.customer_id).select(joined, *extra)

    columns: dict[str, ir.Value] = {name: joined[name] for name in base.columns}
    for name in wanted:
        dtype = FEATURES[name].dtype if name in FEATURES else AUXILIARY[name]
        if name not in joined.columns:
            columns[name] = ibis.null().cast(dtype)
            continue
        value: ir.Value = joined[name]
        if name in _ZERO_FILLED:
            value = value.fill_null(0)
        elif name == "net_revenue":
            value = value.fill_null(ibis.literal(0, type=MONEY))
        columns[name] = value.cast(dtype)
    return joined.select(**columns)


def _age(birthday: ir.DateValue, as_of: date) -> ir.IntegerValue:
    """Full years: the year difference, minus one while this year's birthday is still ahead."""
    month, day = birthday.month(), birthday.day()
    ahead = (month > as_of.month) | ((month == as_of.month) & (day > as_of.day))
    return (ibis.literal(as_of.year) - birthday.year() - ibis.ifelse(ahead, 1, 0)).cast(dt.int64)


def _birthday_in_days(birthday: ir.DateValue, as_of: date) -> ir.IntegerValue:
    """Days until the next birthday; the two candidate years are constants, so no date maths in SQL."""
    as_of_lit = ibis.literal(as_of, type=dt.date)
    month, day = birthday.month(), birthday.day()
    leap_day = (month == 2) & (day == 29)

    def birthday_in(year: int) -> ir.DateValue:
        if calendar.isleap(year):
            return ibis.date(year, month, day)
        # 29 Feb is celebrated on 1 Mar in common years (so that age and this agree). Month and day
        # are adjusted separately: a CASE over two make_date calls may evaluate the invalid one.
        return ibis.date(year, ibis.ifelse(leap_day, 3, month), ibis.ifelse(leap_day, 1, day))

    this_year, next_year = birthday_in(as_of.year), birthday_in(as_of.year + 1)
    upcoming = ibis.ifelse(this_year >= as_of_lit, this_year, next_year)
    return upcoming.delta(as_of_lit, unit="day").cast(dt.int64)


def _profile_features(at: _At) -> ir.Table:
    customers = at.tables.customers
    return customers.select(
        "customer_id",
        "city",
        channel=customers.acquisition_channel,
        locale=customers.locale,
        consent_email=customers.consent_email,
        age=_age(customers.birthday, at.as_of),
        birthday_in_days=_birthday_in_days(customers.birthday, at.as_of),
    )


def _order_features(at: _At) -> ir.Table:
    tables, as_of, as_of_lit = at.tables, at.as_of, at.as_of_lit
    # The shared order/refund filters of every analytics module (retentio.analytics.summary):
    # non-cancelled orders, and refunds of those orders, dated before as-of.
    kept = valid_orders(tables, as_of)
    per_customer = kept.group_by("customer_id").aggregate(
        orders=kept.count(),
        gross=kept.total.sum(),
        first_order_date=kept.order_date.min(),
        last_order_date=kept.order_date.max(),
    )
    refunds = valid_refunds(tables, as_of)
    refunded = refunds.group_by("customer_id").aggregate(refunded=refunds.amount.sum())
    # Every refunded customer has an order (refunds are of kept orders), so a left join suffices.
    money = per_customer.left_join(refunded, per_customer.customer_id == refunded.customer_id).select(
        per_customer, refunded.refunded
    )
    net = (money.gross - money.refunded.fill_null(0)).cast(MONEY)
    count = money.orders
    return money.select(
        customer_id=money.customer_id,
        orders=count,
        net_revenue=net,
        aov=ibis.ifelse(count > 0, net.cast(dt.float64) / count, ibis.null()),
        first_order_date=money.first_order_date,
        last_order_date=money.last_order_date,
        days_since_first_order=as_of_lit.delta(money.first_order_date, unit="day"),
        days_since_last_order=as_of_lit.delta(money.last_order_date, unit="day"),
    )


def _activity_features(at: _At) -> ir.Table:
    as_of = at.as_of
    orders, events = at.tables.orders, at.tables.events
    kept_orders = orders.filter(orders.order_date < as_of)
    # Sends are our doing, not the customer's: they must not make a lapsed customer look active.
    kept_events = events.filter(events.event_date < as_of, ~events.type.isin(OUTBOUND_EVENT_TYPES))
    last_order = kept_orders.group_by("customer_id").aggregate(day=kept_orders.order_date.max())
    last_event = kept_events.group_by("customer_id").aggregate(day=kept_events.event_date.max())
    dates = last_order.union(last_event, distinct=False)
    last = dates.group_by("customer_id").aggregate(last_activity=dates.day.max())
    return last.select(
        "customer_id", days_since_last_activity=at.as_of_lit.delta(last.last_activity, unit="day")
    )


def _review_features(at: _At) -> ir.Table:
    reviews = at.tables.reviews
    kept = reviews.filter(reviews.created_date < at.as_of)
    return kept.group_by("customer_id").aggregate(
        positive_reviews=(kept.rating >= POSITIVE_RATING).sum(),
        negative_reviews=(kept.rating <= NEGATIVE_RATING).sum(),
        # PostgreSQL's avg(int) is NUMERIC while ibis types it float64: cast first.
        avg_rating=kept.rating.cast(dt.float64).mean(),
    )


def _survey_feature(at: _At, survey: str, name: str) -> ir.Table:
    """The score of the latest answer to ``survey`` as ``name``, and its local date as ``<name>_date``."""
    answers = at.tables.survey_responses
    kept = answers.filter(answers.survey.lower() == survey, answers.answered_date < at.as_of)
    # The latest answer wins; the response id breaks ties so every backend picks the same row.
    ranked = kept.mutate(
        rank=ibis.row_number().over(
            group_by="customer_id", order_by=[ibis.desc("answered_at"), ibis.desc("response_id")]
        )
    )
    latest = ranked.filter(ranked["rank"] == 0)
    return latest.select(
        "customer_id", **{name: latest.score.cast(dt.int64), f"{name}_date": latest.answered_date}
    )


def _ticket_features(at: _At) -> ir.Table:
    tickets = at.tables.tickets
    instant = ibis.literal(cutoff_instant(at.as_of, at.timezone), type=dt.timestamp)
    kept = tickets.filter(tickets.opened_date < at.as_of)
    # Open at as-of: a ticket resolved later was still open then (features at a past as-of are what
    # was known then). Without resolved_at only the status says it is closed, not since when.
    resolved_before = kept.resolved_at.notnull() & (kept.resolved_at < instant)
    closed_without_time = kept.resolved_at.isnull() & kept.status.lower().isin(CLOSED_TICKET_STATUSES)
    is_open = ~resolved_before & ~closed_without_time.fill_null(False)
    return kept.group_by("customer_id").aggregate(tickets=kept.count(), open_tickets=is_open.sum())


def _event_window_features(at: _At) -> ir.Table:
    events, as_of = at.tables.events, at.as_of
    start = as_of - timedelta(days=EMAIL_WINDOW_DAYS)
    kept = events.filter(events.event_date >= start, events.event_date < as_of)
    return kept.group_by("customer_id").aggregate(
        email_opens_90d=(kept.type == "email_open").sum(),
        email_clicks_90d=(kept.type == "email_click").sum(),
        visits_90d=(kept.type == "visit").sum(),
    )


def _rfm_feature(at: _At) -> ir.Table | None:
    """The RFM segment from the RFM module, or None (column stays null) while it is not installed."""
    try:
        from retentio.analytics.rfm import rfm_table
    except ImportError:
        return None
    rfm = rfm_table(at.tables, at.as_of)
    return rfm.select("customer_id", rfm_segment=rfm.segment.cast(dt.string))


def _score_features(at: _At) -> ir.Table | None:
    scores = at.scores
    if scores is None:
        return None
    arrow = scores if isinstance(scores, pa.Table) else pa.Table.from_pandas(scores, preserve_index=False)
    if "customer_id" not in arrow.column_names:
        raise ValueError("scores must have a customer_id column")
    if pc.count_distinct(arrow["customer_id"]).as_py() != arrow.num_rows:
        raise ValueError("scores must have one row per customer_id")
    if "next_order_at" in arrow.column_names:
        # A moment (UTC) becomes the local date in the snapshot's zone, like every *_date column.
        moments = (
            arrow["next_order_at"].cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=at.timezone))
        )
        local = pc.cast(pc.local_timestamp(moments), pa.date32())
        arrow = arrow.drop_columns(["next_order_at"]).append_column("next_order_date", local)
    table = ibis.memtable(arrow)
    columns: dict[str, ir.Value] = {"customer_id": table.customer_id.cast(dt.string)}
    for name in SCORE_COLUMNS:
        columns[name] = table[name].cast(dt.float64) if name in table.columns else ibis.null(dt.float64)
    columns["next_order_date"] = (
        table.next_order_date.cast(dt.date) if "next_order_date" in table.columns else ibis.null(dt.date)
    )
    return table.select(**columns)


# The part that computes each column: one definition per name.
_PARTS: dict[str, Callable[[_At], ir.Table | None]] = {
    "profile": _profile_features,
    "orders": _order_features,
    "activity": _activity_features,
    "reviews": _review_features,
    "nps": lambda at: _survey_feature(at, "nps", "last_nps"),
    "csat": lambda at: _survey_feature(at, "csat", "last_csat"),
    "tickets": _ticket_features,
    "events_90d": _event_window_features,
    "rfm": _rfm_feature,
    "scores": _score_features,
}
_PART_OF: dict[str, str] = {
    **dict.fromkeys(("city", "channel", "locale", "consent_email", "age", "birthday_in_days"), "profile"),
    **dict.fromkeys(
        (
            "orders",
            "net_revenue",
            "aov",
            "first_order_date",
            "last_order_date",
            "days_since_first_order",
            "days_since_last_order",
        ),
        "orders",
    ),
    "days_since_last_activity": "activity",
    **dict.fromkeys(("positive_reviews", "negative_reviews", "avg_rating"), "reviews"),
    "last_nps": "nps",
    "last_nps_date": "nps",
    "last_csat": "csat",
    "last_csat_date": "csat",
    **dict.fromkeys(("tickets", "open_tickets"), "tickets"),
    **dict.fromkeys(("email_opens_90d", "email_clicks_90d", "visits_90d"), "events_90d"),
    "rfm_segment": "rfm",
    **dict.fromkeys((*SCORE_COLUMNS, "next_order_date"), "scores"),
    # tier: no part yet (null until the loyalty programme fills it)
}
