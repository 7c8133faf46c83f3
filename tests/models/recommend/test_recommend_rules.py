"""Co-purchase rules, repurchase logic, ALS maths and ranking metrics on hand-made data."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from retentio.models.recommend.cooccurrence import CooccurrenceRecommender, association_rules
from retentio.models.recommend.data import UNKNOWN_CATEGORY, ItemIndex, PurchaseMatrix
from retentio.models.recommend.evaluate import mean_metrics, ndcg_at_k, precision_at_k, recall_at_k
from retentio.models.recommend.implicit_mf import ImplicitALS, conjugate_gradient_step
from retentio.models.recommend.repurchase import RepurchaseProfile

DAY = date(2024, 1, 10)

# Baskets (one per customer): 6×{coffee, syrup}, 2×{coffee, grinder}, 2×{coffee}, 1×{syrup}, 4×{tea},
# 1×{grinder, tea}, 1×{syrup2}.  N = 17; coffee in 10, syrup 7, grinder 3, tea 5, syrup2 1.
BASKETS = (
    [["COF", "SYR"]] * 6
    + [["COF", "GRN"]] * 2
    + [["COF"]] * 2
    + [["SYR"]]
    + [["TEA"]] * 4
    + [["GRN", "TEA"]]
    + [["SYR2"]]
)
CATALOGUE = pd.DataFrame(
    {
        "sku": ["COF", "SYR", "SYR2", "GRN", "TEA"],
        "product_name": ["Coffee", "Vanilla syrup", "Caramel syrup", "Grinder", "Tea"],
        "category": ["coffee", "syrups", "syrups", "grinders", "tea"],
    }
)


def basket_purchases() -> pd.DataFrame:
    rows = [
        {"customer_id": f"c{i:02d}", "order_id": f"o{i:02d}", "order_date": DAY, "sku": sku}
        for i, basket in enumerate(BASKETS)
        for sku in basket
    ]
    return pd.DataFrame(rows)


def test_support_confidence_and_lift_by_hand() -> None:
    frame = basket_purchases()
    items = ItemIndex.from_catalogue(CATALOGUE)
    rules, item_baskets = association_rules(
        frame["order_id"].to_numpy(), items.positions(frame["sku"]), len(items), min_count=2, min_support=0.0
    )
    named = {
        (items.skus[a], items.skus[c]): (n, s, conf, lift)
        for a, c, n, s, conf, lift in zip(
            rules.antecedent,
            rules.consequent,
            rules.count,
            rules.support,
            rules.confidence,
            rules.lift,
            strict=True,
        )
    }
    n = 17
    assert named[("COF", "SYR")] == pytest.approx((6, 6 / n, 6 / 10, (6 / 10) / (7 / n)))
    assert named[("SYR", "COF")] == pytest.approx((6, 6 / n, 6 / 7, (6 / 7) / (10 / n)))
    assert named[("COF", "GRN")] == pytest.approx((2, 2 / n, 2 / 10, (2 / 10) / (3 / n)))
    assert named[("GRN", "COF")] == pytest.approx((2, 2 / n, 2 / 3, (2 / 3) / (10 / n)))
    # grinder–tea was bought together once: below the minimum count of 2.
    assert set(named) == {("COF", "SYR"), ("SYR", "COF"), ("COF", "GRN"), ("GRN", "COF")}
    # Coffee's rules come strongest first: syrup (confidence .6, lift 1.46) before grinder (.2, 1.13).
    from_coffee = [
        items.skus[c]
        for a, c in zip(rules.antecedent, rules.consequent, strict=True)
        if items.skus[a] == "COF"
    ]
    assert from_coffee == ["SYR", "GRN"]
    assert named[("COF", "SYR")][3] > named[("COF", "GRN")][3] > 1.0
    assert item_baskets.tolist() == [10, 3, 7, 1, 5]  # sorted SKUs: COF, GRN, SYR, SYR2, TEA
    # A rule below lift 1 is dropped even when frequent: tea and coffee are never bought together.
    assert ("TEA", "COF") not in named


def test_coffee_buyer_gets_syrup_then_grinder_then_the_category_fallback() -> None:
    frame = basket_purchases()
    items = ItemIndex.from_catalogue(CATALOGUE)
    matrix = PurchaseMatrix.build(frame, items, DAY + timedelta(days=1))
    model = CooccurrenceRecommender(min_count=2, min_support=0.0).fit(frame, items, matrix)
    picks = model.recommend(matrix, ["c08"], n=4)["c08"]  # c08 bought coffee alone
    assert [p.sku for p in picks] == ["SYR", "GRN", "SYR2", "TEA"]
    assert picks[0].score == pytest.approx(0.6, abs=1e-5) and picks[1].score == pytest.approx(0.2, abs=1e-5)
    assert (picks[0].reason_key, picks[0].reason_values) == (
        "recommend.reason.bought_with",
        {"product": "Coffee"},
    )
    # SYR2 was never bought with coffee: coffee → syrups (6/10) spread by its share of syrup baskets (1/8).
    assert picks[2].score == pytest.approx(0.6 * 1 / 8, abs=1e-5)
    assert picks[2].reason_key == "recommend.reason.category_with"
    assert picks[2].reason_values == {"category": "syrups", "anchor_category": "coffee"}
    assert picks[3].reason_key == "recommend.reason.popular"
    # Someone who bought syrup and coffee together is pulled towards the grinder, never back to coffee.
    both = model.recommend(matrix, ["c00"], n=5)["c00"]
    assert "COF" not in [p.sku for p in both] and "SYR" not in [p.sku for p in both]


def repurchase_data() -> tuple[pd.DataFrame, ItemIndex]:
    """30 customers buy coffee every 30 days (4 times) and one phone; 10 also buy a case with it."""
    start = date(2024, 1, 1)
    rows = []
    for c in range(30):
        for k in range(4):
            rows.append(
                {
                    "customer_id": f"c{c}",
                    "order_id": f"o{c}-{k}",
                    "order_date": start + timedelta(days=30 * k),
                    "sku": "COF",
                }
            )
        rows.append({"customer_id": f"c{c}", "order_id": f"p{c}", "order_date": start, "sku": "PHN"})
        if c < 10:
            rows.append({"customer_id": f"c{c}", "order_id": f"p{c}", "order_date": start, "sku": "CASE"})
    catalogue = pd.DataFrame(
        {
            "sku": ["COF", "PHN", "CASE"],
            "product_name": ["Coffee", "Phone", "Case"],
            "category": ["coffee", "phones", "phone_cases"],
        }
    )
    return pd.DataFrame(rows), ItemIndex.from_catalogue(catalogue)


def test_consumables_come_back_when_due_and_durables_never() -> None:
    frame, items = repurchase_data()
    profile = RepurchaseProfile.fit(frame, items)
    position = {sku: i for i, sku in enumerate(items.skus)}
    assert profile.consumable[position["COF"]] and profile.interval_days[position["COF"]] == 30
    assert profile.repeat_share[position["COF"]] == 1.0
    assert not profile.consumable[position["PHN"]] and not profile.consumable[position["CASE"]]

    last_coffee = date(2024, 3, 31)
    model = CooccurrenceRecommender(min_count=2, min_support=0.0)
    fit_matrix = PurchaseMatrix.build(frame, items, last_coffee + timedelta(days=1))
    model.fit(frame, items, fit_matrix)
    # Due (40 days ≥ 0.8 × 30): coffee is back, as a reorder; the phone bought once is never offered again.
    due = PurchaseMatrix.build(frame, items, last_coffee + timedelta(days=40))
    picks = model.recommend(due, ["c20"], n=3)["c20"]
    assert [p.sku for p in picks] == ["COF", "CASE"]
    assert picks[0].reason_key == "recommend.reason.reorder"
    assert picks[0].reason_values == {"days": 30, "since": 40}
    # Not due yet (5 days): no coffee; and no phone either.
    early = PurchaseMatrix.build(frame, items, last_coffee + timedelta(days=5))
    assert [p.sku for p in model.recommend(early, ["c20"], n=3)["c20"]] == ["CASE"]
    # A customer who already has the case gets nothing durable back.
    assert [p.sku for p in model.recommend(early, ["c3"], n=3)["c3"]] == []


def test_a_few_extreme_buyers_do_not_make_a_category_consumable() -> None:
    start = date(2024, 1, 1)
    rows = []

    def buy(customer: str, day: int, sku: str) -> None:
        rows.append(
            {
                "customer_id": customer,
                "order_id": f"{customer}-{day}",
                "order_date": start + timedelta(days=day),
                "sku": sku,
            }
        )

    for c in range(25):  # typical phone re-buyers: a second phone, a different one
        buy(f"n{c}", 0, "PHN-A" if c % 2 else "PHN-B")
        buy(f"n{c}", 200, "PHN-B" if c % 2 else "PHN-A")
    for c in range(6):  # collectors of the dearest phone; half of its buyers re-buy it
        for k in range(12):
            buy(f"x{c}", 20 * k, "PHN-X")
    for c in range(6):
        buy(f"y{c}", 5, "PHN-X")
    for c in range(25):  # coffee drinkers reorder their coffee
        for k in range(3):
            buy(f"n{c}", 30 * k + 1, "COF")
        buy(f"z{c}", 3, "COF-NEW")  # a new coffee: bought once each so far
    catalogue = pd.DataFrame(
        {
            "sku": ["COF", "COF-NEW", "PHN-A", "PHN-B", "PHN-X"],
            "product_name": ["Coffee", "New coffee", "Phone A", "Phone B", "Phone X"],
            "category": ["coffee", "coffee", "phones", "phones", "phones"],
        }
    )
    items = ItemIndex.from_catalogue(catalogue)
    frame = pd.DataFrame(rows)
    position = {sku: i for i, sku in enumerate(items.skus)}
    # Per SKU (what decides without categories), half of PHN-X's 12 buyers re-buy it: a consumable ...
    uncategorised = ItemIndex.from_catalogue(catalogue.assign(category=UNKNOWN_CATEGORY))
    assert RepurchaseProfile.fit(frame, uncategorised, min_buyers=5).consumable[position["PHN-X"]]
    # ... but the phones category decides: 31 re-buyers, 6 of whom re-buy (mean reorder share 6/31).
    profile = RepurchaseProfile.fit(frame, items)
    assert not profile.consumable[[position["PHN-A"], position["PHN-B"], position["PHN-X"]]].any()
    assert profile.consumable[position["COF"]]
    # The new coffee nobody has re-bought yet follows its category, timed by the category's 30 days.
    assert profile.consumable[position["COF-NEW"]] and profile.interval_days[position["COF-NEW"]] == 30


def test_conjugate_gradient_reaches_the_exact_als_solution() -> None:
    rng = np.random.default_rng(0)
    counts = sp.random(40, 15, density=0.2, random_state=1, data_rvs=lambda n: rng.integers(1, 4, n)).tocsr()
    items = rng.normal(size=(15, 4))
    alpha, reg = 5.0, 0.3
    solved = conjugate_gradient_step(np.zeros((40, 4)), items, counts * alpha, reg, steps=8)
    dense = counts.toarray()
    for u in range(40):
        c = 1.0 + alpha * dense[u]
        p = (dense[u] > 0).astype(float)
        exact = np.linalg.solve(items.T @ (c[:, None] * items) + reg * np.eye(4), items.T @ (c * p))
        assert np.allclose(solved[u], exact, atol=1e-8)
    # The fold-in used at scoring time is the same closed form.
    model = ImplicitALS(factors=4, regularization=reg, alpha=alpha)
    model.item_factors_ = items
    assert np.allclose(model.fold_in(dense), solved, atol=1e-8)


def test_ranking_metrics_by_hand() -> None:
    recommended = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert precision_at_k(recommended, relevant, 4) == pytest.approx(2 / 4)
    assert precision_at_k(recommended, relevant, 10) == pytest.approx(2 / 10)
    assert recall_at_k(recommended, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(recommended, relevant, 4) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["b", "d", "z"], relevant, 3) == pytest.approx(1.0)
    means = mean_metrics({"u1": ["b"], "u2": ["x"]}, {"u1": {"b"}, "u2": {"y", "z"}}, 1)
    assert means == {"precision_at_1": 0.5, "recall_at_1": 0.5, "ndcg_at_1": 0.5}
