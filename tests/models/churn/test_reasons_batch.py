"""Reasons for many customers at once say exactly what the one-customer path says, rule by rule.

The batch path reads whole columns (float64 arrays, datetime columns) and picks the top groups with
numpy; the one-customer path (``reasons_for``, ``churn explain``) runs the same rules on a one-row
batch built from the raw values. Both are also checked against the rules as they were written before
they worked on columns (``legacy_reasons``, a row-at-a-time copy kept here only as the oracle), on
random rows that hit every branch of every rule with NaN, zeros, -0.0, halves, huge amounts and
missing dates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retentio.i18n import catalogue
from retentio.models.churn.explain import (
    GROUPS,
    MIN_CONTRIBUTION,
    Columns,
    Reason,
    batch_reasons,
    group_matrix,
    reasons_for,
    reasons_from_totals,
    render_reason,
)
from retentio.models.churn.features import AUX_COLUMNS, FEATURE_COLUMNS

FEATURES = tuple(FEATURE_COLUMNS)
GROUP_NAMES, _ = group_matrix(FEATURES)
ALL_KEYS = {key for key in catalogue("en") if key.startswith("churn.reason.")}


# --- The oracle: the row-at-a-time rules as they were before they worked on columns -------------


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


Made = tuple[str, dict[str, Any]] | None


def _recency(row: Mapping[str, Any]) -> Made:
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


def _frequency(row: Mapping[str, Any]) -> Made:
    orders = _num(row, "frequency")
    if orders is None or orders > 3:
        return None
    months = (_num(row, "tenure_days") or 0) / 30.44
    return "churn.reason.few_orders", {"orders": int(orders), "months": max(round(months), 1)}


def _spend(row: Mapping[str, Any]) -> Made:
    trend = _num(row, "spend_trend_180d")
    if trend is not None and trend < 0.8:
        recent = _num(row, "spend_180d") or 0.0
        return "churn.reason.spend_down", {"recent": f"{recent:,.0f}", "percent": round(100 * (1 - trend))}
    return None


def _email(row: Mapping[str, Any]) -> Made:
    recent, before = _num(row, "email_opens_90d") or 0.0, _num(row, "email_opens_prev_90d") or 0.0
    since = _num(row, "days_since_last_email_open")
    if recent == 0 and before > 0:
        return "churn.reason.email_stopped", {"days": int(since) if since is not None else 90}
    if recent == 0 and since is None:
        return "churn.reason.email_never", {}
    if recent < before:
        return "churn.reason.email_down", {"before": int(before), "recent": int(recent)}
    return None


def _visits(row: Mapping[str, Any]) -> Made:
    recent, before = _num(row, "visits_90d") or 0.0, _num(row, "visits_prev_90d") or 0.0
    idle = _num(row, "days_since_last_activity")
    if recent == 0 and idle is not None and idle >= 30:
        return "churn.reason.inactive", {"days": int(idle)}
    if recent < before:
        return "churn.reason.visits_down", {"before": int(before), "recent": int(recent)}
    return None


def _reviews(row: Mapping[str, Any]) -> Made:
    negative_date = _date(row, "last_negative_review_date")
    if negative_date is not None:
        return "churn.reason.negative_review", {"date": negative_date}
    average = _num(row, "avg_rating")
    if average is not None and average < 3.5:
        return "churn.reason.low_rating", {"rating": f"{average:.1f}"}
    return None


def _tickets(row: Mapping[str, Any]) -> Made:
    open_now, csat = _num(row, "open_tickets") or 0.0, _num(row, "last_ticket_csat")
    if open_now > 0:
        return "churn.reason.open_tickets", {"count": int(open_now)}
    if csat is not None and csat <= 3:
        return "churn.reason.bad_support", {"csat": int(csat)}
    recent = _num(row, "tickets_90d") or 0.0
    if recent >= 2:
        return "churn.reason.many_tickets", {"count": int(recent)}
    return None


def _surveys(row: Mapping[str, Any]) -> Made:
    nps = _num(row, "last_nps")
    if nps is not None and nps <= 6:
        return "churn.reason.nps", {"score": int(nps), "date": _date(row, "last_nps_date") or "?"}
    csat = _num(row, "last_csat_survey")
    if csat is not None and csat <= 3:
        return "churn.reason.csat", {"score": int(csat)}
    return None


LEGACY_RULES: dict[str, Callable[[Mapping[str, Any]], Made]] = {
    "recency": _recency,
    "frequency": _frequency,
    "spend": _spend,
    "email": _email,
    "visits": _visits,
    "reviews": _reviews,
    "tickets": _tickets,
    "surveys": _surveys,
}


def legacy_reasons(row: Mapping[str, Any], totals: Mapping[str, float], top: int) -> list[Reason]:
    reasons: list[Reason] = []
    for group, weight in sorted(totals.items(), key=lambda kv: -kv[1]):
        if weight < MIN_CONTRIBUTION or len(reasons) >= top:
            break
        rule = LEGACY_RULES.get(group)
        made = rule(row) if rule is not None else None
        if made is not None:
            reasons.append(Reason(made[0], made[1], round(weight, 6), group))
    return reasons


# --- Random customers that hit every branch ---------------------------------------------------


def _mix(rng: np.random.Generator, n: int, specials: list[float], low: float, high: float) -> np.ndarray:
    """Half special values (NaN, 0, -0.0, halves, thresholds), half uniform in [low, high)."""
    values = rng.uniform(low, high, n)
    special = rng.random(n) < 0.5
    values[special] = rng.choice(np.asarray(specials, dtype=np.float64), int(special.sum()))
    return values


def _dates(rng: np.random.Generator, n: int) -> pd.Series:
    days = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    series = pd.Series(days).astype("datetime64[s]")
    series[rng.random(n) < 0.4] = pd.NaT
    return series


def random_customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nan = np.nan
    counts = [nan, 0.0, -0.0, 1.0, 2.0, 3.0]
    frame = pd.DataFrame({name: rng.uniform(0, 100, n) for name in FEATURES})
    frame.insert(0, "customer_id", [f"c{i}" for i in range(n)])
    frame["recency_days"] = _mix(rng, n, [nan, 0.0, 30.0, 30.5, 94.9, 1e6], 0, 400)
    frame["gap_mean_days"] = _mix(rng, n, [nan, 0.0, -1.0, 30.0, 30.5, 31.5, 2.5], 1, 120)
    frame["p_alive"] = _mix(rng, n, [nan, 0.0, 0.125, 0.005, 0.5, 0.495, 1.0], 0, 1)
    frame["frequency"] = _mix(rng, n, [nan, 0.0, 1.0, 1.5, 2.0, 3.0, 3.5, 4.0], 0, 12)
    frame["tenure_days"] = _mix(rng, n, [nan, 0.0, 15.22, 45.66, 1000.0], 0, 1500)
    frame["spend_trend_180d"] = _mix(rng, n, [nan, 0.625, 0.8, 0.0, 0.755, 1.2], 0, 1.5)
    frame["spend_180d"] = _mix(rng, n, [nan, 0.0, -0.0, -0.3, 0.5, 1.5, 999.5, 1_234_567.5, 1e12], 0, 5e5)
    frame["email_opens_90d"] = _mix(rng, n, counts, 0, 10)
    frame["email_opens_prev_90d"] = _mix(rng, n, counts, 0, 10)
    frame["days_since_last_email_open"] = _mix(rng, n, [nan, nan, 0.0, 30.5, 400.0], 0, 300)
    frame["visits_90d"] = _mix(rng, n, counts, 0, 10)
    frame["visits_prev_90d"] = _mix(rng, n, counts, 0, 10)
    frame["days_since_last_activity"] = _mix(rng, n, [nan, 0.0, 29.9, 30.0, 30.5, 365.0], 0, 200)
    frame["avg_rating"] = _mix(rng, n, [nan, 1.0, 3.25, 3.35, 3.45, 3.5, 5.0], 1, 5)
    frame["open_tickets"] = _mix(rng, n, [nan, 0.0, -0.0, 1.0, 2.5], 0, 3)
    frame["last_ticket_csat"] = _mix(rng, n, [nan, 1.0, 3.0, 3.5, 5.0], 1, 5)
    frame["tickets_90d"] = _mix(rng, n, [nan, 0.0, 1.0, 1.99, 2.0, 7.0], 0, 5)
    frame["last_nps"] = _mix(rng, n, [nan, 0.0, 6.0, 6.5, 9.0], 0, 10)
    frame["last_csat_survey"] = _mix(rng, n, [nan, 1.0, 3.0, 3.5, 5.0], 1, 5)
    for name in AUX_COLUMNS:
        frame[name] = _dates(rng, n) if name.endswith("_date") else rng.uniform(0, 1e5, n)
    return frame


def random_totals(n: int, seed: int) -> np.ndarray:
    """Contributions by group: mostly positive, with exact ties and weights right at the threshold."""
    rng = np.random.default_rng(seed)
    totals = rng.normal(0.15, 0.25, (n, len(GROUP_NAMES)))
    totals[rng.random(totals.shape) < 0.1] = MIN_CONTRIBUTION
    tie = rng.random(n) < 0.2
    totals[tie, 1] = totals[tie, 0]
    return totals


def as_tuples(reasons: list[Reason]) -> list[tuple[Any, ...]]:
    """Everything a reason holds, value types included (a numpy int would not survive json.dumps)."""
    return [
        (r.key, r.values, [type(v) for v in r.values.values()], r.contribution, type(r.contribution), r.group)
        for r in reasons
    ]


@pytest.mark.parametrize("top", [3, len(GROUP_NAMES)])
def test_batch_matches_the_one_row_path_and_the_old_rules_on_random_customers(top: int) -> None:
    n = 3_000
    frame, totals = random_customers(n, seed=top), random_totals(n, seed=top + 100)
    batch = batch_reasons(Columns.of_frame(frame), GROUP_NAMES, totals, top).reasons()
    assert len(batch) == n
    rows = frame.to_dict("records")
    for i, row in enumerate(rows):
        by_group = dict(zip(GROUP_NAMES, totals[i].tolist(), strict=True))
        one = reasons_from_totals(row, by_group, top)
        assert as_tuples(batch[i]) == as_tuples(one), i
        assert as_tuples(batch[i]) == as_tuples(legacy_reasons(row, by_group, top)), i
    made = {r.key for reasons in batch for r in reasons}
    if top == len(GROUP_NAMES):
        assert made == ALL_KEYS  # every branch of every rule was exercised
    assert max(len(reasons) for reasons in batch) == min(top, len(GROUPS) - 1)  # loyalty has no rule


def test_object_columns_read_like_the_scalar_rules() -> None:
    """Strings, Decimals, None, dates and tz-aware stamps in object or datetime columns."""
    n = 400
    rng = np.random.default_rng(5)
    frame = random_customers(n, seed=9)
    pool: list[Any] = [None, np.nan, "12", "abc", "", Decimal("2.5"), 0, 4, True, pd.NA, -0.0, "3.0"]
    for name in ("frequency", "open_tickets", "last_nps", "email_opens_90d", "avg_rating", "spend_180d"):
        frame[name] = pd.Series([pool[k] for k in rng.integers(0, len(pool), n)], dtype=object)
    dates: list[Any] = [
        None,
        np.nan,
        pd.NaT,
        date(2024, 5, 2),
        pd.Timestamp("2024-06-01 23:30"),
        "2024-07-15 10:00",
        "",
        "NaT",
        20240101,
    ]
    frame["last_negative_review_date"] = pd.Series(
        [dates[k] for k in rng.integers(0, len(dates), n)], dtype=object
    )
    stamps = pd.Series(
        pd.to_datetime("2024-03-31 22:30", utc=True) + pd.to_timedelta(rng.integers(0, 5, n), unit="h")
    )
    frame["last_nps_date"] = stamps.dt.tz_convert(
        "Europe/Moscow"
    )  # local wall-clock date, as isoformat gives
    frame.loc[rng.random(n) < 0.3, "last_nps_date"] = pd.NaT
    totals = np.abs(random_totals(n, seed=3))
    batch = batch_reasons(Columns.of_frame(frame), GROUP_NAMES, totals, len(GROUP_NAMES)).reasons()
    for i, row in enumerate(frame.to_dict("records")):
        by_group = dict(zip(GROUP_NAMES, totals[i].tolist(), strict=True))
        expected = as_tuples(legacy_reasons(row, by_group, len(GROUP_NAMES)))
        assert as_tuples(batch[i]) == expected, i
        assert as_tuples(reasons_from_totals(row, by_group, len(GROUP_NAMES))) == expected, i
    made = {(r.key, str(r.values.get("date"))) for reasons in batch for r in reasons}
    assert ("churn.reason.nps", "2024-04-01") in made and ("churn.reason.nps", "?") in made
    assert ("churn.reason.negative_review", "20240101") in made


BASE: dict[str, Any] = dict.fromkeys(FEATURES, np.nan)

# (values on top of an all-missing row, group, expected key and values; None = no reason)
CASES: list[tuple[dict[str, Any], str, tuple[str, dict[str, Any]] | None]] = [
    (
        {"recency_days": 94.9, "gap_mean_days": 30.5},
        "recency",
        ("churn.reason.overdue", {"days": 94, "gap": 30}),
    ),
    (
        {"recency_days": 20.0, "gap_mean_days": 31.5, "p_alive": 0.125},
        "recency",
        ("churn.reason.lapsed", {"p_alive": 12}),
    ),
    ({"recency_days": 20.0, "gap_mean_days": 30.0, "p_alive": 0.5}, "recency", None),
    ({"recency_days": 20.0, "gap_mean_days": 30.0}, "recency", None),
    ({"recency_days": 40.7}, "recency", ("churn.reason.one_order", {"days": 40})),
    (
        {"recency_days": 40.7, "gap_mean_days": 0.0, "frequency": 2.0},
        "recency",
        ("churn.reason.no_recent_order", {"days": 40}),
    ),
    ({"gap_mean_days": 30.0}, "recency", None),
    (
        {"frequency": 2.0, "tenure_days": 76.1},
        "frequency",
        ("churn.reason.few_orders", {"orders": 2, "months": 2}),
    ),
    ({"frequency": 1.0}, "frequency", ("churn.reason.few_orders", {"orders": 1, "months": 1})),
    ({"frequency": 3.5}, "frequency", None),
    (
        {"spend_trend_180d": 0.625, "spend_180d": 1_234_567.5},
        "spend",
        ("churn.reason.spend_down", {"recent": "1,234,568", "percent": 38}),
    ),
    (
        {"spend_trend_180d": 0.5, "spend_180d": -0.0},
        "spend",
        ("churn.reason.spend_down", {"recent": "0", "percent": 50}),
    ),
    ({"spend_trend_180d": 0.8}, "spend", None),
    (
        {"email_opens_90d": 0.0, "email_opens_prev_90d": 3.0},
        "email",
        ("churn.reason.email_stopped", {"days": 90}),
    ),
    (
        {"email_opens_prev_90d": 3.0, "days_since_last_email_open": 120.9},
        "email",
        ("churn.reason.email_stopped", {"days": 120}),
    ),
    ({}, "email", ("churn.reason.email_never", {})),
    ({"days_since_last_email_open": 5.0}, "email", None),
    (
        {"email_opens_90d": 1.5, "email_opens_prev_90d": 4.0, "days_since_last_email_open": 5.0},
        "email",
        ("churn.reason.email_down", {"before": 4, "recent": 1}),
    ),
    (
        {"visits_90d": 0.0, "days_since_last_activity": 30.0},
        "visits",
        ("churn.reason.inactive", {"days": 30}),
    ),
    ({"days_since_last_activity": 29.0}, "visits", None),
    (
        {"visits_90d": 2.0, "visits_prev_90d": 6.0, "days_since_last_activity": 80.0},
        "visits",
        ("churn.reason.visits_down", {"before": 6, "recent": 2}),
    ),
    (
        {"last_negative_review_date": pd.Timestamp("2024-05-02 23:00"), "avg_rating": 1.0},
        "reviews",
        ("churn.reason.negative_review", {"date": "2024-05-02"}),
    ),
    (
        {"last_negative_review_date": pd.NaT, "avg_rating": 3.25},
        "reviews",
        ("churn.reason.low_rating", {"rating": "3.2"}),
    ),
    ({"avg_rating": 3.5}, "reviews", None),
    ({"open_tickets": 2.0, "last_ticket_csat": 1.0}, "tickets", ("churn.reason.open_tickets", {"count": 2})),
    ({"open_tickets": 0.0, "last_ticket_csat": 3.0}, "tickets", ("churn.reason.bad_support", {"csat": 3})),
    ({"last_ticket_csat": 4.0, "tickets_90d": 2.0}, "tickets", ("churn.reason.many_tickets", {"count": 2})),
    ({"tickets_90d": 1.99}, "tickets", None),
    (
        {"last_nps": 6.0, "last_nps_date": pd.Timestamp("2024-04-11")},
        "surveys",
        ("churn.reason.nps", {"score": 6, "date": "2024-04-11"}),
    ),
    ({"last_nps": 0.0, "last_nps_date": None}, "surveys", ("churn.reason.nps", {"score": 0, "date": "?"})),
    ({"last_nps": 7.0, "last_csat_survey": 2.5}, "surveys", ("churn.reason.csat", {"score": 2})),
    ({"last_nps": 7.0, "last_csat_survey": 4.0}, "surveys", None),
]


@pytest.mark.parametrize(("updates", "group", "expected"), CASES)
def test_each_branch_by_hand(
    updates: dict[str, Any], group: str, expected: tuple[str, dict[str, Any]] | None
) -> None:
    row = {**BASE, "last_negative_review_date": None, "last_nps_date": None, **updates}
    contributions = np.zeros(len(FEATURES) + 1)
    contributions[FEATURES.index(GROUPS[group][0])] = 0.7
    reasons = reasons_for(row, FEATURES, contributions)
    assert [(r.key, r.values) for r in reasons] == ([] if expected is None else [expected])
    assert all(render_reason(r) for r in reasons)  # every value the template needs is there


def test_every_key_has_a_hand_written_case() -> None:
    assert {expected[0] for _, _, expected in CASES if expected is not None} == ALL_KEYS


def test_selection_order_threshold_ties_and_groups_without_a_rule() -> None:
    row = {
        **BASE,
        "last_nps": 2.0,
        "last_csat_survey": 1.0,
        "open_tickets": 1.0,
        "avg_rating": 2.0,
        "frequency": 1.0,
    }
    # Ties keep the groups' order; a group without a rule (loyalty) or without a message (spend) is
    # passed over without stopping the walk; a weight exactly at the threshold still counts.
    totals = {
        "loyalty": 0.9,
        "surveys": 0.4,
        "spend": 0.4,
        "tickets": 0.4,
        "reviews": MIN_CONTRIBUTION,
        "frequency": 0.049,
    }
    reasons = reasons_from_totals(row, totals, top=5)
    assert [r.group for r in reasons] == ["surveys", "tickets", "reviews"]
    assert [r.contribution for r in reasons] == [0.4, 0.4, MIN_CONTRIBUTION]
    assert [r.group for r in reasons_from_totals(row, totals, top=2)] == ["surveys", "tickets"]
    assert reasons_from_totals(row, totals, top=0) == []
    assert reasons_from_totals(row, {}, top=3) == []
    # No rows at all.
    empty = batch_reasons(Columns.of_frame(pd.DataFrame({"frequency": []})), ["frequency"], np.zeros((0, 1)))
    assert empty.reasons() == [] and empty.records() == []


def test_reason_values_overflow_like_int_does() -> None:
    """An infinite day count fails loudly, as ``int(inf)`` always did, instead of a garbage integer."""
    row = {**BASE, "recency_days": np.inf}
    with pytest.raises(OverflowError):
        reasons_from_totals(row, {"recency": 1.0})
    huge = reasons_from_totals({**BASE, "recency_days": 1e20}, {"recency": 1.0})
    assert huge[0].values == {"days": int(1e20)}


def test_scored_records_are_the_reasons_as_stored(trained: Any, generated_tables: Any) -> None:
    from retentio.models.churn.store import REASON_CHUNK, Scored, score_tables

    scored = score_tables(trained.model, generated_tables, date(2025, 11, 1), 90, "Europe/Moscow")
    reasons, records = scored.reasons(), scored.reason_records()
    assert records == [{"reasons": [r.to_dict() for r in rs]} for rs in reasons]
    assert json.loads(json.dumps(records)) == records  # plain Python values only
    # Chunking does not change anything: the same rows scored in chunks of 7 rows.
    import retentio.models.churn.store as store

    small = Scored(
        scored.as_of, scored.frame.iloc[:60].reset_index(drop=True), scored.churn_risk[:60], scored.model
    )
    try:
        store.REASON_CHUNK = 7
        chunked = small.reasons()
    finally:
        store.REASON_CHUNK = REASON_CHUNK
    assert chunked == reasons[:60]


def test_contributions_are_rounded_exactly_like_round() -> None:
    from retentio.models.churn.explain import _rounded_6

    rng = np.random.default_rng(2)
    values = np.concatenate(
        [
            rng.normal(0.1, 0.3, 200_000),
            rng.normal(0, 1e-5, 50_000),
            rng.normal(0, 1e5, 50_000),
            (rng.integers(-(10**9), 10**9, 50_000) + 0.5) / 1e6,  # ties and near-ties in decimal
            rng.integers(-4000, 4000, 8000) / 128.0,  # exact binary ties: 0.0078125 → 0.007812
            [0.0, -0.0, -1e-9, 1e-9, 5e-7, -5e-7, 1.5e-6, 2.5e-6, 2.0**52, 1e300, -np.inf, np.inf, np.nan],
        ]
    )
    expected = [round(v, 6) for v in values.tolist()]
    got = _rounded_6(values)
    assert [(math.copysign(1, g), g) for g in got if not math.isnan(g)] == [
        (math.copysign(1, e), e) for e in expected if not math.isnan(e)
    ]
    assert all(type(g) is float for g in got) and math.isnan(got[-1])
