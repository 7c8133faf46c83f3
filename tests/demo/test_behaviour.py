"""The generated shop carries the signals later features must find, and agrees with its true parameters."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from demo_shop import Shop

from retentio.demo.behaviour import (
    BehaviourParams,
    draw_traits,
    expected_repeat_purchases,
    simulate_repeat_purchases,
)
from retentio.demo.clock import SeasonalClock

CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def _frame(shop: Shop, name: str) -> pd.DataFrame:
    return shop.table(name).to_pandas()


@pytest.fixture(scope="module")
def orders(shop: Shop) -> pd.DataFrame:
    df = _frame(shop, "orders")
    df["at"] = pd.to_datetime(df["ordered_at"])
    df["local_day"] = df["at"].dt.tz_convert("Europe/Moscow").dt.date
    return df


@pytest.fixture(scope="module")
def buyers(shop: Shop, orders: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with at least one completed order."""
    done = orders[orders["status"] == "completed"]
    per = done.groupby("customer_id")["at"].agg(["min", "max", "size"])
    customers = _frame(shop, "customers").set_index("customer_id")
    return per.join(customers, how="inner")


def test_metadata_has_the_true_parameters_and_period(shop: Shop) -> None:
    meta = shop.metadata
    assert (meta["seed"], meta["start"], meta["end"]) == (2024, "2023-01-01", "2025-12-31")
    tp = meta["true_params"]
    for key in ("r", "alpha", "a", "b", "p", "q", "v"):
        assert isinstance(tp[key], float) and tp[key] > 0, key
    assert tp["alpha_unit"] == "weeks"
    assert set(tp["channels"]["implied"]) == {
        "organic",
        "paid_search",
        "social",
        "referral",
        "email",
        "marketplace",
    }
    assert 0.4 <= tp["seasonality"]["nov_dec_uplift"] <= 0.6
    assert (
        tp["rates"]["cancelled_share_of_orders"] == 0.03
        and tp["rates"]["refund_share_of_completed_orders"] == 0.05
    )
    assert len(meta["catalogue"]) >= 150
    assert json.dumps(meta)  # plain JSON throughout


def test_about_ten_orders_per_customer(shop: Shop, orders: pd.DataFrame) -> None:
    per_customer = len(orders) / shop.metadata["customers"]
    assert 9.0 <= per_customer <= 11.5
    assert shop.metadata["true_params"]["expected_orders_per_customer"] == pytest.approx(
        per_customer, rel=0.1
    )


def test_cancel_and_refund_rates(shop: Shop, orders: pd.DataFrame) -> None:
    cancelled = (orders["status"] == "cancelled").mean()
    assert 0.023 <= cancelled <= 0.037
    completed = (orders["status"] == "completed").sum()
    refunds = shop.metadata["rows"]["refunds"]
    assert 0.04 <= refunds / completed <= 0.06


def test_november_and_december_are_busier(orders: pd.DataFrame) -> None:
    done = orders[orders["status"] == "completed"]
    days = pd.Series(pd.to_datetime(done["local_day"]))
    for year in (2024, 2025):
        in_year = days[days.dt.year == year]
        per_day = len(in_year) / 365.0
        nov_dec = in_year[in_year.dt.month >= 11]
        sep_oct = in_year[in_year.dt.month.isin([9, 10])]
        assert len(nov_dec) / 61.0 > 1.2 * per_day
        # Against the two months before (the customer base barely grows in between).
        assert len(nov_dec) / 61.0 > 1.25 * len(sep_oct) / 61.0


def test_channels_differ_in_repeat_behaviour(buyers: pd.DataFrame) -> None:
    by_channel = buyers.groupby("acquisition_channel")["size"]
    mean_orders = by_channel.mean()
    assert mean_orders.max() > 1.6 * mean_orders.min()
    loyal = buyers["acquisition_channel"].isin(["referral", "email"])
    fickle = buyers["acquisition_channel"].isin(["social", "marketplace"])
    three_plus = buyers["size"] >= 3
    assert three_plus[loyal].mean() > three_plus[fickle].mean() + 0.05


def _lapsed(buyers: pd.DataFrame) -> pd.Series:
    """Customers with a first order over a year before the end and no order in the last 180 days."""
    end = pd.Timestamp("2026-01-01", tz="Europe/Moscow")
    eligible = buyers[buyers["min"] < end - pd.Timedelta(days=365)]
    return eligible["max"] < end - pd.Timedelta(days=180)


def test_dissatisfied_customers_churn_more(shop: Shop, buyers: pd.DataFrame) -> None:
    lapsed = _lapsed(buyers)
    surveys = _frame(shop, "survey_responses")
    nps = surveys[surveys["survey"] == "nps"].assign(score=lambda d: d["score"].astype(int))
    mean_nps = nps.groupby("customer_id")["score"].mean()
    detractors = lapsed.reindex(mean_nps[mean_nps <= 6].index).dropna()
    promoters = lapsed.reindex(mean_nps[mean_nps >= 9].index).dropna()
    assert len(detractors) > 50 and len(promoters) > 50
    assert detractors.mean() > promoters.mean() + 0.15

    reviews = _frame(shop, "reviews").assign(rating=lambda d: d["rating"].astype(int))
    negative = lapsed.reindex(reviews.loc[reviews["rating"] <= 2, "customer_id"].unique()).dropna()
    positive = lapsed.reindex(reviews.loc[reviews["rating"] >= 4, "customer_id"].unique()).dropna()
    assert negative.mean() > positive.mean() + 0.05


def test_both_languages_and_natural_texts(shop: Shop) -> None:
    reviews = _frame(shop, "reviews")
    share_ru = (reviews["language"] == "ru").mean()
    assert 0.6 <= share_ru <= 0.8
    ru_texts = reviews.loc[reviews["language"] == "ru", "text"]
    en_texts = reviews.loc[reviews["language"] == "en", "text"]
    assert ru_texts.map(lambda t: bool(CYRILLIC.search(t))).mean() > 0.99
    assert en_texts.map(lambda t: bool(CYRILLIC.search(t))).mean() < 0.01
    surveys = _frame(shop, "survey_responses")
    tickets = _frame(shop, "tickets")
    corpus = " ".join([*reviews["text"], *surveys["text"].dropna(), *tickets["text"]]).lower()
    for phrase in ("не плохо", "неплохо", "not bad", "не рекомендую", "норм", "meh"):
        assert phrase in corpus, phrase
    assert any(ch in corpus for ch in "👍😡🔥😞")
    assert reviews["text"].nunique() / len(reviews) > 0.3
    assert 0.6 <= tickets["subject"].map(lambda t: bool(CYRILLIC.search(t))).mean() <= 0.8
    assert tickets["text"].str.contains("СРОЧНО|URGENT|!!!|ASAP|немедленно").any()


def test_reviews_ratings_follow_satisfaction_and_refunds(shop: Shop) -> None:
    reviews = _frame(shop, "reviews").assign(rating=lambda d: d["rating"].astype(int))
    refunded = set(_frame(shop, "refunds")["order_id"])
    on_refunded = reviews["order_id"].isin(refunded)
    assert reviews.loc[on_refunded, "rating"].mean() < reviews.loc[~on_refunded, "rating"].mean() - 0.5
    shares = reviews["rating"].value_counts(normalize=True)
    assert shares[5] > 0.4 and shares[1] > 0.03  # J-shaped, as real review sites are


def test_surveys_scales_and_exit_submissions(shop: Shop, buyers: pd.DataFrame) -> None:
    surveys = _frame(shop, "survey_responses").assign(score=lambda d: d["score"].astype(int))
    ranges = {"nps": (0, 10), "csat": (1, 5), "exit": (1, 5)}
    assert set(surveys["survey"]) == set(ranges)
    for kind, (lo, hi) in ranges.items():
        scores = surveys.loc[surveys["survey"] == kind, "score"]
        assert scores.between(lo, hi).all() and scores.nunique() >= hi - lo
    exits = surveys[surveys["survey"] == "exit"]
    assert set(exits["question"]) == {"price", "quality", "delivery", "service", "site", "assortment"}
    per_submission = exits.groupby(["customer_id", "answered_at"])["reason"].count()
    assert (per_submission == 1).all()
    assert set(exits["reason"].dropna()) == {"price", "quality", "service", "competition", "other"}
    # Exit surveys go to customers who have gone quiet: 90+ days after their last order.
    answered = pd.to_datetime(exits.groupby("customer_id")["answered_at"].min())
    last_order = buyers["max"].reindex(answered.index)
    assert ((answered - last_order) >= pd.Timedelta(days=90)).all()


def test_events_funnel_and_email_engagement(shop: Shop, orders: pd.DataFrame) -> None:
    events = _frame(shop, "events")
    counts = events["type"].value_counts()
    assert counts["visit"] > counts["add_to_cart"] > counts["checkout"] > 0
    sessions = events.dropna(subset=["session_id"])
    first_type = sessions.groupby("session_id")["type"].first()
    assert (first_type == "visit").all()
    reached = sessions.groupby("session_id")["type"].agg(set)
    with_view = reached.map(lambda s: "product_view" in s).mean()
    with_cart = reached.map(lambda s: "add_to_cart" in s).mean()
    with_checkout = reached.map(lambda s: "checkout" in s).mean()
    assert 1.0 > with_view > with_cart > with_checkout > 0.2  # drop-off at every step, many visits convert
    checkouts = events[(events["type"] == "checkout") & events["properties"].notna()].copy()
    checkouts["order_id"] = checkouts["properties"].map(lambda p: json.loads(p)["order_id"])
    joined = checkouts.merge(orders, on="order_id", suffixes=("", "_order"))
    assert len(joined) == len(checkouts) > 0
    assert (joined["customer_id"] == joined["customer_id_order"]).all()
    gap = joined["at"] - pd.to_datetime(joined["occurred_at"])
    assert ((gap >= pd.Timedelta(0)) & (gap < pd.Timedelta(hours=2))).all()
    sent = counts["email_sent"]
    assert 0.2 <= counts["email_open"] / sent <= 0.3
    assert 0.02 <= counts["email_click"] / sent <= 0.05
    assert set(events["channel"].dropna()) >= {"organic", "paid_search", "social", "email", "direct"}
    unsubscribed = set(events.loc[events["type"] == "unsubscribe", "customer_id"])
    customers = _frame(shop, "customers").set_index("customer_id")
    assert unsubscribed and (customers.loc[sorted(unsubscribed), "consent_email"] == "false").all()


def test_tickets_timeline_and_status(shop: Shop) -> None:
    tickets = _frame(shop, "tickets")
    opened = pd.to_datetime(tickets["opened_at"])
    first = pd.to_datetime(tickets["first_response_at"])
    resolved = pd.to_datetime(tickets["resolved_at"])
    assert (first.dropna() >= opened[first.notna()]).all()
    assert (resolved.dropna() >= first[resolved.notna()]).all()
    assert (tickets["status"].isin(["resolved", "closed"]) == resolved.notna()).all()
    within_sla = ((first - opened) <= pd.Timedelta(hours=1)).mean()
    assert 0.4 < within_sla < 0.9
    assert set(tickets["channel"]) == {"email", "chat", "phone", "web"}


def test_customer_profiles(shop: Shop, buyers: pd.DataFrame) -> None:
    customers = _frame(shop, "customers")
    assert customers["email"].dropna().is_unique and customers["phone"].dropna().is_unique
    assert (customers["consent_email"] == "true").mean() > 0.7
    assert customers["city"].value_counts().index[0] == "Москва"
    assert set(customers["gender"].dropna()) == {"female", "male"}
    assert set(customers["locale"]) == {"ru", "en"}
    ru_names = customers["first_name"].map(lambda t: bool(CYRILLIC.search(t)))
    assert (ru_names == (customers["locale"] == "ru")).all()
    assert (pd.to_datetime(buyers["signup_at"]) <= buyers["min"]).all()
    leads = set(customers["customer_id"]) - set(buyers.index)
    assert 0.04 < len(leads) / len(customers) < 0.12  # some register and never buy


def test_cross_sell_affinities_show_in_baskets(shop: Shop) -> None:
    lines = _frame(shop, "order_lines")
    baskets = lines.groupby("order_id")["category"].agg(set)

    def lift(a: str, b: str) -> float:
        has_a = baskets.map(lambda s: a in s)
        has_b = baskets.map(lambda s: b in s)
        return float((has_a & has_b).mean() / (has_a.mean() * has_b.mean()))

    assert lift("phones", "phone_cases") > 3
    assert lift("phones", "chargers") > 3
    assert lift("coffee", "syrups") > 1.2
    assert lift("coffee_machines", "coffee") > 1.2
    # Consumables are repurchased: most coffee buyers buy the same coffee again.
    coffee = lines[lines["category"] == "coffee"].merge(_frame(shop, "orders")[["order_id", "customer_id"]])
    repeats = coffee.groupby(["customer_id", "sku"]).size()
    assert (repeats >= 2).mean() > 0.3


def test_repeat_purchases_match_bgnbd_expectation_on_the_files(shop: Shop, buyers: pd.DataFrame) -> None:
    """Moment check in operational time: mean repeat purchases vs the BG/NBD E[X(T)] with the true params."""
    tp = shop.metadata["true_params"]
    params = BehaviourParams(r=tp["r"], alpha=tp["alpha"], a=tp["a"], b=tp["b"])
    clock = SeasonalClock(
        date.fromisoformat(shop.metadata["start"]), date.fromisoformat(shop.metadata["end"])
    )
    first = buyers["min"].map(lambda t: int(t.timestamp())).to_numpy()
    horizon = clock.horizon_weeks - clock.operational_weeks(first)
    observed = (buyers["size"] - 1).mean()
    expected = expected_repeat_purchases(params, horizon).mean()
    assert observed == pytest.approx(expected, rel=0.08)


def test_simulated_process_is_exactly_bgnbd() -> None:
    """Large-sample check of the vectorised simulator against BG/NBD closed forms."""
    params = BehaviourParams()
    rng = np.random.default_rng(11)
    n = 200_000
    traits = draw_traits(rng, n, params)
    assert traits.rate_per_week.mean() == pytest.approx(params.r / params.alpha, rel=0.02)
    assert traits.dropout_p.mean() == pytest.approx(params.a / (params.a + params.b), rel=0.02)
    horizon = np.full(n, 52.0)
    history = simulate_repeat_purchases(rng, traits.rate_per_week, traits.dropout_p, horizon)
    assert history.repeat_count.mean() == pytest.approx(
        float(expected_repeat_purchases(params, 52.0)), rel=0.02
    )
    # P(X(t) = 0) = (α / (α + t))^r: no dropout can happen before the first repeat purchase.
    assert (history.repeat_count == 0).mean() == pytest.approx(
        (params.alpha / (params.alpha + 52.0)) ** params.r, abs=0.005
    )
    assert (history.weeks_after_first > 0).all() and (history.weeks_after_first <= 52.0).all()
    # Satisfaction is tied to dropout; channels are not all alike.
    assert np.corrcoef(traits.satisfaction, traits.dropout_p)[0, 1] < -0.3


def test_spend_matches_gamma_gamma_mean(shop: Shop, orders: pd.DataFrame) -> None:
    tp = shop.metadata["true_params"]
    done = orders[orders["status"] == "completed"].assign(total=lambda d: d["total"].astype(float))
    # E[p/ν] = p·v/(q−1): the mean over customers of their mean order value (each customer counts once,
    # which keeps the heavy-tailed order counts from dominating the estimate).
    per_customer = done.groupby("customer_id")["total"].mean()
    assert per_customer.mean() == pytest.approx(tp["p"] * tp["v"] / (tp["q"] - 1.0), rel=0.06)


def test_clock_round_trip_and_seasonal_shape() -> None:
    clock = SeasonalClock(date(2023, 1, 1), date(2025, 12, 31))
    weeks = np.linspace(0.0, clock.horizon_weeks - 1e-6, 50_000)
    seconds = clock.to_utc_seconds(weeks)
    assert (np.diff(seconds) >= 0).all()
    assert seconds.min() >= clock.start_utc and seconds.max() < clock.end_utc
    back = clock.operational_weeks(seconds)
    assert np.abs(back - weeks).max() < 5.0 / (7 * 86_400) * 10  # within the one-second rounding, scaled
    assert clock.horizon_weeks == pytest.approx(1096 / 7, rel=1e-9)
    index = clock.monthly_index()
    assert index["12"] > index["11"] > index["10"] > index["07"]


def test_blocks_balance_expected_work() -> None:
    from retentio.demo.behaviour import acquisition_weeks
    from retentio.demo.generator import BLOCK_EXPECTED_ORDERS, block_bounds

    params = BehaviourParams()
    clock = SeasonalClock(date(2023, 1, 1), date(2025, 12, 31))
    weeks = acquisition_weeks(
        np.random.default_rng(0), 100_000, clock.horizon_weeks, params.acquisition_growth
    )
    bounds = block_bounds(weeks, clock.horizon_weeks, params)
    assert bounds[0] == 0 and bounds[-1] == 100_000 and all(np.diff(bounds) > 0)
    sizes = np.diff(bounds)
    assert sizes[0] < sizes[-1]  # early customers have long histories: fewer per block
    work = [
        float((1.0 + expected_repeat_purchases(params, clock.horizon_weeks - weeks[lo:hi])).sum())
        for lo, hi in itertools.pairwise(bounds)
    ]
    assert max(work) < 1.2 * BLOCK_EXPECTED_ORDERS
