"""Churn reasons: templates filled with the customer's own values, only when the values support them."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retentio.models.churn.explain import GROUPS, reasons_for, render_reason
from retentio.models.churn.features import FEATURE_COLUMNS

FEATURES = tuple(FEATURE_COLUMNS)


def overdue_customer() -> dict[str, Any]:
    """A customer who used to order monthly, went quiet, complained and rated us badly."""
    row: dict[str, Any] = dict.fromkeys(FEATURES, np.nan)
    row.update(
        recency_days=94.0,
        frequency=8.0,
        monetary=24_000.0,
        aov=3_000.0,
        tenure_days=330.0,
        gap_mean_days=30.0,
        gap_median_days=29.0,
        gap_std_days=4.0,
        overdue_ratio=94.0 / 30.0,
        orders_90d=0.0,
        orders_180d=3.0,
        spend_90d=0.0,
        spend_180d=9_000.0,
        spend_trend_180d=0.9,
        email_opens_30d=0.0,
        email_opens_90d=0.0,
        email_opens_prev_90d=4.0,
        email_clicks_30d=0.0,
        email_clicks_90d=0.0,
        visits_30d=0.0,
        visits_90d=0.0,
        visits_prev_90d=6.0,
        days_since_last_activity=80.0,
        days_since_last_email_open=120.0,
        reviews=2.0,
        avg_rating=3.0,
        negative_reviews=1.0,
        last_rating=1.0,
        tickets=2.0,
        tickets_90d=2.0,
        open_tickets=2.0,
        last_ticket_csat=np.nan,
        last_nps=3.0,
        last_csat_survey=np.nan,
        p_alive=0.2,
        expected_purchases=0.3,
    )
    row.update(
        customer_id="hand-built",
        last_order_date=pd.Timestamp("2024-05-28"),
        last_negative_review_date=pd.Timestamp("2024-05-02"),
        last_nps_date=pd.Timestamp("2024-04-11"),
    )
    return row


def contributions_for(groups: dict[str, float]) -> np.ndarray:
    """A SHAP row that puts the given log-odds on the first feature of each group (bias last)."""
    values = np.zeros(len(FEATURES) + 1)
    for group, weight in groups.items():
        values[FEATURES.index(GROUPS[group][0])] = weight
    return values


def test_reasons_use_the_customers_own_values_in_both_languages() -> None:
    row = overdue_customer()
    weights = {"recency": 1.2, "reviews": 0.6, "surveys": 0.5, "tickets": 0.4, "email": 0.3, "spend": -0.2}
    reasons = reasons_for(row, FEATURES, contributions_for(weights), top=5)
    english = [render_reason(r, "en") for r in reasons]
    assert english == [
        "no order for 94 days, usually orders every 30 days",
        "negative review on 2024-05-02",
        "NPS 3 on 2024-04-11",
        "2 open support ticket(s)",
        "email opens stopped (last open 120 days ago)",
    ]
    assert [r.contribution for r in reasons] == sorted((r.contribution for r in reasons), reverse=True)
    russian = [render_reason(r.to_dict(), "ru") for r in reasons]
    assert russian[0] == "нет заказов 94 дн., обычно заказывает каждые 30 дн."
    assert russian[1] == "негативный отзыв 2024-05-02"


def test_no_sentence_without_values_to_back_it_or_without_weight() -> None:
    row = overdue_customer()
    row.update(open_tickets=0.0, tickets_90d=0.0, last_ticket_csat=5.0, last_nps=9.0, last_csat_survey=5.0)
    # Tickets and surveys pushed the risk up, but this customer has nothing bad there: no sentence.
    reasons = reasons_for(row, FEATURES, contributions_for({"tickets": 0.9, "surveys": 0.8, "recency": 0.01}))
    assert reasons == []
    # Only the top ones, and never a group that lowers the risk.
    reasons = reasons_for(
        row, FEATURES, contributions_for({"recency": 0.5, "reviews": -0.7, "email": 0.2}), top=1
    )
    assert [r.key for r in reasons] == ["churn.reason.overdue"]


def test_trained_model_explains_a_hand_built_overdue_customer(trained: Any) -> None:
    model = trained.model
    frame = pd.DataFrame([overdue_customer()])
    risk = float(model.predict_proba(frame)[0])
    raw = model.contributions(frame)[0]
    # SHAP values add up to the margin (TreeSHAP is exact for trees) ...
    assert np.isclose(raw.sum(), model.margin(frame)[0])
    # ... and relative to the stayers they add up to the margin gap to the stayers' mean margin.
    contributions = model.relative_contributions(frame)[0]
    assert np.isclose(contributions.sum(), model.margin(frame)[0] - sum(model.reference_))
    reasons = reasons_for(frame.iloc[0].to_dict(), model.features_, contributions)
    texts = [render_reason(r) for r in reasons]
    assert risk > 0.5
    assert "no order for 94 days, usually orders every 30 days" in texts
    assert all(r.contribution > 0 for r in reasons)

    # The same customer who ordered last week is much less at risk, and not for being overdue.
    recent = overdue_customer()
    recent.update(
        recency_days=7.0,
        overdue_ratio=7.0 / 30.0,
        orders_90d=3.0,
        p_alive=0.98,
        expected_purchases=2.5,
        last_order_date=pd.Timestamp(date(2024, 8, 23)),
    )
    fresh = pd.DataFrame([recent])
    assert float(model.predict_proba(fresh)[0]) < risk - 0.2
    fresh_reasons = reasons_for(
        fresh.iloc[0].to_dict(), model.features_, model.relative_contributions(fresh)[0]
    )
    assert "churn.reason.overdue" not in [r.key for r in fresh_reasons]


def test_batch_reasons_match_one_customer_at_a_time(trained: Any, generated_tables: Any) -> None:
    from retentio.models.churn.store import score_tables

    scored = score_tables(trained.model, generated_tables, date(2025, 11, 1), 90, "Europe/Moscow")
    batch = scored.reasons()
    contributions = scored.contributions()
    rows = scored.frame.to_dict("records")
    assert len(batch) == len(rows) > 1000
    assert sum(1 for r in batch if r) > len(rows) / 2  # most customers get at least one reason
    for i in range(0, len(rows), 17):
        one = reasons_for(rows[i], trained.model.features_, contributions[i])
        assert [(r.key, r.values) for r in batch[i]] == [(r.key, r.values) for r in one]
        assert [r.contribution for r in batch[i]] == [pytest.approx(r.contribution, abs=1e-5) for r in one]
