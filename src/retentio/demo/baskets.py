"""Vectorised basket building: turn each order's spend into order lines from the catalogue.

An order's spend budget comes from the Gamma-Gamma draw. The basket is then filled greedily, the way a
customer with that budget shops:

1. a *primary* item: for durable-led orders (more likely on a customer's first order, and always for large
   budgets) one of the three most expensive affordable items of a durable category the customer's segment
   likes; otherwise a consumable (the customer's favourite SKU of that category two times in three, else a
   bestseller), which is what makes consumables repurchased;
2. *cross-sells*: each affinity of the primary category (``catalogue.AFFINITIES``) fires with its
   probability if something of that category still fits the budget;
3. a *top-up*: the rest of the budget buys more of the consumable (or the segment's filler consumable),
   quantity = remaining budget / price, rounded.

So the merchandise subtotal tracks the budget up to one top-up item's price, and Gamma-Gamma holds for
order values up to that rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retentio.demo.catalogue import AFFINITIES, CATEGORIES, CONSUMABLE_CATEGORIES, FILLER, SEGMENTS, Catalogue

N_CATEGORIES = len(CATEGORIES)
MAX_AFFINITIES = max(len(v) for v in AFFINITIES.values())
MAX_TOP_UP_QUANTITY = 6
LARGE_BUDGET_MINOR = 12_000_00  # above this a basket is always led by a durable
EXTRA_ITEM_ROUNDS = 5
TOP_UP_ITEMS = 3  # extra distinct items are added while the budget exceeds this many filler items


def _weights_matrix(kind: str) -> np.ndarray:
    """Segment × category cumulative weights for the primary category of ``kind`` orders."""
    out = np.zeros((len(SEGMENTS), N_CATEGORIES))
    for s, seg in enumerate(SEGMENTS.values()):
        for cat, w in seg[kind].items():
            out[s, CATEGORIES.index(cat)] = w
    out /= out.sum(axis=1, keepdims=True)
    return np.cumsum(out, axis=1)


_REFILL_CUM = _weights_matrix("refill")
_DURABLE_CUM = _weights_matrix("durable")
_FILLER_CAT = np.array([CATEGORIES.index(FILLER[s]) for s in SEGMENTS], dtype=np.int64)
_IS_CONSUMABLE = np.array([c in CONSUMABLE_CATEGORIES for c in CATEGORIES])
_AFF_CAT = np.full((N_CATEGORIES, MAX_AFFINITIES), -1, dtype=np.int64)
_AFF_PROB = np.zeros((N_CATEGORIES, MAX_AFFINITIES))
for _c, _pairs in AFFINITIES.items():
    for _j, (_target, _prob) in enumerate(_pairs):
        _AFF_CAT[CATEGORIES.index(_c), _j] = CATEGORIES.index(_target)
        _AFF_PROB[CATEGORIES.index(_c), _j] = _prob


@dataclass
class Baskets:
    primary: np.ndarray  # product index of each order's primary item
    line_order: np.ndarray  # order index of each line (ascending)
    line_product: np.ndarray
    line_quantity: np.ndarray
    subtotal_minor: np.ndarray  # per order


def draw_favourites(rng: np.random.Generator, catalogue: Catalogue, n: int) -> np.ndarray:
    """Each customer's favourite product per category (n × categories), drawn by popularity."""
    fav = np.empty((n, N_CATEGORIES), dtype=np.int64)
    for c in range(N_CATEGORIES):
        fav[:, c] = catalogue.by_price[c][
            rng.choice(len(catalogue.by_price[c]), size=n, p=catalogue.popularity[c])
        ]
    return fav


def _near_top(n_fit: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rank of one of the three most expensive affordable items: people spend a budget on the best
    they can afford."""
    top = np.minimum(3, np.maximum(n_fit, 1))
    return np.maximum(n_fit - 1 - np.floor(u * top).astype(np.int64), 0)


def build_baskets(
    rng: np.random.Generator,
    catalogue: Catalogue,
    budget_minor: np.ndarray,
    segment: np.ndarray,
    favourites: np.ndarray,
    order_seq: np.ndarray,
) -> Baskets:
    """Order lines for orders with the given budgets, segments, favourites (orders × categories) and
    position in the customer's history (0 = first order)."""
    m = len(budget_minor)
    price = catalogue.price_minor
    u = rng.random((m, 8))
    rows = np.arange(m)

    durable_p = np.where(order_seq == 0, 0.30, 0.07)
    durable = (u[:, 0] < durable_p) | (budget_minor > LARGE_BUDGET_MINOR)
    durable_cat = np.minimum((u[:, 1][:, None] > _DURABLE_CUM[segment]).sum(axis=1), N_CATEGORIES - 1)
    n_fit = catalogue.n_affordable(durable_cat, budget_minor)
    durable &= n_fit > 0
    durable_pick = catalogue.by_rank(durable_cat, _near_top(n_fit, u[:, 2]))

    refill_cat = np.minimum((u[:, 1][:, None] > _REFILL_CUM[segment]).sum(axis=1), N_CATEGORIES - 1)
    favourite = favourites[rows, refill_cat]
    bestseller = catalogue.popular(refill_cat, u[:, 3])
    refill_pick = np.where(u[:, 4] < 0.65, favourite, bestseller)
    # A refill that does not fit a small budget becomes the cheapest item of its category.
    cheapest = catalogue.flat_by_price[catalogue.offsets[:-1]]
    refill_pick = np.where(price[refill_pick] > budget_minor, cheapest[refill_cat], refill_pick)

    primary = np.where(durable, durable_pick, refill_pick)
    primary_cat = catalogue.category_index[primary]
    remaining = budget_minor - price[primary]

    products = [primary]
    quantities = [np.ones(m, dtype=np.int64)]
    present = [np.ones(m, dtype=bool)]

    def add(pick: np.ndarray, active: np.ndarray) -> None:
        nonlocal remaining
        products.append(pick)
        quantities.append(np.ones(m, dtype=np.int64))
        present.append(active)
        remaining = remaining - np.where(active, price[pick], 0)

    cross_u = rng.random((m, MAX_AFFINITIES, 2))
    for j in range(MAX_AFFINITIES):
        target = _AFF_CAT[primary_cat, j]
        fires = (target >= 0) & (cross_u[:, j, 0] < _AFF_PROB[primary_cat, j])
        n_fit = catalogue.n_affordable(np.where(fires, target, -1), remaining)
        fires &= n_fit > 0
        # Cheaper items are likelier add-ons (a syrup more often than a second grinder).
        pick_rank = np.floor(cross_u[:, j, 1] ** 1.6 * np.maximum(n_fit, 1)).astype(np.int64)
        add(catalogue.by_rank(np.where(fires, target, 0), np.where(fires, pick_rank, 0)), fires)

    # While much budget is left, add more distinct items: another durable for big budgets, else another
    # product of the segment's everyday categories (a second coffee, a cable and a case, ...).
    filler_cat = _FILLER_CAT[segment]
    filler_price = price[favourites[rows, filler_cat]]
    extra_u = rng.random((m, EXTRA_ITEM_ROUNDS, 2))
    for j in range(EXTRA_ITEM_ROUNDS):
        big = remaining > LARGE_BUDGET_MINOR // 2
        cum = np.where(big[:, None], _DURABLE_CUM[segment], _REFILL_CUM[segment])
        cat = np.minimum((extra_u[:, j, 0][:, None] > cum).sum(axis=1), N_CATEGORIES - 1)
        active = remaining > TOP_UP_ITEMS * filler_price
        n_fit = catalogue.n_affordable(np.where(active, cat, -1), remaining)
        active &= n_fit > 0
        pick = catalogue.by_rank(
            np.where(active, cat, 0), np.where(active, _near_top(n_fit, extra_u[:, j, 1]), 0)
        )
        add(pick, active)

    # Top up with more of a consumable primary, or with the segment's filler (a few at most if durable).
    primary_is_consumable = _IS_CONSUMABLE[primary_cat]
    filler = np.where(primary_is_consumable, primary, favourites[rows, filler_cat])
    cap = np.where(_IS_CONSUMABLE[catalogue.category_index[filler]], MAX_TOP_UP_QUANTITY, 3)
    # Stochastic rounding keeps the subtotal unbiased for the budget (up to the caps).
    wanted = np.maximum(remaining, 0) / price[filler]
    extra = np.floor(wanted) + (u[:, 5] < wanted - np.floor(wanted))
    extra = np.clip(extra, 0, cap).astype(np.int64)
    quantities[0] = quantities[0] + np.where(primary_is_consumable, extra, 0)
    products.append(filler)
    quantities.append(extra)
    present.append(~primary_is_consumable & (extra > 0))

    prod = np.stack(products, axis=1)
    qty = np.stack(quantities, axis=1)
    mask = np.stack(present, axis=1)
    order_idx = np.broadcast_to(rows[:, None], prod.shape)[mask]
    prod, qty = prod[mask], qty[mask]
    # One line per (order, sku): merge repeats (a cross-sold coffee that is also the top-up).
    key = order_idx * len(catalogue) + prod
    uniq, inverse = np.unique(key, return_inverse=True)
    merged_qty = np.bincount(inverse, weights=qty, minlength=len(uniq)).astype(np.int64)
    line_order = uniq // len(catalogue)
    line_product = uniq % len(catalogue)
    subtotal = np.bincount(line_order, weights=merged_qty * price[line_product], minlength=m).astype(np.int64)
    return Baskets(primary, line_order, line_product, merged_qty, subtotal)
