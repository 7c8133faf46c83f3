"""The application context: one object, built from the settings, that owns what a process shares.

In the spirit of datasette's ``Datasette`` and starlette's ``app.state``: the CLI builds one
:class:`App` per command, the API server one per process (shared by its requests), the worker one
per process. Each asks it for what it needs — the store's engine and sessions, the analytics
snapshot, the model registry, the locale's messages — instead of reading the environment or
keeping module-level engines. Two contexts over two stores live side by side (tests do that).

Lifecycle: nothing is opened in ``__init__``; the engine is created on first use and disposed by
:meth:`close` (or leaving a ``with App(...)`` block).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from retentio.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session

    from retentio.analytics.tables import AnalyticsTables
    from retentio.store.snapshot import Snapshot
    from retentio.store.stamp import StoreStamp


class App:
    """Everything one retentio process shares, built from one :class:`Settings`.

    ``refresh_snapshot``: whether a reader that finds the analytics snapshot missing or behind may
    refresh it itself. True for the one-shot CLI (nobody else would); False for long-lived servers,
    whose readers read the last good version while one refresher catches up
    (see :class:`retentio.store.snapshot.Snapshot`).
    """

    def __init__(self, settings: Settings | None = None, *, refresh_snapshot: bool = True) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.refresh_snapshot = refresh_snapshot
        # Objects that are expensive to build and valid for this context's life (a fitted
        # recommendation service, ...), keyed by their owner; domain code keeps nothing in globals.
        self.cache: dict[tuple[Any, ...], Any] = {}

    # --- identity ----------------------------------------------------------------------------------

    @property
    def locale(self) -> str:
        return self.settings.locale

    def translate(self, key: str, **values: Any) -> str:
        """The message ``key`` in this context's locale."""
        from retentio.i18n import translate

        return translate(key, self.locale, **values)

    # --- the store ---------------------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        """This context's SQLAlchemy engine (created on first use; no connection is made yet)."""
        from retentio.store.db import create_store_engine

        return create_store_engine(self.settings)

    def store(self) -> StoreStamp:
        """The store's stamp; a one-line :class:`~retentio.errors.StoreError` when there is no usable
        store. Never creates one (read commands call this)."""
        from retentio.store.db import check_store

        return check_store(self.settings)

    def prepare_store(self) -> StoreStamp:
        """For commands that write contract data: create the store if there is none (migrations
        under a lock), otherwise require it to be at the current schema."""
        from retentio.store.db import prepare_store

        return prepare_store(self.settings, self.engine)

    def upgrade(self, revision: str = "heads") -> str | None:
        """Apply migrations up to ``revision`` under the migration lock (``retentio db upgrade``)."""
        from retentio.store.db import upgrade

        return upgrade(self.settings, self.engine, revision)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write session in one transaction (``BEGIN IMMEDIATE`` on SQLite): commit or roll back."""
        from retentio.store.db import write_session

        self.store()
        with write_session(self.engine) as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading (never writes, never creates the store)."""
        from retentio.store.db import read_session

        self.store()
        with read_session(self.engine) as session:
            yield session

    @contextmanager
    def write_transaction(self, foreign_keys: bool = True) -> Iterator[Connection]:
        """A Core connection in one write transaction (see :func:`retentio.store.db.write_transaction`)."""
        from retentio.store.db import write_transaction

        with write_transaction(self.engine, foreign_keys) as conn:
            yield conn

    # --- analytics ---------------------------------------------------------------------------------

    @cached_property
    def snapshot(self) -> Snapshot:
        """The analytics snapshot (a DuckDB file under the home) and its ownership rules."""
        from retentio.store.snapshot import Snapshot

        return Snapshot(self.settings)

    def analytics(self) -> AnalyticsTables:
        """The analytics tables over a snapshot that matches the store (refreshed first when this
        context may refresh it)."""
        from retentio.analytics.tables import AnalyticsTables

        if self.settings.analytics_url:
            import ibis

            return AnalyticsTables.from_backend(ibis.connect(self.settings.analytics_url))
        return AnalyticsTables.from_backend(self.analytics_connection())

    def analytics_connection(self) -> Any:
        """The ibis connection over the snapshot (see :meth:`analytics`)."""
        store = self.store()
        return self.snapshot.open(store, lambda: self.engine, self.refresh_snapshot)

    def refresh_snapshot_now(self, force: bool = False) -> int:
        """Bring the snapshot up to the store now; returns its data version."""
        return self.snapshot.refresh(self.store(), lambda: self.engine, force=force)

    # --- models ------------------------------------------------------------------------------------

    @property
    def models_dir(self) -> Any:
        return self.settings.home / "models"

    # --- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Dispose the engine (open connections are closed)."""
        self.cache.clear()
        engine = self.__dict__.pop("engine", None)
        if engine is not None:
            engine.dispose()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
