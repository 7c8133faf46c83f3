"""``retentio journey`` (the funnel from first visit to repeat purchase) and ``retentio engagement``.

Thin commands over :mod:`retentio.analytics.journey` and :mod:`retentio.analytics.engagement`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from retentio.analytics.engagement import (
    EngagementReport,
    channel_groups,
    engagement_report,
    rfm_groups,
    rule_groups,
)
from retentio.analytics.journey import FUNNEL_STEPS, JourneyFunnel, journey_funnel
from retentio.analytics.periods import as_of_or_today, parse_date, resolve_period
from retentio.analytics.render import OutputFormat, fmt_number, fmt_rate, render_table, to_csv, to_json
from retentio.cli.common import AsOfOption, FormatOption, app_of, err_console
from retentio.errors import UserError

JOURNEY_BY = ("channel",)
ENGAGEMENT_BY = ("none", "channel", "rfm", "segment")


def _optional_date(text: str | None, option: str) -> date | None:
    return parse_date(text, option) if text else None


def _fmt_hours(hours: float | None) -> str:
    if hours is None:
        return "–"
    return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} d"


def journey_command(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="First local date of entry into the funnel (YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Day after the last entry date (exclusive).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Follow customers on facts before this date (default: today)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="channel: the funnel per acquisition channel.")
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option("--steps", help=f"Comma-separated steps (default: {','.join(FUNNEL_STEPS)})."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """The journey funnel: customers per step, conversion (Wilson 95 % CI), median time, drop-off."""
    app = app_of(ctx)
    if by is not None and by not in JOURNEY_BY:
        raise UserError(f"--by {by!r}: use {', '.join(JOURNEY_BY)}")
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    chosen_steps = tuple(steps.split(",")) if steps else FUNNEL_STEPS
    tables = app.analytics()
    funnel = journey_funnel(
        tables,
        _optional_date(start, "--from"),
        _optional_date(end, "--to"),
        as_of_date,
        chosen_steps,
        by_channel=by == "channel",
    )
    typer.echo(journey_output(funnel, output_format), nl=False)


JOURNEY_CSV_COLUMNS = (
    "channel",
    "step",
    "customers",
    "previous_customers",
    "drop_off",
    "conversion_from_previous",
    "conversion_from_top",
    "median_hours_from_previous",
    "top_channel",
)


def journey_output(funnel: JourneyFunnel, fmt: OutputFormat) -> str:
    """The funnel as JSON, long CSV (one row per channel and step; channel ``all`` overall) or a table."""
    data = funnel.as_dict()
    if fmt is OutputFormat.json:
        return to_json(data) + "\n"
    if fmt is OutputFormat.csv:
        rows: list[dict[str, Any]] = [{"channel": "all", **s} for s in data["steps"]]
        for channel in data.get("by_channel", []):
            rows += [{"channel": channel["channel"], **s} for s in channel["steps"]]
        return to_csv(JOURNEY_CSV_COLUMNS, rows)
    window = f"{funnel.start or 'start'} – {funnel.end or 'now'}"
    out = [_funnel_table(f"Journey ({window}, as of {funnel.as_of})", data["steps"])]
    if funnel.excluded_prior_buyers:
        out.append(
            f"{funnel.excluded_prior_buyers:,} customers who had bought before entering are left out\n"
        )
    for channel in data.get("by_channel", []):
        out.append(_funnel_table(f"Channel {channel['channel']}", channel["steps"]))
    return "".join(out)


def _funnel_table(title: str, steps: list[dict[str, Any]]) -> str:
    table = Table(title=title)
    for column in ("step", "customers", "from previous", "95% CI", "from top", "median time", "top channel"):
        table.add_column(column, justify="left" if column in ("step", "top channel") else "right")
    for s in steps:
        ci = s["conversion_from_previous_ci"]
        table.add_row(
            s["step"],
            fmt_number(s["customers"]),
            fmt_rate(s["conversion_from_previous"]),
            f"{fmt_rate(ci['low'])}–{fmt_rate(ci['high'])}" if ci else "–",
            fmt_rate(s["conversion_from_top"]),
            _fmt_hours(s["median_hours_from_previous"]),
            s["top_channel"] or "–",
        )
    return render_table(table)


def engagement_command(
    ctx: typer.Context,
    start: Annotated[str | None, typer.Option("--from", help="First local date of the period.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Day after the period (exclusive).")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="month, quarter or year (with --last).")
    ] = None,
    last: Annotated[int | None, typer.Option("--last", help="The N most recent complete periods.")] = None,
    as_of: AsOfOption = None,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="none, channel, rfm (RFM segment) or segment (the stored rule segments), "
            "groups evaluated at the end of the period.",
        ),
    ] = "none",
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Email open/click rates, visits per customer per 30 days and session duration, by group."""
    app = app_of(ctx)
    if by not in ENGAGEMENT_BY:
        raise UserError(f"--by {by!r}: use one of {', '.join(ENGAGEMENT_BY)}")
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    chosen = resolve_period(
        _optional_date(start, "--from"), _optional_date(end, "--to"), period, last, as_of_date
    )
    tables = app.analytics()
    groups = None
    group_day = min(chosen.end, as_of_date)
    if by == "channel":
        groups = channel_groups(tables)
    elif by == "rfm":
        groups = rfm_groups(tables, group_day)
    elif by == "segment":
        from retentio.segments.service import list_segments, scores_from_store

        with app.read_session() as session:
            rules = {s.name: s.rule for s in list_segments(session)}
            scores = scores_from_store(session)
        skipped: dict[str, str] = {}
        groups = rule_groups(tables, group_day, rules, scores, app.settings.timezone, skipped)
        for name, reason in skipped.items():
            err_console.print(f"warning: segment {name!r} left out: {reason}")
    report = engagement_report(tables, chosen.start, chosen.end, groups, None if by == "none" else by)
    typer.echo(engagement_output(report, output_format), nl=False)


ENGAGEMENT_CSV_COLUMNS = (
    "group",
    "customers",
    "email_receiving",
    "openers",
    "clickers",
    "open_rate",
    "click_rate",
    "click_to_open_rate",
    "email_sends",
    "email_opens",
    "email_clicks",
    "opens_per_send",
    "clicks_per_send",
    "visits",
    "visitors",
    "visits_per_30d_mean",
    "visits_per_30d_median",
    "sessions",
    "timed_sessions",
    "session_seconds_mean",
    "session_seconds_median",
)


def engagement_output(report: EngagementReport, fmt: OutputFormat) -> str:
    """Engagement as JSON, CSV (one row per group; ``all`` first) or a table."""
    data = report.as_dict()
    if fmt is OutputFormat.json:
        return to_json(data) + "\n"
    rows = [data["overall"], *data["groups"]]
    if fmt is OutputFormat.csv:
        return to_csv(ENGAGEMENT_CSV_COLUMNS, rows)
    title = f"Engagement {report.start} – {report.end}" + (
        f" by {report.grouped_by}" if report.grouped_by else ""
    )
    table = Table(title=title)
    for column in (
        "group",
        "customers",
        "email rcpt",
        "open rate",
        "click rate",
        "visits/30d",
        "sessions",
        "median session",
    ):
        table.add_column(column, justify="left" if column == "group" else "right")
    for r in rows:
        seconds = r["session_seconds_median"]
        table.add_row(
            r["group"],
            fmt_number(r["customers"]),
            fmt_number(r["email_receiving"]),
            fmt_rate(r["open_rate"]),
            fmt_rate(r["click_rate"]),
            fmt_number(r["visits_per_30d_mean"]),
            fmt_number(r["sessions"]),
            "–" if seconds is None else f"{seconds / 60:,.1f} min",
        )
    return render_table(table)


def register(app: typer.Typer) -> None:
    """Add ``retentio journey`` and ``retentio engagement``."""
    app.command("journey")(journey_command)
    app.command("engagement")(engagement_command)
