"""The customer journey as a funnel: first visit → ... → first, second and third order.

Definitions (all times are the snapshot's UTC timestamps; the window uses local dates):

- **Steps.** An event step is the first event of that type (``visit``, ``product_view``,
  ``add_to_cart``, ``checkout``, or any other event type) *at or after* the time the customer reached
  the previous step; an order step (``first_order``, ``second_order``, ``third_order``) is the
  customer's n-th non-cancelled order ever, and counts only if it is at or after the previous step.
  So a customer reaches step k only by reaching steps 1..k−1 first, in that order (a strict funnel,
  as in the usual web-analytics definition).
- **Entry cohort.** Customers enter when they reach the first step; ``start``/``end`` select those
  whose entry falls in ``[start, end)`` (local dates; all when omitted). Later steps are followed up to
  ``as_of`` (facts dated before it; all data when omitted), so a late entrant has had less time to
  convert: pass a later ``as_of`` for a fairer follow-up.
- **Buyers before entry are left out.** When the funnel has order steps, a customer whose first
  order came before their entry (an existing customer who first shows up on the site later) cannot
  "reach" their first order inside this journey; counting them would inflate the drop-off. They are
  excluded and reported as ``excluded_prior_buyers``.
- **Rates.** ``conversion_from_previous`` = customers at step k / at step k−1,
  ``conversion_from_top`` = at step k / at step 1, each with a Wilson 95 % interval
  (:func:`retentio.analytics.stats.wilson_interval`), and the counts behind it.
- **Time between steps** is the median, over customers reaching step k, of the time from step k−1 to
  step k (continuous median, i.e. the mean of the middle two for an even count), in hours and days.
- **Channel** is the customer's acquisition channel (``unknown`` when empty). ``by_channel`` repeats
  the funnel per channel (drop-off by channel); each step's ``top_channel`` is the channel with the
  most customers at that step (ties broken alphabetically) — the journey-map data of the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from retentio.analytics.stats import wilson_interval
from retentio.analytics.summary import valid_orders
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

FUNNEL_STEPS: tuple[str, ...] = (
    "visit",
    "product_view",
    "add_to_cart",
    "checkout",
    "first_order",
    "second_order",
    "third_order",
)
ORDER_STEPS = {"first_order": 1, "second_order": 2, "third_order": 3}
UNKNOWN_CHANNEL = "unknown"
SECONDS_PER_HOUR = 3600.0


def check_steps(steps: Sequence[str]) -> tuple[str, ...]:
    """Validate a funnel: at least two distinct steps, order steps in increasing order."""
    cleaned = tuple(s.strip() for s in steps if s.strip())
    if len(cleaned) < 2:
        raise UserError("a funnel needs at least two steps, e.g. visit,first_order")
    if len(set(cleaned)) != len(cleaned):
        raise UserError(f"each funnel step may appear once: {', '.join(cleaned)}")
    numbers = [ORDER_STEPS[s] for s in cleaned if s in ORDER_STEPS]
    if numbers != sorted(numbers):
        raise UserError("order steps must come in order: first_order, second_order, third_order")
    for step in cleaned:
        if not step.replace("_", "").isalnum():
            raise UserError(f"{step!r} is not an event type or an order step")
    return cleaned


def _at(step: str) -> str:
    return f"{step}_at"


def _ranked_orders(tables: AnalyticsTables, as_of: date | None) -> ir.Table:
    orders = valid_orders(tables, as_of)
    # n-th order per customer (0-based); the order id breaks ties so every backend numbers alike.
    return orders.mutate(
        n=ibis.row_number().over(group_by="customer_id", order_by=[orders.ordered_at, orders.order_id])
    )


def _events(tables: AnalyticsTables, as_of: date | None) -> ir.Table:
    events = tables.events
    return events if as_of is None else events.filter(events.event_date < as_of)


def _entry_cohort(
    tables: AnalyticsTables, start: date | None, end: date | None, as_of: date | None, steps: Sequence[str]
) -> ir.Table:
    """Customers entering the funnel in the window: ``customer_id``, ``entry_date``, ``<first>_at`` and
    ``prior_buyer`` (bought before entering, while the funnel has order steps)."""
    first = steps[0]
    ranked = _ranked_orders(tables, as_of)
    if first in ORDER_STEPS:
        nth = ranked.filter(ranked.n == ORDER_STEPS[first] - 1)
        entry = nth.select("customer_id", at=nth.ordered_at, day=nth.order_date)
    else:
        events = _events(tables, as_of)
        kind = events.filter(events.type == first)
        entry = kind.group_by("customer_id").aggregate(at=kind.occurred_at.min(), day=kind.event_date.min())
    if start is not None:
        entry = entry.filter(entry.day >= start)
    if end is not None:
        entry = entry.filter(entry.day < end)
    cohort = entry.select("customer_id", entry_date=entry.day, **{_at(first): entry.at})
    if first in ORDER_STEPS or not any(s in ORDER_STEPS for s in steps):
        return cohort.mutate(prior_buyer=ibis.literal(False))
    first_orders = ranked.filter(ranked.n == 0).select(
        buyer_id=ranked.customer_id, first_at=ranked.ordered_at
    )
    flagged = cohort.left_join(first_orders, cohort.customer_id == first_orders.buyer_id).select(
        cohort, first_at=first_orders.first_at
    )
    return flagged.mutate(
        prior_buyer=flagged.first_at.notnull() & (flagged.first_at < flagged[_at(first)])
    ).drop("first_at")


def customer_journeys(
    tables: AnalyticsTables,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    steps: Sequence[str] = FUNNEL_STEPS,
) -> ir.Table:
    """One row per customer in the entry cohort: ``customer_id``, ``channel``, ``entry_date`` and
    ``<step>_at`` for each step (null if not reached); customers who bought before entering are out.
    """
    steps = check_steps(steps)
    events = _events(tables, as_of)
    ranked = _ranked_orders(tables, as_of)
    cohort = _entry_cohort(tables, start, end, as_of, steps)
    journey = cohort.filter(~cohort.prior_buyer).drop("prior_buyer")
    first = steps[0]

    # Each step's first time depends only on the previous step's (customer, time) pairs; the
    # journey joins every step table once. Joining the growing journey back into each step instead
    # would repeat it in the SQL at every step (exponential text: 200 kB for seven steps).
    reached = journey.select(cid=journey.customer_id, at=journey[_at(first)])
    step_tables = []
    for step in steps[1:]:
        if step in ORDER_STEPS:
            nth = ranked.filter(ranked.n == ORDER_STEPS[step] - 1)
            candidates = nth.select(cid=nth.customer_id, at=nth.ordered_at)
        else:
            kind = events.filter(events.type == step)
            candidates = kind.select(cid=kind.customer_id, at=kind.occurred_at)
        matched = reached.join(
            candidates, [reached.cid == candidates.cid, candidates.at >= reached.at]
        ).select(cid=reached.cid, at=candidates.at)
        reached = matched.group_by("cid").aggregate(at=matched.at.min())
        step_tables.append((step, reached))
    for step, table in step_tables:
        journey = journey.left_join(table, journey.customer_id == table.cid).select(
            journey, **{_at(step): table.at}
        )

    customers = tables.customers
    channels = customers.select(
        channel_id=customers.customer_id,
        channel=customers.acquisition_channel.fill_null(UNKNOWN_CHANNEL),
    )
    with_channel = journey.left_join(channels, journey.customer_id == channels.channel_id).select(
        journey, channel=channels.channel.fill_null(UNKNOWN_CHANNEL)
    )
    return with_channel.select("customer_id", "channel", "entry_date", *[_at(s) for s in steps])


def excluded_prior_buyers(
    tables: AnalyticsTables,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    steps: Sequence[str] = FUNNEL_STEPS,
) -> int:
    """How many customers entered in the window but had bought before (left out of the funnel)."""
    cohort = _entry_cohort(tables, start, end, as_of, check_steps(steps))
    return int(cohort.filter(cohort.prior_buyer).count().to_pyarrow().as_py())


@dataclass(frozen=True)
class StepStats:
    """One funnel step: customers reaching it, conversions with Wilson intervals, median time."""

    step: str
    customers: int
    previous: int | None  # customers at the previous step; None for the first step
    top: int
    median_hours_from_previous: float | None
    top_channel: str | None = None

    @property
    def conversion_from_previous(self) -> float | None:
        return self.customers / self.previous if self.previous else None

    @property
    def conversion_from_top(self) -> float | None:
        return self.customers / self.top if self.top else None

    @property
    def drop_off(self) -> int | None:
        return None if self.previous is None else self.previous - self.customers

    def as_dict(self) -> dict[str, Any]:
        from_previous = wilson_interval(self.customers, self.previous) if self.previous else None
        from_top = wilson_interval(self.customers, self.top) if self.top else None
        hours = self.median_hours_from_previous
        return {
            "step": self.step,
            "customers": self.customers,
            "previous_customers": self.previous,
            "drop_off": self.drop_off,
            "conversion_from_previous": self.conversion_from_previous,
            "conversion_from_previous_ci": from_previous.as_dict() if from_previous else None,
            "conversion_from_top": self.conversion_from_top,
            "conversion_from_top_ci": from_top.as_dict() if from_top else None,
            "median_hours_from_previous": hours,
            "median_days_from_previous": hours / 24 if hours is not None else None,
            "top_channel": self.top_channel,
        }


@dataclass(frozen=True)
class JourneyFunnel:
    """The funnel overall and, when asked for, per acquisition channel."""

    steps: tuple[StepStats, ...]
    excluded_prior_buyers: int
    start: date | None = None
    end: date | None = None
    as_of: date | None = None
    by_channel: dict[str, tuple[StepStats, ...]] = field(default_factory=dict)

    @property
    def customers(self) -> int:
        return self.steps[0].customers if self.steps else 0

    def map_data(self) -> list[dict[str, Any]]:
        """Journey-map data for the dashboard: per step its count, median time and top channel."""
        return [
            {
                "step": s.step,
                "customers": s.customers,
                "conversion_from_previous": s.conversion_from_previous,
                "median_hours_from_previous": s.median_hours_from_previous,
                "top_channel": s.top_channel,
            }
            for s in self.steps
        ]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.start,
            "to": self.end,
            "as_of": self.as_of,
            "customers": self.customers,
            "excluded_prior_buyers": self.excluded_prior_buyers,
            "steps": [s.as_dict() for s in self.steps],
        }
        if self.by_channel:
            out["by_channel"] = [
                {"channel": channel, "customers": stats[0].customers, "steps": [s.as_dict() for s in stats]}
                for channel, stats in self.by_channel.items()
            ]
        return out


def _step_aggregates(journey: ir.Table, steps: Sequence[str]) -> dict[str, ir.Value]:
    aggs: dict[str, ir.Value] = {}
    for i, step in enumerate(steps):
        aggs[f"n{i}"] = journey[_at(step)].notnull().sum().cast(dt.int64)
        if i > 0:
            # Epoch seconds as float: exact to the microsecond on every backend, unlike
            # delta(unit=...), which counts boundaries on DuckDB and rounds on PostgreSQL.
            seconds = journey[_at(step)].epoch_seconds().cast(dt.float64) - journey[
                _at(steps[i - 1])
            ].epoch_seconds().cast(dt.float64)
            aggs[f"h{i}"] = (seconds / SECONDS_PER_HOUR).median()
    return aggs


def _stats(
    row: dict[str, Any], steps: Sequence[str], top_channels: Sequence[str | None]
) -> tuple[StepStats, ...]:
    counts = [int(row.get(f"n{i}") or 0) for i in range(len(steps))]
    out = []
    for i, step in enumerate(steps):
        hours = row.get(f"h{i}") if i > 0 else None
        out.append(
            StepStats(
                step=step,
                customers=counts[i],
                previous=counts[i - 1] if i > 0 else None,
                top=counts[0],
                median_hours_from_previous=float(hours) if hours is not None else None,
                top_channel=top_channels[i],
            )
        )
    return tuple(out)


def journey_funnel(
    tables: AnalyticsTables,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    steps: Sequence[str] = FUNNEL_STEPS,
    by_channel: bool = False,
) -> JourneyFunnel:
    """The funnel (see the module docstring); two small aggregate queries on the backend."""
    steps = check_steps(steps)
    journey = customer_journeys(tables, start, end, as_of, steps)
    aggs = _step_aggregates(journey, steps)
    overall = journey.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    channel_rows = journey.group_by("channel").aggregate(**aggs).to_pyarrow().to_pylist()
    channel_rows.sort(key=lambda r: r["channel"])

    top_channels: list[str | None] = []
    for i in range(len(steps)):
        ranked = sorted(channel_rows, key=lambda r: (-int(r[f"n{i}"] or 0), r["channel"]))
        top_channels.append(ranked[0]["channel"] if ranked and int(ranked[0][f"n{i}"] or 0) > 0 else None)

    per_channel: dict[str, tuple[StepStats, ...]] = {}
    if by_channel:
        for r in channel_rows:
            own = [r["channel"] if int(r[f"n{i}"] or 0) else None for i in range(len(steps))]
            per_channel[r["channel"]] = _stats(r, steps, own)
    return JourneyFunnel(
        steps=_stats(overall, steps, top_channels),
        excluded_prior_buyers=excluded_prior_buyers(tables, start, end, as_of, steps),
        start=start,
        end=end,
        as_of=as_of,
        by_channel=per_channel,
    )
