"""Which products are bought again, and when a customer is due to buy one again.

For every SKU the training purchases give its buyers, the share of them who bought it on at least two
different days (``repeat_share``) and the median number of days between consecutive purchases of it
by the same customer (``interval_days``). A SKU is a *consumable* when ``repeat_share`` reaches
``min_repeat_share``; otherwise it is a *durable*. SKUs with fewer than ``min_buyers`` buyers take the
figures of their category (computed the same way over (customer, category) purchases), and a category
with too few buyers is treated as durable: without evidence we do not nag.

The rules the recommenders apply (:meth:`RepurchaseProfile.eligibility`):

- a durable SKU the customer already bought is never recommended again;
- a consumable SKU the customer bought becomes recommendable again once
  ``days since the last purchase ≥ due_factor × interval_days`` (default 0.8: the reminder should
  arrive a little before they run out), and is then scored by :meth:`RepurchaseProfile.reorder_score`;
- anything the customer never bought is eligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retentio.models.recommend.data import ItemIndex

MIN_BUYERS = 20
MIN_REPEAT_SHARE = 0.15
DUE_FACTOR = 0.8


def _stats(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """buyers, repeat_share, interval_days per ``key`` from (customer_id, key, order_date) rows."""
    days = frame[["customer_id", key, "order_date"]].drop_duplicates()
    days = days.sort_values(["customer_id", key, "order_date"], kind="stable")
    ordinal = pd.to_datetime(days["order_date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    same = (days["customer_id"].to_numpy() == np.roll(days["customer_id"].to_numpy(), 1)) & (
        days[key].to_numpy() == np.roll(days[key].to_numpy(), 1)
    )
    if len(same):
        same[0] = False
    gaps = pd.DataFrame({key: days[key].to_numpy()[same], "gap": (ordinal - np.roll(ordinal, 1))[same]})
    per_customer = days.groupby([key, "customer_id"], sort=False).size().rename("purchase_days").reset_index()
    grouped = per_customer.groupby(key)
    stats = pd.DataFrame(
        {
            "buyers": grouped.size(),
            "repeat_share": grouped["purchase_days"].apply(lambda s: float((s >= 2).mean())),
        }
    )
    stats["interval_days"] = gaps.groupby(key)["gap"].median().reindex(stats.index)
    return stats


@dataclass(frozen=True)
class RepurchaseProfile:
    """Per-SKU repurchase behaviour aligned with an :class:`ItemIndex`."""

    consumable: np.ndarray  # bool per item
    repeat_share: np.ndarray  # float per item (0 for durables without data)
    interval_days: np.ndarray  # float per item (NaN for durables)
    due_factor: float = DUE_FACTOR

    @classmethod
    def fit(
        cls,
        purchases: pd.DataFrame,
        items: ItemIndex,
        min_buyers: int = MIN_BUYERS,
        min_repeat_share: float = MIN_REPEAT_SHARE,
        due_factor: float = DUE_FACTOR,
    ) -> RepurchaseProfile:
        """Learn the profile from purchases (``customer_id, order_date, sku``)."""
        n = len(items)
        share = np.zeros(n)
        interval = np.full(n, np.nan)
        buyers = np.zeros(n)
        if len(purchases):
            sku_stats = _stats(purchases, "sku").reindex(items.skus)
            buyers = sku_stats["buyers"].fillna(0).to_numpy(dtype=np.float64)
            share = sku_stats["repeat_share"].fillna(0).to_numpy(dtype=np.float64)
            interval = sku_stats["interval_days"].to_numpy(dtype=np.float64)
            category_of = pd.Series(items.categories, index=items.skus)
            with_category = purchases.assign(category=category_of.reindex(purchases["sku"]).to_numpy())
            cat_stats = _stats(with_category.dropna(subset=["category"]), "category")
            cat_stats = cat_stats[cat_stats["buyers"] >= min_buyers].reindex(items.categories)
            thin = buyers < min_buyers
            share = np.where(thin, cat_stats["repeat_share"].fillna(0).to_numpy(dtype=np.float64), share)
            interval = np.where(thin, cat_stats["interval_days"].to_numpy(dtype=np.float64), interval)
        consumable = (share >= min_repeat_share) & np.isfinite(interval) & (interval > 0)
        return cls(
            consumable, np.where(consumable, share, 0.0), np.where(consumable, interval, np.nan), due_factor
        )

    def eligibility(self, bought: np.ndarray, days_since: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(eligible, due) masks: which items may be recommended, and which of those are reorders.

        ``bought`` marks items the customer has bought and ``days_since`` holds the days since the last
        purchase of each (ignored where not bought); both have items on the last axis, so one
        customer (a vector) or a batch (a matrix, one row per customer) work alike.
        """
        with np.errstate(invalid="ignore"):
            due = bought & self.consumable & (days_since >= self.due_factor * self.interval_days)
        return (~bought) | due, due

    def reorder_score(self, counts: np.ndarray) -> np.ndarray:
        """How likely a customer who bought an item on ``counts`` days is to buy it again.

        ``1 − (1 − repeat_share)^counts``: a heuristic that treats each past purchase day as
        independent evidence of a habit, so a favourite bought five times outranks an item tried
        once (both have the same ``repeat_share``). 0 for durables and items never bought.
        """
        return np.where(
            counts > 0, -np.expm1(counts * np.log1p(-np.minimum(self.repeat_share, 1 - 1e-9))), 0.0
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "repurchase_consumable": self.consumable,
            "repurchase_share": self.repeat_share,
            "repurchase_interval_days": self.interval_days,
            "repurchase_due_factor": np.array([self.due_factor]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> RepurchaseProfile:
        return cls(
            np.asarray(arrays["repurchase_consumable"], dtype=bool),
            np.asarray(arrays["repurchase_share"], dtype=np.float64),
            np.asarray(arrays["repurchase_interval_days"], dtype=np.float64),
            float(arrays["repurchase_due_factor"][0]),
        )
