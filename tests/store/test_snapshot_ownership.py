"""Who owns the analytics snapshot: one refresher at a time, readers never see half a change, and a
long-lived reader (a server) never turns an ingest into a stale snapshot and a full rebuild."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from retentio.app import App
from retentio.config import Settings
from retentio.ingest import ingest_file
from retentio.store import snapshot as snapshot_module
from retentio.store.db import bump_data_version, write_transaction
from retentio.store.snapshot import Snapshot, snapshot_version


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    return Settings(home=home, database_url=store_url)


def customers_file(folder: Path, name: str, ids: list[str]) -> Path:
    path = folder / f"{name}.csv"
    path.write_text("customer_id\n" + "".join(f"{c}\n" for c in ids), encoding="utf-8")
    return path


def count(con: object) -> int:
    return int(con.table("customers").count().execute())  # type: ignore[attr-defined]


def test_a_long_lived_reader_never_makes_an_ingest_stale(settings: Settings, tmp_path: Path) -> None:
    with App(settings) as writer:
        ingest_file(writer, "customers", customers_file(tmp_path, "first", ["a"]))
    server = App(settings, refresh_snapshot=False)
    held = server.analytics_connection()  # a reader that keeps the file open, as a server would
    assert count(held) == 1
    with App(settings) as writer:
        writer.snapshot.wait_s = 0.5
        started = time.monotonic()
        ingest_file(writer, "customers", customers_file(tmp_path, "second", ["b", "c"]))
        took = time.monotonic() - started
        assert snapshot_version(settings.snapshot_path) == writer.store().data_version == 2
    assert took < 20
    assert count(held) == 1  # the held reader keeps its consistent version
    fresh = server.analytics_connection()
    assert count(fresh) == 3  # the next reader gets the new one, with no rebuild
    held.disconnect()
    fresh.disconnect()
    server.close()


def test_a_reader_that_may_not_refresh_reads_the_last_good_version(
    settings: Settings, tmp_path: Path
) -> None:
    with App(settings) as writer:
        ingest_file(writer, "customers", customers_file(tmp_path, "first", ["a", "b"]))
        with write_transaction(writer.engine) as conn:  # a change the snapshot has not seen
            conn.exec_driver_sql("DELETE FROM customers WHERE customer_id = 'b'")
            bump_data_version(conn)
    server = App(settings, refresh_snapshot=False)
    con = server.analytics_connection()
    assert count(con) == 2  # the last good version, read as it is
    con.disconnect()
    assert snapshot_version(settings.snapshot_path) == 1  # nothing was rebuilt by the reader
    with App(settings) as cli:  # the one-shot CLI may refresh
        con = cli.analytics_connection()
        assert count(con) == 1
        con.disconnect()
    assert snapshot_version(settings.snapshot_path) == 2
    server.close()


def test_stale_readers_at_once_rebuild_only_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(settings) as writer:
        ingest_file(writer, "customers", customers_file(tmp_path, "first", ["a"]))
    settings.snapshot_path.unlink()
    rebuilds: list[int] = []
    original = Snapshot._rebuild

    def counted(self: Snapshot, engine: object) -> int:
        rebuilds.append(1)
        time.sleep(0.3)  # long enough for the other readers to queue on the refresh lock
        return original(self, engine)

    monkeypatch.setattr(Snapshot, "_rebuild", counted)
    results: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with App(settings) as reader:
                con = reader.analytics_connection()
                results.append(count(con))
                con.disconnect()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results == [1, 1, 1]
    assert len(rebuilds) == 1


def test_the_snapshot_module_has_no_engine_or_settings_globals() -> None:
    import sqlalchemy

    from retentio.store import db

    for module in (snapshot_module, db):
        for name, value in vars(module).items():
            assert not isinstance(value, sqlalchemy.Engine), f"{module.__name__}.{name}"
            assert not isinstance(value, Settings), f"{module.__name__}.{name}"
            if isinstance(value, dict) and value:
                assert not any(isinstance(v, sqlalchemy.Engine) for v in value.values()), name


def test_a_relative_home_keeps_its_current_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RETENTIO_HOME defaults to ./retentio-data: a relative path must never look like another file."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(home=Path("retentio-data"))
    with App(settings) as app:
        for i in range(3):
            ingest_file(app, "customers", customers_file(tmp_path, f"batch{i}", [f"c{i}"]))
        app.refresh_snapshot_now(force=True)
        con = app.analytics_connection()
        assert count(con) == 3
        con.disconnect()
    assert settings.snapshot_path.resolve().is_file()
