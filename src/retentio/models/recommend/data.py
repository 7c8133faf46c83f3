"""Purchase data for the recommenders: who bought which SKU on which local day, and the catalogue.

A *purchase* is an order line of a non-cancelled order (the shared filter of
:func:`retentio.analytics.summary.valid_orders`); quantities are ignored (buying three bags of one
coffee is one purchase of it). The catalogue is every SKU seen in an order line, with its most common
product name and category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
import numpy as np
import pandas as pd
import scipy.sparse as sp

from retentio.analytics.summary import valid_orders
from retentio.analytics.tables import AnalyticsTables

UNKNOWN_CATEGORY = "(none)"


def purchases(
    tables: AnalyticsTables,
    before: date | None = None,
    since: date | None = None,
    customer_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Columns ``customer_id, order_id, order_date, sku`` (one row per distinct order and SKU).

    ``before`` is exclusive and ``since`` inclusive, on local order dates.
    """
    orders = valid_orders(tables, before)
    if since is not None:
        orders = orders.filter(orders.order_date >= since)
    if customer_ids is not None:
        ids = ibis.memtable(pd.DataFrame({"wanted_id": pd.Series(customer_ids, dtype=str)}))
        orders = orders.semi_join(ids, orders.customer_id == ids.wanted_id)
    lines = tables.order_lines
    joined = lines.join(orders, lines.order_id == orders.order_id).select(
        orders.customer_id, orders.order_id, orders.order_date, lines.sku
    )
    frame = joined.distinct().to_pandas()
    frame["order_date"] = pd.to_datetime(frame["order_date"]).dt.date
    return frame.sort_values(["customer_id", "order_date", "order_id", "sku"], kind="stable").reset_index(
        drop=True
    )


def catalogue(tables: AnalyticsTables) -> pd.DataFrame:
    """Columns ``sku, product_name, category`` for every SKU in an order line (most common name wins)."""
    lines = tables.order_lines
    named = lines.group_by(["sku", "product_name", "category"]).aggregate(lines_count=lines.count())
    frame = named.to_pandas()
    if frame.empty:
        return pd.DataFrame({"sku": [], "product_name": [], "category": []}, dtype=str)
    frame = frame.sort_values(
        ["sku", "lines_count", "product_name"], ascending=[True, False, True], kind="stable"
    )
    frame = frame.drop_duplicates("sku", keep="first")
    frame["product_name"] = frame["product_name"].fillna(frame["sku"])
    frame["category"] = frame["category"].fillna(UNKNOWN_CATEGORY)
    return frame[["sku", "product_name", "category"]].reset_index(drop=True)


@dataclass(frozen=True)
class ItemIndex:
    """SKUs ↔ integer positions, with each SKU's name and category (the vocabulary of a model)."""

    skus: np.ndarray  # str
    names: np.ndarray  # str
    categories: np.ndarray  # str

    @classmethod
    def from_catalogue(cls, items: pd.DataFrame) -> ItemIndex:
        ordered = items.sort_values("sku", kind="stable")
        return cls(
            ordered["sku"].to_numpy(dtype=str),
            ordered["product_name"].to_numpy(dtype=str),
            ordered["category"].to_numpy(dtype=str),
        )

    def __len__(self) -> int:
        return len(self.skus)

    def positions(self, skus: pd.Series | np.ndarray) -> np.ndarray:
        """Index of each SKU (−1 for SKUs the model does not know)."""
        lookup = pd.Index(self.skus)
        return np.asarray(lookup.get_indexer(np.asarray(skus, dtype=str)), dtype=np.int64)


@dataclass(frozen=True)
class PurchaseMatrix:
    """Customers × items: purchase days per item and days since the last purchase (sparse, same pattern).

    Built from distinct (customer, SKU, local date) purchases dated before ``as_of``; ``days_since``
    is at least 1 because ``as_of`` is exclusive, so a stored zero never means "today".
    """

    customer_ids: np.ndarray  # str, sorted
    counts: sp.csr_matrix
    days_since: sp.csr_matrix
    as_of: date

    @classmethod
    def build(cls, rows: pd.DataFrame, items: ItemIndex, as_of: date) -> PurchaseMatrix:
        """From purchase rows (``customer_id, sku, order_date``); SKUs unknown to ``items`` are dropped."""
        kept = rows[pd.to_datetime(rows["order_date"]).dt.date < as_of]
        days = kept[["customer_id", "sku", "order_date"]].drop_duplicates()
        positions = items.positions(days["sku"])
        days = days.assign(item=positions)[positions >= 0]
        customer_ids = np.sort(days["customer_id"].astype(str).unique())
        if len(days) == 0:
            empty = sp.csr_matrix((len(customer_ids), len(items)))
            return cls(customer_ids, empty, empty.copy(), as_of)
        per_pair = days.groupby(["customer_id", "item"], sort=False).agg(
            purchase_days=("order_date", "size"), last_date=("order_date", "max")
        )
        users = np.searchsorted(customer_ids, per_pair.index.get_level_values(0).astype(str).to_numpy())
        cols = per_pair.index.get_level_values(1).to_numpy(dtype=np.int64)
        last = pd.to_datetime(per_pair["last_date"]).to_numpy(dtype="datetime64[D]")
        age = (np.datetime64(as_of, "D") - last).astype(np.int64).astype(np.float64)
        shape = (len(customer_ids), len(items))
        counts = sp.csr_matrix(
            (per_pair["purchase_days"].to_numpy(dtype=np.float64), (users, cols)), shape=shape
        )
        days_since = sp.csr_matrix((age, (users, cols)), shape=shape)
        counts.sort_indices()
        days_since.sort_indices()
        return cls(customer_ids, counts, days_since, as_of)

    def rows_of(self, customer_ids: list[str] | np.ndarray) -> np.ndarray:
        """Row of each customer (−1 for customers without purchases)."""
        wanted = np.asarray(customer_ids, dtype=str)
        if len(self.customer_ids) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.customer_ids, wanted), 0, len(self.customer_ids) - 1)
        return np.where(self.customer_ids[pos] == wanted, pos, -1).astype(np.int64)

    def dense(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bought, counts, days_since) as dense arrays for ``rows`` (−1 = no purchases: empty history)."""
        n_items = self.counts.shape[1]
        counts = np.zeros((len(rows), n_items))
        days = np.full((len(rows), n_items), np.inf)
        known = rows >= 0
        if known.any():
            counts[known] = self.counts[rows[known]].toarray()
            block = self.days_since[rows[known]].toarray()
            days[known] = np.where(counts[known] > 0, block, np.inf)
        return counts > 0, counts, days
