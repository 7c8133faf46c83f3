"""Ingest throughput: ``retentio ingest`` vs the practical limit of each store, side by side.

SQLite: our whole ingest (read CSV, validate every row, classify, upsert, update the analytics
snapshot) vs a bare ``executemany`` of the same rows, already parsed, into the same table of a store
created the same way. Both run with the same connection settings: the limit loads through the same
write transaction as our ingest (``BEGIN IMMEDIATE``, SQLite's per-row foreign-key check off, which
our writer replaces by its own reference checks), and the pragmas in force at the first ``INSERT
INTO orders`` of each side are read back and printed (they must be equal).
PostgreSQL: ours vs ``COPY`` of the same rows (stored form) from a prepared CSV.

Ours and the limit run in turn (ours, limit, ours, limit, ...), ``--repeats`` times each, each run on
a fresh store whose customers are loaded first (not timed); medians are reported with the ratio
limit_time / our_time (1.0 = as fast as the limit; the goal is >= 0.5), and the versions beside them.
``--no-postgres`` measures SQLite only and never connects to PostgreSQL.

    .venv/bin/python benchmarks/bench_ingest.py --orders 1000000 --repeats 3 --markdown docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, event

from _timing import Lap, alternate, environment
from retentio.app import App
from retentio.config import Settings
from retentio.ingest import ingest_file
from retentio.ingest.readers import read_any
from retentio.ingest.validate import IngestOptions, validate
from retentio.ingest.writer import _sqlite_rows, row_hashes
from retentio.store.db import create_store_engine, write_transaction

PG_DEFAULT = os.environ.get("RETENTIO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# The SQLite settings that move a bulk load's speed, read back on the loading connection.
PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "cache_size", "temp_store", "locking_mode")


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


def fresh_settings(root: Path, name: str, pg: tuple[str, str] | None) -> Settings:
    """A new, empty home; with ``pg`` = (server URL, schema) a new, empty PostgreSQL schema too."""
    home = root / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = None
    if pg:
        import psycopg

        server, schema = pg
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {schema} cascade; create schema {schema}")
        url = schema_url(pg)
    return Settings(home=home, database_url=url)


def schema_url(pg: tuple[str, str]) -> str:
    server, schema = pg
    return f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def pragmas_at_load(engine: Engine, seen: dict[str, str]) -> Iterator[None]:
    """Record into ``seen`` the SQLite pragmas in force when the first ``INSERT INTO orders`` runs.

    Read on the very connection and transaction that loads the rows, so that what is printed is
    what each side really ran with, not what the engine's defaults say.
    """

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if seen or not statement.lstrip().upper().startswith("INSERT INTO ORDERS"):
            return
        dbapi = cursor.connection
        for name in PRAGMAS:
            seen[name] = str(dbapi.execute(f"PRAGMA {name}").fetchone()[0])
        seen["transaction"] = "open" if dbapi.in_transaction else "none (autocommit per statement)"

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)


def run_ours(
    root: Path, customers_csv: Path, orders_csv: Path, pg: tuple[str, str] | None, seen: dict[str, str]
) -> Lap:
    with App(fresh_settings(root, "ours", pg)) as app:
        ingest_file(app, "customers", customers_csv)
        with pragmas_at_load(app.engine, seen) if pg is None else _nothing():
            started = time.perf_counter()
            summary = ingest_file(app, "orders", orders_csv)
            elapsed = time.perf_counter() - started
    assert summary.loaded == summary.read, summary
    return Lap(elapsed)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def run_limit(
    root: Path, customers_csv: Path, rows: pa.Table, pg: tuple[str, str] | None, seen: dict[str, str]
) -> Lap:
    settings = fresh_settings(root, "limit", pg)
    with App(settings) as app:
        ingest_file(app, "customers", customers_csv)
    cols = ", ".join(rows.column_names)
    if pg is None:
        python_rows = _sqlite_rows(rows)  # parsed, converted: not timed
        engine = create_store_engine(settings)
        marks = ", ".join("?" * rows.num_columns)
        # The same write transaction as our ingest (service.ingest_file): BEGIN IMMEDIATE with the
        # per-row foreign-key check off. Only the executemany itself is left.
        with pragmas_at_load(engine, seen):
            started = time.perf_counter()
            with write_transaction(engine, foreign_keys=False) as conn:
                conn.exec_driver_sql(f"INSERT INTO orders ({cols}) VALUES ({marks})", python_rows)
            elapsed = time.perf_counter() - started
        engine.dispose()
        return Lap(elapsed)
    import psycopg

    buffer = io.BytesIO()
    import pyarrow.compute as pc

    shaped = rows.set_column(
        rows.schema.get_field_index("ordered_at"),
        "ordered_at",
        pc.strftime(rows.column("ordered_at"), "%Y-%m-%d %H:%M:%S+00:00"),
    )
    pacsv.write_csv(shaped, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = buffer.getvalue()
    with psycopg.connect(schema_url(pg)) as conn:
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY orders ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            copy.write(data)
        conn.commit()
        return Lap(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="append the result table to this file")
    parser.add_argument(
        "--no-postgres", action="store_true", help="SQLite only; PostgreSQL is never connected to"
    )
    parser.add_argument(
        "--postgres-url",
        default=PG_DEFAULT,
        help="server and database for the PostgreSQL runs (a scratch schema is created and dropped; "
        "default $RETENTIO_BENCH_POSTGRES_URL or %(default)s)",
    )
    args = parser.parse_args()
    server = args.postgres_url
    try:
        versions = environment(postgres_url=None if args.no_postgres else server)
    except Exception as exc:  # psycopg.OperationalError, without importing psycopg for --no-postgres
        print(f"cannot connect to PostgreSQL at {server}: {exc}; pass --no-postgres to measure SQLite only")
        raise SystemExit(2) from None
    root = Path(tempfile.mkdtemp(prefix="retentio-bench-ingest-"))
    customers_csv, orders_csv = make_files(root, args.orders, args.customers)
    rows = stored_rows(orders_csv, Settings(home=root))
    results = []
    backends: list[tuple[str, tuple[str, str] | None]] = [("SQLite", None)]
    if not args.no_postgres:
        # One schema per process: other people's benchmarks may share the server.
        backends.append(("PostgreSQL", (server, f"bench_ingest_{os.getpid()}")))
    pragmas: dict[str, dict[str, str]] = {"ours": {}, "limit": {}}
    for label, pg in backends:
        contenders: dict[str, Callable[[], Lap]] = {
            "ours": lambda pg=pg: run_ours(root, customers_csv, orders_csv, pg, pragmas["ours"]),
            "limit": lambda pg=pg: run_limit(root, customers_csv, rows, pg, pragmas["limit"]),
        }
        timings = alternate(contenders, args.repeats)
        o, lim = timings["ours"].median, timings["limit"].median
        results.append((label, o, lim))
        print(
            f"{label}: ours {o:.2f} s ({args.orders / o:,.0f} rows/s; runs {timings['ours'].runs()}), "
            f"limit {lim:.2f} s ({args.orders / lim:,.0f} rows/s; runs {timings['limit'].runs()}), "
            f"ratio {lim / o:.2f}",
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)
    if not args.no_postgres:
        import psycopg

        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"drop schema if exists bench_ingest_{os.getpid()} cascade")
    lines = [
        f"### Ingest throughput ({args.orders:,} orders, {datetime.now():%Y-%m-%d}, "
        f"median of {args.repeats}, ours and the limit alternating)",
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
    same = pragmas["ours"] == pragmas["limit"]
    lines += [
        "",
        "SQLite settings at the first `INSERT INTO orders`, read on the loading connection — ours: "
        + ", ".join(f"{k}={v}" for k, v in pragmas["ours"].items())
        + "; limit: "
        + ("the same" if same else ", ".join(f"{k}={v}" for k, v in pragmas["limit"].items())),
        "",
        versions,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)
    if not same:
        print("warning: ours and the limit ran with different SQLite settings", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
