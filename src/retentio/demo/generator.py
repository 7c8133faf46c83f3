"""Generate a realistic demo shop: every contract table plus ``metadata.json`` with the true parameters.

Customers are generated in blocks with numpy; each block is appended to the output files as soon as it
is done, so memory stays bounded whatever the number of customers. Blocks are cut by *expected work*
(about :data:`BLOCK_EXPECTED_ORDERS` orders each, from the BG/NBD expectation): early customers have three
years of history and later ones weeks, so equal customer counts would make the first blocks the largest. Every
block has its own random stream derived from ``(seed, block index)``, and the acquisition times (the only
thing shared between blocks) come from a stream of their own, so the output is byte-identical for the
same arguments.

See :mod:`retentio.demo.behaviour` for the purchase process, :mod:`retentio.demo.clock` for seasonality,
:mod:`retentio.demo.baskets` for order contents, :mod:`retentio.demo.activity` for events and
:mod:`retentio.demo.feedback` for reviews, tickets and surveys.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retentio.contract import LOAD_ORDER
from retentio.demo.activity import (
    CLICK,
    DEVICES,
    EVENT_TYPES,
    OPEN,
    SENT,
    TRAFFIC_SOURCES,
    UNSUBSCRIBE,
    Events,
    email_schedule,
    page_table,
    simulate_events,
)
from retentio.demo.behaviour import (
    CHANNEL_NAMES,
    BehaviourParams,
    acquisition_weeks,
    channel_profiles,
    expected_orders_per_customer,
    expected_repeat_purchases,
)
from retentio.demo.catalogue import AFFINITIES, Catalogue
from retentio.demo.clock import BLACK_FRIDAY_BOOST, PEAK_AMPLITUDE, SeasonalClock
from retentio.demo.feedback import (
    Reviews,
    Surveys,
    Tickets,
    simulate_reviews,
    simulate_surveys,
    simulate_tickets,
)
from retentio.demo.orders import (
    NEVER,
    ORDER_CHANNELS,
    CustomerBlock,
    OrderBlock,
    RefundBlock,
    make_customers,
    simulate_orders,
    simulate_refunds,
)
from retentio.demo.output import MoneyColumn, TableSink, TimestampColumn, build_table, id_strings
from retentio.errors import UserError

DEFAULT_START = date(2023, 1, 1)
DEFAULT_END = date(2025, 12, 31)
BLOCK_EXPECTED_ORDERS = 50_000
MAX_CUSTOMERS = 10_000_000
FORMATS = ("csv", "parquet")
CURRENCY = "RUB"

# Id prefixes and digit counts (customers widen when there are more than 10⁷).
ORDER_DIGITS, REFUND_DIGITS, EVENT_DIGITS, SESSION_DIGITS = 9, 9, 11, 10
REVIEW_DIGITS, TICKET_DIGITS, RESPONSE_DIGITS = 8, 8, 9

ProgressCallback = Callable[[int, int], None]


@dataclass
class _Counters:
    """Running id offsets and realised statistics over blocks."""

    orders: int = 0
    refunds: int = 0
    events: int = 0
    sessions: int = 0
    reviews: int = 0
    tickets: int = 0
    responses: int = 0
    leads: int = 0
    buyers: int = 0
    completed: int = 0
    cancelled: int = 0
    completed_total_minor: int = 0
    with_coupon: int = 0
    repeat_purchases: int = 0
    expected_repeat_purchases: float = 0.0
    dropped_out: int = 0
    emails_sent: int = 0
    emails_opened: int = 0
    emails_clicked: int = 0
    unsubscribed: int = 0
    channel_buyers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNEL_NAMES, 0))
    channel_repeaters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANNEL_NAMES, 0))
    ticket_urgency: dict[str, int] = field(default_factory=lambda: {"high": 0, "medium": 0, "low": 0})


def _check_arguments(customers: int, seed: int, start: date, end: date, fmt: str) -> None:
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise UserError(f"--customers must be between 1 and {MAX_CUSTOMERS:,}, got {customers}")
    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    if end < start:
        raise UserError(f"--end {end.isoformat()} is before --start {start.isoformat()}")
    if (end - start).days < 27:
        raise UserError("the simulated period must be at least four weeks long")
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def block_bounds(acquisition: np.ndarray, horizon_weeks: float, params: BehaviourParams) -> list[int]:
    """Customer index boundaries of blocks holding about BLOCK_EXPECTED_ORDERS expected orders each."""
    expected = 1.0 + expected_repeat_purchases(params, horizon_weeks - acquisition)
    cumulative = np.cumsum(expected)
    n_blocks = max(1, int(np.ceil(cumulative[-1] / BLOCK_EXPECTED_ORDERS))) if len(cumulative) else 1
    cuts = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, n_blocks) / n_blocks)
    return sorted({0, *(int(c) for c in cuts), len(acquisition)})


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    start: date | None = None,
    end: date | None = None,
    fmt: str = "csv",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Write the demo data set to ``out_dir`` and return its metadata (also written as metadata.json).

    ``start``/``end`` are the first and last local days of the simulated period (default 2023-01-01 to
    2025-12-31); customers are acquired throughout it. ``progress(done, total)`` is called after each
    block of customers.
    """
    start = start or DEFAULT_START
    end = end or DEFAULT_END
    _check_arguments(customers, seed, start, end, fmt)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc

    params = BehaviourParams()
    clock = SeasonalClock(start, end)
    catalogue = Catalogue()
    schedule = email_schedule(clock)
    pages = pa.array(page_table(catalogue))
    skus = pa.array(catalogue.sku.tolist())
    campaign_json = pa.array([json.dumps({"campaign": c}) for c in schedule.campaign])
    device_json = pa.array([json.dumps({"device": d}) for d in DEVICES])
    customer_digits = max(7, len(str(customers)))

    # Acquisition times are drawn for all customers at once (8 bytes each) and sorted, so customer
    # numbers follow acquisition order; the rest is drawn block by block.
    acquisition = acquisition_weeks(
        np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0]))),
        customers,
        clock.horizon_weeks,
        params.acquisition_growth,
    )
    counters = _Counters()
    sinks: dict[str, TableSink] = {}
    try:
        for table in LOAD_ORDER:
            sinks[table] = TableSink(out_dir, table, fmt)
        bounds = block_bounds(acquisition, clock.horizon_weeks, params)
        for block_index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            streams = [
                np.random.Generator(np.random.PCG64(s))
                for s in np.random.SeedSequence([seed, 1, block_index]).spawn(7)
            ]
            weeks = acquisition[lo:hi]
            block = make_customers(streams[0], np.arange(lo + 1, hi + 1), weeks, clock, params, catalogue)
            orders = simulate_orders(streams[1], block, weeks, clock, params, catalogue)
            refunds = simulate_refunds(streams[2], block, orders, clock, params, catalogue)
            reviews = simulate_reviews(streams[3], block, orders, refunds, clock, catalogue)
            tickets = simulate_tickets(streams[4], block, orders, refunds, clock, catalogue, counters.orders)
            surveys = simulate_surveys(streams[5], block, orders, refunds, clock)
            events, unsubscribed = simulate_events(streams[6], block, orders, clock, catalogue, schedule)

            customer_ids = id_strings("C", block.numbers, customer_digits)
            order_ids = id_strings("O", counters.orders + 1 + np.arange(orders.size), ORDER_DIGITS)
            _write_customers(sinks["customers"], block, customer_ids, unsubscribed, fmt)
            _write_orders(
                sinks["orders"], sinks["order_lines"], orders, customer_ids, order_ids, catalogue, fmt
            )
            _write_refunds(sinks["refunds"], refunds, order_ids, skus, counters.refunds, fmt)
            _write_events(sinks["events"], events, customer_ids, order_ids, pages, skus, campaign_json,
                          device_json, counters, fmt)  # fmt: skip
            _write_reviews(sinks["reviews"], reviews, customer_ids, order_ids, skus, counters.reviews, fmt)
            _write_tickets(sinks["tickets"], tickets, customer_ids, counters.tickets, fmt)
            _write_surveys(sinks["survey_responses"], surveys, customer_ids, counters.responses, fmt)
            _tally(counters, block, weeks, clock, params, orders, refunds, reviews, tickets, surveys, events,
                   unsubscribed)  # fmt: skip
            if progress is not None:
                progress(hi, customers)
    finally:
        for sink in sinks.values():
            sink.close()

    metadata = _metadata(seed, customers, clock, params, catalogue, counters, sinks, fmt)
    (out_dir / "metadata.json").write_text(
        json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return metadata


# ------------------------------------------------------------------------------------------ writing


def _write_customers(
    sink: TableSink, block: CustomerBlock, customer_ids: pa.Array, unsubscribed: np.ndarray, fmt: str
) -> None:
    ident = block.identities
    sink.write(
        build_table(
            "customers",
            {
                "customer_id": customer_ids,
                "email": ident.email,
                "phone": ident.phone,
                "first_name": ident.first_name,
                "last_name": ident.last_name,
                "birthday": pa.array(ident.birthday, type=pa.date32()),
                "gender": ident.gender,
                "city": ident.city,
                "signup_at": TimestampColumn(block.signup_at),
                "acquisition_channel": np.array(CHANNEL_NAMES, dtype=object)[block.traits.channel],
                # The export shows consent as it is now: an unsubscribe withdrew it.
                "consent_email": ident.consent_email & ~unsubscribed,
                "consent_sms": ident.consent_sms,
                "locale": ident.locale,
            },
            fmt,
        )
    )


def _write_orders(
    orders_sink: TableSink,
    lines_sink: TableSink,
    orders: OrderBlock,
    customer_ids: pa.Array,
    order_ids: pa.Array,
    catalogue: Catalogue,
    fmt: str,
) -> None:
    orders_sink.write(
        build_table(
            "orders",
            {
                "order_id": order_ids,
                "customer_id": customer_ids.take(pa.array(orders.customer)),
                "ordered_at": TimestampColumn(orders.ordered_at),
                "total": MoneyColumn(orders.total_minor),
                "currency": pa.repeat(pa.scalar(CURRENCY), orders.size),
                "status": np.where(orders.completed, "completed", "cancelled").astype(object),
                "channel": np.array(ORDER_CHANNELS, dtype=object)[orders.channel],
                "discount": MoneyColumn(orders.discount_minor),
                "shipping": MoneyColumn(orders.shipping_minor),
                "coupon_code": orders.coupon,
            },
            fmt,
        )
    )
    names = pa.array([p.name_ru for p in catalogue.products])
    categories = pa.array([p.category for p in catalogue.products])
    product = pa.array(orders.line_product)
    lines_sink.write(
        build_table(
            "order_lines",
            {
                "order_id": order_ids.take(pa.array(orders.line_order)),
                "sku": pa.array(catalogue.sku.tolist()).take(product),
                "quantity": orders.line_quantity,
                "unit_price": MoneyColumn(catalogue.price_minor[orders.line_product]),
                "product_name": names.take(product),
                "category": categories.take(product),
                "unit_cost": MoneyColumn(catalogue.cost_minor[orders.line_product]),
            },
            fmt,
        )
    )


def _write_refunds(
    sink: TableSink, refunds: RefundBlock, order_ids: pa.Array, skus: pa.Array, offset: int, fmt: str
) -> None:
    order = np.argsort(refunds.refunded_at, kind="stable")
    partial = refunds.quantity[order] > 0
    sink.write(
        build_table(
            "refunds",
            {
                "refund_id": id_strings("R", offset + 1 + np.arange(refunds.size), REFUND_DIGITS),
                "order_id": order_ids.take(pa.array(refunds.order[order])),
                "refunded_at": TimestampColumn(refunds.refunded_at[order]),
                "amount": MoneyColumn(refunds.amount_minor[order]),
                "sku": skus.take(pa.array(np.maximum(refunds.product[order], 0), mask=~partial)),
                "quantity": pa.array(refunds.quantity[order], mask=~partial),
                "reason": refunds.reason[order],
            },
            fmt,
        )
    )


def _write_events(
    sink: TableSink,
    events: Events,
    customer_ids: pa.Array,
    order_ids: pa.Array,
    pages: pa.Array,
    skus: pa.Array,
    campaign_json: pa.Array,
    device_json: pa.Array,
    counters: _Counters,
    fmt: str,
) -> None:
    k = len(events.customer)
    has_session = events.session >= 0
    session_ids = id_strings("S", counters.sessions + 1 + np.maximum(events.session, 0), SESSION_DIGITS)
    session_ids = pc.if_else(pa.array(has_session), session_ids, pa.scalar(None, pa.string()))
    order_ref = events.order >= 0
    order_json = pc.binary_join_element_wise(
        '{"order_id": "', order_ids.take(pa.array(np.maximum(events.order, 0))), '"}', ""
    )
    other_json = pc.if_else(
        pa.array(events.campaign >= 0),
        campaign_json.take(pa.array(np.maximum(events.campaign, 0))),
        pc.if_else(
            pa.array(events.device >= 0),
            device_json.take(pa.array(np.maximum(events.device, 0))),
            pa.scalar(None, pa.string()),
        ),
    )
    properties = pc.if_else(pa.array(order_ref), order_json, other_json)
    sink.write(
        build_table(
            "events",
            {
                "event_id": id_strings("E", counters.events + 1 + np.arange(k), EVENT_DIGITS),
                "customer_id": customer_ids.take(pa.array(events.customer)),
                "occurred_at": TimestampColumn(events.occurred_at),
                "type": pa.array(list(EVENT_TYPES)).take(pa.array(events.type)),
                "session_id": session_ids,
                "page": pages.take(pa.array(np.maximum(events.page, 0), mask=events.page < 0)),
                "product_sku": skus.take(pa.array(np.maximum(events.product, 0), mask=events.product < 0)),
                "duration_s": pa.array(events.duration_s, from_pandas=True),
                "channel": pa.array(list(TRAFFIC_SOURCES)).take(pa.array(events.source)),
                "properties": properties,
            },
            fmt,
        )
    )
    counters.sessions += events.n_sessions


def _write_reviews(
    sink: TableSink,
    reviews: Reviews,
    customer_ids: pa.Array,
    order_ids: pa.Array,
    skus: pa.Array,
    offset: int,
    fmt: str,
) -> None:
    order = np.argsort(reviews.created_at, kind="stable")
    k = len(order)
    sink.write(
        build_table(
            "reviews",
            {
                "review_id": id_strings("RV", offset + 1 + np.arange(k), REVIEW_DIGITS),
                "customer_id": customer_ids.take(pa.array(reviews.customer[order])),
                "created_at": TimestampColumn(reviews.created_at[order]),
                "rating": reviews.rating[order],
                "text": [reviews.text[i] for i in order],
                "sku": skus.take(pa.array(reviews.product[order])),
                "order_id": order_ids.take(pa.array(reviews.order[order])),
                "language": reviews.language[order],
            },
            fmt,
        )
    )


def _write_tickets(sink: TableSink, tickets: Tickets, customer_ids: pa.Array, offset: int, fmt: str) -> None:
    order = np.argsort(tickets.opened_at, kind="stable")
    k = len(order)
    sink.write(
        build_table(
            "tickets",
            {
                "ticket_id": id_strings("T", offset + 1 + np.arange(k), TICKET_DIGITS),
                "customer_id": customer_ids.take(pa.array(tickets.customer[order])),
                "opened_at": TimestampColumn(tickets.opened_at[order]),
                "subject": [tickets.subject[i] for i in order],
                "text": [tickets.text[i] for i in order],
                "channel": tickets.channel[order],
                "first_response_at": TimestampColumn(
                    tickets.first_response_at[order], tickets.first_response_valid[order]
                ),
                "resolved_at": TimestampColumn(tickets.resolved_at[order], tickets.resolved_valid[order]),
                "csat": pa.array(tickets.csat[order], mask=~tickets.csat_valid[order]),
                "status": tickets.status[order],
            },
            fmt,
        )
    )


def _write_surveys(sink: TableSink, surveys: Surveys, customer_ids: pa.Array, offset: int, fmt: str) -> None:
    k = len(surveys.customer)
    sink.write(
        build_table(
            "survey_responses",
            {
                "response_id": id_strings("SR", offset + 1 + np.arange(k), RESPONSE_DIGITS),
                "customer_id": customer_ids.take(pa.array(surveys.customer)),
                "answered_at": TimestampColumn(surveys.answered_at),
                "survey": surveys.survey,
                "score": surveys.score,
                "question": surveys.question,
                "text": surveys.text,
                "reason": surveys.reason,
            },
            fmt,
        )
    )


# ------------------------------------------------------------------------------------------ metadata


def _tally(
    c: _Counters,
    block: CustomerBlock,
    weeks: np.ndarray,
    clock: SeasonalClock,
    params: BehaviourParams,
    orders: OrderBlock,
    refunds: RefundBlock,
    reviews: Reviews,
    tickets: Tickets,
    surveys: Surveys,
    events: Events,
    unsubscribed: np.ndarray,
) -> None:
    assert block.completed_orders is not None and block.dropped_at is not None
    c.orders += orders.size
    c.refunds += refunds.size
    c.events += len(events.customer)
    c.reviews += len(reviews.customer)
    c.tickets += len(tickets.customer)
    c.responses += len(surveys.customer)
    buyers = ~block.is_lead
    c.leads += int(block.is_lead.sum())
    c.buyers += int(buyers.sum())
    c.completed += int(orders.completed.sum())
    c.cancelled += int((~orders.completed).sum())
    c.completed_total_minor += int(orders.total_minor[orders.completed].sum())
    c.with_coupon += int((orders.coupon != None).sum())  # noqa: E711 (elementwise on an object array)
    c.repeat_purchases += int((block.completed_orders[buyers] - 1).sum())
    c.expected_repeat_purchases += float(
        expected_repeat_purchases(params, clock.horizon_weeks - weeks[buyers]).sum()
    )
    c.dropped_out += int((block.dropped_at[buyers] != NEVER).sum())
    c.emails_sent += int((events.type == SENT).sum())
    c.emails_opened += int((events.type == OPEN).sum())
    c.emails_clicked += int((events.type == CLICK).sum())
    c.unsubscribed += int((events.type == UNSUBSCRIBE).sum())
    for i, name in enumerate(CHANNEL_NAMES):
        in_channel = buyers & (block.traits.channel == i)
        c.channel_buyers[name] += int(in_channel.sum())
        c.channel_repeaters[name] += int((in_channel & (block.completed_orders >= 2)).sum())
    for level in c.ticket_urgency:
        c.ticket_urgency[level] += int((tickets.urgency == level).sum())


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _metadata(
    seed: int,
    customers: int,
    clock: SeasonalClock,
    params: BehaviourParams,
    catalogue: Catalogue,
    c: _Counters,
    sinks: dict[str, TableSink],
    fmt: str,
) -> dict[str, Any]:
    p = params
    true_params: dict[str, Any] = {
        "model": "BG/NBD purchases + Gamma-Gamma spend, in operational (seasonally warped) weeks",
        "time_unit": "week",
        "r": p.r,
        "alpha": p.alpha,
        "alpha_unit": "weeks",
        "a": p.a,
        "b": p.b,
        "p": p.p,
        "q": p.q,
        "v": p.v,
        "v_unit": "RUB",
        "purchase_rate": {
            "distribution": "gamma(shape=r, rate=alpha) per week",
            "mean_per_week": p.r / p.alpha,
        },
        "dropout": {"distribution": "beta(a, b), after each repeat purchase", "mean": p.a / (p.a + p.b)},
        "spend": {
            "model": "gamma-gamma: order value ~ gamma(p, nu), nu ~ gamma(q, rate v); order total in RUB",
            "expected_order_value_rub": p.p * p.v / (p.q - 1.0),
        },
        "seasonality": {
            "method": (
                "purchase times are drawn in operational time and mapped to calendar time through the "
                "monotone warp tau(t) = integral of s(u) du; s has yearly mean 1"
            ),
            "peak_amplitude": PEAK_AMPLITUDE,
            "black_friday_boost": BLACK_FRIDAY_BOOST,
            "nov_dec_uplift": clock.nov_dec_uplift(),
            "monthly_index": clock.monthly_index(),
            "timezone": str(clock.zone),
        },
        "acquisition": {
            "density": "proportional to 1 + growth * u / U over operational time u in [0, U)",
            "growth": p.acquisition_growth,
            "lead_share": p.lead_share,
            "first_purchase_at_acquisition": True,
        },
        "channels": {
            "assignment": "multinomial logit on the normal scores of rate, dropout and spend (copula)",
            "loadings": {
                ch.name: {
                    "intercept": ch.intercept,
                    "dropout": ch.dropout,
                    "rate": ch.rate,
                    "spend": ch.spend,
                }
                for ch in p.channels
            },
            "implied": channel_profiles(p),
        },
        "satisfaction": {
            "definition": "s = -rho * z_dropout + sqrt(1 - rho^2) * eps, standard normal",
            "rho": p.satisfaction_dropout_rho,
        },
        "rates": {
            "cancelled_share_of_orders": p.cancel_rate,
            "refund_share_of_completed_orders": p.refund_rate,
            "refund_risk": f"proportional to exp(-{p.refund_satisfaction_slope} * s)",
            "partial_refund_share": p.partial_refund_share,
            "welcome_coupon_share_of_first_orders": p.welcome_coupon_share,
            "black_friday_coupon_share": p.black_friday_coupon_share,
            "evergreen_coupon_share": p.evergreen_coupon_share,
            "points_redemption_share": p.points_redemption_share,
            "free_shipping_from_rub": p.free_shipping_from_rub,
            "shipping_fee_rub": p.shipping_fee_rub,
            "pickup_share": p.pickup_share,
        },
        "cross_sell_affinities": {k: dict(v) for k, v in AFFINITIES.items()},
        "expected_orders_per_customer": expected_orders_per_customer(p, clock.horizon_weeks),
    }
    return {
        "generator": "retentio.demo",
        "seed": seed,
        "customers": customers,
        "start": clock.start.isoformat(),
        "end": clock.end.isoformat(),
        "end_exclusive_utc": np.datetime_as_string(np.datetime64(clock.end_utc, "s"), unit="s") + "Z",
        "timezone": str(clock.zone),
        "currency": CURRENCY,
        "format": fmt,
        "files": {name: [path.name for path in sink.paths] for name, sink in sinks.items()},
        "rows": {name: sink.rows for name, sink in sinks.items()},
        "true_params": true_params,
        "realised": {
            "leads": c.leads,
            "buyers": c.buyers,
            "completed_orders": c.completed,
            "cancelled_orders": c.cancelled,
            "orders_per_customer": _ratio(c.completed + c.cancelled, customers),
            "cancelled_share": _ratio(c.cancelled, c.completed + c.cancelled),
            "refund_share_of_completed": _ratio(c.refunds, c.completed),
            "coupon_share_of_orders": _ratio(c.with_coupon, c.completed + c.cancelled),
            "mean_completed_order_total_rub": _ratio(c.completed_total_minor / 100.0, c.completed),
            "mean_repeat_purchases_per_buyer": _ratio(c.repeat_purchases, c.buyers),
            "expected_repeat_purchases_per_buyer": _ratio(c.expected_repeat_purchases, c.buyers),
            "dropped_out_share_of_buyers": _ratio(c.dropped_out, c.buyers),
            "repeat_rate_by_channel": {
                k: _ratio(c.channel_repeaters[k], v) for k, v in c.channel_buyers.items()
            },
            "buyers_by_channel": c.channel_buyers,
            "email_open_rate": _ratio(c.emails_opened, c.emails_sent),
            "email_click_rate": _ratio(c.emails_clicked, c.emails_sent),
            "unsubscribed": c.unsubscribed,
            "ticket_urgency": c.ticket_urgency,
        },
        "catalogue": catalogue.describe(),
        "description": DESCRIPTION,
    }


DESCRIPTION = (
    "Synthetic online shop (coffee, tea, coffee gear, phones and accessories) in Russia, 70% Russian- and "
    "30% English-speaking customers. Customers are acquired throughout the period (growing over time); "
    "8% register without ever buying. Buyers purchase by BG/NBD in operational weeks: rate lambda ~ "
    "Gamma(r, alpha), dropout p ~ Beta(a, b) after each repeat purchase, first purchase at acquisition; "
    "operational time maps to calendar time through a seasonal warp (Nov-Dec peak, Black Friday, quiet "
    "January holidays and summer, weekday and hour-of-day profiles), so counts are exactly BG/NBD in "
    "operational time. Order values follow Gamma-Gamma (p, q, v) in RUB, realised as baskets from a "
    "~240-SKU catalogue with cross-sell affinities and repurchased favourite consumables. Latent "
    "satisfaction is tied to the dropout probability (Gaussian copula) and drives reviews, NPS/CSAT, "
    "tickets, refunds and exit-survey reasons; acquisition channels differ in dropout, rate and spend "
    "through a copula as well, so pooled parameters stay exact. Cancelled orders (3%) are extra orders "
    "outside the purchase process; ~5% of completed orders are refunded in full or in part. Events hold "
    "the site funnel (visit, product_view, add_to_cart, checkout, with sessions) and email_sent / "
    "email_open / email_click / unsubscribe. Timestamps are UTC; local days are Europe/Moscow."
)
