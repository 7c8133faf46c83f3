"""Which products are bought again, and when a customer is due to buy one again.

Whether a product is a *consumable* (bought again) or a *durable* is decided per category first.
A category's ``reorder_share`` is, over its *re-buyers* (customers who bought in it on at least two
days), the mean share of their later purchase days in the category on which they bought again a SKU
they had bought before, counting each customer's first ``REORDER_WINDOW`` (10) days in the category.
Coffee drinkers mostly reorder their coffee; someone who buys a second phone buys a different one.
The mean over re-buyers counts each customer once, and the window keeps a few extreme buyers (a
reseller; a customer who, past ten purchases, has bought every phone of a small catalogue) from
making a category look consumable — the weakness of a per-SKU share of repeat buyers, where those few
are most of the buyers of an expensive SKU. A category with at least ``min_buyers`` re-buyers is
consumable when its ``reorder_share`` reaches ``min_reorder_share``, and all its SKUs follow it (one
that nobody has re-bought yet is timed by the category's figures).

SKUs without a category (or in a category with too few re-buyers) fall back to their own figures:
the share of their buyers who bought them on at least two different days (``repeat_share``),
consumable when it reaches ``min_repeat_share``; SKUs with fewer than ``min_buyers`` buyers take
the figures of their category, and without evidence a SKU is a durable: we do not nag.

For every consumable SKU, ``repeat_share`` (as above) scores reorders and the median number of days
between consecutive purchases of it by the same customer (``interval_days``; the category's when the
SKU has too few buyers) times them.

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

from retentio.models.recommend.data import UNKNOWN_CATEGORY, ItemIndex

MIN_BUYERS = 20
MIN_REPEAT_SHARE = 0.15
MIN_REORDER_SHARE = 0.2
REORDER_WINDOW = 10  # purchase days per customer and category that count for its reorder share
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


def category_reorder_share(frame: pd.DataFrame) -> pd.DataFrame:
    """``rebuyers`` and ``reorder_share`` per category from (customer_id, sku, category, order_date) rows.

    See the module docstring: per re-buyer, the share of their category purchase days after the first
    on which they bought a SKU again; averaged over the category's re-buyers.
    """
    rows = frame[["customer_id", "sku", "category", "order_date"]].drop_duplicates()
    first_bought = rows.groupby(["customer_id", "sku"], sort=False)["order_date"].transform("min")
    rows = rows.assign(again=(rows["order_date"] > first_bought).to_numpy())
    days = rows.groupby(["customer_id", "category", "order_date"], sort=False)["again"].any().reset_index()
    # Each customer's first REORDER_WINDOW days in the category only: past them a customer who has
    # bought every SKU of a small category must repeat one, which says nothing about habit.
    days = days.sort_values(["customer_id", "category", "order_date"], kind="stable")
    days = days[days.groupby(["customer_id", "category"], sort=False).cumcount() < REORDER_WINDOW]
    per_customer = days.groupby(["customer_id", "category"], sort=False).agg(
        days=("order_date", "size"), again=("again", "sum")
    )
    rebuyers = per_customer[per_customer["days"] >= 2]
    share = rebuyers["again"] / (rebuyers["days"] - 1)
    grouped = share.groupby(level="category")
    return pd.DataFrame({"rebuyers": grouped.size(), "reorder_share": grouped.mean()})


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
        min_reorder_share: float = MIN_REORDER_SHARE,
    ) -> RepurchaseProfile:
        """Learn the profile from purchases (``customer_id, order_date, sku``)."""
        n = len(items)
        share = np.zeros(n)
        interval = np.full(n, np.nan)
        buyers = np.zeros(n)
        decided = np.zeros(n, dtype=bool)  # the category decides
        category_consumable = np.zeros(n, dtype=bool)
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
            known = with_category[
                with_category["category"].notna() & (with_category["category"] != UNKNOWN_CATEGORY)
            ]
            reorder = category_reorder_share(known)
            reorder = reorder[reorder["rebuyers"] >= min_buyers].reindex(items.categories)
            decided = reorder["reorder_share"].notna().to_numpy()
            category_consumable = (reorder["reorder_share"].fillna(0) >= min_reorder_share).to_numpy()
            # A SKU of a consumable category that nobody has re-bought yet (a new coffee) is timed and
            # scored with its category's figures.
            unseen = decided & category_consumable & ~np.isfinite(interval)
            share = np.where(unseen, cat_stats["repeat_share"].fillna(0).to_numpy(dtype=np.float64), share)
            interval = np.where(unseen, cat_stats["interval_days"].to_numpy(dtype=np.float64), interval)
        own_rule = share >= min_repeat_share
        consumable = np.where(decided, category_consumable, own_rule) & np.isfinite(interval) & (interval > 0)
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
