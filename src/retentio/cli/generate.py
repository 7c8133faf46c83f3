"""``retentio generate``: write a realistic demo data set (every contract table + metadata.json)."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from retentio.errors import UserError

PROGRESS_DELAY_S = 1.0


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date written YYYY-MM-DD, got {value!r}") from None


class _DelayedProgress:
    """A Rich progress bar on stderr that appears only once the work has taken over a second."""

    def __init__(self, total: int) -> None:
        self.progress = Progress(
            TextColumn("generating customers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("generate", total=total)
        self._timer = threading.Timer(PROGRESS_DELAY_S, self.progress.start)
        self._timer.daemon = True

    def __enter__(self) -> _DelayedProgress:
        self._timer.start()
        return self

    def update(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.progress.stop()


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to the app."""

    @app.command("generate")
    def generate_command(
        out: Path = typer.Option(
            ..., "--out", help="Directory to write <table>.csv|parquet and metadata.json to."
        ),
        customers: int = typer.Option(20_000, "--customers", help="Number of customers to simulate."),
        seed: int = typer.Option(42, "--seed", help="Random seed: the same arguments give identical files."),
        file_format: str = typer.Option("csv", "--format", help="Output file format: csv or parquet."),
        start: str | None = typer.Option(
            None, "--start", help="First day of the period (default 2023-01-01)."
        ),
        end: str | None = typer.Option(
            None, "--end", help="Last day of the period, inclusive (default 2025-12-31)."
        ),
    ) -> None:
        """Generate a realistic demo shop whose true behaviour parameters are known (see metadata.json)."""
        from retentio.demo.generator import generate

        first, last = _parse_day(start, "--start"), _parse_day(end, "--end")
        began = time.perf_counter()
        with _DelayedProgress(customers) as bar:
            metadata = generate(out, customers, seed, first, last, file_format.lower(), progress=bar.update)
        elapsed = time.perf_counter() - began
        rows = metadata["rows"]
        summary = ", ".join(f"{name} {count:,}" for name, count in rows.items())
        typer.echo(
            f"wrote {out} in {elapsed:.1f} s "
            f"({metadata['start']} .. {metadata['end']}, seed {seed}): {summary}"
        )
