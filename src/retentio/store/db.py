"""Engines, sessions and migrations for the store.

The embedded default is a SQLite file in WAL mode under ``RETENTIO_HOME``; production uses
PostgreSQL through ``RETENTIO_DATABASE_URL``. Commands that need the store call
:func:`ensure_schema`, which runs the Alembic migrations up to head (cheap when already there).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from retentio.config import Settings
from retentio.errors import StoreError
from retentio.store.schema import StoreMeta

# SCHEMA_HEAD is the newest migration. Kept in code so that the per-command check is one SELECT
# instead of loading Alembic's script directory; tests/store/test_store.py asserts it matches the
# migrations on disk. It lives in stamp.py, which reads it without importing SQLAlchemy.
from retentio.store.stamp import SCHEMA_HEAD

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_engine_cache: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    engine = _engine_cache.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _engine_cache[url] = engine
    return engine


def engine_for(settings: Settings) -> Engine:
    """The (cached) engine for the settings' store; creates the data directory for SQLite."""
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    return _engine(settings.sqlalchemy_url)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = sessionmaker(engine_for(settings), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(settings: Settings, revision: str = "head") -> str | None:
    """Run migrations up to ``revision``; returns the revision the store is at afterwards."""
    from alembic import command

    engine = engine_for(settings)
    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise StoreError(f"cannot reach the store at {engine.url.render_as_string()}: {exc.orig}") from exc
    return current_revision(settings)


def current_revision(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(settings).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


_checked: set[str] = set()


def ensure_schema(settings: Settings) -> None:
    """Bring the store to the latest schema (once per process and URL)."""
    url = settings.sqlalchemy_url
    if url in _checked:
        return
    try:
        with engine_for(settings).connect() as conn:
            at = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except SQLAlchemyError:
        at = None  # no version table yet: a new store
    if at != SCHEMA_HEAD:
        upgrade(settings)
    _checked.add(url)


def data_version(session: Session) -> int:
    """A counter that grows with every committed change to contract data (see :func:`bump_data_version`)."""
    value = session.scalar(select(StoreMeta.value).where(StoreMeta.key == "data_version"))
    return int(value) if value is not None else 0


def bump_data_version(session: Session) -> int:
    """Increase the data version inside the caller's transaction, so readers can detect change."""
    new = data_version(session) + 1
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        sql = (
            "insert into store_meta(key, value) values ('data_version', :v) "
            "on conflict (key) do update set value = excluded.value"
        )
    else:
        sql = "insert or replace into store_meta(key, value) values ('data_version', :v)"
    session.execute(text(sql), {"v": str(new)})
    return new


def forget_engines() -> None:
    """Dispose cached engines and schema checks (for tools that drop and recreate stores)."""
    for engine in list(_engine_cache.values()):
        engine.dispose()
    _engine_cache.clear()
    _checked.clear()
