"""Per-customer RFM + BTYD summary: our Ibis code vs hand-written DuckDB SQL vs lifetimes.

    .venv/bin/python benchmarks/bench_summary.py                    # 20k customers, quick
    .venv/bin/python benchmarks/bench_summary.py --customers 200000  # moderate
    .venv/bin/python benchmarks/bench_summary.py --full              # 1M customers, ~10M orders
    .venv/bin/python benchmarks/bench_summary.py --orders-parquet orders.parquet

Synthetic data (or the given orders) go into a temporary DuckDB file with the analytics snapshot
schema. Each contender computes the same thing, in the engine, and fetches it as Arrow; timings are
the best of ``--repeat`` warm runs. lifetimes (``summary_data_from_transaction_data``, freq='D',
freq_multiplier=7) gets a ready pandas frame (its preparation is not timed) and is checked for
identical numbers. Goals (issue #3): Ibis ≤ 1.5× hand-written SQL; ≥ 8× faster than lifetimes.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa

from retentio.analytics.rfm import SegmentMap, rfm_table
from retentio.analytics.summary import customer_summary
from retentio.analytics.tables import AnalyticsTables

CALIBRATION_END = date(2024, 9, 30)
AS_OF = date(2024, 10, 1)  # RFM as-of = the day after calibration end: the same orders

# Minimal columns for the snapshot tables the benchmark does not fill.
EMPTY_TABLES = {
    "customers": "customer_id VARCHAR, city VARCHAR, acquisition_channel VARCHAR, is_placeholder BOOLEAN",
    "order_lines": "order_id VARCHAR, sku VARCHAR, quantity INTEGER, unit_price DECIMAL(18,2), "
    "unit_cost DECIMAL(18,2)",
    "events": "event_id VARCHAR, customer_id VARCHAR, occurred_at TIMESTAMP, event_date DATE, type VARCHAR",
    "reviews": "review_id VARCHAR, customer_id VARCHAR, created_at TIMESTAMP, created_date DATE, "
    "rating INTEGER",
    "tickets": "ticket_id VARCHAR, customer_id VARCHAR, opened_at TIMESTAMP, opened_date DATE, csat INTEGER",
    "survey_responses": "response_id VARCHAR, customer_id VARCHAR, answered_at TIMESTAMP, "
    "answered_date DATE, survey VARCHAR, score INTEGER",
}


def build_database(
    path: Path, customers: int, orders_per_customer: float, seed: int, orders_parquet: Path | None
) -> dict[str, int]:
    """Write orders and refunds (snapshot schema) into a DuckDB file; return row counts."""
    con = duckdb.connect(str(path))
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
            f"""CREATE TABLE orders AS SELECT {id_expr} AS order_id,
            CAST(customer_id AS VARCHAR) AS customer_id, {at_expr} AS ordered_at,
            {date_expr} AS order_date, CAST(total AS DECIMAL(18,2)) AS total,
            CAST(NULL AS DECIMAL(18,2)) AS discount, {cancelled} AS is_cancelled FROM {source}"""
        )
    else:
        mean_extra = max(orders_per_customer - 1.0, 0.0)
        con.execute(
            f"""CREATE TABLE orders AS
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
        """CREATE TABLE refunds AS
        SELECT 'r' || order_id AS refund_id, order_id, customer_id,
               ordered_at + INTERVAL 3 DAY AS refunded_at, order_date + 3 AS refund_date,
               CAST(total / 2 AS DECIMAL(18,2)) AS amount
        FROM orders WHERE hash(order_id) % 20 = 0"""
    )
    for name, columns in EMPTY_TABLES.items():
        con.execute(f"CREATE TABLE {name} ({columns})")
    counts = {
        "customers": con.execute("SELECT count(DISTINCT customer_id) FROM orders").fetchone()[0],  # type: ignore[index]
        "orders": con.execute("SELECT count(*) FROM orders").fetchone()[0],  # type: ignore[index]
        "refunds": con.execute("SELECT count(*) FROM refunds").fetchone()[0],  # type: ignore[index]
    }
    con.close()
    return counts


def summary_sql(calibration_end: date, unit_days: float = 7.0) -> str:
    """The BTYD summary written by hand for DuckDB (the practical limit)."""
    cal = f"DATE '{calibration_end.isoformat()}'"
    return f"""
    WITH d AS (
        SELECT customer_id, order_date, sum(total) AS v, count(*) AS n
        FROM orders WHERE NOT is_cancelled AND order_date <= {cal}
        GROUP BY customer_id, order_date
    ), c AS (
        SELECT customer_id, min(order_date) AS first_d, max(order_date) AS last_d, count(*) AS days,
               CAST(sum(n) AS BIGINT) AS orders, sum(v) AS total_v, arg_min(v, order_date) AS first_v
        FROM d GROUP BY customer_id
    )
    SELECT customer_id, days - 1 AS frequency,
           CAST(last_d - first_d AS DOUBLE) / {unit_days} AS recency,
           CAST({cal} - first_d AS DOUBLE) / {unit_days} AS "T",
           CASE WHEN days > 1 THEN CAST(total_v - first_v AS DOUBLE) / (days - 1) ELSE 0.0 END AS monetary,
           orders, days AS purchase_days, first_d AS first_order_date, last_d AS last_order_date,
           {cal} - last_d AS recency_days
    FROM c"""


def rfm_sql(as_of: date, segment_map: SegmentMap) -> str:
    """RFM with the same definitions and tie rule, written by hand for DuckDB."""
    day = f"DATE '{as_of.isoformat()}'"
    cases = " ".join(
        f"WHEN {r * 10 + fm} THEN '{name.replace(chr(39), chr(39) * 2)}'"
        for (r, fm), name in segment_map.grid().items()
    )
    return f"""
    WITH o AS (SELECT order_id, customer_id, order_date, total FROM orders
               WHERE NOT is_cancelled AND order_date < {day}),
    p AS (SELECT customer_id, max(order_date) AS last_d, count(*) AS f, sum(total) AS t FROM o GROUP BY 1),
    r AS (SELECT customer_id, sum(amount) AS a FROM refunds
          WHERE refund_date < {day} AND order_id IN (SELECT order_id FROM o) GROUP BY 1),
    b AS (SELECT p.customer_id, {day} - last_d AS recency_days, f AS frequency,
                 t - coalesce(a, 0) AS monetary FROM p LEFT JOIN r USING (customer_id)),
    s AS (SELECT *,
            1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) // count(*) OVER () AS r_score,
            1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // count(*) OVER () AS f_score,
            1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) // count(*) OVER () AS m_score
          FROM b)
    SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score,
           CASE r_score * 10 + (f_score + m_score + 1) // 2 {cases} END AS segment
    FROM s"""


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def same_values(left: pa.Table, right: pa.Table) -> bool:
    """Same rows and values, column by column, after sorting by customer (types may differ slightly)."""
    left, right = left.sort_by("customer_id"), right.sort_by("customer_id")
    return left.column_names == right.column_names and all(
        left.column(name).to_pylist() == right.column(name).to_pylist() for name in left.column_names
    )


def compare_with_lifetimes(ours: pa.Table, theirs: Any) -> dict[str, float]:
    """Largest absolute difference per column after aligning on customer_id."""
    mine = ours.to_pandas().set_index("customer_id").sort_index()
    other = theirs.sort_index()
    if list(mine.index) != list(other.index):
        raise AssertionError("different customers than lifetimes")
    return {
        "frequency": float(np.max(np.abs(mine["frequency"].to_numpy() - other["frequency"].to_numpy()))),
        "recency": float(np.max(np.abs(mine["recency"].to_numpy() - other["recency"].to_numpy()))),
        "T": float(np.max(np.abs(mine["T"].to_numpy() - other["T"].to_numpy()))),
        "monetary": float(np.max(np.abs(mine["monetary"].to_numpy() - other["monetary_value"].to_numpy()))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders-per-customer", type=float, default=10.0)
    parser.add_argument("--full", action="store_true", help="1M customers, ~10M orders")
    parser.add_argument("--orders-parquet", type=Path, help="use these orders instead of synthetic ones")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = DuckDB's default)")
    parser.add_argument(
        "--lifetimes-max-orders",
        type=int,
        default=3_000_000,
        help="skip lifetimes above this many orders (it needs minutes and lots of memory)",
    )
    args = parser.parse_args(argv)
    if args.full:
        args.customers = 1_000_000
    with tempfile.TemporaryDirectory(prefix="retentio-bench-") as tmp:
        path = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        counts = build_database(
            path, args.customers, args.orders_per_customer, args.seed, args.orders_parquet
        )
        print(
            f"data: {counts['customers']:,} customers, {counts['orders']:,} orders, {counts['refunds']:,} "
            f"refunds (built in {time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
        con = ibis.duckdb.connect(str(path))
        raw = con.con  # the same DuckDB connection for the hand-written SQL
        if args.threads:
            raw.execute(f"SET threads = {args.threads}")
        tables = AnalyticsTables.from_backend(con)
        segment_map = SegmentMap()
        rows: list[tuple[str, float, str]] = []

        t_summary, ours = best_of(args.repeat, lambda: customer_summary(tables, CALIBRATION_END).to_pyarrow())
        t_summary_sql, theirs_sql = best_of(
            args.repeat, lambda: raw.sql(summary_sql(CALIBRATION_END)).to_arrow_table()
        )
        t_rfm, rfm = best_of(args.repeat, lambda: rfm_table(tables, AS_OF, segment_map).to_pyarrow())
        t_rfm_sql, rfm_hand = best_of(
            args.repeat, lambda: raw.sql(rfm_sql(AS_OF, segment_map)).to_arrow_table()
        )
        same_summary = same_values(ours, theirs_sql)
        same_rfm = same_values(rfm, rfm_hand)
        rows += [
            ("BTYD summary — Ibis (ours)", t_summary, f"{t_summary / t_summary_sql:.2f}× SQL"),
            (
                "BTYD summary — hand-written DuckDB SQL",
                t_summary_sql,
                "identical" if same_summary else "DIFFERENT",
            ),
            ("RFM table — Ibis (ours)", t_rfm, f"{t_rfm / t_rfm_sql:.2f}× SQL"),
            (
                "RFM table — hand-written DuckDB SQL",
                t_rfm_sql,
                "identical" if same_rfm else "DIFFERENT",
            ),
            (
                "RFM + BTYD — Ibis (ours)",
                t_summary + t_rfm,
                f"{(t_summary + t_rfm) / (t_summary_sql + t_rfm_sql):.2f}× SQL (goal ≤ 1.5×)",
            ),
        ]

        if counts["orders"] <= args.lifetimes_max_orders:
            from lifetimes.utils import summary_data_from_transaction_data

            frame = raw.sql(
                f"""SELECT customer_id, CAST(order_date AS TIMESTAMP) AS date, CAST(total AS DOUBLE) AS value
                FROM orders WHERE NOT is_cancelled AND order_date <= DATE '{CALIBRATION_END.isoformat()}'"""
            ).df()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_lifetimes, theirs = best_of(
                    1,
                    lambda: summary_data_from_transaction_data(
                        frame,
                        "customer_id",
                        "date",
                        monetary_value_col="value",
                        observation_period_end=str(CALIBRATION_END),
                        freq="D",
                        freq_multiplier=7,
                    ),
                )
            diff = compare_with_lifetimes(ours, theirs)
            rows.append(
                (
                    "BTYD summary — lifetimes 0.11.3",
                    t_lifetimes,
                    f"ours {t_lifetimes / t_summary:.1f}× faster (goal ≥ 8×); max |diff| "
                    + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()),
                )
            )
        else:
            rows.append(("BTYD summary — lifetimes 0.11.3", float("nan"), "skipped (--lifetimes-max-orders)"))
        con.disconnect()

    print(
        f"\n### Per-customer summary, {counts['customers']:,} customers / {counts['orders']:,} orders "
        f"(best of {args.repeat})\n"
    )
    print("| contender | seconds | notes |")
    print("| --- | ---: | --- |")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.3f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
