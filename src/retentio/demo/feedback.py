"""Reviews, support tickets and survey answers of one block of customers.

Each reads the customer's latent satisfaction ``s`` (see :mod:`retentio.demo.behaviour`) and the order's
experience (a refund), so ratings, NPS, CSAT, ticket urgency and exit reasons carry the same signal that
drives dropout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retentio.demo import texts
from retentio.demo.catalogue import CATEGORIES, Catalogue
from retentio.demo.clock import SECONDS_PER_DAY, SeasonalClock
from retentio.demo.orders import NEVER, CustomerBlock, OrderBlock, RefundBlock

HOUR = 3600
TICKET_CHANNELS = ("email", "chat", "phone", "web")
TICKET_CHANNEL_WEIGHTS = np.array([0.40, 0.35, 0.15, 0.10])
# Median minutes to the first answer per channel (phone is answered live, email waits in a queue).
FIRST_RESPONSE_MEDIAN_MIN = np.array([55.0, 8.0, 2.0, 70.0])
# How much a problem of each kind pushes urgency up (product questions are calm).
TICKET_SEVERITY = {
    "delivery_delay": 0.6,
    "damaged": 1.0,
    "wrong_item": 0.8,
    "refund_request": 0.7,
    "payment": 1.0,
    "account": 0.3,
    "loyalty": 0.0,
    "product_question": -0.8,
}
REFUND_TICKET_KIND = {
    "not_delivered": "delivery_delay",
    "damaged": "damaged",
    "wrong_item": "wrong_item",
    "missing_item": "wrong_item",
    "changed_mind": "refund_request",
    "quality": "refund_request",
}
ORDER_TICKET_KINDS = ("delivery_delay", "product_question", "payment", "loyalty", "damaged")
ORDER_TICKET_WEIGHTS = np.array([0.45, 0.15, 0.15, 0.15, 0.10])
OTHER_TICKET_KINDS = ("account", "loyalty", "product_question", "payment")
OTHER_TICKET_WEIGHTS = np.array([0.35, 0.30, 0.25, 0.10])
CSAT_ASPECTS = ("delivery", "quality", "service", "site", "price", "assortment")
CSAT_ASPECT_WEIGHTS = np.array([0.35, 0.30, 0.10, 0.10, 0.10, 0.05])
CSAT_ASPECT_SHIFT = np.array([-0.1, 0.1, 0.0, -0.2, -0.3, 0.0])  # price and the site get lower marks
EXIT_REASON_ASPECT = {
    "price": "price",
    "quality": "quality",
    "service": "service",
    "competition": "assortment",
}
EXIT_TRIGGER_DAYS = 90


def _female(block: CustomerBlock, cust: np.ndarray) -> np.ndarray:
    return np.asarray(block.identities.gender[cust] == "female", dtype=bool)


def _category_name(catalogue: Catalogue, product: np.ndarray) -> list[str]:
    return [CATEGORIES[c] for c in catalogue.category_index[product]]


def _order_id(order_offset: int, index: int) -> str:
    return f"O{order_offset + index + 1:09d}"


@dataclass
class Reviews:
    customer: np.ndarray
    created_at: np.ndarray
    rating: np.ndarray
    text: list[str]
    product: np.ndarray
    order: np.ndarray
    language: np.ndarray


def simulate_reviews(
    rng: np.random.Generator,
    block: CustomerBlock,
    orders: OrderBlock,
    refunds: RefundBlock,
    clock: SeasonalClock,
    catalogue: Catalogue,
) -> Reviews:
    """Reviews of completed orders: the very happy and the unhappy write more; refunds hurt the rating."""
    refunded = np.zeros(orders.size, dtype=bool)
    refunded[refunds.order] = True
    s = block.traits.satisfaction[orders.customer]
    p = (0.03 + 0.025 * np.abs(s) + 0.08 * refunded) * orders.completed
    chosen = np.flatnonzero(rng.random(orders.size) < p)
    k = len(chosen)
    created = orders.ordered_at[chosen] + ((3.0 + rng.gamma(2.0, 4.0, k)) * SECONDS_PER_DAY).astype(np.int64)
    keep = created < clock.end_utc
    chosen, created = chosen[keep], created[keep]
    k = len(chosen)
    cust = orders.customer[chosen]
    latent = 0.9 * block.traits.satisfaction[cust] - 1.6 * refunded[chosen] + rng.normal(0.0, 0.75, k) + 0.55
    rating = 1 + (latent > -1.3).astype(np.int64) + (latent > -0.7) + (latent > -0.2) + (latent > 0.4)
    tone = np.where(rating <= 2, texts.NEG, np.where(rating == 3, texts.MIXED, texts.POS))
    product = orders.primary[chosen]
    lang = block.identities.locale[cust]
    female = _female(block, cust)
    categories = _category_name(catalogue, product)
    u = rng.random((k, 14))
    names = [catalogue.products[i] for i in product]
    body = [
        texts.review_text(
            lang[i], int(tone[i]), categories[i], bool(female[i]),
            names[i].name_ru if lang[i] == "ru" else names[i].name_en, u[i],
        )
        for i in range(k)
    ]  # fmt: skip
    return Reviews(cust, created, rating.astype(np.int64), body, product, chosen, lang)


@dataclass
class Tickets:
    customer: np.ndarray
    opened_at: np.ndarray
    subject: list[str]
    text: list[str]
    channel: np.ndarray  # object
    first_response_at: np.ndarray
    first_response_valid: np.ndarray
    resolved_at: np.ndarray
    resolved_valid: np.ndarray
    csat: np.ndarray
    csat_valid: np.ndarray
    status: np.ndarray  # object
    urgency: np.ndarray  # object (true urgency, for metadata only)


def simulate_tickets(
    rng: np.random.Generator,
    block: CustomerBlock,
    orders: OrderBlock,
    refunds: RefundBlock,
    clock: SeasonalClock,
    catalogue: Catalogue,
    order_offset: int,
) -> Tickets:
    """Support tickets: most refunds start with one, some orders raise questions, and a few customers
    write about their account or points."""
    refunded = np.zeros(orders.size, dtype=bool)
    refunded[refunds.order] = True

    # 1. Tickets that precede refunds.
    with_ticket = rng.random(refunds.size) < 0.55
    r_idx = np.flatnonzero(with_ticket)
    r_order = refunds.order[r_idx]
    r_at = orders.ordered_at[r_order] + (
        (refunds.refunded_at[r_idx] - orders.ordered_at[r_order]) * rng.uniform(0.1, 0.8, len(r_idx))
    ).astype(np.int64)
    r_kind = np.array([REFUND_TICKET_KIND[x] for x in refunds.reason[r_idx]], dtype=object)

    # 2. Tickets about other completed orders, likelier from unhappy customers.
    s_order = block.traits.satisfaction[orders.customer]
    p = 0.018 * np.exp(-0.5 * s_order) * orders.completed * ~refunded
    o_idx = np.flatnonzero(rng.random(orders.size) < p)
    o_at = orders.ordered_at[o_idx] + rng.integers(HOUR, 10 * SECONDS_PER_DAY, len(o_idx))
    o_kind = np.array(ORDER_TICKET_KINDS, dtype=object)[
        rng.choice(len(ORDER_TICKET_KINDS), size=len(o_idx), p=ORDER_TICKET_WEIGHTS)
    ]

    # 3. Tickets not about an order, over the customer's active span.
    active_end = np.minimum(block.last_purchase_at + 60 * SECONDS_PER_DAY, clock.end_utc - 1)  # type: ignore[operator]
    span = np.maximum(active_end - block.signup_at, 0)
    n_other = rng.poisson(0.15 * span / (365.0 * SECONDS_PER_DAY))
    c_cust = np.repeat(np.arange(block.size), n_other)
    c_at = block.signup_at[c_cust] + (rng.random(len(c_cust)) * span[c_cust]).astype(np.int64)
    c_kind = np.array(OTHER_TICKET_KINDS, dtype=object)[
        rng.choice(len(OTHER_TICKET_KINDS), size=len(c_cust), p=OTHER_TICKET_WEIGHTS)
    ]

    order_ref = np.concatenate([r_order, o_idx, np.full(len(c_cust), -1)])
    cust = np.concatenate([orders.customer[r_order], orders.customer[o_idx], c_cust])
    opened = np.concatenate([r_at, o_at, c_at])
    kind = np.concatenate([r_kind, o_kind, c_kind])
    keep = opened < clock.end_utc
    order_ref, cust, opened, kind = order_ref[keep], cust[keep], opened[keep], kind[keep]
    k = len(cust)

    s = block.traits.satisfaction[cust]
    severity = np.array([TICKET_SEVERITY[x] for x in kind])
    score = severity - 0.6 * s + rng.normal(0.0, 0.7, k)
    urgency = np.where(score > 1.3, "high", np.where(score > 0.2, "medium", "low")).astype(object)
    channel_idx = rng.choice(len(TICKET_CHANNELS), size=k, p=TICKET_CHANNEL_WEIGHTS)
    speed = np.where(urgency == "high", 0.6, 1.0)
    first_min = FIRST_RESPONSE_MEDIAN_MIN[channel_idx] * speed * np.exp(rng.normal(0.0, 1.0, k))
    first_at = opened + np.maximum(first_min * 60, 20).astype(np.int64)
    resolve_h = np.where(urgency == "high", 8.0, 18.0) * np.exp(rng.normal(0.0, 1.1, k))
    resolved = first_at + (resolve_h * HOUR).astype(np.int64)
    first_valid = first_at < clock.end_utc
    resolved_valid = resolved < clock.end_utc
    closed = rng.random(k) < 0.08
    status = np.where(
        resolved_valid, np.where(closed, "closed", "resolved"), np.where(first_valid, "pending", "open")
    ).astype(object)
    answered = resolved_valid & (rng.random(k) < 0.45)
    csat_latent = 3.7 + 0.9 * s - 0.35 * np.log1p(resolve_h / 24.0) - 0.8 * closed + rng.normal(0.0, 0.8, k)
    csat = np.clip(np.rint(csat_latent), 1, 5).astype(np.int64)

    product = np.where(order_ref >= 0, orders.primary[np.maximum(order_ref, 0)], 0)
    categories = _category_name(catalogue, product)
    lang = block.identities.locale[cust]
    female = _female(block, cust)
    u = rng.random((k, 14))
    subjects: list[str] = []
    bodies: list[str] = []
    for i in range(k):
        ref = int(order_ref[i])
        subject, body = texts.ticket_text(
            lang[i],
            kind[i],
            urgency[i],
            categories[i] if ref >= 0 else "coffee",
            bool(female[i]),
            _order_id(order_offset, ref) if ref >= 0 else "",
            u[i],
        )
        subjects.append(subject)
        bodies.append(body)
    return Tickets(
        customer=cust,
        opened_at=opened,
        subject=subjects,
        text=bodies,
        channel=np.array(TICKET_CHANNELS, dtype=object)[channel_idx],
        first_response_at=first_at,
        first_response_valid=first_valid,
        resolved_at=resolved,
        resolved_valid=resolved_valid,
        csat=csat,
        csat_valid=answered,
        status=status,
        urgency=urgency,
    )


@dataclass
class Surveys:
    customer: np.ndarray
    answered_at: np.ndarray
    survey: np.ndarray  # object
    score: np.ndarray
    question: np.ndarray  # object
    text: list[str | None]
    reason: np.ndarray  # object


def simulate_surveys(
    rng: np.random.Generator,
    block: CustomerBlock,
    orders: OrderBlock,
    refunds: RefundBlock,
    clock: SeasonalClock,
) -> Surveys:
    """Post-purchase NPS and CSAT answers, and exit surveys of customers gone quiet for 90 days.

    An exit submission is several rows with the same customer and ``answered_at``: one per rated aspect
    (``question``, score 1–5); exactly one row of it, the aspect behind the reason, carries ``reason``
    and the open ``text``, so counting rows with a reason counts submissions.
    """
    refunded = np.zeros(orders.size, dtype=bool)
    refunded[refunds.order] = True
    female_all = np.asarray(block.identities.gender == "female", dtype=bool)
    locale = block.identities.locale
    s_all = block.traits.satisfaction
    parts: list[Surveys] = []

    # NPS after ~7 % of completed orders.
    idx = np.flatnonzero(orders.completed & (rng.random(orders.size) < 0.07))
    at = orders.ordered_at[idx] + rng.integers(SECONDS_PER_DAY, 14 * SECONDS_PER_DAY, len(idx))
    keep = at < clock.end_utc
    idx, at = idx[keep], at[keep]
    cust = orders.customer[idx]
    k = len(idx)
    nps = np.clip(np.rint(7.4 + 2.0 * s_all[cust] - 1.5 * refunded[idx] + rng.normal(0.0, 1.3, k)), 0, 10)
    nps = nps.astype(np.int64)
    u = rng.random((k, 14))
    commented = u[:, 13] < 0.45
    nps_text = [
        texts.nps_comment(locale[c], int(sc), bool(female_all[c]), u[i]) if commented[i] else None
        for i, (c, sc) in enumerate(zip(cust, nps, strict=True))
    ]
    parts.append(
        Surveys(
            cust,
            at,
            np.full(k, "nps", dtype=object),
            nps,
            np.full(k, "recommend", dtype=object),
            nps_text,
            np.full(k, None, dtype=object),
        )
    )

    # CSAT on one aspect after ~5 % of completed orders.
    idx = np.flatnonzero(orders.completed & (rng.random(orders.size) < 0.05))
    at = orders.ordered_at[idx] + rng.integers(2 * SECONDS_PER_DAY, 10 * SECONDS_PER_DAY, len(idx))
    keep = at < clock.end_utc
    idx, at = idx[keep], at[keep]
    cust = orders.customer[idx]
    k = len(idx)
    aspect = rng.choice(len(CSAT_ASPECTS), size=k, p=CSAT_ASPECT_WEIGHTS)
    latent = (
        3.9 + 0.9 * s_all[cust] + CSAT_ASPECT_SHIFT[aspect] - 1.0 * refunded[idx] + rng.normal(0.0, 0.8, k)
    )
    csat = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    u = rng.random((k, 14))
    commented = u[:, 13] < 0.30
    csat_text = [
        texts.csat_comment(locale[c], CSAT_ASPECTS[a], int(sc), u[i]) if commented[i] else None
        for i, (c, a, sc) in enumerate(zip(cust, aspect, csat, strict=True))
    ]
    parts.append(
        Surveys(
            cust,
            at,
            np.full(k, "csat", dtype=object),
            csat,
            np.array(CSAT_ASPECTS, dtype=object)[aspect],
            csat_text,
            np.full(k, None, dtype=object),
        )
    )

    # Exit survey: sent 90 days after the last purchase when no order followed.
    assert block.last_purchase_at is not None and block.dropped_at is not None
    buyer = ~block.is_lead
    sent_at = block.last_purchase_at + EXIT_TRIGGER_DAYS * SECONDS_PER_DAY
    dead = block.dropped_at != NEVER
    p_answer = np.where(dead, 0.25, 0.12)
    responders = np.flatnonzero(buyer & (sent_at < clock.end_utc) & (rng.random(block.size) < p_answer))
    answered = sent_at[responders] + rng.integers(600, 7 * SECONDS_PER_DAY, len(responders))
    keep = answered < clock.end_utc
    responders, answered = responders[keep], answered[keep]
    k = len(responders)
    s = s_all[responders]
    unhappy = s < -0.3
    u = rng.random((k, 14))
    reason_unhappy = np.cumsum([0.25, 0.32, 0.30, 0.08, 0.05])  # price, quality, service, competition, other
    reason_happy = np.cumsum([0.30, 0.05, 0.05, 0.35, 0.25])
    reason_idx = np.where(
        unhappy,
        np.searchsorted(reason_unhappy, u[:, 12] * 0.999999),
        np.searchsorted(reason_happy, u[:, 12] * 0.999999),
    )
    reasons = np.array(texts.EXIT_REASONS, dtype=object)[reason_idx]
    n_aspects = 3 + (u[:, 13] * 4).astype(np.int64)  # 3..6 rated aspects
    order_of_aspects = np.argsort(rng.random((k, len(texts.ASPECTS))), axis=1)
    base = 3.0 + 0.8 * s
    rows_cust: list[int] = []
    rows_at: list[int] = []
    rows_score: list[int] = []
    rows_question: list[str] = []
    rows_text: list[str | None] = []
    rows_reason: list[str | None] = []
    noise = rng.normal(0.0, 0.8, (k, len(texts.ASPECTS)))
    for i in range(k):
        reason = str(reasons[i])
        chosen = [texts.ASPECTS[j] for j in order_of_aspects[i, : n_aspects[i]]]
        target = EXIT_REASON_ASPECT.get(reason, chosen[0])
        if target not in chosen:
            chosen[-1] = target
        c = int(responders[i])
        for j, aspect_name in enumerate(chosen):
            penalty = 1.2 if aspect_name == target and reason != "other" else 0.0
            score = int(np.clip(np.rint(base[i] - penalty + noise[i, j]), 1, 5))
            rows_cust.append(c)
            rows_at.append(int(answered[i]))
            rows_score.append(score)
            rows_question.append(aspect_name)
            if aspect_name == target:
                rows_reason.append(reason)
                rows_text.append(
                    texts.exit_comment(locale[c], reason, bool(female_all[c]), u[i])
                    if u[i, 11] < 0.8
                    else None
                )
            else:
                rows_reason.append(None)
                rows_text.append(None)
    n_rows = len(rows_cust)
    parts.append(
        Surveys(
            np.array(rows_cust, dtype=np.int64),
            np.array(rows_at, dtype=np.int64),
            np.full(n_rows, "exit", dtype=object),
            np.array(rows_score, dtype=np.int64),
            np.array(rows_question, dtype=object),
            rows_text,
            np.array(rows_reason, dtype=object),
        )
    )
    merged = Surveys(
        np.concatenate([p.customer for p in parts]).astype(np.int64),
        np.concatenate([p.answered_at for p in parts]).astype(np.int64),
        np.concatenate([p.survey for p in parts]),
        np.concatenate([p.score for p in parts]).astype(np.int64),
        np.concatenate([p.question for p in parts]),
        [t for p in parts for t in p.text],
        np.concatenate([p.reason for p in parts]),
    )
    order = np.lexsort((np.arange(len(merged.customer)), merged.answered_at))
    return Surveys(
        merged.customer[order],
        merged.answered_at[order],
        merged.survey[order],
        merged.score[order],
        merged.question[order],
        [merged.text[i] for i in order],
        merged.reason[order],
    )
