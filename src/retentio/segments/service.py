"""Rule segments: definitions, refresh, membership history and the share of customers categorised.

A segment is a name plus a rule in the language of :mod:`retentio.segments.rules` over the customer
features (:mod:`retentio.segments.features`). Definitions live in the store table ``segments``;
membership lives in ``segment_memberships`` as *intervals*: a customer is in the segment from
``entered_at`` until ``left_at`` (open while null). So "who entered or left this segment, and when"
and "what did the segment look like on day D" are plain queries, and the size history is the running
sum of entries minus exits.

Refresh semantics. ``refresh_segments(session, tables, as_of, timezone)`` evaluates every segment's
rule on the features at ``as_of`` (local date; features see facts dated before it) and records the
change at the moment ``as_of 00:00`` local time, stored in UTC:

- members without an open interval get one (``entered_at`` = that moment);
- open intervals of customers who no longer match are closed (``left_at`` = that moment).

Refreshing again at the same as-of is idempotent: intervals opened at that very moment are removed
again if the customer no longer matches (so re-running after an ingest corrects the record instead
of leaving zero-length intervals), and intervals closed at that moment are reopened if the customer
matches again. Refreshing at an as-of *before* a segment's last refresh would rewrite history and is
refused. ``segments.refreshed_at`` holds the as-of moment of the last refresh.

One bad segment never stops the others: a segment whose rule cannot be evaluated (invalid, over a
limit of the rule language that did not exist when it was saved, or a query that fails) keeps its
membership and ``refreshed_at``, and is listed with its reason in ``RefreshResult.failed``;
``segments refresh`` names it on stderr and exits with code 2 after refreshing the rest.

Default segments (``init_default_segments``, run by ``retentio segments init-defaults``).
Thresholds are for a shop selling in roubles with a 365-day active window; edit them with
``segments create`` after ``segments delete``:

========  ===========================================================================================
name      rule
========  ===========================================================================================
vip       ``aov > 5000 and orders >= 5 and positive_reviews >= 2`` (the seed's rule)
at-risk   ``orders >= 1 and days_since_last_order <= 365 and (days_since_last_activity > 60 or
          negative_reviews >= 2)``
new       ``days_since_first_order <= 30``
sleeping  ``days_since_last_order between 90 and 180``
========  ===========================================================================================

``at-risk`` narrows the seed's ``days_since_last_activity > 60 or negative_reviews >= 2`` to buyers
who are still *active* (an order within the 365-day active window of DESIGN §4): people who only
browsed or opened an email have no purchase to lose, and customers gone for more than a year are
lapsed (RFM's Lost / Hibernating), a different audience. Activity excludes our own email sends. On
the 20,000-customer demo shop as of 2025-07-01 this gives vip 157, at-risk 3,389 (of 10,577 active
buyers), new 556 and sleeping 1,928 customers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from retentio.analytics.render import CsvWriter
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.segments.features import DEFAULT_TIMEZONE, customer_features
from retentio.segments.rules import RuleError, parse_rule, printable
from retentio.store.schema import Customer, Segment, SegmentMembership

if TYPE_CHECKING:
    from retentio.app import App
    pass

MAX_NAME_LENGTH = 100
_CHUNK = 500  # ids per IN (...) list: well below SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class DefaultSegment:
    name: str
    rule: str
    description: str


DEFAULT_SEGMENTS: tuple[DefaultSegment, ...] = (
    DefaultSegment(
        "vip",
        "aov > 5000 and orders >= 5 and positive_reviews >= 2",
        "High average order, frequent, and happy enough to review: keep them close.",
    ),
    DefaultSegment(
        "at-risk",
        "orders >= 1 and days_since_last_order <= 365 "
        "and (days_since_last_activity > 60 or negative_reviews >= 2)",
        "Active buyers gone quiet for two months, or unhappy (two or more negative reviews): win back.",
    ),
    DefaultSegment("new", "days_since_first_order <= 30", "First order in the last 30 days: onboard."),
    DefaultSegment(
        "sleeping",
        "days_since_last_order between 90 and 180",
        "Last order three to six months ago: remind before they lapse.",
    ),
)


class SegmentNotFound(UserError):
    """No segment has this name."""


@dataclass(frozen=True)
class SegmentInfo:
    """A segment definition with its current size (open membership intervals)."""

    name: str
    rule: str
    description: str | None
    created_at: datetime
    refreshed_at: datetime | None
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rule": self.rule,
            "description": self.description,
            "created_at": self.created_at,
            "refreshed_at": self.refreshed_at,
            "size": self.size,
        }


@dataclass(frozen=True)
class SizePoint:
    """The segment at a moment when its membership changed."""

    at: datetime
    size: int
    entered: int
    left: int

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "size": self.size, "entered": self.entered, "left": self.left}


@dataclass(frozen=True)
class Interval:
    """One stay of a customer in a segment; ``left_at`` is None while they are still in it."""

    customer_id: str
    entered_at: datetime
    left_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "entered_at": self.entered_at, "left_at": self.left_at}


@dataclass(frozen=True)
class SegmentChange:
    """One segment at a refresh's moment: its size, and how many entered and left at that moment
    (compared with the previous refresh; the same numbers again when the same as-of is re-run)."""

    name: str
    size: int
    entered: int
    left: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "entered": self.entered, "left": self.left}


@dataclass(frozen=True)
class Share:
    """Customers in at least one segment, of all customers."""

    customers: int
    categorised: int

    @property
    def share(self) -> float | None:
        return self.categorised / self.customers if self.customers else None

    def as_dict(self) -> dict[str, Any]:
        return {"customers": self.customers, "categorised": self.categorised, "share": self.share}


@dataclass(frozen=True)
class SegmentFailure:
    """A segment a refresh could not evaluate (its rule is invalid or too large): left as it was."""

    name: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class RefreshResult:
    """The outcome of one refresh: per-segment changes and the share categorised at that as-of.

    ``failed`` lists the segments that could not be evaluated; the others were refreshed anyway.
    """

    as_of: date
    at: datetime
    segments: tuple[SegmentChange, ...]
    coverage: Share
    failed: tuple[SegmentFailure, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "at": self.at,
            "segments": [s.as_dict() for s in self.segments],
            **self.coverage.as_dict(),
            "failed": [f.as_dict() for f in self.failed],
        }


# ---------------------------------------------------------------------------------------------
# Pure rules


def membership_moment(as_of: date, timezone: str) -> datetime:
    """The UTC moment a refresh at ``as_of`` stands for: local midnight at the start of that day."""
    return datetime.combine(as_of, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def categorised_share(members: Iterable[Iterable[str]], customers: int) -> Share:
    """The share of ``customers`` that belong to at least one of the member sets."""
    union: set[str] = set()
    for group in members:
        union.update(group)
    if len(union) > customers:
        raise ValueError(f"{len(union)} members but only {customers} customers")
    return Share(customers=customers, categorised=len(union))


def check_name(name: str) -> str:
    """A segment name: 1–100 printable characters (surrounding spaces dropped)."""
    cleaned = name.strip()
    if not cleaned:
        raise UserError("a segment needs a name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise UserError(f"segment names are at most {MAX_NAME_LENGTH} characters")
    if not cleaned.isprintable():
        raise UserError("segment names cannot contain control characters")
    return cleaned


# ---------------------------------------------------------------------------------------------
# Definitions


def create_segment(
    session: Session, name: str, rule: str, description: str | None = None, *, now: datetime | None = None
) -> SegmentInfo:
    """Validate ``rule`` and store a new segment (empty until the next refresh)."""
    name = check_name(name)
    parse_rule(rule)  # raises RuleError with a caret under the problem
    if session.scalar(select(Segment.id).where(Segment.name == name)) is not None:
        raise UserError(f"segment {name!r} already exists (delete it first to redefine it)")
    segment = Segment(name=name, rule=rule, description=description, created_at=now or datetime.now(UTC))
    session.add(segment)
    session.flush()
    return _info(session, segment)


def init_default_segments(session: Session, *, now: datetime | None = None) -> list[str]:
    """Create the default segments that do not exist yet; returns the names created."""
    existing = set(session.scalars(select(Segment.name)))
    created = []
    for default in DEFAULT_SEGMENTS:
        if default.name not in existing:
            create_segment(session, default.name, default.rule, default.description, now=now)
            created.append(default.name)
    return created


def get_segment(session: Session, name: str) -> Segment:
    """The segment called ``name`` or :class:`SegmentNotFound` (with a suggestion)."""
    segment = session.scalar(select(Segment).where(Segment.name == name.strip()))
    if segment is None:
        import difflib

        names = list(session.scalars(select(Segment.name).order_by(Segment.name)))
        guess = difflib.get_close_matches(name, names, n=1)
        if guess:
            raise SegmentNotFound(f"no segment {name!r}: did you mean {guess[0]!r}?")
        known = ", ".join(names) if names else "none yet (try 'retentio segments init-defaults')"
        raise SegmentNotFound(f"no segment {name!r}; segments: {known}")
    return segment


def segment_info(session: Session, name: str) -> SegmentInfo:
    """The definition and current size of segment ``name``."""
    return _info(session, get_segment(session, name))


def list_segments(session: Session) -> list[SegmentInfo]:
    """Every segment with its current size, by name."""
    sizes = dict(
        session.execute(
            select(SegmentMembership.segment_id, func.count())
            .where(SegmentMembership.left_at.is_(None))
            .group_by(SegmentMembership.segment_id)
        ).all()
    )
    return [
        _info(session, s, sizes.get(s.id, 0)) for s in session.scalars(select(Segment).order_by(Segment.name))
    ]


def delete_segment(session: Session, name: str) -> None:
    """Remove a segment and its membership history."""
    segment = get_segment(session, name)
    # Explicit, not only ON DELETE CASCADE: SQLite enforces foreign keys only when asked to.
    session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def _info(session: Session, segment: Segment, size: int | None = None) -> SegmentInfo:
    if size is None:
        size = _open_count(session, segment.id)
    return SegmentInfo(
        name=segment.name,
        rule=segment.rule,
        description=segment.description,
        created_at=segment.created_at,
        refreshed_at=segment.refreshed_at,
        size=size,
    )


def _open_count(session: Session, segment_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMembership)
            .where(SegmentMembership.segment_id == segment_id, SegmentMembership.left_at.is_(None))
        )
        or 0
    )


# ---------------------------------------------------------------------------------------------
# Evaluation and refresh


def evaluate_segments(
    tables: AnalyticsTables,
    as_of: date,
    rules: dict[str, str],
    scores: Any = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[dict[str, set[str]], int]:
    """Members of each rule at ``as_of`` and the number of customers, in one query on the backend.

    The features are computed once and every rule becomes one boolean column of the same select.
    The first rule that cannot be evaluated raises :class:`UserError` (see :func:`evaluate_each`).
    """
    members, customers, failures = evaluate_each(tables, as_of, rules, scores, timezone)
    for name, reason in failures.items():
        raise UserError(f"segment {name!r} cannot be evaluated: {reason}")
    return members, customers


def evaluate_each(
    tables: AnalyticsTables,
    as_of: date,
    rules: dict[str, str],
    scores: Any = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[dict[str, set[str]], int, dict[str, str]]:
    """Like :func:`evaluate_segments`, but one rule that cannot be evaluated never stops the others.

    Returns the members of every rule that could be evaluated, the number of customers and, for
    each rule that could not, the reason in one line: an invalid rule (including one saved before a
    limit of the rule language existed) or any failure of its query. All rules run in one select;
    if that fails, each runs on its own so the culprit is found.
    """
    failures: dict[str, str] = {}
    compiled: dict[str, Any] = {}
    features = customer_features(tables, as_of, scores, timezone)
    for name, rule in rules.items():
        try:
            compiled[name] = parse_rule(rule).to_ibis(features).fill_null(False)
        except RuleError as exc:
            failures[name] = f"invalid rule: {exc.message} (at column {exc.column})"
        except Exception as exc:  # e.g. RecursionError: reported per segment
            failures[name] = _failure(exc)
    names = list(compiled)
    members: dict[str, set[str]] = {}
    try:
        result = features.select(
            "customer_id", **{f"s{i}": compiled[n] for i, n in enumerate(names)}
        ).to_pyarrow()
    except Exception:  # one of the rules: find which below
        result = features.select("customer_id").to_pyarrow()
        for name in names:
            try:
                flags = features.select("customer_id", s=compiled[name]).to_pyarrow()
            except Exception as exc:
                failures[name] = _failure(exc)
                continue
            members[name] = {
                cid
                for cid, flag in zip(
                    flags.column("customer_id").to_pylist(), flags.column("s").to_pylist(), strict=True
                )
                if flag
            }
        return members, result.num_rows, failures
    ids = result.column("customer_id").to_pylist()
    for i, name in enumerate(names):
        flags = result.column(f"s{i}").to_pylist()
        members[name] = {cid for cid, flag in zip(ids, flags, strict=True) if flag}
    return members, result.num_rows, failures


def _failure(exc: BaseException) -> str:
    """An unexpected failure of one rule's query as one line of text."""
    text = printable(str(exc)).strip()
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def refresh_segments(
    session: Session,
    tables: AnalyticsTables,
    as_of: date,
    timezone: str,
    names: Sequence[str] | None = None,
    scores: Any = None,
) -> RefreshResult:
    """Evaluate the segments at ``as_of`` and record who entered and who left (see module docstring).

    A segment whose rule cannot be evaluated is left as it was and listed in ``failed``; the others
    are refreshed. The share categorised counts the refreshed segments.
    """
    if names:
        segments = [get_segment(session, n) for n in names]
    else:
        segments = list(session.scalars(select(Segment).order_by(Segment.name)))
    at = membership_moment(as_of, timezone)
    for segment in segments:
        if segment.refreshed_at is not None and at < segment.refreshed_at:
            last = _local_day(segment.refreshed_at, timezone)
            raise UserError(
                f"segment {segment.name!r} was last refreshed as of {last}; "
                f"refreshing as of the earlier {as_of.isoformat()} would rewrite its history"
            )
    members, customers, failures = evaluate_each(
        tables, as_of, {s.name: s.rule for s in segments}, scores, timezone
    )
    changes = []
    for segment in segments:
        if segment.name in failures:
            continue
        entered, left = _apply_membership(session, segment.id, members[segment.name], at)
        segment.refreshed_at = at
        changes.append(SegmentChange(segment.name, len(members[segment.name]), entered, left))
    session.flush()
    return RefreshResult(
        as_of=as_of,
        at=at,
        segments=tuple(changes),
        coverage=categorised_share(members.values(), customers),
        failed=tuple(SegmentFailure(name, reason) for name, reason in failures.items()),
    )


def _local_day(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).date().isoformat()


def _apply_membership(session: Session, segment_id: int, members: set[str], at: datetime) -> tuple[int, int]:
    """Bring the intervals of one segment in line with ``members`` at moment ``at``."""
    sm = SegmentMembership
    open_rows = session.execute(
        select(sm.id, sm.customer_id, sm.entered_at).where(sm.segment_id == segment_id, sm.left_at.is_(None))
    ).all()
    open_ids = {row.customer_id for row in open_rows}
    leaving = [row for row in open_rows if row.customer_id not in members]
    entering = members - open_ids

    # Intervals opened at this very moment by an earlier refresh at the same as-of never existed.
    vanished = [row.id for row in leaving if row.entered_at == at]
    closing = [row.id for row in leaving if row.entered_at != at]
    for chunk in _chunks(vanished):
        session.execute(delete(sm).where(sm.id.in_(chunk)))
    for chunk in _chunks(closing):
        session.execute(update(sm).where(sm.id.in_(chunk)).values(left_at=at))

    # Intervals closed at this very moment are reopened rather than followed by a new one.
    reopened: set[str] = set()
    if entering:
        closed_now = session.execute(
            select(sm.id, sm.customer_id).where(sm.segment_id == segment_id, sm.left_at == at)
        ).all()
        reopen = [row for row in closed_now if row.customer_id in entering]
        for chunk in _chunks([row.id for row in reopen]):
            session.execute(update(sm).where(sm.id.in_(chunk)).values(left_at=None))
        reopened = {row.customer_id for row in reopen}
    new_rows = [
        {"segment_id": segment_id, "customer_id": cid, "entered_at": at, "left_at": None}
        for cid in sorted(entering - reopened)
    ]
    if new_rows:
        session.execute(insert(sm), new_rows)
    # Report the moment, not this call: a repeated refresh at the same as-of reports the same.
    entered = session.scalar(
        select(func.count()).select_from(sm).where(sm.segment_id == segment_id, sm.entered_at == at)
    )
    left = session.scalar(
        select(func.count()).select_from(sm).where(sm.segment_id == segment_id, sm.left_at == at)
    )
    return int(entered or 0), int(left or 0)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# ---------------------------------------------------------------------------------------------
# Reading membership


def current_members(session: Session, name: str) -> list[str]:
    """Ids of the customers in the segment now (open intervals), sorted."""
    segment = get_segment(session, name)
    sm = SegmentMembership
    return list(
        session.scalars(
            select(sm.customer_id)
            .where(sm.segment_id == segment.id, sm.left_at.is_(None))
            .order_by(sm.customer_id)
        )
    )


def members_at(session: Session, name: str, at: datetime) -> list[str]:
    """Ids of the customers who were in the segment at moment ``at`` (aware datetime), sorted."""
    segment = get_segment(session, name)
    sm = SegmentMembership
    return list(
        session.scalars(
            select(sm.customer_id)
            .where(
                sm.segment_id == segment.id,
                sm.entered_at <= at,
                (sm.left_at.is_(None)) | (sm.left_at > at),
            )
            .order_by(sm.customer_id)
        )
    )


def membership_history(session: Session, name: str, customer_id: str | None = None) -> list[Interval]:
    """Every stay in the segment (optionally of one customer), oldest first."""
    segment = get_segment(session, name)
    sm = SegmentMembership
    query = select(sm.customer_id, sm.entered_at, sm.left_at).where(sm.segment_id == segment.id)
    if customer_id is not None:
        query = query.where(sm.customer_id == customer_id)
    rows = session.execute(query.order_by(sm.entered_at, sm.customer_id)).all()
    return [Interval(r.customer_id, r.entered_at, r.left_at) for r in rows]


def size_history(session: Session, name: str) -> list[SizePoint]:
    """The segment's size after each moment its membership changed (running entries − exits)."""
    segment = get_segment(session, name)
    sm = SegmentMembership
    entered = dict(
        session.execute(
            select(sm.entered_at, func.count()).where(sm.segment_id == segment.id).group_by(sm.entered_at)
        ).all()
    )
    left: dict[datetime, int] = {
        moment: count
        for moment, count in session.execute(
            select(sm.left_at, func.count())
            .where(sm.segment_id == segment.id, sm.left_at.is_not(None))
            .group_by(sm.left_at)
        ).all()
        if moment is not None
    }
    points, size = [], 0
    for moment in sorted(set(entered) | set(left)):
        size += entered.get(moment, 0) - left.get(moment, 0)
        points.append(SizePoint(moment, size, entered.get(moment, 0), left.get(moment, 0)))
    return points


def store_share(session: Session) -> Share:
    """The share of the store's customers that are currently in at least one segment."""
    customers = int(session.scalar(select(func.count()).select_from(Customer)) or 0)
    categorised = int(
        session.scalar(
            select(func.count(func.distinct(SegmentMembership.customer_id))).where(
                SegmentMembership.left_at.is_(None)
            )
        )
        or 0
    )
    return Share(customers=customers, categorised=min(categorised, customers))


MEMBER_COLUMNS = ("customer_id", "email", "first_name", "last_name", "entered_at")


def member_rows(session: Session, name: str) -> list[dict[str, Any]]:
    """Current members with the contact fields a campaign or a CRM import needs."""
    segment = get_segment(session, name)
    sm = SegmentMembership
    rows = session.execute(
        select(sm.customer_id, Customer.email, Customer.first_name, Customer.last_name, sm.entered_at)
        .outerjoin(Customer, Customer.customer_id == sm.customer_id)
        .where(sm.segment_id == segment.id, sm.left_at.is_(None))
        .order_by(sm.customer_id)
    ).all()
    return [dict(zip(MEMBER_COLUMNS, row, strict=True)) for row in rows]


def write_members_csv(rows: Sequence[dict[str, Any]], out: IO[str] | Path) -> int:
    """Write member rows as UTF-8 CSV (timestamps ISO 8601 UTC); returns the number of rows.

    Cells are made safe for spreadsheets by :class:`~retentio.analytics.render.CsvWriter`; a path
    that cannot be written (a folder, a full disk) is a one-line :class:`UserError`.
    """
    if isinstance(out, Path):
        try:
            with out.open("w", encoding="utf-8", newline="") as handle:
                return write_members_csv(rows, handle)
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    writer = CsvWriter(out, lineterminator="\r\n")
    writer.writerow(MEMBER_COLUMNS)
    for row in rows:
        writer.writerow(row[c] for c in MEMBER_COLUMNS)
    return len(rows)


def scores_from_store(session: Session) -> pa.Table | None:
    """The latest scores per customer (:func:`retentio.models.registry.fold_latest_scores`, the one
    fold of ``customer_scores``), or None when nothing is scored."""
    from retentio.models.registry import fold_latest_scores

    folded = fold_latest_scores(session)
    return folded if folded.num_rows else None


# ---------------------------------------------------------------------------------------------
# Entry points over the application context (open the store and the snapshot)


def member_ids(app: App, name: str) -> list[str]:
    """Current members of segment ``name`` (the KPI command's ``--segment`` uses this)."""
    with app.read_session() as session:
        return current_members(session, name)


def refresh_all(app: App, as_of: date, names: Sequence[str] | None = None) -> RefreshResult:
    """Refresh segments against the store's analytics snapshot (what ``segments refresh`` runs)."""

    con = app.analytics_connection()
    try:
        tables = AnalyticsTables.from_backend(con)
        with app.session() as session:
            return refresh_segments(
                session, tables, as_of, app.settings.timezone, names, scores_from_store(session)
            )
    finally:
        con.disconnect()
