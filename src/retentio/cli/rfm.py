"""``retentio rfm``: RFM scores per customer and the named segments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retentio.analytics import render
from retentio.analytics.periods import as_of_or_today
from retentio.analytics.render import OutputFormat
from retentio.analytics.rfm import load_segment_map, rfm_report
from retentio.cli.common import SegmentOption, app_of, segment_members, status


def rfm_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score orders before this local date (default: today)."),
    ] = None,
    segment_map: Annotated[
        Path | None,
        typer.Option("--segment-map", help="YAML or JSON rules naming the (R, FM) cells."),
    ] = None,
    segment: SegmentOption = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option("--format", help="table (segment summary), json or csv (one row per customer)."),
    ] = OutputFormat.table,
) -> None:
    """Recency, frequency and monetary scores 1–5 and the 11 named RFM segments."""
    app = app_of(ctx)
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    mapping = load_segment_map(segment_map) if segment_map else None
    with status("scoring customers…"):
        tables = app.analytics()
        customer_ids = segment_members(app, segment) if segment else None
        report = rfm_report(tables, as_of_date, mapping, customer_ids)
    typer.echo(render.rfm_output(report, output_format), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``retentio rfm``."""
    app.command("rfm")(rfm_command)
