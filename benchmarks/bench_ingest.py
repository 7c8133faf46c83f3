"""Ingest throughput: ``retentio ingest`` vs the practical limit of each store, side by side.

SQLite: our whole ingest (read CSV, validate every row, classify, upsert, update the analytics
snapshot) vs a bare ``executemany`` of the same rows, already parsed, into the same table.
PostgreSQL: ours vs ``COPY`` of the same rows (stored form) from a prepared CSV.
Runs alternate (ours, limit, ours, limit, ...) and medians are reported, with the ratio
limit_time / our_time (1.0 = as fast as the limit; the goal is >= 0.5).

    .venv/bin/python benchmarks/bench_ingest.py --orders 1000000 --repeats 3 --markdown docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from retentio.config import Settings
from retentio.ingest import ingest_file
from retentio.ingest.readers import read_any
from retentio.ingest.validate import IngestOptions, validate
from retentio.ingest.writer import _sqlite_rows, row_hashes
from retentio.store.db import engine_for, forget_engines, migrate

PG = "postgresql://postgres@127.0.0.1:5432/test"


def make_files(folder: Path, orders: int, customers: int, seed: int = 1) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    customer_ids = np.array([f"C{i:07d}" for i in range(customers)])
    pacsv.write_csv(pa.table({"customer_id": customer_ids}), folder / "customers.csv")
    start = np.datetime64("2023-01-01T00:00:00", "s")
    seconds = rng.integers(0, 3 * 365 * 86400, orders)
    stamps = (start + seconds.astype("timedelta64[s]")).astype(str)
    totals = rng.gamma(2.0, 1500.0, orders).round(2)
    table = pa.table(
        {
            "order_id": [f"O{i:09d}" for i in range(orders)],
            "customer_id": customer_ids[rng.integers(0, customers, orders)],
            "ordered_at": pa.array(np.char.add(stamps, "+00:00")),
            "total": pa.array([f"{t:.2f}" for t in totals]),
            "currency": ["RUB"] * orders,
            "status": np.where(rng.random(orders) < 0.03, "cancelled", "completed"),
            "channel": rng.choice(["web", "app", "store"], orders),
            "discount": pa.array([f"{t:.2f}" for t in (totals * 0.05).round(2)]),
            "shipping": ["0.00"] * orders,
            "coupon_code": [""] * orders,
        }
    )
    pacsv.write_csv(table, folder / "orders.csv")
    return folder / "customers.csv", folder / "orders.csv"


def stored_rows(orders_csv: Path, settings: Settings) -> pa.Table:
    from retentio.contract import TABLES

    validated = validate(read_any(orders_csv), TABLES["orders"], IngestOptions(), settings.tz)
    table = validated.table
    return table.append_column("row_hash", pa.array(row_hashes(table), pa.int64()))


def fresh_settings(root: Path, name: str, pg_schema: str | None) -> Settings:
    forget_engines()
    home = root / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = None
    if pg_schema:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {pg_schema} cascade; create schema {pg_schema}")
        url = f"{PG}?options=-csearch_path%3D{pg_schema}"
    return Settings(home=home, database_url=url)


def run_ours(root: Path, customers_csv: Path, orders_csv: Path, pg_schema: str | None) -> float:
    settings = fresh_settings(root, "ours", pg_schema)
    ingest_file(settings, "customers", customers_csv)
    started = time.perf_counter()
    summary = ingest_file(settings, "orders", orders_csv)
    elapsed = time.perf_counter() - started
    assert summary.loaded == summary.read, summary
    return elapsed


def run_limit(root: Path, customers_csv: Path, rows: pa.Table, pg_schema: str | None) -> float:
    settings = fresh_settings(root, "limit", pg_schema)
    ingest_file(settings, "customers", customers_csv)
    migrate(settings)
    cols = ", ".join(rows.column_names)
    if pg_schema is None:
        python_rows = _sqlite_rows(rows)  # parsed, converted: not timed
        raw = engine_for(settings).raw_connection()
        started = time.perf_counter()
        cursor = raw.cursor()
        marks = ", ".join("?" * rows.num_columns)
        cursor.executemany(f"INSERT INTO orders ({cols}) VALUES ({marks})", python_rows)
        raw.commit()
        elapsed = time.perf_counter() - started
        raw.close()
        return elapsed
    buffer = io.BytesIO()
    import pyarrow.compute as pc

    shaped = rows.set_column(
        rows.schema.get_field_index("ordered_at"),
        "ordered_at",
        pc.strftime(rows.column("ordered_at"), "%Y-%m-%d %H:%M:%S+00:00"),
    )
    pacsv.write_csv(shaped, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = buffer.getvalue()
    url = f"{PG}?options=-csearch_path%3D{pg_schema}"
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY orders ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(data)
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="append the result table to this file")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="retentio-bench-ingest-"))
    customers_csv, orders_csv = make_files(root, args.orders, args.customers)
    rows = stored_rows(orders_csv, Settings(home=root))
    results = []
    backends = [("SQLite", None)] + ([] if args.no_postgres else [("PostgreSQL", "bench_ingest")])
    for label, schema in backends:
        ours, limit = [], []
        for _ in range(args.repeats):
            ours.append(run_ours(root, customers_csv, orders_csv, schema))
            limit.append(run_limit(root, customers_csv, rows, schema))
        o, lim = statistics.median(ours), statistics.median(limit)
        results.append((label, o, lim))
        print(
            f"{label}: ours {o:.2f} s ({args.orders / o:,.0f} rows/s), limit {lim:.2f} s "
            f"({args.orders / lim:,.0f} rows/s), ratio {lim / o:.2f}",
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)
    if schema := "bench_ingest":
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {schema} cascade")
    lines = [
        f"### Ingest throughput ({args.orders:,} orders, {datetime.now():%Y-%m-%d}, "
        f"median of {args.repeats})",
        "",
        "| store | retentio ingest | rows/s | limit | limit rows/s | limit time / our time |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for label, o, lim in results:
        what = "bare executemany" if label == "SQLite" else "COPY"
        lines.append(
            f"| {label} | {o:.2f} s | {args.orders / o:,.0f} | {what} {lim:.2f} s | {args.orders / lim:,.0f} "
            f"| {lim / o:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
