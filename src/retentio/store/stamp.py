"""The store's stamp — schema revision, identity, data version — read without SQLAlchemy.

Every analytic command checks that the DuckDB snapshot matches the store before it reads it. That
check is a tiny SELECT; importing SQLAlchemy's ORM and the table models just to run it costs more
than the KPI queries of a small shop. So it reads the values with the stdlib ``sqlite3`` module (or
psycopg for PostgreSQL), and it never creates anything: a missing SQLite file is reported, not made.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from retentio.config import Settings

# What ``alembic_version`` holds in an up-to-date store: the newest revision of every migration
# branch (the store's base and each domain's own, retentio/<domain>/migrations/versions), less
# those another branch's head depends on (Alembic keeps only the dependent). Kept in code so that
# the per-command check is one SELECT; tests/store/test_store.py migrates a store and compares.
SCHEMA_HEADS = frozenset({"0002"})
SCHEMA_HEAD = "0002"  # the base branch's head
KNOWN_REVISIONS = frozenset({"0001", "0002"})

_VERSION_SQL = "SELECT version_num FROM alembic_version"
_STATE_SQL = "SELECT store_id, data_version FROM store_state WHERE id = 1"

LOAD_HINT = "load data first with `retentio ingest TABLE FILE` or `retentio demo`"


@dataclass(frozen=True)
class StoreStamp:
    """What the store says about itself; ``problem`` is one line when it is not usable as it is."""

    revision: str | None = None
    store_id: str | None = None
    data_version: int = 0
    problem: str | None = None
    missing: bool = False  # there is no store at all (a writer may create it)

    @property
    def current(self) -> bool:
        return self.problem is None and self.revision is not None


def _read(cursor: Any, where: str) -> StoreStamp:
    try:
        cursor.execute(_VERSION_SQL)
    except Exception as exc:
        text = str(exc)
        if "no such table" not in text and "does not exist" not in text:
            raise
        # No alembic_version table: an empty database, not ours (yet).
        return StoreStamp(problem=f"{where} holds no retentio store: {LOAD_HINT}", missing=True)
    heads = {str(row[0]) for row in cursor.fetchall()}
    if not heads:
        return StoreStamp(problem=f"{where} holds no retentio store: {LOAD_HINT}", missing=True)
    revision = ",".join(sorted(heads))
    if heads != SCHEMA_HEADS:
        if heads <= KNOWN_REVISIONS:
            return StoreStamp(
                revision=revision,
                problem=f"the store at {where} is at schema {revision}; this version of retentio needs "
                f"{','.join(sorted(SCHEMA_HEADS))}: run `retentio db upgrade`",
            )
        return StoreStamp(
            revision=revision,
            problem=f"the store at {where} is at schema {revision}, which this version of retentio does "
            "not know (written by a newer version?): upgrade retentio",
        )
    cursor.execute(_STATE_SQL)
    state = cursor.fetchone()
    if state is None:
        return StoreStamp(revision=revision, problem=f"the store at {where} has no state row: it is damaged")
    return StoreStamp(revision=revision, store_id=str(state[0]), data_version=int(state[1]))


def describe_sqlite_error(where: str, exc: BaseException) -> str:
    """One line for an error from SQLite about the store file."""
    message = str(exc)
    if "readonly" in message or "read-only" in message:
        return f"the store at {where} is read-only: retentio needs to write it (check the permissions)"
    if "not a database" in message or "malformed" in message:
        return f"{where} is not a valid SQLite database (damaged?): restore it from a backup"
    if "unable to open" in message:
        return f"cannot open the store at {where} (missing directory or no permission)"
    if "locked" in message:
        return f"the store at {where} is locked by another process for too long: try again"
    if "disk" in message and ("full" in message or "I/O" in message):
        return f"the store at {where} cannot be written: {message}"
    return f"the store at {where} failed: {message}"


def read_stamp(settings: Settings) -> StoreStamp:
    """The stamp of the settings' store. Never raises for a store problem: see ``problem``."""
    home = settings.home
    if home.exists() and not home.is_dir():
        return StoreStamp(problem=f"RETENTIO_HOME {home} is a file, not a directory")
    path = settings.sqlite_path
    if path is not None:
        where = str(path)
        if not path.exists():
            return StoreStamp(problem=f"no store at {where}: {LOAD_HINT}", missing=True)
        if path.is_dir():
            return StoreStamp(problem=f"{where} is a directory, not a store file")
        if path.stat().st_size == 0:
            return StoreStamp(problem=f"{where} is empty (0 bytes), not a store: {LOAD_HINT}", missing=True)
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as exc:
            return StoreStamp(problem=describe_sqlite_error(where, exc))
        try:
            return _read(con.cursor(), where)
        except sqlite3.Error as exc:
            return StoreStamp(problem=describe_sqlite_error(where, exc))
        finally:
            con.close()
    import psycopg

    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
    where = _safe_url(url)
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            return _read(conn.cursor(), where)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreStamp(problem=f"cannot reach the store at {where}: {first}")


def _safe_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def quick_data_version(settings: Settings) -> int | None:
    """The data version of a store at the current schema, or None (missing, older or unreadable)."""
    stamp = read_stamp(settings)
    return stamp.data_version if stamp.current else None
