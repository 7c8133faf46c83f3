"""Time-split evaluation of the recommenders against a popularity baseline.

Train on purchases dated before the split date; for every customer who bought something before the
split *and* in the test window ``[split, split + test_days)``, the relevant items are the distinct SKUs
they bought in the window (reorders of consumables included: a reminder that lands is a hit). Each
model recommends ``k`` items from the training data alone, and the lists are scored with

- precision@k = hits / k,
- recall@k = hits / |relevant|,
- NDCG@k = DCG / ideal DCG with binary gains, DCG = Σ_{rank r ≤ k, hit} 1 / log2(r + 1)
  (Järvelin & Kekäläinen 2002),

averaged over customers. These stay hand-written: scikit-learn has no precision@k or recall@k for
ranked lists, and ``sklearn.metrics.ndcg_score`` scores a full score matrix over a fixed item set, so a
relevant item the list does not hold (or a SKU new in the test window) would enter its top k through
tied scores, and a list shorter than k is padded the same way; here both count as misses. The
popularity baseline recommends the k SKUs bought by the most customers
before the split, the same list to everyone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np

from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.models.recommend.base import Recommender, popularity_ranking
from retentio.models.recommend.cooccurrence import CooccurrenceRecommender
from retentio.models.recommend.data import ItemIndex, PurchaseMatrix, catalogue, purchases
from retentio.models.recommend.implicit_mf import ImplicitALS

MODELS = ("popularity", "cooccurrence", "als")


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the first ``k`` recommendations that are relevant (a short list still divides by k)."""
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(1 for sku in recommended[:k] if sku in relevant) / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant items found in the first ``k`` recommendations (NaN without relevant items)."""
    if not relevant:
        return math.nan
    return sum(1 for sku in recommended[:k] if sku in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance (NaN without relevant items)."""
    if not relevant:
        return math.nan
    dcg = sum(1.0 / math.log2(rank + 2) for rank, sku in enumerate(recommended[:k]) if sku in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal


def mean_metrics(
    lists: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], k: int
) -> dict[str, float]:
    """precision@k, recall@k and NDCG@k averaged over the customers of ``truth``."""
    customers = list(truth)
    if not customers:
        return {f"precision_at_{k}": math.nan, f"recall_at_{k}": math.nan, f"ndcg_at_{k}": math.nan}
    p = [precision_at_k(lists.get(c, []), truth[c], k) for c in customers]
    r = [recall_at_k(lists.get(c, []), truth[c], k) for c in customers]
    g = [ndcg_at_k(lists.get(c, []), truth[c], k) for c in customers]
    return {
        f"precision_at_{k}": float(np.mean(p)),
        f"recall_at_{k}": float(np.mean(r)),
        f"ndcg_at_{k}": float(np.mean(g)),
    }


def time_split_evaluation(
    tables: AnalyticsTables,
    split: date | None = None,
    test_days: int = 90,
    k: int = 10,
    als_params: Mapping[str, Any] | None = None,
    max_customers: int | None = None,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """Train every model before ``split`` and score its top-``k`` lists on the test window.

    ``split`` defaults to ``test_days`` before the day after the last order. ``max_customers`` scores
    a random subset of the test customers (the models still train on everyone), drawn with
    ``random_state`` (an int seed: the same subset every time; None: a fresh one).
    """
    if test_days < 1 or k < 1:
        raise UserError("test-days and k must be at least 1")
    if split is None:
        last = tables.orders.order_date.max().to_pyarrow().as_py()
        if last is None:
            raise UserError("the store holds no orders: nothing to evaluate")
        split = last + timedelta(days=1) - timedelta(days=test_days)
    train = purchases(tables, before=split)
    test = purchases(tables, before=split + timedelta(days=test_days), since=split)
    if train.empty or test.empty:
        raise UserError(
            f"no purchases before {split} or in the {test_days} days after it: pick another --split"
        )
    names = catalogue(tables)
    items = ItemIndex.from_catalogue(names[names["sku"].isin(train["sku"].unique())])
    matrix = PurchaseMatrix.build(train, items, split)
    truth_all = {str(c): set(g["sku"]) for c, g in test.groupby("customer_id", sort=True)}
    known = matrix.rows_of(list(truth_all)) >= 0
    warm = [c for c, ok in zip(truth_all, known, strict=True) if ok]
    cold = len(truth_all) - len(warm)
    if max_customers is not None and len(warm) > max_customers:
        picked = np.random.default_rng(random_state).choice(len(warm), size=max_customers, replace=False)
        warm = [warm[i] for i in sorted(picked)]
    truth = {c: truth_all[c] for c in warm}

    results: dict[str, Any] = {}
    timings: dict[str, dict[str, float]] = {}
    popular = popularity_ranking(items, matrix, k)
    results["popularity"] = mean_metrics({c: popular for c in warm}, truth, k)
    models: dict[str, Recommender] = {
        "cooccurrence": CooccurrenceRecommender(),
        "als": ImplicitALS(**dict(als_params or {})),
    }
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(train, items, matrix)
        fitted = time.perf_counter()
        recs = model.recommend(matrix, warm, k)
        timings[name] = {"fit_s": fitted - started, "recommend_s": time.perf_counter() - fitted}
        results[name] = mean_metrics({c: [r.sku for r in recs[c]] for c in warm}, truth, k)
    return {
        "split": split.isoformat(),
        "test_days": test_days,
        "k": k,
        "customers": len(warm),
        "cold_customers": cold,
        "training_customers": len(matrix.customer_ids),
        "items": len(items),
        "models": results,
        "timings": timings,
    }
