"""``retentio cohorts``: acquisition-cohort matrices, and ``--lifecycle`` counts per period."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from retentio.analytics import render
from retentio.analytics.cohorts import cohort_matrix
from retentio.analytics.lifecycle import lifecycle
from retentio.analytics.periods import (
    as_of_or_today,
    check_unit,
    parse_date,
    period_index,
    period_start_of_index,
)
from retentio.analytics.render import OutputFormat
from retentio.cli.common import AsOfOption, FormatOption, SegmentOption, app_of, segment_members, status

LIFECYCLE_DEFAULT_PERIODS = 12


def default_lifecycle_range(unit: str, as_of: date) -> tuple[date, date]:
    """The 12 periods up to and including the one that contains ``as_of − 1 day``."""
    checked = check_unit(unit)
    last = period_index(as_of - timedelta(days=1), checked)
    start = period_start_of_index(last - LIFECYCLE_DEFAULT_PERIODS + 1, checked)
    return start, period_start_of_index(last + 1, checked)


def cohorts_command(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Cohort period: month or week.")] = "month",
    metric: Annotated[
        str, typer.Option("--metric", help="customers (share ordering) or revenue (per customer).")
    ] = "customers",
    cumulative: Annotated[
        bool, typer.Option("--cumulative", help="Ordered in period k or later / revenue up to k.")
    ] = False,
    lifecycle_view: Annotated[
        bool,
        typer.Option(
            "--lifecycle", help="New / returning / resurrected / dormant counts per period instead."
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Cohorts (or lifecycle periods) from this local date (YYYY-MM-DD)."),
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="... up to this local date, exclusive.")] = None,
    segment: SegmentOption = None,
    as_of: AsOfOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Cohort retention matrix by month or week of first order (cells not over yet are flagged)."""
    app = app_of(ctx)
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    start_date = parse_date(start, "--from") if start else None
    end_date = parse_date(end, "--to") if end else None
    unit = check_unit(by)
    with status("building cohorts…"):
        tables = app.analytics()
        customer_ids = segment_members(app, segment) if segment else None
        if lifecycle_view:
            default_start, default_end = default_lifecycle_range(unit, as_of_date)
            periods = lifecycle(
                tables,
                unit,
                start_date or default_start,
                end_date or default_end,
                as_of=as_of_date,
                customer_ids=customer_ids,
            )
            report = {"by": unit, "as_of": as_of_date.isoformat(), "periods": periods}
            output = render.lifecycle_output(report, output_format)
        else:
            matrix = cohort_matrix(
                tables,
                unit,
                metric,
                cumulative=cumulative,
                as_of=as_of_date,
                customer_ids=customer_ids,
                start=start_date,
                end=end_date,
            )
            output = render.cohort_output(matrix, output_format)
    typer.echo(output, nl=False)


def register(app: typer.Typer) -> None:
    """Add ``retentio cohorts``."""
    app.command("cohorts")(cohorts_command)
