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

Finally, a customer rarely buys the same phone, grinder or phone case twice: a non-consumable SKU a
customer already bought on an earlier order is swapped for a neighbour in price in its category
(:func:`_swap_repeated_durables`). Repeats remain where the swap has nowhere to go — heavy buyers who
own every cheaper SKU of a small category, and the top-up filler of tech baskets (an accessory on
almost every order) — but a customer's first purchases in a category are distinct, which is what the
recommender's repurchase rule reads to tell consumables from durables.

So the merchandise subtotal tracks the budget up to one top-up item's price (and the price step of a
swapped durable), and Gamma-Gamma holds for order values up to that rounding.
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
SWAP_PASSES = 32  # rounds of moving repeated non-consumables along the price list
MAX_SWAP_MARKUP = 1.25  # a swapped durable costs at most this much more than the one first picked


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


def _swap_repeated_durables(
    catalogue: Catalogue, line_customer: np.ndarray, line_product: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``line_product`` with each non-consumable SKU that its customer bought on an earlier line moved
    to a neighbour in price within its category. Lines must be in chronological order.

    The k-th repeat of a SKU moves k places down the price list, so the repeats of one SKU spread in a
    single round and stay within the budget the pick was made for (the top-up spends what a cheaper
    pick saves: Gamma-Gamma spend is kept). A line that would fall below the cheapest turns round and
    moves up from then on, but not past :data:`MAX_SWAP_MARKUP` × the price of the original pick (a
    customer who owns every cheaper phone does not start buying dearer ones): such a line is dropped,
    and so are repeats left after :data:`SWAP_PASSES` rounds. Each line keeps its direction, so a
    chain of collisions ends at a SKU the customer lacks. Returns (products, lines to keep).
    """
    product = line_product.copy()
    keep = np.ones(len(product), dtype=bool)
    category = catalogue.category_index[product]
    durable = np.flatnonzero(~_IS_CONSUMABLE[category])
    if not len(durable):
        return product, keep
    ceiling = catalogue.price_minor[line_product] * MAX_SWAP_MARKUP
    rank_of = np.empty(len(catalogue), dtype=np.int64)
    for c in range(N_CATEGORIES):
        members = catalogue.flat_by_price[catalogue.offsets[c] : catalogue.offsets[c + 1]]
        rank_of[members] = np.arange(len(members))
    size = np.diff(catalogue.offsets)
    direction = np.full(len(line_product), -1, dtype=np.int64)
    for _ in range(SWAP_PASSES + 1):
        live = durable[keep[durable]]
        key = line_customer[live] * len(catalogue) + product[live]
        order = np.argsort(key, kind="stable")  # stable: each customer's first purchase stays first
        sorted_key = key[order]
        starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        position = np.arange(len(order))
        repeat = position - np.maximum.accumulate(np.where(starts, position, 0))  # 0 = first purchase
        rows = live[order[repeat > 0]]
        if not len(rows):
            break
        if _ == SWAP_PASSES:  # out of rounds: drop what still repeats
            keep[rows] = False
            break
        c, k, rank = category[rows], repeat[repeat > 0], rank_of[product[rows]]
        below = rank + direction[rows] * k < 0
        direction[rows[below]] = 1
        moved = np.clip(rank + direction[rows] * k, 0, size[c] - 1)
        target = catalogue.by_rank(c, moved)
        fits = (rank + direction[rows] * k < size[c]) & (catalogue.price_minor[target] <= ceiling[rows])
        keep[rows[~fits]] = False
        product[rows[fits]] = target[fits]
    return product, keep


def build_baskets(
    rng: np.random.Generator,
    catalogue: Catalogue,
    budget_minor: np.ndarray,
    segment: np.ndarray,
    favourites: np.ndarray,
    order_seq: np.ndarray,
    customer: np.ndarray | None = None,
) -> Baskets:
    """Order lines for orders (in chronological order) with the given budgets, segments, favourites
    (orders × categories), position in the customer's history (0 = first order) and customer (any
    integer id; without it, repeated durables are left as drawn)."""
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

    if customer is not None:
        # Repeated durables swapped (see the module docstring) before the top-up, so that the top-up
        # spends what the swaps saved or takes back what they cost: the subtotal keeps tracking the
        # budget as far as the top-up's quantity caps allow.
        picked = np.stack(products, axis=1)
        chosen = np.stack(present, axis=1)
        owner = np.broadcast_to(np.asarray(customer, dtype=np.int64)[:, None], picked.shape)[chosen]
        swapped = picked.copy()
        kept = chosen.copy()
        swapped[chosen], kept[chosen] = _swap_repeated_durables(catalogue, owner, picked[chosen])
        # An order keeps its primary item even if it repeats one the customer has: never an empty order.
        kept[:, 0] = True
        cost = np.where(kept, price[swapped], 0) - np.where(chosen, price[picked], 0)
        remaining = remaining - cost.sum(axis=1)
        products, present = list(swapped.T), list(kept.T)

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
    if customer is not None:  # the durable fillers, too (cheap: the subtotal barely moves)
        # Lines the swap would drop stay as they are here: the top-up is already spent.
        prod, _ = _swap_repeated_durables(catalogue, np.asarray(customer, dtype=np.int64)[order_idx], prod)
        # The primary item (slot 0, always present, first of its order's lines) after every swap:
        # reviews, tickets and the purchase session name it, so it must be the SKU on the order.
        primary = prod[np.cumsum(mask.sum(axis=1)) - mask.sum(axis=1)]
    # One line per (order, sku): merge repeats (a cross-sold coffee that is also the top-up).
    key = order_idx * len(catalogue) + prod
    uniq, inverse = np.unique(key, return_inverse=True)
    merged_qty = np.bincount(inverse, weights=qty, minlength=len(uniq)).astype(np.int64)
    line_order = uniq // len(catalogue)
    line_product = uniq % len(catalogue)
    subtotal = np.bincount(line_order, weights=merged_qty * price[line_product], minlength=m).astype(np.int64)
    return Baskets(primary, line_order, line_product, merged_qty, subtotal)
