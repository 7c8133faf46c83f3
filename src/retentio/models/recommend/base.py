"""What every recommender shares: the item vocabulary, repurchase rules, popularity and ranking.

A model supplies one number per (customer, item), :meth:`Recommender.item_scores`, and a reason for
an item it put on a list. Ranking is the same for all models:

1. items the repurchase rules forbid are removed (durables already bought, consumables not yet due;
   see :mod:`retentio.models.recommend.repurchase`);
2. a consumable that is due scores at least its reorder score (how likely this customer is to buy
   it again, :meth:`RepurchaseProfile.reorder_score`), with the reason "time to reorder";
3. popularity (share of customers who bought the item) breaks ties, so a customer the model knows
   nothing about gets the bestsellers, with the reason "popular".
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from retentio.models.recommend.data import ItemIndex, PurchaseMatrix
from retentio.models.recommend.repurchase import RepurchaseProfile

# Popularity only orders items the model scores equally; it must never outweigh a model score.
TIE_BREAK = 1e-6


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its score and the reason (an i18n key and its values)."""

    sku: str
    product_name: str
    category: str
    score: float
    reason_key: str
    reason_values: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "product_name": self.product_name,
            "category": self.category,
            "score": self.score,
            "reason_key": self.reason_key,
            "reason_values": self.reason_values,
        }


def top_n(scores: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    """Per row, the columns of the ``n`` best eligible scores, best first; −1 pads short rows."""
    masked = np.where(eligible, scores, -np.inf)
    k = min(n, masked.shape[1])
    if k == 0:
        return np.full((masked.shape[0], n), -1, dtype=np.int64)
    part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(masked, part, axis=1)
    # Sort the k best by score, then by column, so ties resolve the same way everywhere.
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best = np.where(np.isfinite(np.take_along_axis(masked, best, axis=1)), best, -1)
    if k < n:
        best = np.hstack([best, np.full((best.shape[0], n - k), -1)])
    return best.astype(np.int64)


class Recommender(BaseEstimator, ABC):
    """A recommender over an item vocabulary, in scikit-learn's estimator shape (subclasses add the model).

    Hyper-parameters are the subclass's constructor arguments, checked by ``fit``
    (:meth:`_check_hyperparameters`); ``fit`` learns ``items_``, ``repurchase_``, ``popularity_``,
    ``training_customers_`` and the model's own state (ending in ``_``) and returns ``self``.
    """

    kind: ClassVar[str]

    items_: ItemIndex
    repurchase_: RepurchaseProfile
    popularity_: np.ndarray  # share of customers who bought each item

    @abstractmethod
    def fit(self, purchases: pd.DataFrame, items: ItemIndex, matrix: PurchaseMatrix) -> Self:
        """Learn from purchase rows (``customer_id, order_id, order_date, sku``) and their matrix."""

    @abstractmethod
    def item_scores(self, bought: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Model scores (customers × items) for histories given as dense masks and counts."""

    @abstractmethod
    def explain(self, bought: np.ndarray, item: int) -> tuple[str, dict[str, Any]]:
        """The reason (i18n key, values) for recommending ``item`` to a customer with ``bought``."""

    def _check_hyperparameters(self) -> None:
        """Validate the constructor's arguments (``fit`` calls this first)."""

    def hyperparameters(self) -> dict[str, Any]:
        """The model's settings (what its ``model.json`` records)."""
        return self._header()

    @property
    def training_customers(self) -> int:
        """Customers with purchases in the training data (0 for a model loaded from files)."""
        return int(getattr(self, "training_customers_", 0))

    def _base_fit(self, items: ItemIndex, matrix: PurchaseMatrix, repurchase: RepurchaseProfile) -> None:
        self.items_ = items
        self.repurchase_ = repurchase
        self.training_customers_ = matrix.counts.shape[0]
        customers = max(matrix.counts.shape[0], 1)
        self.popularity_ = np.asarray((matrix.counts > 0).sum(axis=0), dtype=np.float64).ravel() / customers

    def rank(
        self, bought: np.ndarray, counts: np.ndarray, days_since: np.ndarray, n: int
    ) -> list[list[Recommendation]]:
        """Top-``n`` recommendations for a batch of histories (rows of dense arrays)."""
        eligible, due = self.repurchase_.eligibility(bought, days_since)
        model = self.item_scores(bought, counts)
        scores = np.where(due, np.maximum(model, self.repurchase_.reorder_score(counts)), model)
        scores = scores + TIE_BREAK * self.popularity_
        best = top_n(scores, eligible, n)
        out: list[list[Recommendation]] = []
        for row in range(best.shape[0]):
            picks: list[Recommendation] = []
            has_history = bool(bought[row].any())
            for item in best[row]:
                if item < 0:
                    break
                if due[row, item]:
                    key, values = (
                        "recommend.reason.reorder",
                        {
                            "days": round(float(self.repurchase_.interval_days[item])),
                            "since": int(days_since[row, item]),
                        },
                    )
                elif not has_history or model[row, item] <= 0:
                    key, values = "recommend.reason.popular", {}
                else:
                    key, values = self.explain(bought[row], int(item))
                picks.append(
                    Recommendation(
                        sku=str(self.items_.skus[item]),
                        product_name=str(self.items_.names[item]),
                        category=str(self.items_.categories[item]),
                        score=float(scores[row, item]),
                        reason_key=key,
                        reason_values=values,
                    )
                )
            out.append(picks)
        return out

    def recommend(
        self, matrix: PurchaseMatrix, customer_ids: list[str], n: int = 5, batch: int = 2_000
    ) -> dict[str, list[Recommendation]]:
        """Top-``n`` per customer from their purchases in ``matrix`` (unknown customers: popular items)."""
        if matrix.counts.shape[1] != len(self.items_):
            raise ValueError("the purchase matrix is not over this model's items")
        result: dict[str, list[Recommendation]] = {}
        rows = matrix.rows_of(customer_ids)
        for start in range(0, len(customer_ids), batch):
            chunk = rows[start : start + batch]
            bought, counts, days = matrix.dense(chunk)
            ranked = self.rank(bought, counts, days, n)
            for offset, picks in enumerate(ranked):
                result[str(customer_ids[start + offset])] = picks
        return result

    # -- persistence: arrays in one .npz (no pickles) and a JSON header ------------------------------

    def _common_arrays(self) -> dict[str, np.ndarray]:
        return {
            "item_skus": self.items_.skus.astype(str),
            "item_names": self.items_.names.astype(str),
            "item_categories": self.items_.categories.astype(str),
            "popularity": self.popularity_,
            **self.repurchase_.to_arrays(),
        }

    def _restore_common(self, arrays: dict[str, np.ndarray]) -> None:
        self.items_ = ItemIndex(
            arrays["item_skus"].astype(str),
            arrays["item_names"].astype(str),
            arrays["item_categories"].astype(str),
        )
        self.popularity_ = np.asarray(arrays["popularity"], dtype=np.float64)
        self.repurchase_ = RepurchaseProfile.from_arrays(arrays)

    @abstractmethod
    def _model_arrays(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _restore_model(self, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None: ...

    @abstractmethod
    def _header(self) -> dict[str, Any]: ...

    def to_files(self) -> dict[str, bytes]:
        """``model.npz`` (arrays) and ``model.json`` (kind and hyper-parameters)."""
        buffer = io.BytesIO()
        arrays: dict[str, Any] = {**self._common_arrays(), **self._model_arrays()}
        np.savez(buffer, **arrays)
        header = {"kind": self.kind, **self._header()}
        return {"model.npz": buffer.getvalue(), "model.json": json.dumps(header, indent=1).encode("utf-8")}

    @classmethod
    def from_files(cls, model_npz: bytes, model_json: bytes) -> Self:
        header = json.loads(model_json.decode("utf-8"))
        if header.get("kind") != cls.kind:
            raise ValueError(f"artifact holds a {header.get('kind')!r} model, not {cls.kind!r}")
        with np.load(io.BytesIO(model_npz), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        model = cls()
        model._restore_common(arrays)
        model._restore_model(arrays, header)
        return model


def popularity_ranking(items: ItemIndex, matrix: PurchaseMatrix, n: int) -> list[str]:
    """The ``n`` SKUs bought by the most customers (the popularity baseline), ties by SKU."""
    buyers = np.asarray((matrix.counts > 0).sum(axis=0)).ravel()
    order = np.lexsort((items.skus, -buyers))
    return [str(items.skus[i]) for i in order[:n]]


def frame_of(recommendations: dict[str, list[Recommendation]]) -> pd.DataFrame:
    """Recommendations as a long frame (customer_id, rank, sku, score, reason_key)."""
    rows = [
        {"customer_id": cid, "rank": r + 1, "sku": rec.sku, "score": rec.score, "reason_key": rec.reason_key}
        for cid, recs in recommendations.items()
        for r, rec in enumerate(recs)
    ]
    return pd.DataFrame(rows, columns=["customer_id", "rank", "sku", "score", "reason_key"])
