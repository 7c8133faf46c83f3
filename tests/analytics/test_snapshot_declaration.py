"""The analytics fixtures and the benchmarks build the snapshot's tables from its one declaration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb

from retentio.analytics import tables as analytics_tables
from retentio.store.snapshot_schema import SNAPSHOT_TABLES, Source, arrow_schema, snapshot_columns

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_fixture_tables_have_the_declared_schema_and_fill_every_derived_column(snapshot_rows: Any) -> None:
    rows = snapshot_rows
    rows.order("o1", "c1", "2024-01-31T20:30:00Z", "100.00").line("o1", "sku", 2, "50.00", unit_cost="20.00")
    built = rows.arrow_tables()
    assert list(built) == list(SNAPSHOT_TABLES)
    for table, arrow in built.items():
        assert arrow.schema == arrow_schema(table), table
        for column in snapshot_columns(table):
            if column.source is Source.DERIVED:
                assert arrow.column(column.name).null_count == 0, f"fixture leaves {table}.{column.name} null"


def test_benchmark_database_has_the_declared_schema(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _data

    try:
        _data.build_database(
            tmp_path / "bench.duckdb", customers=50, orders_per_customer=2.0, seed=1, orders_parquet=None
        )
    finally:
        sys.modules.pop("_data", None)
    with duckdb.connect(str(tmp_path / "bench.duckdb"), read_only=True) as con:
        for table in SNAPSHOT_TABLES:
            assert con.execute(f"SELECT * FROM {table} LIMIT 0").arrow().schema == arrow_schema(table), table


def test_analytics_binds_the_declared_tables() -> None:
    assert analytics_tables.SNAPSHOT_TABLES == SNAPSHOT_TABLES
    assert "retentio.store.snapshot_schema" in (analytics_tables.__doc__ or "")
