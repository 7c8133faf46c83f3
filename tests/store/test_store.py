"""The store on SQLite and PostgreSQL: migrations, types, contract agreement, snapshot rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from retentio.app import App
from retentio.config import ConfigError, Settings, normalise_database_url
from retentio.contract import TABLES
from retentio.ingest import ingest_file
from retentio.store import snapshot
from retentio.store.db import (
    SCHEMA_HEAD,
    SCHEMA_HEADS,
    current_revision,
    head_revision,
    migrate,
)
from retentio.store.schema import CONTRACT_MODELS, Customer, Order


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    return Settings(home=home, database_url=store_url)


def test_models_mirror_the_data_contract() -> None:
    for name, spec in TABLES.items():
        columns = set(CONTRACT_MODELS[name].__table__.columns.keys())  # type: ignore[attr-defined]
        assert {c.stored_name for c in spec.columns} <= columns, name
        assert tuple(c.name for c in CONTRACT_MODELS[name].__table__.primary_key) == spec.key  # type: ignore[attr-defined]


def test_migrations_create_every_table(app: App, settings: Settings) -> None:
    migrate(settings)
    assert current_revision(app.engine) == head_revision() == ",".join(sorted(SCHEMA_HEADS))
    assert SCHEMA_HEAD in SCHEMA_HEADS
    tables = set(inspect(app.engine).get_table_names())
    assert set(TABLES) <= tables
    assert {"ingest_runs", "customer_scores", "segments", "segment_memberships", "model_versions"} <= tables


def test_timestamps_round_trip_as_aware_utc_and_naive_is_refused(app: App, settings: Settings) -> None:
    migrate(settings)
    moscow = timezone(timedelta(hours=3))
    with app.session() as session:
        session.add(
            Customer(customer_id="c1", row_hash=1, signup_at=datetime(2024, 3, 1, 2, 30, tzinfo=moscow))
        )
    with Session(app.engine) as session:
        customer = session.get(Customer, "c1")
        assert customer is not None
        assert customer.signup_at == datetime(2024, 2, 29, 23, 30, tzinfo=UTC)
        assert customer.signup_at is not None and customer.signup_at.tzinfo is not None
    with pytest.raises(Exception, match="naive datetime"), app.session() as session:
        session.add(
            Order(order_id="o", customer_id="c1", ordered_at=datetime(2024, 1, 1), total_minor=1, row_hash=1)
        )
        session.flush()


def test_rebuilt_snapshot_equals_incremental(app: App, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "customer_id,signup_at\na,2024-01-31 23:30\nb,\n", encoding="utf-8"
    )
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,total,status\n1,a,2024-01-31 23:30,10.5,completed\n"
        "2,c,2024-02-01 00:10,3,cancelled\n",
        encoding="utf-8",
    )
    (tmp_path / "refunds.csv").write_text(
        "refund_id,order_id,refunded_at,amount\nr1,1,2024-03-01,5\n", encoding="utf-8"
    )
    for table in ("customers", "orders", "refunds"):
        ingest_file(app, table, tmp_path / f"{table}.csv")

    def dump() -> dict[str, list[tuple[object, ...]]]:
        with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
            return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=str) for t in TABLES}

    incremental = dump()
    assert incremental["refunds"][0][2] == "a"  # customer_id carried from the order
    assert [r[-1] for r in incremental["customers"]] == [False, False, True]
    snapshot.rebuild(settings)
    assert dump() == incremental


def test_stale_snapshot_is_rebuilt_on_read(app: App, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id\na\n", encoding="utf-8")
    ingest_file(app, "customers", tmp_path / "customers.csv")
    settings.snapshot_path.unlink()
    con = snapshot.open_analytics(settings)
    assert con.table("customers").count().execute() == 1


def test_snapshot_keeps_each_orders_cost_of_goods_current(
    app: App, settings: Settings, tmp_path: Path
) -> None:
    def write(name: str, text: str) -> None:
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
        ingest_file(app, name, tmp_path / f"{name}.csv")

    def costs() -> dict[str, object]:
        with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
            return dict(con.execute("select order_id, cost_of_goods from orders").fetchall())

    write("customers", "customer_id\na\n")
    header = "order_id,customer_id,ordered_at,total\n"
    write("orders", header + "o1,a,2024-01-05,100\no2,a,2024-01-06,50\no3,a,2024-01-07,10\n")
    assert costs() == {"o1": None, "o2": None, "o3": None}  # no lines yet: unknown
    write(
        "order_lines",
        "order_id,sku,quantity,unit_price,unit_cost\n"
        "o1,s1,2,30,12.50\no1,s2,1,40,7.25\no2,s1,1,50,\no2,s2,1,0,1\n",
    )
    assert costs() == {"o1": Decimal("32.25"), "o2": None, "o3": None}  # o2 has an uncosted line
    write("orders", header + "o1,a,2024-01-05,120\n")  # the order re-loaded: its cost stays
    write("order_lines", "order_id,sku,quantity,unit_price,unit_cost\no2,s1,1,50,20\n")  # now costed
    expected = {"o1": Decimal("32.25"), "o2": Decimal("21.00"), "o3": None}
    assert costs() == expected
    snapshot.rebuild(settings)
    assert costs() == expected


def test_snapshot_keeps_the_purchase_day_flags_current(app: App, settings: Settings, tmp_path: Path) -> None:
    def write(name: str, text: str) -> None:
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
        ingest_file(app, name, tmp_path / f"{name}.csv")

    def flags() -> dict[str, tuple[bool, bool]]:
        with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
            rows = con.execute("select order_id, opens_purchase_day, on_first_purchase_day from orders")
            return {order: (opens, first) for order, opens, first in rows.fetchall()}

    write("customers", "customer_id\na\nb\n")
    header = "order_id,customer_id,ordered_at,total,status\n"
    # o1 and o2 on one Moscow day; o4 at 21:30 UTC is 00:30 on 6 January in Moscow, a day of its own.
    write(
        "orders",
        header + "o1,a,2024-01-05T10:00:00+03:00,10,\no2,a,2024-01-05T12:00:00+03:00,20,\n"
        "o3,a,2024-01-07T10:00:00+03:00,30,\no4,a,2024-01-05T21:30:00+00:00,40,\n",
    )
    assert flags() == {"o1": (True, True), "o2": (False, True), "o3": (True, False), "o4": (True, False)}
    write("orders", header + "o0,a,2024-01-04T09:00:00+03:00,5,\n")  # an earlier first purchase day
    assert flags() == {
        "o0": (True, True),
        "o1": (True, False),
        "o2": (False, False),
        "o3": (True, False),
        "o4": (True, False),
    }
    write("orders", header + "o1,a,2024-01-05T10:00:00+03:00,10,cancelled\n")  # o2 now opens the day
    write("orders", header + "o3,b,2024-01-07T10:00:00+03:00,30,\n")  # moved to another customer
    expected = {
        "o0": (True, True),
        "o1": (False, False),
        "o2": (True, False),
        "o3": (True, True),
        "o4": (True, False),
    }
    assert flags() == expected
    snapshot.rebuild(settings)
    assert flags() == expected


def test_snapshot_of_an_older_schema_is_rebuilt(app: App, settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id\na\n", encoding="utf-8")
    ingest_file(app, "customers", tmp_path / "customers.csv")
    version = snapshot.snapshot_version(settings.snapshot_path)
    assert version is not None
    with duckdb.connect(str(settings.snapshot_path)) as con:
        con.execute("DELETE FROM _snapshot_meta WHERE key = 'schema'")
    assert snapshot.snapshot_version(settings.snapshot_path) is None
    con = snapshot.open_analytics(settings)
    assert con.table("customers").count().execute() == 1
    con.disconnect()
    assert snapshot.snapshot_version(settings.snapshot_path) == version  # rebuilt, current schema


def test_database_url_forms() -> None:
    assert normalise_database_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="not supported"):
        normalise_database_url("mysql://x")
    with pytest.raises(ConfigError, match="names no database"):
        normalise_database_url("postgresql://")
    with pytest.raises(ConfigError, match="names no database"):
        normalise_database_url("postgresql://u@h:5432")
    with pytest.raises(ConfigError, match="Port"):
        normalise_database_url("postgresql://u@h:abc/db")


def test_quick_data_version_agrees_with_the_store_and_declines_when_unsure(
    app: App, settings: Settings
) -> None:
    from retentio.store.db import bump_data_version, data_version
    from retentio.store.stamp import quick_data_version

    assert quick_data_version(settings) is None  # no store yet
    migrate(settings)
    assert quick_data_version(settings) == 0
    with app.session() as session:
        bump_data_version(session)
        bump_data_version(session)
    with Session(app.engine) as session:
        assert quick_data_version(settings) == data_version(session) == 2
    with app.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    assert quick_data_version(settings) is None  # an older schema: `retentio db upgrade` first


DOMAIN_MIGRATION = """
import sqlalchemy as sa
from alembic import op

revision = "w001"
down_revision = None
branch_labels = ("widgets",)
depends_on = "0002"


def upgrade() -> None:
    op.create_table("widgets", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("widgets")
"""


def test_a_domain_owns_its_migrations_as_a_branch_the_store_requires(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retentio.store import db, stamp

    migrate(settings)  # the base branch only
    assert stamp.read_stamp(settings).current
    versions = tmp_path / "widgets" / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "w001_widgets.py").write_text(DOMAIN_MIGRATION, encoding="utf-8")
    base = db.version_locations()
    monkeypatch.setattr(db, "version_locations", lambda: [*base, versions])
    monkeypatch.setattr(stamp, "SCHEMA_HEADS", frozenset({"w001"}))  # w001 depends on 0002
    monkeypatch.setattr(stamp, "KNOWN_REVISIONS", stamp.KNOWN_REVISIONS | {"w001"})
    behind = stamp.read_stamp(settings)
    assert not behind.current and "retentio db upgrade" in (behind.problem or "")
    assert db.head_revision() == "0002,w001"
    migrate(settings)
    assert stamp.read_stamp(settings).current
    with App(settings) as app:
        assert "widgets" in inspect(app.engine).get_table_names()
        assert db.current_revision(app.engine) == "w001"
    migrate(settings)  # idempotent


def test_upgrading_a_0001_store_keeps_its_data_version_and_gives_it_an_identity(settings: Settings) -> None:
    from retentio.store import stamp

    migrate(settings, "0001")
    with App(settings) as app, app.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO store_meta (key, value) VALUES ('data_version', '7')")
    behind = stamp.read_stamp(settings)
    assert not behind.current and "retentio db upgrade" in (behind.problem or "")
    migrate(settings)
    now = stamp.read_stamp(settings)
    assert now.current and now.data_version == 7 and now.store_id and len(now.store_id) == 36
