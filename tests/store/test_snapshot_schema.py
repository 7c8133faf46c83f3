"""The snapshot's tables are declared once (``store.snapshot_schema``) and its on-disk shape is pinned."""

from __future__ import annotations

import hashlib

import duckdb

from retentio.store import snapshot
from retentio.store.snapshot_schema import SNAPSHOT_TABLES, arrow_schema, create_table_sql, snapshot_columns

# sha256 of the DDL of every snapshot table (one CREATE per line, in SNAPSHOT_TABLES order) at
# SNAPSHOT_SCHEMA "4". If this fails, the snapshot changed shape: bump SNAPSHOT_SCHEMA (existing
# snapshots are then rebuilt, or upgraded by a step in snapshot._UPGRADES) and update both.
DDL_FINGERPRINT = ("4", "e0df62252e95a15d60212bd681c0ab9dfb5db983a3dbfa4cd46d1416b9e3e9d5")


def test_the_ddl_keeps_its_shape_at_this_schema_version() -> None:
    ddl = "\n".join(create_table_sql(table) for table in SNAPSHOT_TABLES)
    assert (snapshot.SNAPSHOT_SCHEMA, hashlib.sha256(ddl.encode()).hexdigest()) == DDL_FINGERPRINT


def test_the_snapshot_creates_and_fills_the_declared_columns() -> None:
    con = duckdb.connect()
    snapshot._init(con)
    for table in SNAPSHOT_TABLES:
        assert con.execute(f"SELECT * FROM {table} LIMIT 0").arrow().schema == arrow_schema(table)
        assert [name for name, _, _ in snapshot._columns(table)] == [c.name for c in snapshot_columns(table)]
    assert snapshot.LOCAL_DATES["orders"] == [("ordered_at", "order_date")]


def test_every_contract_column_is_in_the_snapshot_except_event_properties() -> None:
    from retentio.contract import TABLES

    for table in SNAPSHOT_TABLES:
        declared = {c.name for c in snapshot_columns(table)}
        missing = set(TABLES[table].names) - declared
        assert missing == ({"properties"} if table == "events" else set()), table
