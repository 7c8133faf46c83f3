"""Engagement: email open and click rates, visit frequency and session duration.

Per customer (:func:`customer_engagement`) and per group of customers (:func:`engagement_report`:
a rule segment, an RFM segment, an acquisition channel, or everyone), over the events of a period
``[start, end)`` of local dates. Definitions, chosen from what the data contract carries:

- **Email-receiving customers** (the denominator of the email rates): customers who consented to
  email (``consent_email`` true) or who have any email event in the period (``email_open``,
  ``email_click``, or a send event ``email_send``/``email_sent``): whoever opened an email received one,
  consent flag or not. The contract has no per-message send log, so rates are per *customer*:
  ``open_rate`` = customers with ≥ 1 open / email-receiving customers, ``click_rate`` = customers with
  ≥ 1 click / email-receiving customers, ``click_to_open_rate`` = openers who clicked / openers; each
  with a Wilson 95 % interval and its counts. When send events exist, ``opens_per_send`` and
  ``clicks_per_send`` (event counts over send counts) are reported too; otherwise they are null.
- **Visit frequency**: ``visit`` events per customer per 30 days of the period
  (``visits × 30 / period days``); the group figure is the mean and the median over *all* the
  group's customers, non-visitors counting as 0.
- **Sessions and duration**: a session is a ``session_id`` (over the web/app events ``visit``,
  ``product_view``, ``add_to_cart``, ``checkout``, ``app_open``); a ``visit`` event without a session id
  is a session of its own, other events without one are not sessions. A session's duration is the
  ``duration_s`` of its ``visit`` event (which carries the session's length; the pages' own durations
  would count it twice), else the sum of its other events' ``duration_s``; sessions with no duration
  recorded count as sessions but not in the duration mean and median (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from retentio.analytics.stats import wilson_interval
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

EMAIL_SEND_TYPES = ("email_send", "email_sent")
SESSION_EVENT_TYPES = ("visit", "product_view", "add_to_cart", "checkout", "app_open")
DAYS_PER_MONTH = 30
ALL = "all"


def _period_days(start: date, end: date) -> int:
    days = (end - start).days
    if days <= 0:
        raise UserError(f"the period must end after it starts: from {start.isoformat()} to {end.isoformat()}")
    return days


def _period_events(tables: AnalyticsTables, start: date, end: date) -> ir.Table:
    events = tables.events
    return events.filter(events.event_date >= start, events.event_date < end)


def session_durations(tables: AnalyticsTables, start: date, end: date) -> ir.Table:
    """One row per session in the period: ``customer_id``, ``session_key``, ``seconds`` (null = unknown)."""
    _period_days(start, end)
    events = _period_events(tables, start, end)
    web = events.filter(
        events.type.isin(SESSION_EVENT_TYPES) & (events.session_id.notnull() | (events.type == "visit"))
    )
    keyed = web.mutate(session_key=ibis.coalesce(web.session_id, ibis.literal("event:") + web.event_id))
    is_visit = keyed.type == "visit"
    per_session = keyed.group_by(["customer_id", "session_key"]).aggregate(
        visit_seconds=keyed.duration_s.max(where=is_visit),
        page_seconds=keyed.duration_s.sum(where=~is_visit),
    )
    # The visit event carries the whole session's length; page times would count it twice.
    return per_session.select(
        "customer_id",
        "session_key",
        seconds=ibis.coalesce(per_session.visit_seconds, per_session.page_seconds).cast(dt.float64),
    )


def customer_engagement(tables: AnalyticsTables, start: date, end: date) -> ir.Table:
    """Per customer over ``[start, end)``: email counts and flags, visits, sessions and durations.

    Columns: customer_id, email_receiving (bool), email_sends, email_opens, email_clicks, visits,
    visits_per_30d (float), sessions, timed_sessions, session_seconds_mean, session_seconds_median.
    """
    days = _period_days(start, end)
    events = _period_events(tables, start, end)
    counts = events.group_by("customer_id").aggregate(
        email_sends=events.type.isin(EMAIL_SEND_TYPES).sum().cast(dt.int64),
        email_opens=(events.type == "email_open").sum().cast(dt.int64),
        email_clicks=(events.type == "email_click").sum().cast(dt.int64),
        visits=(events.type == "visit").sum().cast(dt.int64),
    )
    sessions = session_durations(tables, start, end)
    per_customer_sessions = sessions.group_by("customer_id").aggregate(
        sessions=sessions.count(),
        timed_sessions=sessions.seconds.notnull().sum().cast(dt.int64),
        session_seconds_mean=sessions.seconds.mean(),
        session_seconds_median=sessions.seconds.median(),
    )
    customers = tables.customers.select("customer_id", "consent_email")
    joined = customers.left_join(counts, customers.customer_id == counts.customer_id).select(
        customers, counts.email_sends, counts.email_opens, counts.email_clicks, counts.visits
    )
    joined = joined.left_join(
        per_customer_sessions, joined.customer_id == per_customer_sessions.customer_id
    ).select(
        joined,
        per_customer_sessions.sessions,
        per_customer_sessions.timed_sessions,
        per_customer_sessions.session_seconds_mean,
        per_customer_sessions.session_seconds_median,
    )
    sends, opens = joined.email_sends.fill_null(0), joined.email_opens.fill_null(0)
    clicks, visits = joined.email_clicks.fill_null(0), joined.visits.fill_null(0)
    receiving = joined.consent_email.fill_null(False) | ((sends + opens + clicks) > 0)
    return joined.select(
        "customer_id",
        email_receiving=receiving,
        email_sends=sends,
        email_opens=opens,
        email_clicks=clicks,
        visits=visits,
        visits_per_30d=visits.cast(dt.float64) * DAYS_PER_MONTH / days,
        sessions=joined.sessions.fill_null(0).cast(dt.int64),
        timed_sessions=joined.timed_sessions.fill_null(0).cast(dt.int64),
        session_seconds_mean=joined.session_seconds_mean.cast(dt.float64),
        session_seconds_median=joined.session_seconds_median.cast(dt.float64),
    )


@dataclass(frozen=True)
class GroupEngagement:
    """Engagement figures of one group of customers (counts behind every rate)."""

    group: str
    customers: int
    email_receiving: int
    openers: int
    clickers: int
    openers_who_clicked: int
    email_sends: int
    email_opens: int
    email_clicks: int
    visits: int
    visitors: int
    visits_per_30d_mean: float | None
    visits_per_30d_median: float | None
    sessions: int
    timed_sessions: int
    session_seconds_mean: float | None
    session_seconds_median: float | None

    def as_dict(self) -> dict[str, Any]:
        def rate(successes: int, trials: int) -> tuple[float | None, dict[str, Any] | None]:
            interval = wilson_interval(successes, trials)
            return (successes / trials if trials else None), (interval.as_dict() if interval else None)

        open_rate, open_ci = rate(self.openers, self.email_receiving)
        click_rate, click_ci = rate(self.clickers, self.email_receiving)
        cto_rate, cto_ci = rate(self.openers_who_clicked, self.openers)
        return {
            "group": self.group,
            "customers": self.customers,
            "email_receiving": self.email_receiving,
            "openers": self.openers,
            "clickers": self.clickers,
            "open_rate": open_rate,
            "open_rate_ci": open_ci,
            "click_rate": click_rate,
            "click_rate_ci": click_ci,
            "click_to_open_rate": cto_rate,
            "click_to_open_rate_ci": cto_ci,
            "email_sends": self.email_sends,
            "email_opens": self.email_opens,
            "email_clicks": self.email_clicks,
            "opens_per_send": self.email_opens / self.email_sends if self.email_sends else None,
            "clicks_per_send": self.email_clicks / self.email_sends if self.email_sends else None,
            "visits": self.visits,
            "visitors": self.visitors,
            "visits_per_30d_mean": self.visits_per_30d_mean,
            "visits_per_30d_median": self.visits_per_30d_median,
            "sessions": self.sessions,
            "timed_sessions": self.timed_sessions,
            "session_seconds_mean": self.session_seconds_mean,
            "session_seconds_median": self.session_seconds_median,
        }


@dataclass(frozen=True)
class EngagementReport:
    """Engagement over a period for everyone and for each group."""

    start: date
    end: date
    overall: GroupEngagement
    groups: tuple[GroupEngagement, ...] = field(default_factory=tuple)
    grouped_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "grouped_by": self.grouped_by,
            "overall": self.overall.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
        }


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def engagement_report(
    tables: AnalyticsTables,
    start: date,
    end: date,
    groups: ir.Table | None = None,
    grouped_by: str | None = None,
) -> EngagementReport:
    """Engagement for everyone and per group; ``groups`` has ``customer_id`` and ``group`` (a customer
    may sit in several groups, e.g. overlapping rule segments)."""
    engagement = customer_engagement(tables, start, end)
    sessions = session_durations(tables, start, end)
    everyone = engagement.select("customer_id", group=ibis.literal(ALL))
    overall = _summarise(engagement, sessions, everyone)
    by_group: tuple[GroupEngagement, ...] = ()
    if groups is not None:
        by_group = tuple(_summarise(engagement, sessions, groups))
    return EngagementReport(
        start=start,
        end=end,
        overall=overall[0] if overall else _empty(ALL),
        groups=by_group,
        grouped_by=grouped_by,
    )


def _empty(group: str) -> GroupEngagement:
    return GroupEngagement(group, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None, 0, 0, None, None)


def _summarise(engagement: ir.Table, sessions: ir.Table, groups: ir.Table) -> list[GroupEngagement]:
    membership = groups.select(member_id=groups.customer_id, group=groups.group.cast(dt.string))
    rows = engagement.join(membership, engagement.customer_id == membership.member_id).select(
        engagement, group=membership.group
    )
    opened, clicked = rows.email_opens > 0, rows.email_clicks > 0
    per_customer = rows.group_by("group").aggregate(
        customers=rows.count(),
        email_receiving=rows.email_receiving.sum().cast(dt.int64),
        openers=opened.sum().cast(dt.int64),
        clickers=clicked.sum().cast(dt.int64),
        openers_who_clicked=(opened & clicked).sum().cast(dt.int64),
        email_sends=rows.email_sends.sum().cast(dt.int64),
        email_opens=rows.email_opens.sum().cast(dt.int64),
        email_clicks=rows.email_clicks.sum().cast(dt.int64),
        visits=rows.visits.sum().cast(dt.int64),
        visitors=(rows.visits > 0).sum().cast(dt.int64),
        visits_per_30d_mean=rows.visits_per_30d.mean(),
        visits_per_30d_median=rows.visits_per_30d.median(),
    )
    session_rows = sessions.join(membership, sessions.customer_id == membership.member_id).select(
        sessions, group=membership.group
    )
    per_session = session_rows.group_by("group").aggregate(
        sessions=session_rows.count(),
        timed_sessions=session_rows.seconds.notnull().sum().cast(dt.int64),
        session_seconds_mean=session_rows.seconds.mean(),
        session_seconds_median=session_rows.seconds.median(),
    )
    session_stats = {r["group"]: r for r in per_session.to_pyarrow().to_pylist()}
    out = []
    for r in sorted(per_customer.to_pyarrow().to_pylist(), key=lambda r: r["group"]):
        s = session_stats.get(r["group"], {})
        out.append(
            GroupEngagement(
                group=r["group"],
                customers=_int(r["customers"]),
                email_receiving=_int(r["email_receiving"]),
                openers=_int(r["openers"]),
                clickers=_int(r["clickers"]),
                openers_who_clicked=_int(r["openers_who_clicked"]),
                email_sends=_int(r["email_sends"]),
                email_opens=_int(r["email_opens"]),
                email_clicks=_int(r["email_clicks"]),
                visits=_int(r["visits"]),
                visitors=_int(r["visitors"]),
                visits_per_30d_mean=_float(r["visits_per_30d_mean"]),
                visits_per_30d_median=_float(r["visits_per_30d_median"]),
                sessions=_int(s.get("sessions")),
                timed_sessions=_int(s.get("timed_sessions")),
                session_seconds_mean=_float(s.get("session_seconds_mean")),
                session_seconds_median=_float(s.get("session_seconds_median")),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Groupings


def channel_groups(tables: AnalyticsTables) -> ir.Table:
    """Each customer's acquisition channel (``unknown`` when empty)."""
    customers = tables.customers
    return customers.select("customer_id", group=customers.acquisition_channel.fill_null("unknown"))


def rfm_groups(tables: AnalyticsTables, as_of: date) -> ir.Table:
    """Each customer's named RFM segment at ``as_of`` (customers without orders have none)."""
    try:
        from retentio.analytics.rfm import rfm_table
    except ImportError as exc:  # the RFM module arrives with its own issue
        raise UserError("RFM segments are not available in this installation") from exc
    rfm = rfm_table(tables, as_of)
    return rfm.select("customer_id", group=rfm.segment.cast(dt.string))


def rule_groups(
    tables: AnalyticsTables,
    as_of: date,
    rules: dict[str, str],
    scores: Any = None,
    timezone: str | None = None,
    skipped: dict[str, str] | None = None,
) -> ir.Table:
    """Members of each rule segment at ``as_of`` as ``customer_id``, ``group`` rows (one per membership).

    A saved rule that cannot be used (one saved before a limit of the rule language existed) never
    stops the others: it is left out and its reason put in ``skipped`` when given.
    """
    from retentio.segments.features import customer_features
    from retentio.segments.rules import RuleError, parse_rule

    if not rules:
        raise UserError("no segments to group by (create some with 'retentio segments create')")
    features = (
        customer_features(tables, as_of, scores, timezone)
        if timezone
        else customer_features(tables, as_of, scores)
    )
    parts = []
    for name, rule in rules.items():
        try:
            members = parse_rule(rule).filter(features)
        except (RuleError, RecursionError) as exc:
            if skipped is not None:
                skipped[name] = str(exc).splitlines()[0]
            continue
        parts.append(members.select("customer_id", group=ibis.literal(name, type=dt.string)))
    if not parts:
        raise UserError(
            "no segment can be grouped by: " + "; ".join(f"{n}: {r}" for n, r in (skipped or {}).items())
        )
    union = parts[0]
    for part in parts[1:]:
        union = union.union(part, distinct=False)
    return union
