"""``retentio db``: schema migrations and the analytics snapshot."""

from __future__ import annotations

import typer

from retentio.cli.common import console, settings

db_app = typer.Typer(
    help="Store schema (Alembic migrations) and the analytics snapshot.", no_args_is_help=True
)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the store to the latest schema (commands that need it do this themselves)."""
    from retentio.store.db import upgrade

    at = upgrade(settings(), revision)
    console.print(f"store at revision {at}")


@db_app.command("current")
def db_current() -> None:
    """Show the store's schema revision and the newest one this version knows."""
    from retentio.store.db import current_revision, head_revision

    console.print(f"store: {current_revision(settings())}  head: {head_revision()}")


@db_app.command("snapshot")
def db_snapshot() -> None:
    """Rebuild the analytics snapshot (DuckDB) from the store."""
    from retentio.store import snapshot

    version = snapshot.rebuild(settings())
    console.print(f"snapshot rebuilt at data version {version}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
