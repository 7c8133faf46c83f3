"""Item-to-item recommendations from co-purchases (association rules, Agrawal, Imieliński & Swami 1993).

Over N baskets (orders), with n_i baskets holding item i and n_ij holding both i and j:

    support(i → j)    = n_ij / N
    confidence(i → j) = n_ij / n_i             (how often j joins i in a basket)
    lift(i → j)       = confidence / (n_j / N) (> 1: bought together more often than by chance)

A rule is kept when n_ij ≥ max(``min_count``, ``min_support`` · N) and lift > 1. Items too rare for
rules of their own fall back to their *category*: the same statistics over baskets of categories
(coffee → syrups), spread over the category's items by their share of its sales.

A customer's score for item j combines the rules from every item they bought as a noisy-or,
1 − Π_i (1 − confidence(i → j)): the chance that at least one of their items "pulls" j in; the
category fallback is the same noisy-or over categories times j's share of its category, and the item
gets the larger of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from retentio.models.estimator import check_float, check_int
from retentio.models.recommend.base import Recommender
from retentio.models.recommend.data import ItemIndex, PurchaseMatrix
from retentio.models.recommend.repurchase import RepurchaseProfile

MIN_COUNT = 3
MIN_SUPPORT = 0.0005
# Confidence is capped below 1 so log(1 − c) in the noisy-or stays finite.
MAX_CONFIDENCE = 1.0 - 1e-9
DENSE_EXPLAIN_CELLS = 16_000_000


@dataclass(frozen=True)
class RuleTable:
    """Association rules between integer-coded items: parallel arrays, one entry per rule."""

    antecedent: np.ndarray
    consequent: np.ndarray
    count: np.ndarray
    support: np.ndarray
    confidence: np.ndarray
    lift: np.ndarray
    baskets: int

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "antecedent": self.antecedent,
                "consequent": self.consequent,
                "count": self.count,
                "support": self.support,
                "confidence": self.confidence,
                "lift": self.lift,
            }
        )


def association_rules(
    basket_codes: np.ndarray,
    item_codes: np.ndarray,
    n_items: int,
    min_count: int = MIN_COUNT,
    min_support: float = MIN_SUPPORT,
) -> tuple[RuleTable, np.ndarray]:
    """Rules i → j (i ≠ j) from (basket, item) pairs, and the basket count of each item.

    Pairs may repeat (an item twice in a basket counts once). Returns every rule passing the
    thresholds (see the module docstring), sorted by antecedent then descending confidence.
    """
    if len(basket_codes) == 0:
        empty = np.zeros(0)
        return RuleTable(
            empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty, empty, 0
        ), np.zeros(n_items)
    baskets, uniques = pd.factorize(basket_codes)
    n_baskets = len(uniques)
    presence = sp.csr_matrix((np.ones(len(baskets)), (baskets, item_codes)), shape=(n_baskets, n_items))
    presence.sum_duplicates()
    presence.data[:] = 1.0  # an item twice in one basket is one presence
    co = (presence.T @ presence).tocoo()
    item_baskets = np.asarray(presence.sum(axis=0)).ravel()
    off_diagonal = co.row != co.col
    i, j, n_ij = co.row[off_diagonal], co.col[off_diagonal], co.data[off_diagonal]
    threshold = max(float(min_count), min_support * n_baskets)
    confidence = n_ij / item_baskets[i]
    lift = confidence / (item_baskets[j] / n_baskets)
    keep = (n_ij >= threshold) & (lift > 1.0)
    i, j, n_ij, confidence, lift = i[keep], j[keep], n_ij[keep], confidence[keep], lift[keep]
    order = np.lexsort((j, -confidence, i))
    table = RuleTable(
        antecedent=i[order].astype(np.int64),
        consequent=j[order].astype(np.int64),
        count=n_ij[order],
        support=n_ij[order] / n_baskets,
        confidence=confidence[order],
        lift=lift[order],
        baskets=n_baskets,
    )
    return table, item_baskets


class CooccurrenceRecommender(Recommender):
    """Association-rule recommender with a per-category fallback and repurchase rules.

    ``min_count`` (whole, >= 1) and ``min_support`` (in [0, 1]) are the rule thresholds of the module
    docstring; no randomness is involved. Learned: ``rules_``, ``category_rules_``,
    ``category_names_``, ``item_category_``, ``category_share_`` and the shared state.
    """

    kind: ClassVar[str] = "cooccurrence"

    def __init__(self, min_count: int = MIN_COUNT, min_support: float = MIN_SUPPORT) -> None:
        self.min_count = min_count
        self.min_support = min_support

    def _check_hyperparameters(self) -> None:
        check_int(self, "min_count", self.min_count, low=1)
        check_float(self, "min_support", self.min_support, low=0.0, high=1.0)

    def fit(self, purchases: pd.DataFrame, items: ItemIndex, matrix: PurchaseMatrix) -> Self:
        """Learn rules from ``purchases`` (``order_id, sku``, …) over the vocabulary ``items``."""
        self._check_hyperparameters()
        positions = items.positions(purchases["sku"])
        known = positions >= 0
        orders = purchases["order_id"].to_numpy(dtype=str)[known]
        item_codes = positions[known]
        self.rules_, item_baskets = association_rules(
            orders, item_codes, len(items), self.min_count, self.min_support
        )
        categories, category_codes = np.unique(items.categories, return_inverse=True)
        self.category_names_ = categories.astype(str)
        self.item_category_ = category_codes.astype(np.int64)
        self.category_rules_, _ = association_rules(
            orders, self.item_category_[item_codes], len(categories), self.min_count, self.min_support
        )
        # Each item's share of its category's baskets: how the category's pull is spread over its items.
        per_category = np.bincount(self.item_category_, weights=item_baskets, minlength=len(categories))
        with np.errstate(invalid="ignore", divide="ignore"):
            self.category_share_ = np.where(
                per_category[self.item_category_] > 0, item_baskets / per_category[self.item_category_], 0.0
            )
        self._base_fit(items, matrix, RepurchaseProfile.fit(purchases, items))
        self._prepare()
        return self

    def _prepare(self) -> None:
        m, c = len(self.items_), len(self.category_names_)
        self._confidence = sp.csr_matrix(
            (self.rules_.confidence, (self.rules_.antecedent, self.rules_.consequent)), shape=(m, m)
        )
        self._log_miss = sp.csr_matrix(
            (
                np.log1p(-np.minimum(self.rules_.confidence, MAX_CONFIDENCE)),
                (self.rules_.antecedent, self.rules_.consequent),
            ),
            shape=(m, m),
        )
        self._confidence_columns = self._confidence.tocsc()
        # Explanations read one column per recommended item: dense is far faster while it is small.
        self._confidence_dense = self._confidence.toarray() if m * m <= DENSE_EXPLAIN_CELLS else None
        self._category_confidence = sp.csr_matrix(
            (
                self.category_rules_.confidence,
                (self.category_rules_.antecedent, self.category_rules_.consequent),
            ),
            shape=(c, c),
        ).toarray()
        self._category_log_miss = np.log1p(-np.minimum(self._category_confidence, MAX_CONFIDENCE))
        self._item_to_category = sp.csr_matrix(
            (np.ones(m), (np.arange(m), self.item_category_)), shape=(m, c)
        )

    def item_scores(self, bought: np.ndarray, counts: np.ndarray) -> np.ndarray:
        presence = sp.csr_matrix(bought.astype(np.float64))
        item_level = -np.expm1(np.asarray((presence @ self._log_miss).todense()))
        category_presence = np.asarray((presence @ self._item_to_category).todense()) > 0
        category_level = -np.expm1(category_presence.astype(np.float64) @ self._category_log_miss)
        fallback = category_level[:, self.item_category_] * self.category_share_
        return np.asarray(np.maximum(item_level, fallback), dtype=np.float64)

    def _confidence_of(self, item: int) -> np.ndarray:
        """Column ``item`` of the confidence matrix (every antecedent → item) as a dense vector."""
        if self._confidence_dense is not None:
            return np.asarray(self._confidence_dense[:, item])
        column = self._confidence_columns.getcol(item)
        return np.asarray(column.toarray()).ravel()

    def explain(self, bought: np.ndarray, item: int) -> tuple[str, dict[str, Any]]:
        anchors = np.flatnonzero(bought)
        confidence = np.asarray(self._confidence_of(item)[anchors]).ravel()
        category = self.item_category_[item]
        if len(anchors) and confidence.max() > 0:
            best = anchors[int(np.argmax(confidence))]
            item_pull = float(confidence.max())
            # Report the category story when the category fallback is what put the item here.
            anchor_categories = np.unique(self.item_category_[anchors])
            category_pull = float(self._category_confidence[anchor_categories, category].max()) * float(
                self.category_share_[item]
            )
            if item_pull >= category_pull:
                return "recommend.reason.bought_with", {"product": str(self.items_.names[best])}
        anchor_categories = np.unique(self.item_category_[anchors]) if len(anchors) else np.zeros(0, np.int64)
        if len(anchor_categories):
            pulls = self._category_confidence[anchor_categories, category]
            if pulls.max() > 0:
                source = anchor_categories[int(np.argmax(pulls))]
                return "recommend.reason.category_with", {
                    "category": str(self.category_names_[category]),
                    "anchor_category": str(self.category_names_[source]),
                }
        return "recommend.reason.popular", {}

    def rules_frame(self, level: str = "item") -> pd.DataFrame:
        """The rules with SKUs (``level="item"``) or category names (``"category"``) instead of codes."""
        table = self.rules_ if level == "item" else self.category_rules_
        names = self.items_.skus if level == "item" else self.category_names_
        frame = table.frame()
        frame["antecedent"] = names[frame["antecedent"].to_numpy(dtype=np.int64)] if len(frame) else []
        frame["consequent"] = names[frame["consequent"].to_numpy(dtype=np.int64)] if len(frame) else []
        return frame

    def _header(self) -> dict[str, Any]:
        return {"min_count": self.min_count, "min_support": self.min_support, "baskets": self.rules_.baskets}

    def _model_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "category_names": self.category_names_,
            "item_category": self.item_category_,
            "category_share": self.category_share_,
        }
        for prefix, table in (("rules", self.rules_), ("category_rules", self.category_rules_)):
            for field in ("antecedent", "consequent", "count", "support", "confidence", "lift"):
                out[f"{prefix}_{field}"] = getattr(table, field)
        return out

    def _restore_model(self, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
        self.min_count = int(header["min_count"])
        self.min_support = float(header["min_support"])
        self.category_names_ = arrays["category_names"].astype(str)
        self.item_category_ = arrays["item_category"].astype(np.int64)
        self.category_share_ = arrays["category_share"].astype(np.float64)
        tables = {}
        for prefix in ("rules", "category_rules"):
            columns = ("antecedent", "consequent", "count", "support", "confidence", "lift")
            tables[prefix] = RuleTable(
                **{f: arrays[f"{prefix}_{f}"] for f in columns},
                baskets=int(header["baskets"]),
            )
        self.rules_, self.category_rules_ = tables["rules"], tables["category_rules"]
        self._prepare()
