"""Site sessions and email engagement of one block of customers, as contract events.

Sessions follow the funnel visit → product_view → add_to_cart → checkout → order. Every tracked web/app
order has the session that produced it (ending at the order); on top of that, customers browse without
buying (bounces, browsing, abandoned carts and checkouts), most first orders are preceded by a visit or
two, and the browsing stops some weeks after a customer drops out. Emails (a monthly newsletter plus
Black Friday and New Year campaigns) go to customers with email consent; opens and clicks are likelier
while the customer is active and happy, and unhappy customers unsubscribe sooner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from retentio.demo.baskets import _DURABLE_CUM, _REFILL_CUM
from retentio.demo.behaviour import CHANNEL_NAMES
from retentio.demo.catalogue import CATEGORIES, Catalogue
from retentio.demo.clock import SECONDS_PER_DAY, SeasonalClock, black_friday
from retentio.demo.orders import NEVER, CustomerBlock, OrderBlock

EVENT_TYPES = (
    "visit",
    "product_view",
    "add_to_cart",
    "checkout",
    "email_sent",
    "email_open",
    "email_click",
    "unsubscribe",
)
VISIT, VIEW, CART, CHECKOUT, SENT, OPEN, CLICK, UNSUBSCRIBE = range(len(EVENT_TYPES))
TRAFFIC_SOURCES = ("direct", "organic", "paid_search", "social", "referral", "email", "marketplace", "app")
RETURN_TRAFFIC = np.array([0.36, 0.22, 0.12, 0.10, 0.05, 0.15, 0.0, 0.0])  # later web sessions
# First-touch traffic source of each acquisition channel (marketplace buyers find the site directly).
ACQUISITION_SOURCE = {
    "organic": "organic",
    "paid_search": "paid_search",
    "social": "social",
    "referral": "referral",
    "email": "email",
    "marketplace": "direct",
}
DEVICES = ("desktop", "mobile", "app")
# Session depth: 0 bounce, 1 browse, 2 abandoned cart, 3 abandoned checkout, 4 converted.
BOUNCE, BROWSE, ABANDONED_CART, ABANDONED_CHECKOUT, CONVERTED = range(5)
DEPTH_WEIGHTS = np.array([0.45, 0.33, 0.15, 0.07])
MEDIAN_DURATION_S = np.array([20.0, 150.0, 360.0, 480.0, 540.0])
TRACKED_ORDER_SHARE = 0.9  # the rest: blocked trackers, orders by phone
NEWSLETTER_HOUR_LOCAL = 10


@dataclass(frozen=True)
class EmailSchedule:
    sent_at: np.ndarray  # UTC seconds, ascending
    campaign: tuple[str, ...]


def email_schedule(clock: SeasonalClock) -> EmailSchedule:
    """Monthly newsletter (the 10th), Black Friday (its morning) and New Year (20 December) campaigns."""
    sends: list[tuple[int, str]] = []
    for year in range(clock.start.year, clock.end.year + 1):
        for month in range(1, 13):
            day = datetime(year, month, 10, NEWSLETTER_HOUR_LOCAL, tzinfo=clock.zone)
            sends.append((int(day.timestamp()), f"newsletter-{year}-{month:02d}"))
        bf = black_friday(year)
        sends.append(
            (int(datetime(bf.year, 11, bf.day, 9, tzinfo=clock.zone).timestamp()), f"black-friday-{year}")
        )
        sends.append((int(datetime(year, 12, 20, 11, tzinfo=clock.zone).timestamp()), f"new-year-{year}"))
    sends = sorted(s for s in sends if clock.start_utc <= s[0] < clock.end_utc)
    return EmailSchedule(np.array([s[0] for s in sends], dtype=np.int64), tuple(s[1] for s in sends))


@dataclass
class Events:
    customer: np.ndarray
    occurred_at: np.ndarray
    type: np.ndarray  # index into EVENT_TYPES
    session: np.ndarray  # block-local session number, −1 for none
    page: np.ndarray  # index into page_table(), −1 for none
    product: np.ndarray  # product index, −1 for none
    duration_s: np.ndarray  # NaN for none
    source: np.ndarray  # index into TRAFFIC_SOURCES
    order: np.ndarray  # order index for a converted checkout, −1 otherwise
    campaign: np.ndarray  # index into the schedule's campaigns, −1 otherwise
    device: np.ndarray  # index into DEVICES for visits, −1 otherwise
    n_sessions: int


def page_table(catalogue: Catalogue) -> list[str]:
    """Pages by index: home, cart, checkout, one per category, one per product."""
    return (
        ["/", "/cart", "/checkout"]
        + [f"/catalog/{c}" for c in CATEGORIES]
        + [f"/product/{s}" for s in catalogue.sku]
    )


PAGE_HOME, PAGE_CART, PAGE_CHECKOUT, PAGE_CATALOG0 = 0, 1, 2, 3
PAGE_PRODUCT0 = PAGE_CATALOG0 + len(CATEGORIES)


def _lognormal(rng: np.random.Generator, median: np.ndarray, sigma: float) -> np.ndarray:
    return np.asarray(median * np.exp(rng.normal(0.0, sigma, len(median))), dtype=np.float64)


def simulate_events(
    rng: np.random.Generator,
    block: CustomerBlock,
    orders: OrderBlock,
    clock: SeasonalClock,
    catalogue: Catalogue,
    schedule: EmailSchedule,
) -> tuple[Events, np.ndarray]:
    """All events of the block, sorted by time; also returns who unsubscribed (to clear their consent)."""
    assert block.last_purchase_at is not None and block.dropped_at is not None
    traits = block.traits
    n = block.size
    source_of_channel = np.array([TRAFFIC_SOURCES.index(ACQUISITION_SOURCE[c]) for c in CHANNEL_NAMES])

    # 1. Converted sessions: one per tracked web/app order, ending at the order.
    conv = np.flatnonzero((orders.channel <= 1) & (rng.random(orders.size) < TRACKED_ORDER_SHARE))
    conv_cust = orders.customer[conv]
    conv_dur = np.clip(_lognormal(rng, np.full(len(conv), MEDIAN_DURATION_S[CONVERTED]), 0.6), 60, 3600)
    conv_start = orders.ordered_at[conv] - conv_dur.astype(np.int64)
    return_source = rng.choice(len(TRAFFIC_SOURCES), size=len(conv), p=RETURN_TRAFFIC)
    first_touch = (orders.seq[conv] == 0) & orders.completed[conv]
    conv_source = np.where(first_touch, source_of_channel[traits.channel[conv_cust]], return_source)
    conv_source = np.where(orders.channel[conv] == 1, TRAFFIC_SOURCES.index("app"), conv_source)

    # 2. Browsing before the first order (the start of the journey).
    buyers = np.flatnonzero(~block.is_lead)
    n_pre = np.where(rng.random(len(buyers)) < 0.6, 1 + rng.poisson(0.6, len(buyers)), 0)
    pre_cust = np.repeat(buyers, n_pre)
    pre_end = block.acquired_at[pre_cust] - 3600
    pre_start = np.maximum(pre_end - 14 * SECONDS_PER_DAY, clock.start_utc)
    pre_at = pre_start + (rng.random(len(pre_cust)) * np.maximum(pre_end - pre_start, 0)).astype(np.int64)
    pre_depth = np.where(rng.random(len(pre_cust)) < 0.7, BROWSE, ABANDONED_CART)
    pre_source = source_of_channel[traits.channel[pre_cust]]

    # 3. Sessions without an order over the active span (and a little after dropping out).
    is_lead = block.is_lead
    span_end = np.where(
        is_lead,
        block.signup_at + 120 * SECONDS_PER_DAY,
        np.where(block.dropped_at == NEVER, clock.end_utc, block.last_purchase_at + 45 * SECONDS_PER_DAY),
    )
    span_end = np.minimum(span_end, clock.end_utc - 1)
    span = np.maximum(span_end - block.signup_at, 0)
    assert block.completed_orders is not None
    n_idle = rng.poisson(np.where(is_lead, 1.5, 0.55 * block.completed_orders + 0.8))
    idle_cust = np.repeat(np.arange(n), n_idle)
    idle_at = block.signup_at[idle_cust] + (rng.random(len(idle_cust)) * span[idle_cust]).astype(np.int64)
    idle_depth = rng.choice(4, size=len(idle_cust), p=DEPTH_WEIGHTS)
    idle_source = rng.choice(len(TRAFFIC_SOURCES), size=len(idle_cust), p=RETURN_TRAFFIC)

    # Assemble sessions (start time, duration, depth, views).
    cust = np.concatenate([conv_cust, pre_cust, idle_cust])
    depth = np.concatenate([np.full(len(conv), CONVERTED), pre_depth, idle_depth])
    duration = np.concatenate(
        [
            conv_dur,
            np.clip(_lognormal(rng, MEDIAN_DURATION_S[pre_depth], 0.7), 10, 5400),
            np.where(
                idle_depth == BOUNCE,
                rng.uniform(5, 45, len(idle_cust)),
                np.clip(_lognormal(rng, MEDIAN_DURATION_S[idle_depth], 0.7), 10, 5400),
            ),
        ]
    )
    start = np.concatenate([conv_start, pre_at, idle_at])
    source = np.concatenate([conv_source, pre_source, idle_source])
    order_ref = np.concatenate([conv, np.full(len(pre_cust) + len(idle_cust), -1)])
    keep = (start >= clock.start_utc) & (start + duration.astype(np.int64) < clock.end_utc)
    cust, depth, duration, start, source, order_ref = (
        cust[keep], depth[keep], duration[keep], start[keep], source[keep], order_ref[keep]
    )  # fmt: skip
    n_views = np.where(depth == BOUNCE, 0, 1 + rng.poisson(np.where(depth == CONVERTED, 0.6, 1.0)))
    n_events = 1 + n_views + (depth >= ABANDONED_CART) + (depth >= ABANDONED_CHECKOUT)
    s_count = len(cust)
    session_order = np.lexsort((np.arange(s_count), start))
    session_number = np.empty(s_count, dtype=np.int64)
    session_number[session_order] = np.arange(s_count)

    # What the session looks at: the order's items, or the customer's usual categories.
    seg = traits.segment[cust]
    u = rng.random((s_count, 4))
    cum = np.where((u[:, 0] < 0.7)[:, None], _REFILL_CUM[seg], _DURABLE_CUM[seg])
    browse_cat = np.minimum((u[:, 1][:, None] > cum).sum(axis=1), len(CATEGORIES) - 1)
    main_product = np.where(
        order_ref >= 0, orders.primary[np.maximum(order_ref, 0)], catalogue.popular(browse_cat, u[:, 2])
    )
    main_cat = catalogue.category_index[main_product]
    device = np.where(
        source == TRAFFIC_SOURCES.index("app"), 2, np.where(u[:, 3] < 0.62, 1, 0)
    )  # mobile-first audience
    landing = rng.random(s_count)

    # Explode sessions into events.
    sess = np.repeat(np.arange(s_count), n_events)
    first = np.cumsum(n_events) - n_events
    pos = np.arange(len(sess)) - first[sess]
    nv = n_views[sess]
    etype = np.where(pos == 0, VISIT, np.where(pos <= nv, VIEW, np.where(pos == nv + 1, CART, CHECKOUT)))
    at = start[sess] + np.floor(duration[sess] * pos / n_events[sess]).astype(np.int64)
    # Views after the first: another item of the order half the time, else a bestseller of the category.
    ev_u = rng.random((len(sess), 2))
    o_ref = order_ref[sess]
    has_order = o_ref >= 0
    line_pick = np.where(
        has_order,
        orders.line_start[np.maximum(o_ref, 0)]
        + np.minimum((ev_u[:, 0] * orders.line_count[np.maximum(o_ref, 0)]).astype(np.int64),
                     orders.line_count[np.maximum(o_ref, 0)] - 1),
        0,
    )  # fmt: skip
    other_item = np.where(
        has_order & (ev_u[:, 1] < 0.5),
        orders.line_product[line_pick],
        catalogue.popular(main_cat[sess], ev_u[:, 0]),
    )
    product = np.where(
        (etype == VIEW) & (pos == 1), main_product[sess], np.where(etype == VIEW, other_item, -1)
    )
    product = np.where(etype == CART, main_product[sess], product)
    land = landing[sess]
    page = np.where(
        etype == VIEW,
        PAGE_PRODUCT0 + np.maximum(product, 0),
        np.where(etype == CART, PAGE_CART, np.where(etype == CHECKOUT, PAGE_CHECKOUT, PAGE_HOME)),
    )
    visit = etype == VISIT
    page = np.where(visit & (land >= 0.45) & (land < 0.75), PAGE_CATALOG0 + main_cat[sess], page)
    landing_product = visit & (land >= 0.75)
    page = np.where(landing_product, PAGE_PRODUCT0 + main_product[sess], page)
    product = np.where(landing_product, main_product[sess], product)
    dur = np.where(
        visit,
        np.round(duration[sess], 1),
        np.where(etype == VIEW, np.round(duration[sess] / n_events[sess], 1), np.nan),
    )
    session_events = Events(
        customer=cust[sess],
        occurred_at=at,
        type=etype,
        session=session_number[sess],
        page=page,
        product=product,
        duration_s=dur,
        source=source[sess],
        order=np.where(etype == CHECKOUT, o_ref, -1),
        campaign=np.full(len(sess), -1),
        device=np.where(visit, device[sess], -1),
        n_sessions=s_count,
    )

    email_events, unsubscribed = _email_events(rng, block, clock, schedule)
    merged = _concat([session_events, email_events], s_count)
    order = np.lexsort((merged.type, merged.customer, merged.occurred_at))
    return _take(merged, order), unsubscribed


def _email_events(
    rng: np.random.Generator, block: CustomerBlock, clock: SeasonalClock, schedule: EmailSchedule
) -> tuple[Events, np.ndarray]:
    assert block.dropped_at is not None
    n = block.size
    s = block.traits.satisfaction
    has_email = np.array([e is not None for e in block.identities.email], dtype=bool)
    eligible = block.identities.consent_email & has_email
    first = np.searchsorted(schedule.sent_at, block.signup_at, side="right")
    possible = np.where(eligible, len(schedule.sent_at) - first, 0)
    # Unsubscribing is a per-email hazard, higher for unhappy customers.
    hazard = np.clip(0.004 * np.exp(-0.5 * s), 1e-6, 0.5)
    last_email = rng.geometric(hazard)
    received = np.minimum(possible, last_email)
    unsubscribed = eligible & (last_email <= possible)
    owner = np.repeat(np.arange(n), received)
    idx = np.arange(len(owner)) - np.repeat(np.cumsum(received) - received, received) + first[owner]
    sent_at = schedule.sent_at[idx]
    alive_until = np.where(block.is_lead, block.signup_at + 60 * SECONDS_PER_DAY, block.dropped_at)
    alive = sent_at < alive_until[owner]
    so = s[owner]
    p_open = np.where(alive, 0.32, 0.12) * np.exp(0.25 * so - 0.03125)
    u = rng.random((len(owner), 4))
    opened = u[:, 0] < p_open
    clicked = opened & (u[:, 1] < np.where(alive, 0.14, 0.07))
    open_at = (
        sent_at
        + 30
        + np.minimum(rng.exponential(5 * 3600.0, len(owner)), 7 * SECONDS_PER_DAY).astype(np.int64)
    )
    click_at = open_at + (5 + u[:, 2] * 295).astype(np.int64)
    last = unsubscribed[owner] & (idx == first[owner] + received[owner] - 1)
    unsub_at = np.maximum(open_at, sent_at + 60) + (u[:, 3] * 600).astype(np.int64)

    parts = [
        (np.ones(len(owner), dtype=bool), sent_at, SENT),
        (opened, open_at, OPEN),
        (clicked, click_at, CLICK),
        (last, unsub_at, UNSUBSCRIBE),
    ]
    customers, times, types, campaigns = [], [], [], []
    for mask, when, kind in parts:
        keep = mask & (when < clock.end_utc)
        customers.append(owner[keep])
        times.append(when[keep])
        types.append(np.full(int(keep.sum()), kind))
        campaigns.append(idx[keep])
    customer = np.concatenate(customers)
    k = len(customer)
    email_source = TRAFFIC_SOURCES.index("email")
    return (
        Events(
            customer=customer,
            occurred_at=np.concatenate(times),
            type=np.concatenate(types),
            session=np.full(k, -1),
            page=np.full(k, -1),
            product=np.full(k, -1),
            duration_s=np.full(k, np.nan),
            source=np.full(k, email_source),
            order=np.full(k, -1),
            campaign=np.concatenate(campaigns),
            device=np.full(k, -1),
            n_sessions=0,
        ),
        unsubscribed,
    )


_EVENT_FIELDS = (
    "customer",
    "occurred_at",
    "type",
    "session",
    "page",
    "product",
    "duration_s",
    "source",
    "order",
    "campaign",
    "device",
)


def _concat(parts: list[Events], n_sessions: int) -> Events:
    values = {f: np.concatenate([getattr(p, f) for p in parts]) for f in _EVENT_FIELDS}
    return Events(**values, n_sessions=n_sessions)


def _take(ev: Events, order: np.ndarray) -> Events:
    return Events(**{f: getattr(ev, f)[order] for f in _EVENT_FIELDS}, n_sessions=ev.n_sessions)
