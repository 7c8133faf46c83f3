"""Alembic environment: runs against the engine passed in by ``retentio.store.db``."""

from __future__ import annotations

from alembic import context

from retentio.store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` CLI use: build one from the settings
        from retentio.config import Settings
        from retentio.store.db import engine_for

        engine = engine_for(Settings.from_env())
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
