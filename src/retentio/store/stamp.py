"""The store's schema revision and data version, read without SQLAlchemy.

Every analytic command checks that the DuckDB snapshot matches the store before it reads it. That
check is two tiny SELECTs; importing SQLAlchemy's ORM and the table models just to run them costs
more than the KPI queries of a small shop. So the hot path reads the two values with the stdlib
``sqlite3`` module (or psycopg for PostgreSQL) and falls back to :mod:`retentio.store.db` — which
creates and migrates the store — whenever the answer is not a clean "schema is current, version N".
"""

from __future__ import annotations

import sqlite3
from typing import Any

from retentio.config import Settings

SCHEMA_HEAD = "0001"  # the newest Alembic revision (retentio/store/migrations/versions)

_VERSION_SQL = "SELECT version_num FROM alembic_version"
_DATA_VERSION_SQL = "SELECT value FROM store_meta WHERE key = 'data_version'"


def _read(cursor: Any) -> int | None:
    cursor.execute(_VERSION_SQL)
    revision = cursor.fetchone()
    if revision is None or revision[0] != SCHEMA_HEAD:
        return None
    cursor.execute(_DATA_VERSION_SQL)
    row = cursor.fetchone()
    return 0 if row is None else int(row[0])


def quick_data_version(settings: Settings) -> int | None:
    """The data version of a store at the current schema, or None (missing, older or unreadable)."""
    url = settings.sqlalchemy_url
    try:
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if not path or path == ":memory:":
                return None
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return _read(con.cursor())
            finally:
                con.close()
        if url.startswith("postgresql+psycopg://"):
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
                return _read(conn.cursor())
    except Exception:  # any failure here only means "take the full path", which reports it properly
        return None
    return None
