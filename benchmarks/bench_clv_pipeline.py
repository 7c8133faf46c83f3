"""The CLV pipeline end to end: snapshot → summary → BG/NBD + Gamma-Gamma → scores in the store.

    .venv/bin/python benchmarks/bench_clv_pipeline.py                       # 20k customers, quick
    .venv/bin/python benchmarks/bench_clv_pipeline.py --customers 200000
    .venv/bin/python benchmarks/bench_clv_pipeline.py --customers 1000000   # the goal: < 20 s in total
    .venv/bin/python benchmarks/bench_clv_pipeline.py --database-url postgresql://postgres@127.0.0.1:5432/test

What is measured: one call of :func:`retentio.models.clv_service.run_clv` — exactly what ``retentio clv run``
does — on a store prepared beforehand, with the time of each stage it reports:

- ``summary``: the snapshot freshness check, the per-customer BTYD summary (Ibis on DuckDB) and its
  fetch to Arrow, sorted by customer;
- ``fit_transaction``: BG/NBD maximum likelihood with standard errors;
- ``fit_spend``: Gamma-Gamma on the repeat buyers, and the frequency/spend correlation check;
- ``save_model``: the artifact and the ``model_versions`` row;
- ``score``: P(alive), expected purchases and CLV over 12 months (discounted monthly) and the expected
  next-order date, for every customer;
- ``write``: replacing the ``clv`` rows of ``customer_scores`` with one row per customer, in one
  transaction (a second run is timed too, so the delete of a previous scoring's rows is included).

Not measured: building the data. Ingesting ~10M orders through the CLI is slow on a shared machine and
is benchmarked elsewhere (bench_ingest.py), so the store is built directly: the ``customers`` table of
the SQL store (the scores' foreign key needs it) and a DuckDB snapshot with the analytics schema
(customers and orders only), stamped with the store's data version so ``open_analytics`` takes it as
fresh. Orders are simulated from the demo shop's true BG/NBD + Gamma-Gamma parameters
(:class:`retentio.demo.behaviour.BehaviourParams`; exact BG/NBD draws by
:func:`retentio.demo.behaviour.simulate_repeat_purchases`) over three years with first purchases
spread uniformly, which gives ~10 orders per customer, plus 3 % cancelled extras (filtered out by the
summary). The write goes through :func:`retentio.models.registry.write_scores`, the one score writer
(:mod:`retentio.models.scores_writer`) that churn uses too.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import environment
from retentio.app import App
from retentio.config import Settings
from retentio.demo.behaviour import BehaviourParams, simulate_repeat_purchases
from retentio.models.clv_service import run_clv
from retentio.store import snapshot
from retentio.store.db import bump_data_version, create_store_engine, migrate, write_transaction

START = date(2023, 1, 1)
DAYS = 3 * 365
AS_OF = START + timedelta(days=DAYS)  # the day after the simulated period
GOAL_S = 20.0


def simulate_orders(customers: int, seed: int) -> tuple[pa.Table, int]:
    """Orders in the snapshot's schema (minus optional columns) and the number of non-cancelled ones."""
    params = BehaviourParams()
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, DAYS, customers)
    first_second = rng.integers(8 * 3600, 23 * 3600, customers)
    rate = rng.gamma(params.r, 1.0 / params.alpha, customers)
    dropout = rng.beta(params.a, params.b, customers)
    horizon_weeks = (DAYS * 86_400 - (first_day * 86_400 + first_second)) / (7 * 86_400)
    history = simulate_repeat_purchases(rng, rate, dropout, horizon_weeks)
    first_at = first_day * 86_400 + first_second
    repeat_at = first_at[history.owner] + np.floor(history.weeks_after_first * 7 * 86_400).astype(np.int64)
    owner = np.concatenate([np.arange(customers), history.owner])
    seconds = np.concatenate([first_at, repeat_at])
    completed = len(owner)
    # Cancelled extras shortly after 3 % of purchases: the summary must leave them out.
    extra = rng.random(completed) < 0.03
    owner = np.concatenate([owner, owner[extra]])
    seconds = np.concatenate([seconds, seconds[extra] + rng.integers(600, 6 * 3600, int(extra.sum()))])
    cancelled = np.concatenate([np.zeros(completed, bool), np.ones(int(extra.sum()), bool)])
    keep = seconds < DAYS * 86_400
    owner, seconds, cancelled = owner[keep], seconds[keep], cancelled[keep]
    nu = rng.gamma(params.q, 1.0 / params.v, customers)
    totals = np.maximum(np.round(rng.gamma(params.p, 1.0 / nu[owner]), 2), 1.0)
    epoch = np.datetime64(START.isoformat(), "s")
    ordered_at = epoch + seconds.astype("timedelta64[s]")
    orders = pa.table(
        {
            "order_id": pa.array(np.char.add("o", np.arange(len(owner)).astype(str))),
            "customer_id": pa.array(customer_ids(customers)[owner]),
            "ordered_at": pa.array(ordered_at.astype("datetime64[us]")),
            # Local dates are materialised in the snapshot; the simulated clock is local already.
            "order_date": pa.array(ordered_at.astype("datetime64[D]")),
            "total": pa.array(totals).cast(pa.decimal128(18, 2)),
            "status": pa.array(np.where(cancelled, "cancelled", "completed")),
            "is_cancelled": pa.array(cancelled),
        }
    )
    return orders, int((~cancelled).sum())


def customer_ids(customers: int) -> np.ndarray:
    width = max(7, len(str(customers)))
    return np.char.add("C", np.char.zfill(np.arange(1, customers + 1).astype(str), width))


def build_store(settings: Settings, customers: int, seed: int) -> dict[str, int]:
    """The SQL store's customers table and a fresh DuckDB snapshot with customers and orders."""
    migrate(settings)
    ids = customer_ids(customers).tolist()
    engine = create_store_engine(settings)
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("DELETE FROM customer_scores")
        conn.exec_driver_sql("DELETE FROM customers")
        placeholder = "%s" if conn.dialect.name == "postgresql" else "?"
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.executemany(
            f"INSERT INTO customers (customer_id, is_placeholder, row_hash) "
            f"VALUES ({placeholder}, {placeholder}, {placeholder})",
            [(c, False, i) for i, c in enumerate(ids)],
        )
        cursor.close()
    with write_transaction(engine) as conn:
        version = bump_data_version(conn)
    engine.dispose()
    settings.snapshot_path.unlink(missing_ok=True)
    snapshot.initialise_empty(settings, version)
    orders, completed = simulate_orders(customers, seed)
    with duckdb.connect(str(settings.snapshot_path)) as con:
        con.register("new_customers", pa.table({"customer_id": pa.array(ids)}))
        con.execute(
            "INSERT INTO customers (customer_id, is_placeholder) SELECT customer_id, FALSE FROM new_customers"
        )
        con.register("new_orders", orders)
        columns = ", ".join(orders.column_names)
        con.execute(f"INSERT INTO orders ({columns}) SELECT {columns} FROM new_orders")
        # The snapshot's derived purchase-day flags, as ingest or a rebuild would set them.
        snapshot.refresh_purchase_days(con, only_customers=False)
        con.execute("CHECKPOINT")
    return {"customers": customers, "orders": orders.num_rows, "completed_orders": completed}


@contextmanager
def scratch_schema(server_url: str | None) -> Iterator[str | None]:
    """A URL whose search_path is a new, empty PostgreSQL schema (dropped afterwards); None stays None."""
    if server_url is None:
        yield None
        return
    import psycopg

    schema = f"bench_clv_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in server_url else "?"
        yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def count_scores(app: App) -> int:
    with app.engine.connect() as conn:
        return int(
            conn.exec_driver_sql("SELECT count(*) FROM customer_scores WHERE model = 'clv'").scalar_one()
        )


def markdown(results: dict[str, Any]) -> str:
    stages = ("summary", "fit_transaction", "fit_spend", "save_model", "score", "write")
    lines = [
        f"CLV pipeline, {results['customers']:,} customers, {results['completed_orders']:,} orders "
        f"(+{results['orders'] - results['completed_orders']:,} cancelled), store {results['store']}, "
        f"{results['machine']}",
        "",
        "| stage | run 1 (s) | run 2 (s) |",
        "| --- | ---: | ---: |",
    ]
    for stage in stages:
        lines.append(f"| {stage} | {results['runs'][0][stage]:.2f} | {results['runs'][1][stage]:.2f} |")
    lines.append(f"| **total** | **{results['totals'][0]:.2f}** | **{results['totals'][1]:.2f}** |")
    lines.append("")
    fitted = ", ".join(f"{name}={value:.4f}" for name, value in results["params"].items())
    lines.append(
        f"rows written: {results['rows']:,}; BG/NBD {fitted}; peak RSS {results['peak_rss_mb']:.0f} MB; "
        f"goal < {GOAL_S:.0f} s at 1M customers (no peer: a goal in seconds)"
    )
    lines += ["", results["versions"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL store (default: SQLite in the temp home)"
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="RETENTIO_HOME to build in (default: a temp dir)"
    )
    parser.add_argument("--markdown", type=Path, default=None, help="append the table to this file")
    args = parser.parse_args(argv)

    versions = environment(postgres_url=args.database_url)
    with tempfile.TemporaryDirectory(prefix="bench-clv-") as tmp, scratch_schema(args.database_url) as url:
        home = args.home or Path(tmp)
        settings = Settings(home=home, database_url=url)
        started = time.perf_counter()
        counts = build_store(settings, args.customers, args.seed)
        print(
            f"built {counts['customers']:,} customers / {counts['orders']:,} orders in "
            f"{time.perf_counter() - started:.1f} s (not timed)",
            file=sys.stderr,
        )
        runs, totals = [], []
        result = None
        app = App(settings)
        for _ in range(2):
            started = time.perf_counter()
            result = run_clv(app, as_of=AS_OF, model="bgnbd")
            totals.append(time.perf_counter() - started)
            runs.append(result.score.timings_s)
        assert result is not None
        rows = count_scores(app)
        app.close()
        if rows != result.score.customers:
            raise AssertionError(f"{rows} rows written for {result.score.customers} customers")
        results: dict[str, Any] = {
            **counts,
            "store": "PostgreSQL" if args.database_url else "SQLite",
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
            "runs": runs,
            "totals": totals,
            "rows": rows,
            "params": result.fit.transaction["params"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "versions": versions,
        }
        text = markdown(results)
        print(text)
        if args.markdown:
            with args.markdown.open("a", encoding="utf-8") as out:
                out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
