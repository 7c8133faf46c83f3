"""``retentio kpi``: retention KPIs for a period, with counts, intervals, trend and benchmarks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import typer

from retentio.analytics import render
from retentio.analytics.kpis import compute_kpis, parse_benchmarks
from retentio.analytics.periods import as_of_or_today, parse_date, resolve_period
from retentio.analytics.render import OutputFormat
from retentio.cli.common import (
    AsOfOption,
    FormatOption,
    SegmentOption,
    app_of,
    err_console,
    segment_members,
    status,
)


def kpi_command(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First local date of the period (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Day after the period (exclusive, YYYY-MM-DD).")
    ] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="month, quarter or year (with --last; default month).")
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", help="The N most recent complete periods before --as-of.")
    ] = None,
    as_of: AsOfOption = None,
    segment: SegmentOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help="One KPI set per channel, city, tier or cohort.")
    ] = None,
    active_window: Annotated[
        int | None,
        typer.Option("--active-window", help="Days a customer stays active after an order (default 365)."),
    ] = None,
    benchmark: Annotated[
        list[str] | None,
        typer.Option("--benchmark", help="A reference value to compare with, e.g. retention_rate=0.35."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Retention KPIs for [from, to) in local dates (DESIGN §4), against the previous period."""
    app = app_of(ctx)
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    chosen = resolve_period(
        parse_date(start, "--from") if start else None,
        parse_date(end, "--to") if end else None,
        period,
        last,
        as_of_date,
    )
    benchmarks = parse_benchmarks(benchmark or [])
    with status("computing KPIs…"):
        tables = app.analytics()
        customer_ids = segment_members(app, segment) if segment else None
        report = compute_kpis(
            tables,
            chosen.start,
            chosen.end,
            active_window or app.settings.active_window_days,
            as_of=as_of_date,
            customer_ids=customer_ids,
            by=by,
            benchmarks=benchmarks,
        )
    no_orders = not report.get("groups") and report["counts"]["purchase_frequency"]["numerator"] == 0
    if as_of is None and no_orders:
        _hint_when_data_ended(tables, chosen.start, app.settings.locale)
    if segment:
        report = {"segment": segment, **report}
    typer.echo(render.kpi_output(report, output_format), nl=False)


def _hint_when_data_ended(tables: Any, start: date, locale: str) -> None:
    """On stderr: the period is empty because the data end before it (an export, not a live shop).

    The default as-of stays today — moving it back to the end of the data would show a shop whose
    orders stopped as if nothing had changed — but the user learns which --as-of to pass.
    """
    from retentio.analytics.summary import valid_orders
    from retentio.i18n import translate

    orders = valid_orders(tables)
    last = tables.fetch(orders.aggregate(last=orders.order_date.max())).column(0)[0].as_py()
    if last is not None and last < start:
        err_console.print(translate("kpi.stale_hint", locale, last=last, as_of=last + timedelta(days=1)))


def register(app: typer.Typer) -> None:
    """Add ``retentio kpi``."""
    app.command("kpi")(kpi_command)
