"""Rule segments: definitions, refresh into membership intervals, history, share, export."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from retentio.config import normalise_database_url
from retentio.errors import UserError
from retentio.segments import service
from retentio.segments.rules import RuleError, parse_rule
from retentio.store.schema import Base, Customer, CustomerScore, SegmentMembership

TZ = "Europe/Moscow"
T1, T2, T3 = date(2024, 1, 20), date(2024, 3, 1), date(2024, 3, 20)
RECENT = "days_since_last_order <= 30"


def _session(url: str) -> Iterator[Session]:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Session]:
    """A fresh SQLite store (schema from the models)."""
    yield from _session(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """The same on SQLite and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        yield from _session(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        yield from _session(normalise_database_url(str(request.getfixturevalue("pg_url"))))


def moment(day: date) -> datetime:
    return service.membership_moment(day, TZ)


def history_shop(rows: Any, *, x_returns: bool = True) -> Any:
    """x: in at T1, out at T2, back at T3; y: out at T1, in at T2, out at T3; z never buys."""
    rows.order("x1", "x", "2024-01-10T10:00:00Z", "100")
    if x_returns:
        rows.order("x2", "x", "2024-03-10T10:00:00Z", "100")
    rows.order("y1", "y", "2024-02-15T10:00:00Z", "100")
    rows.customer("z")
    return rows


def test_membership_history_enter_leave_reenter(
    any_store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    session = any_store
    tables = duckdb_backend.load(history_shop(snapshot_rows))
    service.create_segment(session, "recent", RECENT, "bought in the last 30 days")
    results = [service.refresh_segments(session, tables, day, TZ) for day in (T1, T2, T3)]
    session.commit()

    assert [(r.segments[0].entered, r.segments[0].left, r.segments[0].size) for r in results] == [
        (1, 0, 1),
        (1, 1, 1),
        (1, 1, 1),
    ]
    stays = [(i.customer_id, i.entered_at, i.left_at) for i in service.membership_history(session, "recent")]
    assert stays == [
        ("x", moment(T1), moment(T2)),
        ("y", moment(T2), moment(T3)),
        ("x", moment(T3), None),
    ]
    assert moment(T1) == datetime(2024, 1, 19, 21, 0, tzinfo=UTC)  # local midnight in Moscow, stored in UTC
    assert [(i.entered_at, i.left_at) for i in service.membership_history(session, "recent", "x")] == [
        (moment(T1), moment(T2)),
        (moment(T3), None),
    ]
    assert service.members_at(session, "recent", moment(T1)) == ["x"]
    assert service.members_at(session, "recent", datetime(2024, 3, 5, tzinfo=UTC)) == ["y"]
    assert service.current_members(session, "recent") == ["x"]
    assert [(p.at, p.size, p.entered, p.left) for p in service.size_history(session, "recent")] == [
        (moment(T1), 1, 1, 0),
        (moment(T2), 1, 1, 1),
        (moment(T3), 1, 1, 1),
    ]
    info = service.segment_info(session, "recent")
    assert (info.size, info.refreshed_at, info.description) == (1, moment(T3), "bought in the last 30 days")


def test_refresh_is_idempotent_and_refuses_to_rewrite_history(
    any_store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    store = any_store
    tables = duckdb_backend.load(history_shop(snapshot_rows))
    service.create_segment(store, "recent", RECENT)
    for day in (T1, T2, T3):
        service.refresh_segments(store, tables, day, TZ)
    before = store.execute(
        select(SegmentMembership.customer_id, SegmentMembership.entered_at, SegmentMembership.left_at)
    ).all()
    again = service.refresh_segments(store, tables, T3, TZ)
    # The same as-of reports the same moment: x entered, y left, one member.
    assert (again.segments[0].entered, again.segments[0].left, again.segments[0].size) == (1, 1, 1)
    after = store.execute(
        select(SegmentMembership.customer_id, SegmentMembership.entered_at, SegmentMembership.left_at)
    ).all()
    assert sorted(before) == sorted(after)
    with pytest.raises(UserError, match="would rewrite its history"):
        service.refresh_segments(store, tables, T2, TZ)


def test_refresh_at_the_same_as_of_after_new_data_corrects_the_record(
    any_store: Session, duckdb_backend: Any, make_rows: Any
) -> None:
    store = any_store
    service.create_segment(store, "recent", RECENT)
    tables = duckdb_backend.load(history_shop(make_rows()))
    for day in (T1, T2, T3):
        service.refresh_segments(store, tables, day, TZ)
    # The March order of x turns out to be wrong and y orders again: re-run the same as-of.
    corrected = history_shop(make_rows(), x_returns=False)
    corrected.order("y2", "y", "2024-03-05T10:00:00Z", "100")
    tables = duckdb_backend.load(corrected)
    result = service.refresh_segments(store, tables, T3, TZ)
    assert (result.segments[0].entered, result.segments[0].left, result.segments[0].size) == (0, 0, 1)
    stays = [(i.customer_id, i.entered_at, i.left_at) for i in service.membership_history(store, "recent")]
    # No zero-length stay for x, and y's stay is reopened rather than split.
    assert stays == [("x", moment(T1), moment(T2)), ("y", moment(T2), None)]


def test_create_validates_and_names_are_unique(store: Session) -> None:
    with pytest.raises(RuleError, match="did you mean aov"):
        service.create_segment(store, "bad", "avo > 5")
    service.create_segment(store, "vip", "aov > 5000")
    with pytest.raises(UserError, match="already exists"):
        service.create_segment(store, "vip", "aov > 1")
    with pytest.raises(UserError, match="needs a name"):
        service.create_segment(store, "  ", "aov > 1")
    with pytest.raises(service.SegmentNotFound, match="did you mean 'vip'"):
        service.get_segment(store, "vp")


def test_defaults_parse_are_created_once_and_match_the_docs(store: Session) -> None:
    for default in service.DEFAULT_SEGMENTS:
        parse_rule(default.rule)
        assert default.rule in " ".join((service.__doc__ or "").split()), default.name
    assert service.init_default_segments(store) == ["vip", "at-risk", "new", "sleeping"]
    assert service.init_default_segments(store) == []
    assert [s.name for s in service.list_segments(store)] == ["at-risk", "new", "sleeping", "vip"]


def test_default_segments_pick_the_intended_customers(
    store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    rows = snapshot_rows
    for i in range(5):  # vip: five orders of 6000, two good reviews
        rows.order(f"v{i}", "vip", f"2024-01-{10 + i}T10:00:00Z", "6000")
    rows.review("vr1", "vip", "2024-01-20T10:00:00Z", 5)
    rows.review("vr2", "vip", "2024-01-21T10:00:00Z", 4)
    rows.order("n1", "newbie", "2024-02-20T10:00:00Z", "100")  # 10 days before as-of
    rows.order("s1", "sleepy", "2023-10-01T10:00:00Z", "100")  # 153 days
    rows.event("b1", "browser", "2023-10-01T10:00:00Z", "visit")  # never bought: not at risk
    tables = duckdb_backend.load(rows)
    service.init_default_segments(store)
    result = service.refresh_segments(store, tables, date(2024, 3, 1), TZ)
    members = {name: service.current_members(store, name) for name in ("vip", "at-risk", "new", "sleeping")}
    assert members == {
        "vip": ["vip"],
        "at-risk": ["sleepy"],  # vip's last order was 47 days ago
        "new": ["newbie"],
        "sleeping": ["sleepy"],
    }
    assert result.coverage.as_dict() == {"customers": 4, "categorised": 3, "share": 0.75}
    assert service.store_share(store).customers == 0  # the store here holds no customers rows


def test_delete_removes_the_segment_and_its_history(
    store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    tables = duckdb_backend.load(history_shop(snapshot_rows))
    service.create_segment(store, "recent", RECENT)
    service.create_segment(store, "buyers", "orders >= 1")
    service.refresh_segments(store, tables, T3, TZ)
    service.delete_segment(store, "recent")
    assert [s.name for s in service.list_segments(store)] == ["buyers"]
    remaining = store.scalars(
        select(SegmentMembership.customer_id).order_by(SegmentMembership.customer_id)
    ).all()
    assert remaining == ["x", "y"]
    with pytest.raises(service.SegmentNotFound):
        service.delete_segment(store, "recent")


def test_members_export_with_contact_fields_and_store_share(
    store: Session, duckdb_backend: Any, snapshot_rows: Any, tmp_path: Path
) -> None:
    for cid, email in (("x", "x@example.ru"), ("y", None), ("z", "z@example.ru")):
        store.add(
            Customer(customer_id=cid, email=email, first_name="Яна" if cid == "x" else None, row_hash=0)
        )
    tables = duckdb_backend.load(history_shop(snapshot_rows))
    service.create_segment(store, "buyers", "orders >= 1")
    service.refresh_segments(store, tables, T3, TZ)
    rows = service.member_rows(store, "buyers")
    assert [(r["customer_id"], r["email"], r["first_name"]) for r in rows] == [
        ("x", "x@example.ru", "Яна"),
        ("y", None, None),
    ]
    out = tmp_path / "buyers.csv"
    assert service.write_members_csv(rows, out) == 2
    assert out.read_text(encoding="utf-8").splitlines() == [
        "customer_id,email,first_name,last_name,entered_at",
        "x,x@example.ru,Яна,,2024-03-19T21:00:00+00:00",
        "y,,,,2024-03-19T21:00:00+00:00",
    ]
    buffer = io.StringIO()
    service.write_members_csv(rows, buffer)
    assert buffer.getvalue().count("\n") == 3
    share = service.store_share(store)
    assert (share.customers, share.categorised, share.share) == (3, 2, pytest.approx(2 / 3))


def test_scores_from_store_feed_the_churn_features(
    store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    assert service.scores_from_store(store) is None
    for cid in ("x", "y"):
        store.add(Customer(customer_id=cid, row_hash=0))
    old, new = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    store.add_all(
        [
            CustomerScore(customer_id="x", model="churn", model_version=1, as_of=old, churn_risk=0.9),
            CustomerScore(customer_id="x", model="churn2", model_version=1, as_of=new, churn_risk=0.2),
            CustomerScore(customer_id="x", model="bgnbd", model_version=1, as_of=old, clv=150.0, p_alive=0.5),
            CustomerScore(customer_id="y", model="churn", model_version=1, as_of=old, churn_risk=0.7),
            # 21:30 UTC on 9 March is 10 March in Moscow: the rule sees the local date.
            CustomerScore(
                customer_id="y",
                model="clv",
                model_version=1,
                as_of=old,
                expected_purchases=2.5,
                next_order_at=datetime(2024, 3, 9, 21, 30, tzinfo=UTC),
            ),
        ]
    )
    store.flush()
    scores = service.scores_from_store(store)
    assert scores is not None
    columns = ["customer_id", "churn_risk", "clv", "p_alive", "expected_purchases"]
    assert scores.select(columns).to_pylist() == [
        {"customer_id": "x", "churn_risk": 0.2, "clv": 150.0, "p_alive": 0.5, "expected_purchases": None},
        {"customer_id": "y", "churn_risk": 0.7, "clv": None, "p_alive": None, "expected_purchases": 2.5},
    ]
    tables = duckdb_backend.load(history_shop(snapshot_rows))
    service.create_segment(store, "risky", "churn_risk > 0.5")
    # The one fold of customer_scores: segments see every score, expected_purchases and the next order too.
    service.create_segment(store, "coming-back", "expected_purchases > 2 and next_order_date = '2024-03-10'")
    service.refresh_segments(store, tables, T3, TZ, scores=scores)
    assert service.current_members(store, "risky") == ["y"]
    assert service.current_members(store, "coming-back") == ["y"]


def test_categorised_share_is_a_pure_rule() -> None:
    share = service.categorised_share([{"a", "b"}, {"b", "c"}, set()], 5)
    assert (share.categorised, share.share) == (3, 0.6)
    assert service.categorised_share([], 0).share is None
    with pytest.raises(ValueError):
        service.categorised_share([{"a", "b"}], 1)


RULE_POOL = [
    "orders >= 1",
    "orders >= 2",
    "net_revenue > 150",
    "days_since_last_order <= 30",
    "days_since_last_order between 10 and 60",
    "aov > 120 or orders = 0",
    "not consent_email",
    "days_since_last_activity > 20",
]


def test_segment_sizes_never_exceed_customers_and_share_is_a_proportion(
    duckdb_backend: Any, make_rows: Any, tmp_path: Path
) -> None:
    counter = iter(range(10_000))

    customer = st.tuples(
        st.lists(st.tuples(st.integers(0, 80), st.integers(1, 400)), max_size=4),  # (day offset, total)
        st.sampled_from([True, False, None]),
    )

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.lists(customer, min_size=1, max_size=8),
        st.lists(st.sampled_from(RULE_POOL), min_size=1, max_size=4, unique=True),
    )
    def check(customers: list[Any], rules: list[str]) -> None:
        rows = make_rows()
        for i, (orders, consent) in enumerate(customers):
            rows.customer(f"c{i}", consent_email=consent)
            for j, (offset, total) in enumerate(orders):
                rows.order(
                    f"o{i}-{j}",
                    f"c{i}",
                    datetime(2024, 1, 1, 12, tzinfo=UTC).replace(day=1 + offset % 28, month=1 + offset // 28),
                    total,
                )
        tables = duckdb_backend.load(rows)
        for session in _session(f"sqlite:///{tmp_path / f'store{next(counter)}.db'}"):
            for k, rule in enumerate(rules):
                service.create_segment(session, f"s{k}", rule)
            result = service.refresh_segments(session, tables, date(2024, 4, 1), TZ)
            assert result.coverage.customers == len(customers)
            for change in result.segments:
                assert 0 <= change.size <= len(customers)
                assert change.size == len(service.current_members(session, change.name))
            assert max(c.size for c in result.segments) <= result.coverage.categorised <= len(customers)
            assert result.coverage.share is not None and 0.0 <= result.coverage.share <= 1.0

    check()
