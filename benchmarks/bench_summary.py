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
import warnings
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from _data import add_data_arguments, bench_database, best_of, print_results
from retentio.analytics.rfm import SegmentMap, rfm_table
from retentio.analytics.summary import customer_summary
from retentio.analytics.tables import AnalyticsTables

CALIBRATION_END = date(2024, 9, 30)


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
    add_data_arguments(parser)
    parser.add_argument(
        "--lifetimes-max-orders",
        type=int,
        default=3_000_000,
        help="skip lifetimes above this many orders (it needs minutes and lots of memory)",
    )
    parser.add_argument(
        "--calibration-end",
        type=date.fromisoformat,
        default=CALIBRATION_END,
        help="last day of the summary (default 2024-09-30; e.g. 2025-12-31 for all of a generated shop)",
    )
    args = parser.parse_args(argv)
    calibration_end: date = args.calibration_end
    as_of = calibration_end + timedelta(days=1)
    with bench_database(args) as db:
        counts, con, raw = db.counts, db.con, db.raw
        print(
            f"data: {counts['customers']:,} customers, {counts['orders']:,} orders, {counts['refunds']:,} "
            f"refunds (built in {db.build_seconds:.1f} s)",
            file=sys.stderr,
        )
        tables = AnalyticsTables.from_backend(con)
        segment_map = SegmentMap()
        rows: list[tuple[str, float, str]] = []

        t_summary, ours = best_of(args.repeat, lambda: customer_summary(tables, calibration_end).to_pyarrow())
        t_summary_sql, theirs_sql = best_of(
            args.repeat, lambda: raw.sql(summary_sql(calibration_end)).to_arrow_table()
        )
        t_rfm, rfm = best_of(args.repeat, lambda: rfm_table(tables, as_of, segment_map).to_pyarrow())
        t_rfm_sql, rfm_hand = best_of(
            args.repeat, lambda: raw.sql(rfm_sql(as_of, segment_map)).to_arrow_table()
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

        rows.append(
            (
                "snapshot upkeep: purchase-day flags of all orders (once per rebuild)",
                counts["purchase_day_flags_ms"] / 1000,
                "not in the summary's time; ingest updates only the customers it touches",
            )
        )
        if counts["orders"] <= args.lifetimes_max_orders:
            from lifetimes.utils import summary_data_from_transaction_data

            frame = raw.sql(
                f"""SELECT customer_id, CAST(order_date AS TIMESTAMP) AS date, CAST(total AS DOUBLE) AS value
                FROM orders WHERE NOT is_cancelled AND order_date <= DATE '{calibration_end.isoformat()}'"""
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
                        observation_period_end=str(calibration_end),
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

    print_results("Per-customer summary", counts, args.repeat, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
