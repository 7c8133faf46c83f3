"""Engines, transactions, the store's state and migrations.

The embedded default is a SQLite file in WAL mode under ``RETENTIO_HOME``; production uses
PostgreSQL through ``RETENTIO_DATABASE_URL``. Engines are created by the application context
(:class:`retentio.app.App`), one per context — there is no module-level cache.

Migrations are an explicit step (:func:`upgrade`, ``retentio db upgrade``; ``serve``/``worker``
run it at start) taken under a lock, so that two processes never migrate at once. A command that
only reads never creates or migrates a store: :func:`check_store` says in one line what is wrong.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from retentio.config import Settings
from retentio.errors import StoreError

# SCHEMA_HEAD is the newest migration. Kept in code so that the per-command check is one SELECT
# instead of loading Alembic's script directory; tests/store/test_store.py asserts it matches the
# migrations on disk. It lives in stamp.py, which reads it without importing SQLAlchemy.
from retentio.store.stamp import (  # noqa: F401  (SCHEMA_HEAD/S re-exported for callers)
    SCHEMA_HEAD,
    SCHEMA_HEADS,
    StoreStamp,
    describe_sqlite_error,
    read_stamp,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# How long a writer waits for another writer's transaction on SQLite before giving up. An ingest of
# a large file holds the write lock for minutes; the second one waits for it rather than failing.
SQLITE_WRITE_WAIT_S = 900.0
# Key of the PostgreSQL advisory lock taken by migrations (any constant unique to retentio).
PG_MIGRATION_LOCK = 0x7265_7465  # "rete"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_store_engine(settings: Settings) -> Engine:
    """A new engine for the settings' store. Creates nothing on disk until a connection is made."""
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def prepare_home(settings: Settings) -> None:
    """Create the data directory (for writers), with a one-line error when that is impossible."""
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"RETENTIO_HOME {home} is a file, not a directory") from None
    except NotADirectoryError:
        raise StoreError(f"RETENTIO_HOME {home}: a part of this path is a file, not a directory") from None
    except PermissionError:
        raise StoreError(f"RETENTIO_HOME {home} cannot be created: permission denied (read-only?)") from None
    except OSError as exc:
        raise StoreError(f"RETENTIO_HOME {home} cannot be created: {exc.strerror or exc}") from None
    if not home.is_dir():
        raise StoreError(f"RETENTIO_HOME {home} is not a directory")
    if not os.access(home, os.W_OK | os.X_OK):
        raise StoreError(f"RETENTIO_HOME {home} is read-only: retentio needs to write its store there")


def store_location(settings: Settings) -> str:
    """Where the store is, for messages (no password)."""
    path = settings.sqlite_path
    if path is not None:
        return str(path)
    from sqlalchemy.engine import make_url

    return make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)


def check_store(settings: Settings, engine: Engine | None = None) -> StoreStamp:
    """The store's stamp, or a one-line :class:`StoreError` when there is no usable store.

    Never creates anything: a missing SQLite file, an empty one, a database without our schema or
    at another schema revision is an error that says which command fixes it.
    """
    stamp = read_stamp(settings)
    if stamp.problem is None:
        return stamp
    raise StoreError(stamp.problem)


def store_exists(settings: Settings) -> bool:
    """True when the store has our schema at some revision (a writer then needs no creation)."""
    stamp = read_stamp(settings)
    return stamp.revision is not None


# --- transactions ------------------------------------------------------------------------------


@contextmanager
def write_transaction(engine: Engine, foreign_keys: bool = True) -> Iterator[Connection]:
    """One write transaction that holds the write lock from its first statement.

    SQLite: ``BEGIN IMMEDIATE`` — a deferred transaction that reads first and upgrades to a write
    lock later fails with "database is locked" as soon as another writer holds it (busy_timeout
    does not help there); an immediate one waits for it. We wait up to
    :data:`SQLITE_WRITE_WAIT_S`. With ``foreign_keys=False`` SQLite's per-row FK check is off for
    the transaction (bulk loads whose writer guarantees every reference). PostgreSQL: a normal
    transaction; concurrency is handled by row locks and ``ON CONFLICT``.
    """
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        if not foreign_keys:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            if not foreign_keys:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _begin_immediate(conn: Connection) -> None:
    deadline = time.monotonic() + SQLITE_WRITE_WAIT_S
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
            conn.rollback()
            time.sleep(0.05)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """An ORM session in one :func:`write_transaction`: commits on success, rolls back on error."""
    with write_transaction(engine) as conn, Session(bind=conn, expire_on_commit=False) as session:
        yield session
        session.flush()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """An ORM session for reading (rolled back at the end)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


# --- data version and identity --------------------------------------------------------------------


def data_version(conn: Connection | Session) -> int:
    """A counter that grows with every committed change to contract data."""
    value = conn.execute(text("SELECT data_version FROM store_state WHERE id = 1")).scalar()
    return int(value) if value is not None else 0


def store_id(conn: Connection | Session) -> str | None:
    """The store's identity (a random id made when the store was created)."""
    value = conn.execute(text("SELECT store_id FROM store_state WHERE id = 1")).scalar()
    return str(value) if value is not None else None


def lock_for_ingest(conn: Connection) -> None:
    """Serialise contract-data writers from the start of the caller's transaction.

    PostgreSQL: lock the ``store_state`` row (``FOR UPDATE``), so a second ingest waits for the
    first to commit instead of failing on the keys both insert (placeholder customers, new rows)
    and reads what the first wrote. SQLite: the transaction already holds the write lock
    (``BEGIN IMMEDIATE``).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT data_version FROM store_state WHERE id = 1 FOR UPDATE"))


def bump_data_version(conn: Connection | Session) -> int:
    """Increase the data version inside the caller's transaction, atomically, and return it.

    One ``UPDATE ... RETURNING``: on PostgreSQL the row lock makes a concurrent bump wait for this
    transaction and then add to its result (no lost increment); on SQLite the transaction already
    holds the write lock.
    """
    value = conn.execute(
        text("UPDATE store_state SET data_version = data_version + 1 WHERE id = 1 RETURNING data_version")
    ).scalar()
    if value is None:
        raise StoreError("the store has no store_state row: run `retentio db upgrade`")
    return int(value)


# --- migrations ---------------------------------------------------------------------------------


def version_locations() -> list[Path]:
    """Where migrations live: the store's base branch, then every domain package that has its own
    ``migrations/versions`` (loyalty, feedback, campaigns, ... each owns its tables that way, as an
    Alembic branch that depends on the base)."""
    package = Path(__file__).resolve().parent.parent
    domains = sorted(p for p in package.glob("*/migrations/versions") if p.parent != MIGRATIONS_DIR)
    return [MIGRATIONS_DIR / "versions", *domains]


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(settings: Settings, engine: Engine, revision: str = "heads") -> str | None:
    """Run migrations up to ``revision`` under a lock; returns the revision the store is at afterwards.

    SQLite: an exclusive lock on ``<store>.migrate.lock`` beside the file; PostgreSQL: an advisory
    lock held by the migration's transaction. A second process waits, then finds nothing to do.
    """
    from alembic import command

    sqlite_path = settings.sqlite_path
    try:
        if sqlite_path is not None:
            if sqlite_path.parent == settings.home:
                prepare_home(settings)
            lock = sqlite_path.with_name(sqlite_path.name + ".migrate.lock")
            with _file_lock(lock), engine.begin() as conn:
                command.upgrade(_alembic_config(conn), revision)
        else:
            with engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
                command.upgrade(_alembic_config(conn), revision)
    except SQLAlchemyError as exc:
        raise StoreError(describe_store_error(settings, exc)) from exc
    except OSError as exc:
        where = store_location(settings)
        raise StoreError(f"cannot write the store at {where}: {exc.strerror or exc}") from exc
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The store's revisions (one per migration branch), comma-separated; None for no store."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None


def head_revision() -> str | None:
    """The newest revision of every migration branch, comma-separated."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    return ",".join(sorted(heads)) or None


def describe_store_error(settings: Settings, exc: BaseException) -> str:
    """One line for a database error: where the store is and what the database said."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.Error):
        return describe_sqlite_error(str(store_location(settings)), orig)
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"the store at {store_location(settings)} failed: {first}"


# --- store preparation (used by the application context) ---------------------------------------------


def migrate(settings: Settings, revision: str = "heads") -> str | None:
    """Create or upgrade the settings' store with a short-lived engine (tools and tests; the
    application uses ``App.upgrade``)."""
    engine = create_store_engine(settings)
    try:
        return upgrade(settings, engine, revision)
    finally:
        engine.dispose()


def prepare_store(settings: Settings, engine: Engine, create: bool = True) -> StoreStamp:
    """For writers: create the store if there is none (under the migration lock), else require it
    to be at the current schema. An existing store is never migrated implicitly."""
    stamp = read_stamp(settings)
    if stamp.current:
        return stamp
    if stamp.missing and create:
        if settings.sqlite_path is not None:
            prepare_home(settings)
        upgrade(settings, engine)
        return check_store(settings)
    raise StoreError(stamp.problem or "the store is not usable")
