"""Customers' purchase histories as orders, order lines and refunds, for one block of customers.

All times are int64 UTC epoch seconds. Money is int64 kopecks; ``total = subtotal − discount + shipping``
holds exactly because every term is an integer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retentio.demo.baskets import build_baskets, draw_favourites
from retentio.demo.behaviour import (
    CHANNEL_NAMES,
    BehaviourParams,
    Traits,
    draw_traits,
    simulate_repeat_purchases,
)
from retentio.demo.catalogue import Catalogue
from retentio.demo.clock import SECONDS_PER_DAY, SeasonalClock, black_friday
from retentio.demo.people import Identities, draw_identities

NEVER = np.iinfo(np.int64).max
ORDER_CHANNELS = ("web", "app", "phone", "marketplace")
REFUND_REASONS_FULL = ("not_delivered", "damaged", "wrong_item", "changed_mind", "quality")
REFUND_REASONS_PARTIAL = ("damaged", "wrong_item", "missing_item", "quality", "changed_mind")
# Percent-off coupons that run all year; first orders get WELCOME10, Black Friday BF<year>.
EVERGREEN_COUPONS = (("COFFEE5", 5), ("TEA10", 10), ("SPRING15", 15), ("FRIEND10", 10), ("VIP20", 20))


@dataclass
class CustomerBlock:
    """One block of customers with everything later stages read."""

    numbers: np.ndarray  # global customer numbers (1-based), ascending
    traits: Traits
    identities: Identities
    is_lead: np.ndarray  # registered but never buys
    acquired_at: np.ndarray  # first purchase (buyers) or signup (leads)
    signup_at: np.ndarray
    favourites: np.ndarray  # customers × categories, product index
    app_share: np.ndarray  # share of the customer's orders placed in the app
    # Filled by simulate_orders:
    dropped_at: np.ndarray | None = (
        None  # time of the purchase after which the customer dropped out; NEVER if alive
    )
    last_purchase_at: np.ndarray | None = None  # last completed order (signup for leads)
    completed_orders: np.ndarray | None = None  # count per customer

    @property
    def size(self) -> int:
        return len(self.numbers)


@dataclass
class OrderBlock:
    customer: np.ndarray  # block-local customer index
    ordered_at: np.ndarray
    completed: np.ndarray
    seq: np.ndarray  # position among the customer's completed orders (cancelled: that of the order before)
    channel: np.ndarray  # index into ORDER_CHANNELS
    coupon: np.ndarray  # object: code or None
    subtotal_minor: np.ndarray
    discount_minor: np.ndarray
    shipping_minor: np.ndarray
    total_minor: np.ndarray
    primary: np.ndarray  # product index of the primary item
    line_order: np.ndarray
    line_product: np.ndarray
    line_quantity: np.ndarray
    line_start: np.ndarray  # first line of each order
    line_count: np.ndarray

    @property
    def size(self) -> int:
        return len(self.customer)


@dataclass
class RefundBlock:
    order: np.ndarray  # index into the OrderBlock
    refunded_at: np.ndarray
    amount_minor: np.ndarray
    product: np.ndarray  # product index for partial refunds, −1 for full
    quantity: np.ndarray  # 0 for full
    reason: np.ndarray  # object

    @property
    def size(self) -> int:
        return len(self.order)


def make_customers(
    rng: np.random.Generator,
    numbers: np.ndarray,
    acquisition_weeks: np.ndarray,
    clock: SeasonalClock,
    params: BehaviourParams,
    catalogue: Catalogue,
) -> CustomerBlock:
    """Latent traits, identity, acquisition and signup times of a block of customers."""
    n = len(numbers)
    traits = draw_traits(rng, n, params)
    is_lead = rng.random(n) < params.lead_share
    acquired_at = clock.to_utc_seconds(acquisition_weeks)
    # Buyers register in the session of their first order (45 %) or some days before it.
    same_session = rng.random(n) < 0.45
    lead_time = np.where(
        same_session, rng.integers(60, 1_200, n), (rng.exponential(7.0, n) * SECONDS_PER_DAY).astype(np.int64)
    )
    # Early buyers whose lead time would reach before the period register in their first session instead.
    in_session = rng.integers(60, 1_200, n)
    lead_time = np.where(acquired_at - lead_time < clock.start_utc, in_session, lead_time)
    signup_at = np.where(is_lead, acquired_at, np.maximum(acquired_at - lead_time, clock.start_utc))
    years = (signup_at // SECONDS_PER_DAY).astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    identities = draw_identities(rng, numbers, years)
    favourites = draw_favourites(rng, catalogue, n)
    app_share = rng.beta(1.2, 2.5, n)
    return CustomerBlock(
        numbers=numbers,
        traits=traits,
        identities=identities,
        is_lead=is_lead,
        acquired_at=acquired_at,
        signup_at=signup_at,
        favourites=favourites,
        app_share=app_share,
    )


def _coupons(
    rng: np.random.Generator,
    clock: SeasonalClock,
    ordered_at: np.ndarray,
    seq: np.ndarray,
    params: BehaviourParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Coupon code (or None) and percent off for each order."""
    m = len(ordered_at)
    u = rng.random((m, 3))
    day = clock.local_day_index(ordered_at)
    dates = np.array([*clock.dates, clock.end], dtype="datetime64[D]")
    order_date = dates[np.clip(day, 0, len(clock.dates))]
    years = order_date.astype("datetime64[Y]").astype(int) + 1970
    bf_days = {y: np.datetime64(black_friday(int(y))) for y in np.unique(years)}
    bf_start = np.array([bf_days[y] for y in years], dtype="datetime64[D]") if m else order_date
    in_bf = (order_date >= bf_start) & (order_date <= bf_start + np.timedelta64(3, "D"))
    code = np.full(m, None, dtype=object)
    pct = np.zeros(m, dtype=np.int64)
    welcome = (seq == 0) & (u[:, 0] < params.welcome_coupon_share)
    bf = ~welcome & in_bf & (u[:, 0] < params.black_friday_coupon_share)
    other = ~welcome & ~bf & (u[:, 1] < params.evergreen_coupon_share)
    code[welcome] = "WELCOME10"
    pct[welcome] = 10
    if bf.any():
        code[bf] = np.char.add("BF", years[bf].astype(str)).astype(object)
        pct[bf] = 20
    pick = np.minimum((u[:, 2] * len(EVERGREEN_COUPONS)).astype(int), len(EVERGREEN_COUPONS) - 1)
    names = np.array([c for c, _ in EVERGREEN_COUPONS], dtype=object)
    percents = np.array([p for _, p in EVERGREEN_COUPONS], dtype=np.int64)
    code[other] = names[pick[other]]
    pct[other] = percents[pick[other]]
    return code, pct


def simulate_orders(
    rng: np.random.Generator,
    block: CustomerBlock,
    acquisition_weeks: np.ndarray,
    clock: SeasonalClock,
    params: BehaviourParams,
    catalogue: Catalogue,
) -> OrderBlock:
    """Completed orders from the BG/NBD process plus cancelled extras, with baskets and prices."""
    n = block.size
    traits = block.traits
    buyers = np.flatnonzero(~block.is_lead)
    horizon = clock.horizon_weeks - acquisition_weeks[buyers]
    history = simulate_repeat_purchases(rng, traits.rate_per_week[buyers], traits.dropout_p[buyers], horizon)
    repeat_owner = buyers[history.owner]
    repeat_at = clock.to_utc_seconds(acquisition_weeks[repeat_owner] + history.weeks_after_first)

    cust = np.concatenate([buyers, repeat_owner])
    at = np.concatenate([block.acquired_at[buyers], repeat_at])
    order = np.lexsort((at, cust))
    cust, at = cust[order], at[order]
    counts = np.bincount(cust, minlength=n)
    first_of = np.cumsum(counts) - counts
    seq = np.arange(len(cust)) - first_of[cust]
    last_at = np.where(counts > 0, at[np.maximum(first_of + counts - 1, 0)], block.signup_at)
    dropped = np.zeros(n, dtype=bool)
    dropped[buyers] = ~history.alive_at_end
    block.dropped_at = np.where(dropped, last_at, NEVER)
    block.last_purchase_at = last_at
    block.completed_orders = counts

    # Cancelled orders: extra orders placed shortly after a purchase and cancelled; outside the process.
    extra_rate = params.cancel_rate / (1.0 - params.cancel_rate)
    has_cancel = rng.random(len(cust)) < extra_rate
    cancel_at = at[has_cancel] + rng.integers(600, 6 * 3600, int(has_cancel.sum()))
    keep = cancel_at < clock.end_utc
    c_cust, c_at, c_seq = cust[has_cancel][keep], cancel_at[keep], seq[has_cancel][keep]

    all_cust = np.concatenate([cust, c_cust])
    all_at = np.concatenate([at, c_at])
    completed = np.concatenate([np.ones(len(cust), dtype=bool), np.zeros(len(c_cust), dtype=bool)])
    all_seq = np.concatenate([seq, c_seq])
    order = np.lexsort((~completed, all_cust, all_at))  # chronological; ids follow time within the block
    all_cust, all_at, completed, all_seq = all_cust[order], all_at[order], completed[order], all_seq[order]
    m = len(all_cust)

    # Where the order is placed: marketplace-acquired customers keep ordering there half the time.
    u = rng.random((m, 4))
    marketplace_share = np.where(traits.channel[all_cust] == CHANNEL_NAMES.index("marketplace"), 0.55, 0.06)
    channel = np.where(
        u[:, 0] < marketplace_share,
        3,
        np.where(u[:, 1] < 0.03, 2, np.where(u[:, 2] < block.app_share[all_cust], 1, 0)),
    )

    # Spend per order: Gamma(p, ν) in RUB (Gamma-Gamma), turned into a merchandise budget that, after the
    # coupon and shipping, gives back the drawn value.
    spend_rub = rng.gamma(params.p, 1.0 / traits.spend_nu[all_cust])
    coupon, pct = _coupons(rng, clock, all_at, all_seq, params)
    pickup = u[:, 3] < params.pickup_share
    ship_guess = np.where(
        pickup | (spend_rub >= params.free_shipping_from_rub), 0.0, float(params.shipping_fee_rub)
    )
    # Loyalty-point redemptions (no code) on a few orders without a coupon: a fixed amount off.
    no_code = coupon == None  # noqa: E711 (elementwise on an object array)
    redeem = no_code & (rng.random(m) < params.points_redemption_share)
    redeem_rub = np.where(redeem, rng.choice(np.array([100, 200, 300, 500]), size=m), 0)
    budget_rub = np.maximum(spend_rub - ship_guess, 100.0) / (1.0 - pct / 100.0) + redeem_rub
    baskets = build_baskets(
        rng,
        catalogue,
        np.round(budget_rub * 100).astype(np.int64),
        traits.segment[all_cust],
        block.favourites[all_cust],
        all_seq,
        block.numbers[all_cust],
    )
    subtotal = baskets.subtotal_minor
    # Coupons take whole roubles off; redemptions at most half the basket.
    discount = (subtotal * pct // 100) // 100 * 100
    discount = np.where(redeem, np.minimum(redeem_rub * 100, subtotal // 2 // 100 * 100), discount)
    after_discount = subtotal - discount
    shipping = np.where(
        pickup | (after_discount >= params.free_shipping_from_rub * 100), 0, params.shipping_fee_rub * 100
    ).astype(np.int64)
    total = after_discount + shipping
    line_count = np.bincount(baskets.line_order, minlength=m)
    line_start = np.cumsum(line_count) - line_count
    return OrderBlock(
        customer=all_cust,
        ordered_at=all_at,
        completed=completed,
        seq=all_seq,
        channel=channel,
        coupon=coupon,
        subtotal_minor=subtotal,
        discount_minor=discount,
        shipping_minor=shipping,
        total_minor=total,
        primary=baskets.primary,
        line_order=baskets.line_order,
        line_product=baskets.line_product,
        line_quantity=baskets.line_quantity,
        line_start=line_start,
        line_count=line_count,
    )


def simulate_refunds(
    rng: np.random.Generator,
    block: CustomerBlock,
    orders: OrderBlock,
    clock: SeasonalClock,
    params: BehaviourParams,
    catalogue: Catalogue,
) -> RefundBlock:
    """Full or partial refunds of ~``refund_rate`` of completed orders, likelier for unhappy customers.

    The risk is ``exp(−k·s)`` normalised over the block's completed orders, so the expected share is the
    stated rate; refunds that would fall after the period end are not (yet) in the data.
    """
    s = block.traits.satisfaction[orders.customer]
    risk = np.exp(-params.refund_satisfaction_slope * s) * orders.completed
    norm = risk.sum() / max(int(orders.completed.sum()), 1)
    p_refund = np.clip(params.refund_rate * risk / max(norm, 1e-12), 0.0, 0.9)
    refunded = rng.random(orders.size) < p_refund
    idx = np.flatnonzero(refunded)
    k = len(idx)
    u = rng.random((k, 4))
    delay_days = 2.0 + rng.gamma(2.0, 6.0, k)
    at = orders.ordered_at[idx] + (delay_days * SECONDS_PER_DAY).astype(np.int64)
    divisible = (orders.line_count[idx] > 1) | (orders.line_quantity[orders.line_start[idx]] > 1)
    partial = divisible & (u[:, 0] < params.partial_refund_share)
    line = orders.line_start[idx] + np.minimum(
        (u[:, 1] * orders.line_count[idx]).astype(np.int64), orders.line_count[idx] - 1
    )
    line_qty = orders.line_quantity[line]
    qty = 1 + np.minimum((u[:, 2] * line_qty).astype(np.int64), line_qty - 1)
    product = orders.line_product[line]
    # A partial refund returns what was paid for those items: list price less the order's discount share.
    gross = qty * catalogue.price_minor[product]
    sub = np.maximum(orders.subtotal_minor[idx], 1)
    paid = gross - (gross * orders.discount_minor[idx]) // sub
    amount = np.where(partial, np.minimum(paid, orders.total_minor[idx]), orders.total_minor[idx])
    reason_full = np.array(REFUND_REASONS_FULL, dtype=object)[
        (u[:, 3] * len(REFUND_REASONS_FULL)).astype(int)
    ]
    reason_part = np.array(REFUND_REASONS_PARTIAL, dtype=object)[
        (u[:, 3] * len(REFUND_REASONS_PARTIAL)).astype(int)
    ]
    keep = at < clock.end_utc
    return RefundBlock(
        order=idx[keep],
        refunded_at=at[keep],
        amount_minor=amount[keep],
        product=np.where(partial, product, -1)[keep],
        quantity=np.where(partial, qty, 0)[keep],
        reason=np.where(partial, reason_part, reason_full)[keep],
    )
