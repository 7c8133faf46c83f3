"""``retentio db``: schema migrations and the analytics snapshot."""

from __future__ import annotations

import typer

from retentio.cli.common import app_context, console

db_app = typer.Typer(
    help="Store schema (Alembic migrations) and the analytics snapshot.", no_args_is_help=True
)


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("heads", help="Target revision (default: the newest of every branch)."),
) -> None:
    """Create the store or migrate it to the latest schema (idempotent; safe to run concurrently)."""
    with app_context() as app:
        at = app.upgrade(revision)
    console.print(f"store at revision {at}")


@db_app.command("current")
def db_current() -> None:
    """Show the store's schema revision and the newest one this version knows."""
    from retentio.store.db import head_revision
    from retentio.store.stamp import read_stamp

    with app_context() as app:
        stamp = read_stamp(app.settings)
    console.print(f"store: {stamp.revision}  head: {head_revision()}")


@db_app.command("snapshot")
def db_snapshot() -> None:
    """Rebuild the analytics snapshot (DuckDB) from the store."""
    with app_context() as app:
        version = app.refresh_snapshot_now(force=True)
    console.print(f"snapshot rebuilt at data version {version}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
