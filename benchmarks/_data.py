"""Synthetic (or given) orders in a temporary DuckDB file, shared by the analytics benchmarks.

``bench_summary.py`` and ``bench_cohorts.py`` take the same data options and build the same database;
this module is that common part (how contenders are timed is ``_timing.py``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis

from retentio.store.snapshot_schema import SNAPSHOT_TABLES, create_table_sql


def build_database(
    path: Path, customers: int, orders_per_customer: float, seed: int, orders_parquet: Path | None
) -> dict[str, int]:
    """Write orders and refunds into a DuckDB file with the snapshot's tables; return row counts.

    Every table is created from the snapshot's declaration (``store.snapshot_schema``), so the
    benchmarks read exactly the real snapshot's shape; the columns the data does not give stay null.
    """
    con = duckdb.connect(str(path))
    for name in SNAPSHOT_TABLES:
        con.execute(create_table_sql(name))
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    if orders_parquet is not None:
        source = f"read_parquet('{orders_parquet}')"
        columns = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        date_expr = "order_date" if "order_date" in columns else "CAST(ordered_at AS DATE)"
        at_expr = (
            "CAST(ordered_at AS TIMESTAMP)" if "ordered_at" in columns else "CAST(order_date AS TIMESTAMP)"
        )
        id_expr = "CAST(order_id AS VARCHAR)" if "order_id" in columns else "'o' || row_number() OVER ()"
        cancelled = "coalesce(status = 'cancelled', false)" if "status" in columns else "false"
        con.execute(
            f"""INSERT INTO orders BY NAME SELECT {id_expr} AS order_id,
            CAST(customer_id AS VARCHAR) AS customer_id, {at_expr} AS ordered_at,
            {date_expr} AS order_date, CAST(total AS DECIMAL(18,2)) AS total,
            CAST(NULL AS DECIMAL(18,2)) AS discount, {cancelled} AS is_cancelled FROM {source}"""
        )
    else:
        mean_extra = max(orders_per_customer - 1.0, 0.0)
        con.execute(
            f"""INSERT INTO orders BY NAME
            WITH c AS (
                SELECT i,
                       1 + CAST(floor(-ln(1 - random()) * {mean_extra}) AS INTEGER) AS n,
                       CAST(floor(random() * 640) AS INTEGER) AS first_offset,
                       CAST(floor(random() * 400) AS INTEGER) AS span
                FROM range({customers}) t(i)
            ),
            x AS (SELECT i, first_offset, span, unnest(range(n)) AS k FROM c)
            SELECT 'o' || CAST(row_number() OVER () AS VARCHAR) AS order_id,
                   'c' || lpad(CAST(i AS VARCHAR), 8, '0') AS customer_id,
                   CAST(d AS TIMESTAMP) + to_seconds(CAST(floor(random() * 86400) AS BIGINT)) AS ordered_at,
                   d AS order_date,
                   CAST(round(1 + random() * 5000, 2) AS DECIMAL(18,2)) AS total,
                   CAST(NULL AS DECIMAL(18,2)) AS discount,
                   random() < 0.05 AS is_cancelled
            FROM (SELECT *, DATE '2023-01-01' + first_offset
                          + CASE WHEN k = 0 THEN 0 ELSE CAST(floor(random() * (span + 1)) AS INTEGER) END AS d
                  FROM x)"""
        )
    con.execute(
        """INSERT INTO refunds BY NAME
        SELECT 'r' || order_id AS refund_id, order_id, customer_id,
               ordered_at + INTERVAL 3 DAY AS refunded_at, order_date + 3 AS refund_date,
               CAST(total / 2 AS DECIMAL(18,2)) AS amount
        FROM orders WHERE hash(order_id) % 20 = 0"""
    )
    # The snapshot's derived purchase-day flags (store.snapshot), computed the way a rebuild does.
    from retentio.store.snapshot import refresh_purchase_days

    started = time.perf_counter()
    refresh_purchase_days(con, only_customers=False)
    flag_ms = round((time.perf_counter() - started) * 1000)
    counts = {
        "customers": con.execute("SELECT count(DISTINCT customer_id) FROM orders").fetchone()[0],  # type: ignore[index]
        "orders": con.execute("SELECT count(*) FROM orders").fetchone()[0],  # type: ignore[index]
        "refunds": con.execute("SELECT count(*) FROM refunds").fetchone()[0],  # type: ignore[index]
        "purchase_day_flags_ms": flag_ms,
    }
    con.close()
    return counts


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data and timing options every analytics benchmark takes."""
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--full", action="store_true", help="1M customers, ~10M orders")
    parser.add_argument("--orders-parquet", type=Path, help="use these orders instead of synthetic ones")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of every contender, alternating (medians reported)"
    )
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = DuckDB's default)")


@dataclass
class BenchDatabase:
    """The built database: row counts, the Ibis connection and its raw DuckDB connection."""

    counts: dict[str, int]
    build_seconds: float
    con: Any
    raw: duckdb.DuckDBPyConnection


@contextmanager
def bench_database(args: argparse.Namespace) -> Iterator[BenchDatabase]:
    """Build the data of ``args`` (``--full`` = 1M customers) in a temporary DuckDB file and connect."""
    if args.full:
        args.customers = 1_000_000
    with tempfile.TemporaryDirectory(prefix="retentio-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        counts = build_database(
            path, args.customers, args.orders_per_customer, args.seed, args.orders_parquet
        )
        build_seconds = time.perf_counter() - started
        con = ibis.duckdb.connect(str(path))
        raw = con.con  # the same DuckDB connection for the hand-written SQL
        if args.threads:
            raw.execute(f"SET threads = {args.threads}")
        try:
            yield BenchDatabase(counts, build_seconds, con, raw)
        finally:
            con.disconnect()


def print_results(
    title: str, counts: dict[str, int], repeat: int, rows: list[tuple[str, float, str]], environment: str
) -> None:
    """The results as a Markdown table under a heading naming the data size, the versions under it."""
    print(
        f"\n### {title}, {counts['customers']:,} customers / {counts['orders']:,} orders "
        f"(median of {repeat}, contenders alternating)\n"
    )
    print("| contender | seconds | notes |")
    print("| --- | ---: | --- |")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.3f} | {note} |")
    print(f"\n{environment}")
