"""Churn features at a cutoff: what was known about each buyer at the start of the cutoff day.

Every expression filters on the snapshot's *local* dates with ``date < cutoff`` (and on the UTC
instant of the cutoff's local midnight for ``resolved_at``, which has no local-date column), so a
feature table at a past cutoff is exactly what a scorer would have seen that morning: no leakage
(``tests/models/churn/test_features.py`` checks that deleting every later row changes nothing).

The population is every customer with at least one non-cancelled order before the cutoff. Features
that segments know too come from the one feature registry (:mod:`retentio.segments.features`) under
the model's names (:data:`SHARED_FEATURES`: ``recency_days`` is the registry's
``days_since_last_order``, ...), so a name means the same everywhere; only the model's own features are
computed here. Columns (``FEATURE_COLUMNS`` go into the model; ``AUX_COLUMNS`` only feed the
explanations):

=============================  ===============================================================
recency_days                   days from the last order to the cutoff (RFM recency)
frequency                      non-cancelled orders before the cutoff
monetary                       net revenue: their totals − refunds of them dated before the cutoff
aov                            monetary / frequency
tenure_days                    days from the first order to the cutoff
gap_mean_days                  mean days between consecutive purchase days (null with one)
gap_median_days, gap_std_days  median and sample standard deviation of those gaps
overdue_ratio                  recency_days / gap_mean_days ("usually orders every N days")
orders_90d, orders_180d        orders in the last 90 / 180 days
spend_90d, spend_180d          order totals in the last 90 / 180 days
spend_trend_180d               daily spend in the last 180 days ÷ daily spend before them (null
                               when the customer is younger than 180 days or spent nothing before)
email_opens_30d/_90d           ``email_open`` events in the last 30 / 90 days
email_opens_prev_90d           ``email_open`` events 180–90 days before the cutoff
email_clicks_30d/_90d          ``email_click`` events in the last 30 / 90 days
visits_30d/_90d                ``visit`` events in the last 30 / 90 days
visits_prev_90d                ``visit`` events 180–90 days before the cutoff
days_since_last_activity       days since the latest order (cancelled too) or event other than
                               our own email sends
days_since_last_email_open     days since the latest ``email_open``
reviews, avg_rating            reviews written, their mean rating
negative_reviews               reviews rated 1–2
last_rating                    rating of the latest review
tickets, tickets_90d           support tickets opened (all time / last 90 days)
open_tickets                   tickets open at the cutoff: not resolved before it (and, without a
                               resolved_at, not marked resolved/closed)
last_ticket_csat               CSAT (1–5) of the latest ticket resolved before the cutoff
last_nps                       latest NPS answer (0–10)
last_csat_survey               latest ``csat`` survey answer (1–5)
loyalty_tier_rank, loyalty_points  null until the loyalty programme fills them
p_alive                        BG/NBD P(alive) at the cutoff (fitted on all buyers before it)
expected_purchases             BG/NBD expected purchases in the horizon
=============================  ===============================================================

The aggregation runs in the engine (Ibis → DuckDB or PostgreSQL); only the finished one-row-per-
customer table comes back to Python, where the BG/NBD columns are added (numpy, vectorised).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from retentio.analytics.summary import CustomerIds, restrict_to_customers, valid_orders
from retentio.analytics.tables import AnalyticsTables
from retentio.segments.features import (
    DEFAULT_TIMEZONE,
    NEGATIVE_RATING,
    cutoff_instant,
    feature_table,
)

__all__ = [
    "AUX_COLUMNS",
    "DEFAULT_TIMEZONE",
    "FEATURE_COLUMNS",
    "SHARED_FEATURES",
    "btyd_columns",
    "cutoff_instant",
    "engine_features",
    "feature_frame",
]

# The model's columns that are registry features: model name → registry name. Their definitions
# live in the registry only (e.g. days_since_last_activity ignores our own email sends there).
SHARED_FEATURES: dict[str, str] = {
    "recency_days": "days_since_last_order",
    "frequency": "orders",
    "monetary": "net_revenue",
    "aov": "aov",
    "tenure_days": "days_since_first_order",
    "email_opens_90d": "email_opens_90d",
    "email_clicks_90d": "email_clicks_90d",
    "visits_90d": "visits_90d",
    "days_since_last_activity": "days_since_last_activity",
    "avg_rating": "avg_rating",
    "negative_reviews": "negative_reviews",
    "tickets": "tickets",
    "open_tickets": "open_tickets",
    "last_nps": "last_nps",
    "last_csat_survey": "last_csat",
    "last_order_date": "last_order_date",
    "last_nps_date": "last_nps_date",
}

FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "tenure_days",
    "gap_mean_days",
    "gap_median_days",
    "gap_std_days",
    "overdue_ratio",
    "orders_90d",
    "orders_180d",
    "spend_90d",
    "spend_180d",
    "spend_trend_180d",
    "email_opens_30d",
    "email_opens_90d",
    "email_opens_prev_90d",
    "email_clicks_30d",
    "email_clicks_90d",
    "visits_30d",
    "visits_90d",
    "visits_prev_90d",
    "days_since_last_activity",
    "days_since_last_email_open",
    "reviews",
    "avg_rating",
    "negative_reviews",
    "last_rating",
    "tickets",
    "tickets_90d",
    "open_tickets",
    "last_ticket_csat",
    "last_nps",
    "last_csat_survey",
    "loyalty_tier_rank",
    "loyalty_points",
    "p_alive",
    "expected_purchases",
)
AUX_COLUMNS: tuple[str, ...] = (
    "last_order_date",
    "last_review_date",
    "last_negative_review_date",
    "last_nps_date",
    "last_ticket_date",
    "spend_before_180d",
)
# The model's own counts that are 0 (not unknown) for a customer with nothing to count (the shared
# ones are zero-filled by the registry).
_ZERO_FILLED = (
    "orders_90d",
    "orders_180d",
    "spend_90d",
    "spend_180d",
    "email_opens_30d",
    "email_opens_prev_90d",
    "email_clicks_30d",
    "visits_30d",
    "visits_prev_90d",
    "reviews",
    "tickets_90d",
    "spend_before_180d",
)
# The model's own columns that stay null when unknown.
_OWN_NULLABLE = (
    "gap_mean_days",
    "gap_median_days",
    "gap_std_days",
    "last_rating",
    "last_ticket_csat",
    "last_review_date",
    "last_negative_review_date",
    "last_ticket_date",
)


def _days_to(cutoff: date, column: ir.DateValue) -> ir.IntegerValue:
    return ibis.literal(cutoff, type=dt.date).delta(column, unit="day").cast(dt.int64)


def _count(condition: ir.BooleanValue) -> ir.IntegerValue:
    return condition.cast(dt.int64).sum()


def _order_windows(tables: AnalyticsTables, cutoff: date) -> ir.Table:
    """Every buyer at the cutoff, with the model's recent-order windows (the population)."""
    kept = valid_orders(tables, cutoff)
    total = kept.total.cast(dt.float64)
    d90, d180 = cutoff - timedelta(days=90), cutoff - timedelta(days=180)
    return kept.group_by("customer_id").aggregate(
        orders_90d=_count(kept.order_date >= d90),
        orders_180d=_count(kept.order_date >= d180),
        spend_90d=total.sum(where=kept.order_date >= d90),
        spend_180d=total.sum(where=kept.order_date >= d180),
        spend_before_180d=total.sum(where=kept.order_date < d180),
    )


def _gap_features(tables: AnalyticsTables, cutoff: date) -> ir.Table:
    """Inter-purchase gaps between consecutive purchase *days* (same-day orders are one purchase)."""
    kept = valid_orders(tables, cutoff)
    days = kept.select("customer_id", "order_date").distinct()
    window = ibis.window(group_by="customer_id", order_by="order_date")
    gaps = days.mutate(gap=days.order_date.delta(days.order_date.lag().over(window), unit="day"))
    gaps = gaps.filter(gaps.gap.notnull())
    gap = gaps.gap.cast(dt.float64)
    return gaps.group_by("customer_id").aggregate(
        gap_mean_days=gap.mean(),
        gap_median_days=gap.median(),
        gap_std_days=gap.std(how="sample"),
    )


def _event_features(tables: AnalyticsTables, cutoff: date) -> ir.Table:
    """The model's own event windows (the 90-day ones are the registry's) and the last e-mail open."""
    events = tables.events
    d30, d90, d180 = (cutoff - timedelta(days=n) for n in (30, 90, 180))
    before = events.filter(events.event_date < cutoff)
    kind, day = before.type, before.event_date
    previous = (day >= d180) & (day < d90)
    return before.group_by("customer_id").aggregate(
        email_opens_30d=_count((kind == "email_open") & (day >= d30)),
        email_opens_prev_90d=_count((kind == "email_open") & previous),
        email_clicks_30d=_count((kind == "email_click") & (day >= d30)),
        visits_30d=_count((kind == "visit") & (day >= d30)),
        visits_prev_90d=_count((kind == "visit") & previous),
        last_email_open_date=day.max(where=kind == "email_open"),
    )


def _review_features(tables: AnalyticsTables, cutoff: date) -> ir.Table:
    reviews = tables.reviews
    kept = reviews.filter(reviews.created_date < cutoff)
    ranked = kept.mutate(
        position=ibis.row_number().over(
            group_by="customer_id", order_by=[ibis.desc("created_at"), ibis.desc("review_id")]
        )
    )
    negative = ranked.rating <= NEGATIVE_RATING
    return ranked.group_by("customer_id").aggregate(
        reviews=ranked.count(),
        last_rating=ranked.rating.cast(dt.float64).max(where=ranked.position == 0),
        last_review_date=ranked.created_date.max(),
        last_negative_review_date=ranked.created_date.max(where=negative),
    )


def _ticket_features(tables: AnalyticsTables, cutoff: date, timezone: str) -> ir.Table:
    tickets = tables.tickets
    instant = ibis.literal(cutoff_instant(cutoff, timezone), type=dt.timestamp)
    kept = tickets.filter(tickets.opened_date < cutoff)
    resolved_before = kept.resolved_at.notnull() & (kept.resolved_at < instant)
    # CSAT is given once a ticket is resolved: only answers known before the cutoff count.
    rated = kept.filter(resolved_before & kept.csat.notnull())
    ranked = rated.mutate(
        position=ibis.row_number().over(
            group_by="customer_id", order_by=[ibis.desc("resolved_at"), ibis.desc("ticket_id")]
        )
    )
    csat = ranked.filter(ranked.position == 0).select(
        "customer_id", last_ticket_csat=ranked.csat.cast(dt.float64)
    )
    counts = kept.group_by("customer_id").aggregate(
        tickets_90d=_count(kept.opened_date >= cutoff - timedelta(days=90)),
        last_ticket_date=kept.opened_date.max(),
    )
    return counts.left_join(csat, counts.customer_id == csat.customer_id).select(
        counts, csat.last_ticket_csat
    )


def engine_features(
    tables: AnalyticsTables,
    cutoff: date,
    timezone: str = DEFAULT_TIMEZONE,
    customer_ids: CustomerIds = None,
) -> ir.Table:
    """The engine-side part of the feature table (everything but the BG/NBD columns) as one expression."""
    base = restrict_to_customers(_order_windows(tables, cutoff), customer_ids)
    # The shared features, by their one definition in the registry, then the model's own parts.
    joined = feature_table(tables, cutoff, base, SHARED_FEATURES.values(), timezone=timezone)
    parts = [
        _gap_features(tables, cutoff),
        _event_features(tables, cutoff),
        _review_features(tables, cutoff),
        _ticket_features(tables, cutoff, timezone),
    ]
    for part in parts:
        extra = [part[c] for c in part.columns if c != "customer_id"]
        joined = joined.left_join(part, joined.customer_id == part.customer_id).select(joined, *extra)

    values: dict[str, Any] = {"customer_id": joined.customer_id}
    for name, registry_name in SHARED_FEATURES.items():
        value = joined[registry_name]
        # The model takes numbers as float64 (money from the registry's DECIMAL, ratings, scores).
        values[name] = value.cast(dt.float64) if value.type().is_decimal() else value
    for name in _ZERO_FILLED:
        values[name] = joined[name].fill_null(0)
    for name in _OWN_NULLABLE:
        values[name] = joined[name]
    values["days_since_last_email_open"] = _days_to(cutoff, joined.last_email_open_date)
    return joined.select(**values)


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratios computed in numpy (same answer on every backend) and float dtypes for the model."""
    for name in FEATURE_COLUMNS:
        if name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    gap = frame["gap_mean_days"].to_numpy()
    recency = frame["recency_days"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["overdue_ratio"] = np.where(gap > 0, recency / gap, np.nan)
        tenure = frame["tenure_days"].to_numpy()
        before = pd.to_numeric(frame["spend_before_180d"]).to_numpy(dtype=np.float64)
        recent = frame["spend_180d"].to_numpy()
        rate_before = before / np.maximum(tenure - 180.0, 1.0)
        frame["spend_trend_180d"] = np.where(
            (tenure > 180) & (before > 0), (recent / 180.0) / rate_before, np.nan
        )
    frame["loyalty_tier_rank"] = np.nan
    frame["loyalty_points"] = np.nan
    return frame


def btyd_columns(
    tables: AnalyticsTables, cutoff: date, horizon_days: int, customer_ids: pd.Series
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """BG/NBD P(alive) and expected purchases in the horizon for ``customer_ids``, fitted at the cutoff.

    The model is fitted on every buyer's (x, t_x, T) in weeks with ``calibration_end`` = the day
    before the cutoff (Fader, Hardie & Lee 2005). Returns the columns and a description of the fit
    (parameters, or the reason it failed: then both columns are null and the classifier learns
    without them).
    """
    from retentio.analytics.summary import customer_summary
    from retentio.models.btyd.beta_geo import BetaGeo

    summary = customer_summary(tables, cutoff - timedelta(days=1), unit_days=7.0)
    data = summary.select("customer_id", "frequency", "recency", "T").to_pandas()
    # A fixed row order makes the fit bit-for-bit reproducible (float sums depend on order).
    data = data.sort_values("customer_id", kind="stable").reset_index(drop=True)
    info: dict[str, Any] = {"model": "BG/NBD", "unit_days": 7.0, "customers": len(data)}
    out = pd.DataFrame({"customer_id": customer_ids.to_numpy()})
    out["p_alive"] = np.nan
    out["expected_purchases"] = np.nan
    if len(data) < 20 or float(data["frequency"].sum()) == 0.0:
        info["error"] = "too few buyers or no repeat purchases to fit BG/NBD"
        return out, info
    x = data["frequency"].to_numpy(dtype=np.float64)
    t_x = data["recency"].to_numpy(dtype=np.float64)
    big_t = data["T"].to_numpy(dtype=np.float64)
    try:
        model = BetaGeo(penalizer=0.0).fit(x, t_x, big_t)
    except Exception as exc:  # ConvergenceError or bad input: record it, carry on without BTYD
        try:
            model = BetaGeo(penalizer=0.001).fit(x, t_x, big_t)
            info["penalizer"] = 0.001
        except Exception:
            info["error"] = f"{type(exc).__name__}: {exc}"
            return out, info
    info["params"] = {k: float(v) for k, v in model.params_.items()}
    data["p_alive"] = model.probability_alive(x, t_x, big_t)
    data["expected_purchases"] = model.conditional_expected_purchases(horizon_days / 7.0, x, t_x, big_t)
    merged = out[["customer_id"]].merge(
        data[["customer_id", "p_alive", "expected_purchases"]], on="customer_id", how="left"
    )
    return merged, info


def feature_frame(
    tables: AnalyticsTables,
    cutoff: date,
    horizon_days: int = 90,
    timezone: str = DEFAULT_TIMEZONE,
    with_btyd: bool = True,
    customer_ids: CustomerIds = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per buyer at ``cutoff``: ``customer_id``, :data:`FEATURE_COLUMNS` and :data:`AUX_COLUMNS`.

    Returns the frame (sorted by customer_id) and the BG/NBD fit description. With ``customer_ids``
    only those buyers are described (BG/NBD is still fitted on every buyer).
    """
    frame = engine_features(tables, cutoff, timezone, customer_ids).to_pandas()
    frame = frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
    frame = _finish(frame)
    info: dict[str, Any] = {}
    if with_btyd and len(frame):
        btyd, info = btyd_columns(tables, cutoff, horizon_days, frame["customer_id"])
        frame["p_alive"] = btyd["p_alive"].to_numpy()
        frame["expected_purchases"] = btyd["expected_purchases"].to_numpy()
    else:
        frame["p_alive"] = np.nan
        frame["expected_purchases"] = np.nan
    return frame[["customer_id", *FEATURE_COLUMNS, *AUX_COLUMNS]], info
