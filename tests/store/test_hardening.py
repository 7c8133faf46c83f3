"""The store and the analytics snapshot never lose or misreport data (issue: core hardening §1).

Each test reproduces something that went wrong on the code before the fix: a read command creating
an empty store and "rebuilding" the only good snapshot to nothing, a lost data-version increment,
a snapshot read for another store or time zone, a damaged snapshot never rebuilt, deferred SQLite
transactions failing under a concurrent writer, and tracebacks for a broken environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from retentio.app import App
from retentio.config import Settings
from retentio.ingest import ingest_file
from retentio.store import snapshot
from retentio.store.db import bump_data_version, create_store_engine, data_version, migrate, write_transaction

EXE = str(Path(sys.executable).with_name("retentio"))


def cli(home: Path, *args: str, url: str | None = None, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1", **env_extra)
    env.pop("RETENTIO_DATABASE_URL", None)
    if url:
        env["RETENTIO_DATABASE_URL"] = url
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=300)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    return Settings(home=home, database_url=store_url)


def write_shop(folder: Path, customers: int = 3, prefix: str = "c") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}{i}" for i in range(customers)]
    (folder / "customers.csv").write_text(
        "customer_id,city\n" + "".join(f"{c},Moscow\n" for c in ids), encoding="utf-8"
    )
    (folder / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,total\n"
        + "".join(f"{prefix}o{i},{c},2024-0{1 + i % 9}-05 10:00,{100 + i}.50\n" for i, c in enumerate(ids)),
        encoding="utf-8",
    )


def snapshot_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def kpi_json(home: Path, url: str | None = None, **env: str) -> dict[str, object]:
    result = cli(
        home, "kpi", "--from", "2024-01-01", "--to", "2025-01-01", "--format", "json", url=url, **env
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


# --- a cache never outranks the store ----------------------------------------------------------------


def test_a_read_command_never_creates_a_store_and_keeps_the_snapshot(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    assert cli(home, "ingest", "customers", str(tmp_path / "shop" / "customers.csv")).returncode == 0
    assert cli(home, "ingest", "orders", str(tmp_path / "shop" / "orders.csv")).returncode == 0
    before = snapshot_rows(home / "analytics.duckdb", "orders")
    assert len(before) == 3

    (home / "retentio.db").rename(tmp_path / "moved.db")
    for wal in home.glob("retentio.db-*"):
        wal.unlink()
    message = one_line_error(cli(home, "kpi", "--from", "2024-01-01", "--to", "2025-01-01"))
    assert "no store" in message
    assert not (home / "retentio.db").exists()  # not created
    assert snapshot_rows(home / "analytics.duckdb", "orders") == before  # the good copy is intact

    (home / "retentio.db").write_bytes(b"")  # emptied
    message = one_line_error(cli(home, "rfm", "--as-of", "2025-01-01"))
    assert "empty" in message
    assert (home / "retentio.db").stat().st_size == 0
    assert snapshot_rows(home / "analytics.duckdb", "orders") == before


def test_nothing_rebuilds_a_snapshot_with_data_from_a_store_at_version_0(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    assert cli(home, "ingest", "orders", str(tmp_path / "shop" / "orders.csv")).returncode == 0
    before = snapshot_rows(home / "analytics.duckdb", "orders")
    (home / "retentio.db").unlink()
    for wal in home.glob("retentio.db-*"):
        wal.unlink()
    assert cli(home, "db", "upgrade").returncode == 0  # a new, empty store where the old one was
    message = one_line_error(cli(home, "kpi", "--from", "2024-01-01", "--to", "2025-01-01"))
    assert "holds no data" in message and "refusing" in message
    assert snapshot_rows(home / "analytics.duckdb", "orders") == before


def test_concurrent_bumps_of_the_data_version_are_never_lost(settings: Settings) -> None:
    """Two transactions bump at once (PostgreSQL: the second waits for the first's row lock)."""
    migrate(settings)
    engine = create_store_engine(settings)
    results: list[int] = []
    first_bumped = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with write_transaction(engine) as conn:
            results.append(bump_data_version(conn))
            first_bumped.set()
            release_first.wait(10)

    def second() -> None:
        first_bumped.wait(10)
        with write_transaction(engine) as conn:
            results.append(bump_data_version(conn))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    release_first.set()
    for t in threads:
        t.join(30)
    with engine.connect() as conn:
        assert data_version(conn) == 2
    assert sorted(results) == [1, 2]
    engine.dispose()


def test_the_snapshot_is_tied_to_its_store_and_time_zone(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "a", customers=3, prefix="a")
    write_shop(tmp_path / "b", customers=5, prefix="b")
    other = tmp_path / "other.db"
    assert cli(home, "ingest", "orders", str(tmp_path / "a" / "orders.csv")).returncode == 0
    url_b = f"sqlite:///{other}"
    # The same RETENTIO_HOME over another database at the same data version (1).
    assert cli(home, "ingest", "orders", str(tmp_path / "b" / "orders.csv"), url=url_b).returncode == 0
    assert kpi_json(home, url=url_b)["counts"]["purchase_frequency"]["denominator"] == 5  # type: ignore[index]
    assert kpi_json(home)["counts"]["purchase_frequency"]["denominator"] == 3  # type: ignore[index]

    # An order at 22:30 UTC on 31 Jan is 1 Feb in Moscow and 31 Jan in UTC.
    (tmp_path / "late.csv").write_text(
        "order_id,customer_id,ordered_at,total\nlate,a0,2024-01-31T22:30:00+00:00,1\n", encoding="utf-8"
    )
    assert cli(home, "ingest", "orders", str(tmp_path / "late.csv")).returncode == 0
    dates = {
        zone: cli(home, "rfm", "--as-of", "2024-02-01", "--format", "json", RETENTIO_TIMEZONE=zone)
        for zone in ("Europe/Moscow", "UTC")
    }
    assert all(r.returncode == 0 for r in dates.values()), {z: r.stderr for z, r in dates.items()}
    moscow = {c["customer_id"] for c in json.loads(dates["Europe/Moscow"].stdout)["customers"]}
    utc = {c["customer_id"] for c in json.loads(dates["UTC"].stdout)["customers"]}
    assert "a0" in utc  # ordered on 31 Jan in UTC: before the as-of date
    assert "a0" in moscow  # a0 also ordered on 5 Jan
    rows = snapshot_rows(home / "analytics.duckdb", "orders")
    late = next(r for r in rows if r[0] == "late")
    assert str(late[3]) == "2024-01-31"  # the last reader's zone (UTC) rebuilt the local dates


def test_a_damaged_snapshot_is_rebuilt_and_leftovers_are_removed(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    assert cli(home, "ingest", "orders", str(tmp_path / "shop" / "orders.csv")).returncode == 0
    expected = kpi_json(home)
    (home / "analytics.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    (home / "analytics.rebuild-999999.duckdb").write_bytes(b"left by a killed rebuild")
    assert kpi_json(home) == expected
    assert not (home / "analytics.rebuild-999999.duckdb").exists()


def test_kill_9_during_a_snapshot_rebuild_leaves_a_usable_store(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    n = 60_000
    (folder / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,total\n"
        + "".join(f"o{i},c{i % 20000},2024-0{1 + i % 9}-05 10:00,{i % 500}.25\n" for i in range(n)),
        encoding="utf-8",
    )
    assert cli(home, "ingest", "orders", str(folder / "orders.csv")).returncode == 0
    expected = kpi_json(home)
    env = dict(os.environ, RETENTIO_HOME=str(home))
    env.pop("RETENTIO_DATABASE_URL", None)
    for delay in (0.3, 0.8, 1.5):
        proc = subprocess.Popen(
            [EXE, "db", "snapshot"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert kpi_json(home) == expected
    assert not list(home.glob("analytics.rebuild-*"))


# --- concurrent writers --------------------------------------------------------------------------------


def test_sqlite_ingest_waits_for_another_writer_instead_of_failing(home: Path, tmp_path: Path) -> None:
    import sqlite3

    write_shop(tmp_path / "shop")
    assert cli(home, "ingest", "customers", str(tmp_path / "shop" / "customers.csv")).returncode == 0
    holder = sqlite3.connect(home / "retentio.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE customers SET city = 'Kazan' WHERE customer_id = 'c0'")
    proc = subprocess.Popen(
        [EXE, "ingest", "orders", str(tmp_path / "shop" / "orders.csv"), "--format", "json"],
        env={**os.environ, "RETENTIO_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # longer than the ~4 s after which a deferred transaction gave up
    holder.execute("COMMIT")
    holder.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["loaded"] == 3


def _concurrent_ingests(settings: Settings, folder: Path) -> list[str]:
    errors: list[str] = []
    barrier = threading.Barrier(4)

    def run(table: str, path: Path) -> None:
        try:
            barrier.wait(10)
            with App(settings) as app:
                ingest_file(app, table, path)
        except Exception as exc:  # collected: the test asserts there are none
            errors.append(f"{table}: {type(exc).__name__}: {exc}")

    files = {
        "customers": folder / "customers.csv",
        "orders": folder / "orders.csv",
        "events": folder / "events.csv",
        "reviews": folder / "reviews.csv",
    }
    threads = [threading.Thread(target=run, args=item) for item in files.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return errors


def test_four_concurrent_ingests_all_succeed_and_the_snapshot_equals_a_rebuild(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    n = 3000
    ids = [f"c{i}" for i in range(n)]
    (folder / "customers.csv").write_text(
        "customer_id,city\n" + "".join(f"{c},Omsk\n" for c in ids), encoding="utf-8"
    )
    (folder / "orders.csv").write_text(
        "order_id,customer_id,ordered_at,total\n"
        + "".join(f"o{i},{c},2024-03-0{1 + i % 9} 10:00,{i}.10\n" for i, c in enumerate(ids)),
        encoding="utf-8",
    )
    (folder / "events.csv").write_text(
        "event_id,customer_id,occurred_at,type\n"
        + "".join(f"e{i},{c},2024-03-01 09:00,visit\n" for i, c in enumerate(ids)),
        encoding="utf-8",
    )
    (folder / "reviews.csv").write_text(
        "review_id,customer_id,created_at,rating,text\n"
        + "".join(f"r{i},{c},2024-03-02 09:00,5,ok\n" for i, c in enumerate(ids)),
        encoding="utf-8",
    )
    migrate(settings)
    errors = _concurrent_ingests(settings, folder)
    assert errors == []
    engine = create_store_engine(settings)
    with engine.connect() as conn:
        assert data_version(conn) == 4
        counts = {
            t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
            for t in ("customers", "orders", "events", "reviews")
        }
    engine.dispose()
    assert counts == {"customers": n, "orders": n, "events": n, "reviews": n}
    con = snapshot.open_analytics(settings)
    incremental = {t: sorted(map(tuple, con.table(t).to_pyarrow().to_pylist())) for t in counts}  # type: ignore[arg-type]
    con.disconnect()
    snapshot.rebuild(settings)
    con = snapshot.open_analytics(settings)
    rebuilt = {t: sorted(map(tuple, con.table(t).to_pyarrow().to_pylist())) for t in counts}  # type: ignore[arg-type]
    con.disconnect()
    assert incremental == rebuilt


# --- a broken environment is one line, not a traceback ---------------------------------------------


def test_home_that_is_a_file_or_unwritable_is_one_line(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    a_file = tmp_path / "file-home"
    a_file.write_text("x")
    assert "not a directory" in one_line_error(
        cli(a_file, "ingest", "customers", str(tmp_path / "shop" / "customers.csv"))
    )
    one_line_error(cli(a_file, "kpi", "--from", "2024-01-01", "--to", "2025-01-01"))
    one_line_error(
        cli(Path("/proc/retentio-home"), "ingest", "customers", str(tmp_path / "shop" / "customers.csv"))
    )
    one_line_error(cli(Path("/proc"), "kpi", "--from", "2024-01-01", "--to", "2025-01-01"))


def test_read_only_home_says_read_only(tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot make a read-only directory here (root, and no bind mount)")
    else:
        ro.chmod(0o555)
    try:
        message = one_line_error(cli(ro, "ingest", "customers", str(tmp_path / "shop" / "customers.csv")))
        assert "read-only" in message
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], capture_output=True)
        else:
            ro.chmod(0o755)


def test_damaged_sqlite_store_is_one_line(home: Path, tmp_path: Path) -> None:
    write_shop(tmp_path / "shop")
    assert cli(home, "ingest", "customers", str(tmp_path / "shop" / "customers.csv")).returncode == 0
    for extra in home.glob("retentio.db-*"):
        extra.unlink()
    (home / "retentio.db").write_bytes(b"garbage, not SQLite" * 500)
    assert "not a valid SQLite database" in one_line_error(
        cli(home, "kpi", "--from", "2024-01-01", "--to", "2025-01-01")
    )
    assert "not a valid SQLite database" in one_line_error(
        cli(home, "ingest", "orders", str(tmp_path / "shop" / "orders.csv"))
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://", "names no database"),
        ("postgresql://postgres@127.0.0.1:port/test", "Port"),
        ("postgresql://postgres@127.0.0.1:5432", "names no database"),
        ("mysql://x/y", "not supported"),
    ],
)
def test_bad_database_urls_are_refused_in_one_line(
    home: Path, tmp_path: Path, url: str, message: str
) -> None:
    write_shop(tmp_path / "shop")
    assert message in one_line_error(
        cli(home, "ingest", "customers", str(tmp_path / "shop" / "customers.csv"), url=url)
    )


def test_invalid_settings_are_errors_not_defaults(home: Path) -> None:
    assert "ACTIVE_WINDOW_DAYS" in one_line_error(cli(home, "kpi", RETENTIO_ACTIVE_WINDOW_DAYS="0"))
    assert "TIMEZONE" in one_line_error(cli(home, "kpi", RETENTIO_TIMEZONE="Mars/Olympus"))


def test_smtp_password_never_shows_in_the_settings_repr() -> None:
    settings = Settings.from_env({"RETENTIO_SMTP_PASSWORD": "hunter2", "RETENTIO_HOME": "/nonexistent"})
    assert "hunter2" not in repr(settings)
    assert settings.smtp_password is not None and settings.smtp_password.get_secret_value() == "hunter2"


def test_postgres_connection_killed_mid_ingest_is_one_line_and_atomic(
    home: Path, tmp_path: Path, pg_url: str, pg_server: str
) -> None:
    import psycopg

    n = 300_000
    path = tmp_path / "events.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("event_id,customer_id,occurred_at,type\n")
        for i in range(n):
            handle.write(f"e{i},c{i % 5000},2024-03-01 09:00,visit\n")
    assert cli(home, "db", "upgrade", url=pg_url).returncode == 0
    env = dict(os.environ, RETENTIO_HOME=str(home), RETENTIO_DATABASE_URL=pg_url)
    proc = subprocess.Popen(
        [EXE, "ingest", "events", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    schema = pg_url.split("search_path%3D")[1]
    killed = False
    with psycopg.connect(pg_server, autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and not killed:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state <> 'idle' "
                "AND query ILIKE %s",
                (f"%{'_retentio_stage'}%",),
            ).fetchall()
            for (pid,) in rows:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                killed = True
            time.sleep(0.02)
    out, err = proc.communicate(timeout=120)
    if not killed:
        pytest.skip("the ingest finished before its connection could be killed")
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        count = conn.execute("SELECT count(*) FROM events").fetchone()
    assert count is not None and count[0] == 0  # as before: nothing half-written


def test_a_read_command_never_creates_tables_in_an_empty_postgres_database(home: Path, pg_url: str) -> None:
    import psycopg

    message = one_line_error(cli(home, "kpi", "--from", "2024-01-01", "--to", "2025-01-01", url=pg_url))
    assert "holds no retentio store" in message
    schema = pg_url.split("search_path%3D")[1]
    base = pg_url.split("?")[0]
    with psycopg.connect(base) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
    assert tables is not None and tables[0] == 0


def test_two_stores_behind_one_home_never_share_numbers(
    home: Path, tmp_path: Path, store_url: str | None
) -> None:
    """Store A (SQLite elsewhere) and store B (the default SQLite, or PostgreSQL) at the same version."""
    write_shop(tmp_path / "a", customers=3, prefix="a")
    write_shop(tmp_path / "b", customers=5, prefix="b")
    store_a = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    store_b = Settings(home=home, database_url=store_url)
    for settings, folder in ((store_a, "a"), (store_b, "b")):
        with App(settings) as app:
            ingest_file(app, "orders", tmp_path / folder / "orders.csv")
            assert app.store().data_version == 1
    for settings, expected in ((store_a, 3), (store_b, 5), (store_a, 3)):
        with App(settings) as app:
            con = app.analytics_connection()
            assert con.table("orders").count().execute() == expected
            con.disconnect()
