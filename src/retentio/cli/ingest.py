"""``retentio ingest TABLE PATH``: load a shop export into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from retentio.cli.common import OutputFormat, app_of, console, print_json, progress
from retentio.errors import UserError

if TYPE_CHECKING:
    from retentio.ingest import IngestSummary


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``canonical=source`` pairs (repeatable ``--map``) to a dict, with a clear error on bad forms."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise UserError(
                f"--map {pair!r}: write it as canonical=source, e.g. --map order_id='Номер заказа'"
            )
        mapping[canonical.strip()] = source.strip()
    return mapping


def show_summary(summary: IngestSummary) -> None:
    table = Table(title=f"ingest {summary.table} ← {summary.source}", show_header=True)
    for name in ("read", "loaded", "updated", "unchanged", "rejected"):
        table.add_column(name, justify="right")
    table.add_row(
        *(f"{getattr(summary, n):,}" for n in ("read", "loaded", "updated", "unchanged", "rejected"))
    )
    console.print(table)
    if summary.placeholders_created:
        console.print(f"{summary.placeholders_created:,} unknown customers were created as placeholders")
    if summary.ignored_columns:
        console.print(f"ignored columns: {', '.join(summary.ignored_columns)}")
    if summary.rejects_file:
        console.print(f"rejected rows and reasons: {summary.rejects_file}")


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        ctx: typer.Context,
        table: Annotated[
            str,
            typer.Argument(
                help="Contract table: customers, orders, order_lines, refunds, "
                "events, reviews, tickets, survey_responses."
            ),
        ],
        path: Annotated[Path, typer.Argument(help="CSV, Parquet (.parquet) or JSON Lines (.jsonl) file.")],
        map_: Annotated[
            list[str] | None, typer.Option("--map", help="canonical=source column; repeatable.")
        ] = None,
        delimiter: Annotated[str | None, typer.Option(help="CSV delimiter (default: detected).")] = None,
        encoding: Annotated[
            str | None, typer.Option(help="File encoding (default: UTF-8/BOM/cp1251 detected).")
        ] = None,
        decimal: Annotated[
            str | None, typer.Option(help="Decimal separator ',' or '.' (default: detected).")
        ] = None,
        date_format: Annotated[
            str | None, typer.Option(help="strptime format, e.g. '%d/%m/%Y %H:%M'.")
        ] = None,
        strict: Annotated[bool, typer.Option(help="Load nothing if any row is invalid.")] = False,
        rejects: Annotated[
            Path | None,
            typer.Option(
                help="A new CSV file for the rejected rows (never replaces a file; "
                "default: $RETENTIO_HOME/rejects/<table>-<time>.csv)."
            ),
        ] = None,
        format_: Annotated[
            OutputFormat, typer.Option("--format", help="table or json.")
        ] = OutputFormat.table,
    ) -> None:
        """Load a file into the store: validate every row, upsert by id, report what happened."""
        from retentio.ingest import IngestOptions, StrictRejected, ingest_file

        if decimal not in (None, ",", "."):
            raise UserError("--decimal must be ',' or '.'")
        options = IngestOptions(
            mapping=parse_mapping(map_ or []),
            delimiter=delimiter,
            encoding=encoding,
            decimal=decimal,
            date_format=date_format,
            strict=strict,
        )
        try:
            with progress() as bar:
                summary = ingest_file(
                    app_of(ctx), table, path, options, rejects_path=rejects, stage=bar.stage
                )
        except StrictRejected as exc:
            if format_ is OutputFormat.json:
                print_json(exc.summary.as_dict())
            raise
        if format_ is OutputFormat.json:
            print_json(summary.as_dict())
        else:
            show_summary(summary)
