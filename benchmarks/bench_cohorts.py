"""Monthly cohort matrix: our Ibis code vs a hand-written DuckDB SQL query on the same data.

    .venv/bin/python benchmarks/bench_cohorts.py                    # 20k customers, quick
    .venv/bin/python benchmarks/bench_cohorts.py --customers 200000  # moderate
    .venv/bin/python benchmarks/bench_cohorts.py --full              # 1M customers, ~10M orders
    .venv/bin/python benchmarks/bench_cohorts.py --orders-parquet orders.parquet

The data are built as in ``bench_summary.py`` (both use ``_data.py``). Ours is the whole
``cohort_matrix`` call (queries plus the Python that shapes the rows); the hand-written SQL only
returns the (cohort, k, customers) cells, so the comparison does not flatter us. Both are checked to
give the same cells. Ours and the SQL run in turn, ``--repeat`` times each, and the medians are
reported (``_timing.py``). Goal (issue #3): ≤ 1.5× the hand-written SQL. Prints a Markdown table
and the versions used.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import add_data_arguments, bench_database, print_results
from _timing import alternate, environment
from retentio.analytics.cohorts import cohort_matrix
from retentio.analytics.tables import AnalyticsTables

AS_OF = date(2024, 10, 1)


def cells_sql(as_of: date, cumulative: bool) -> str:
    """(cohort month index, k, customers) by hand: per-period activity or last active period."""
    day = f"DATE '{as_of.isoformat()}'"
    month = "year(order_date) * 12 + month(order_date) - 1"
    if cumulative:
        return f"""
        WITH c AS (SELECT customer_id, min({month}) AS cohort, max({month}) AS last_p
                   FROM orders WHERE NOT is_cancelled AND order_date < {day} GROUP BY 1)
        SELECT cohort, last_p - cohort AS k, count(*) AS customers FROM c GROUP BY 1, 2"""
    return f"""
    WITH o AS (SELECT DISTINCT customer_id, {month} AS p FROM orders
               WHERE NOT is_cancelled AND order_date < {day}),
    f AS (SELECT customer_id, min(p) AS cohort FROM o GROUP BY 1)
    SELECT cohort, p - cohort AS k, count(*) AS customers FROM o JOIN f USING (customer_id) GROUP BY 1, 2"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_data_arguments(parser)
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, str]] = []
    versions = environment()
    with bench_database(args) as db:
        counts, con, raw = db.counts, db.con, db.raw
        tables = AnalyticsTables.from_backend(con)
        for cumulative in (False, True):
            label = "cumulative" if cumulative else "per period"
            timings = alternate(
                {
                    "ours": lambda c=cumulative: cohort_matrix(
                        tables, "month", "customers", cumulative=c, as_of=AS_OF
                    ),
                    "sql": lambda c=cumulative: raw.sql(cells_sql(AS_OF, c)).fetchall(),
                },
                args.repeat,
            )
            t_ours, matrix = timings["ours"].median, timings["ours"].result
            t_sql, cells = timings["sql"].median, timings["sql"].result
            expected = {(cohort, k): n for cohort, k, n in cells}
            if cumulative:  # the hand query counts last-active columns; ours reports the suffix sums
                last = expected
                expected = {
                    (cohort, k): sum(n for (c2, k2), n in last.items() if c2 == cohort and k2 >= k)
                    for cohort in {c for c, _ in last}
                    for k in range(max(k2 for c2, k2 in last if c2 == cohort) + 1)
                }
            ours = {
                (row_index, k): n
                for row_index, row in zip(sorted({c for c, _ in expected}), matrix["cohorts"], strict=True)
                for k, n in enumerate(row["counts"])
                if n
            }
            same = ours == expected
            rows.append((f"monthly cohorts ({label}) — Ibis `cohort_matrix` (ours)", t_ours, ""))
            rows.append(
                (
                    f"monthly cohorts ({label}) — hand-written DuckDB SQL",
                    t_sql,
                    f"ours {t_ours / t_sql:.2f}× SQL (goal ≤ 1.5×); {'same cells' if same else 'DIFFERENT'}",
                )
            )
        revenue = alternate(
            {"ours": lambda: cohort_matrix(tables, "month", "revenue", as_of=AS_OF)}, args.repeat
        )
        t_revenue = revenue["ours"].median
        rows.append(("monthly cohorts (revenue, net of refunds) — Ibis (ours)", t_revenue, "3 queries"))
    print_results("Monthly cohort matrix", counts, args.repeat, rows, versions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
