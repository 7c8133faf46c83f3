"""Reasons behind a churn score, in words a marketer understands (English and Russian).

The classifier's per-customer SHAP values (TreeSHAP, Lundberg et al. 2020; LightGBM
``pred_contrib=True``) say how much each feature moved this customer's log-odds of churning; they are
taken relative to the customers who stayed (:meth:`ChurnModel.relative_contributions`), so a reason
says what makes this customer riskier than a loyal one. Features that tell one story are summed into
a *reason group* (the recency features, the review features, ...); the groups that push the risk up
the most become reasons, each rendered from a template with the customer's own values ("no order for
94 days, usually orders every 30 days").

A group only becomes a reason when the customer's values support its sentence: if the ticket
features raised the risk of a customer with no open ticket and a good CSAT, no ticket sentence is
made up. The rules are pure functions of one feature row; rendering is :func:`render_reason`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from retentio.i18n import translate

# Log-odds a group must add before it is worth a sentence (exp(0.05) ≈ 5 % higher odds).
MIN_CONTRIBUTION = 0.05
DEFAULT_TOP = 3

GROUPS: dict[str, tuple[str, ...]] = {
    "recency": (
        "recency_days",
        "overdue_ratio",
        "gap_mean_days",
        "gap_median_days",
        "gap_std_days",
        "orders_90d",
        "orders_180d",
        "p_alive",
        "expected_purchases",
    ),
    "frequency": ("frequency", "tenure_days"),
    "spend": ("monetary", "aov", "spend_90d", "spend_180d", "spend_trend_180d"),
    "email": (
        "email_opens_30d",
        "email_opens_90d",
        "email_opens_prev_90d",
        "email_clicks_30d",
        "email_clicks_90d",
        "days_since_last_email_open",
    ),
    "visits": ("visits_30d", "visits_90d", "visits_prev_90d", "days_since_last_activity"),
    "reviews": ("reviews", "avg_rating", "negative_reviews", "last_rating"),
    "tickets": ("tickets", "tickets_90d", "open_tickets", "last_ticket_csat"),
    "surveys": ("last_nps", "last_csat_survey"),
    "loyalty": ("loyalty_tier_rank", "loyalty_points"),
}
FEATURE_GROUP: dict[str, str] = {feature: group for group, members in GROUPS.items() for feature in members}


@dataclass(frozen=True)
class Reason:
    """One reason: a message key, the values it is rendered with, and its weight in log-odds."""

    key: str
    values: dict[str, Any]
    contribution: float
    group: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "values": self.values,
            "contribution": self.contribution,
            "group": self.group,
        }


def _num(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _date(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:10] if text and text != "NaT" else None


def _recency(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    days, gap = _num(row, "recency_days"), _num(row, "gap_mean_days")
    if days is None:
        return None
    if gap is not None and gap > 0:
        if days > gap:
            return "churn.reason.overdue", {"days": int(days), "gap": round(gap)}
        p_alive = _num(row, "p_alive")
        if p_alive is not None and p_alive < 0.5:
            return "churn.reason.lapsed", {"p_alive": round(100 * p_alive)}
        return None
    if (_num(row, "frequency") or 0) <= 1:
        return "churn.reason.one_order", {"days": int(days)}
    return "churn.reason.no_recent_order", {"days": int(days)}


def _frequency(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    orders = _num(row, "frequency")
    if orders is None or orders > 3:
        return None
    months = (_num(row, "tenure_days") or 0) / 30.44
    return "churn.reason.few_orders", {"orders": int(orders), "months": max(round(months), 1)}


def _spend(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    trend = _num(row, "spend_trend_180d")
    if trend is not None and trend < 0.8:
        recent = _num(row, "spend_180d") or 0.0
        return "churn.reason.spend_down", {
            "recent": f"{recent:,.0f}",
            "percent": round(100 * (1 - trend)),
        }
    return None


def _email(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    recent, before = _num(row, "email_opens_90d") or 0.0, _num(row, "email_opens_prev_90d") or 0.0
    since = _num(row, "days_since_last_email_open")
    if recent == 0 and before > 0:
        return "churn.reason.email_stopped", {"days": int(since) if since is not None else 90}
    if recent == 0 and since is None:
        return "churn.reason.email_never", {}
    if recent < before:
        return "churn.reason.email_down", {"before": int(before), "recent": int(recent)}
    return None


def _visits(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    recent, before = _num(row, "visits_90d") or 0.0, _num(row, "visits_prev_90d") or 0.0
    idle = _num(row, "days_since_last_activity")
    if recent == 0 and idle is not None and idle >= 30:
        return "churn.reason.inactive", {"days": int(idle)}
    if recent < before:
        return "churn.reason.visits_down", {"before": int(before), "recent": int(recent)}
    return None


def _reviews(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    negative_date = _date(row, "last_negative_review_date")
    if negative_date is not None:
        return "churn.reason.negative_review", {"date": negative_date}
    average = _num(row, "avg_rating")
    if average is not None and average < 3.5:
        return "churn.reason.low_rating", {"rating": f"{average:.1f}"}
    return None


def _tickets(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    open_now, csat = _num(row, "open_tickets") or 0.0, _num(row, "last_ticket_csat")
    if open_now > 0:
        return "churn.reason.open_tickets", {"count": int(open_now)}
    if csat is not None and csat <= 3:
        return "churn.reason.bad_support", {"csat": int(csat)}
    recent = _num(row, "tickets_90d") or 0.0
    if recent >= 2:
        return "churn.reason.many_tickets", {"count": int(recent)}
    return None


def _surveys(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    nps = _num(row, "last_nps")
    if nps is not None and nps <= 6:
        return "churn.reason.nps", {"score": int(nps), "date": _date(row, "last_nps_date") or "?"}
    csat = _num(row, "last_csat_survey")
    if csat is not None and csat <= 3:
        return "churn.reason.csat", {"score": int(csat)}
    return None


RULES: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]] | None]] = {
    "recency": _recency,
    "frequency": _frequency,
    "spend": _spend,
    "email": _email,
    "visits": _visits,
    "reviews": _reviews,
    "tickets": _tickets,
    "surveys": _surveys,
}


def group_contributions(features: tuple[str, ...], contributions: np.ndarray) -> dict[str, float]:
    """Sum one row's SHAP values (bias column last, ignored) by reason group."""
    totals: dict[str, float] = {}
    for name, value in zip(features, contributions[: len(features)], strict=True):
        group = FEATURE_GROUP.get(name, name)
        totals[group] = totals.get(group, 0.0) + float(value)
    return totals


def group_matrix(features: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Group names and the 0/1 matrix (features + bias) × groups that sums SHAP values by group."""
    names = list(dict.fromkeys(FEATURE_GROUP.get(f, f) for f in features))
    matrix = np.zeros((len(features) + 1, len(names)))
    for i, feature in enumerate(features):
        matrix[i, names.index(FEATURE_GROUP.get(feature, feature))] = 1.0
    return names, matrix


def reasons_for(
    row: Mapping[str, Any],
    features: tuple[str, ...],
    contributions: np.ndarray,
    top: int = DEFAULT_TOP,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[Reason]:
    """The top reasons (largest positive contributions first) this customer's values support."""
    return reasons_from_totals(row, group_contributions(features, contributions), top, min_contribution)


def reasons_from_totals(
    row: Mapping[str, Any],
    totals: Mapping[str, float],
    top: int = DEFAULT_TOP,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[Reason]:
    """:func:`reasons_for` from contributions already summed by group (see :func:`group_matrix`)."""
    reasons: list[Reason] = []
    for group, weight in sorted(totals.items(), key=lambda kv: -kv[1]):
        if weight < min_contribution or len(reasons) >= top:
            break
        rule = RULES.get(group)
        made = rule(row) if rule is not None else None
        if made is not None:
            key, values = made
            reasons.append(Reason(key, values, round(weight, 6), group))
    return reasons


def render_reason(reason: Reason | Mapping[str, Any], locale: str = "en") -> str:
    """The reason as a sentence in ``locale`` (``en`` or ``ru``)."""
    if isinstance(reason, Reason):
        key, values = reason.key, reason.values
    else:
        key, values = str(reason["key"]), dict(reason["values"])
    return translate(key, locale, **values)
