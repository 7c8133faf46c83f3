"""``retentio segments``: rule segments — define, refresh, inspect, export.

Thin commands over :mod:`retentio.segments.service`. A rule that does not parse is shown with a
caret under the problem (several lines on stderr, exit code 2), not flattened into one line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from retentio.analytics.periods import as_of_or_today
from retentio.analytics.render import OutputFormat, fmt_number, fmt_rate, render_table, to_csv, to_json
from retentio.cli.common import FormatOption, app_of, emit
from retentio.segments import service
from retentio.segments.features import FEATURES
from retentio.segments.rules import RuleError, parse_rule

if TYPE_CHECKING:
    from retentio.app import App

segments_app = typer.Typer(
    help="Rule segments (e.g. VIP: aov > 5000 and orders >= 5): define, refresh, members, history.",
    no_args_is_help=True,
)


@contextmanager
def _rule_errors() -> Iterator[None]:
    """Print a rule error with its caret line intact and exit 2 (the app's boundary flattens lines)."""
    try:
        yield
    except RuleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # SystemExit, not typer.Exit: in non-standalone mode click returns an Exit's code instead
        # of exiting, and the app's main() would then end with status 0.
        sys.exit(2)


def _local(moment: datetime | None, app: App) -> str:
    if moment is None:
        return "–"
    return moment.astimezone(ZoneInfo(app.settings.timezone)).strftime("%Y-%m-%d %H:%M")


def _share_line(share: service.Share) -> str:
    counts = f"{share.categorised:,} of {share.customers:,} customers"
    return f"{counts} ({fmt_rate(share.share)}) in at least one segment\n"


@segments_app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name, e.g. vip.")],
    rule: Annotated[str, typer.Argument(help='Rule, e.g. "aov > 5000 and orders >= 5".')],
    description: Annotated[str | None, typer.Option("--description", help="What the segment is for.")] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Define a segment (the rule is checked now; members appear at the next refresh)."""
    app = app_of(ctx)
    with _rule_errors():
        parse_rule(rule)  # a bad rule is reported before anything about the store
    with _rule_errors(), app.session() as session:
        info = service.create_segment(session, name, rule, description)
    if output_format is OutputFormat.table:
        emit(f"segment {info.name!r} created; run 'retentio segments refresh' to fill it")
    else:
        emit(_records_output([info.as_dict()], output_format, "segment"))


@segments_app.command("check")
def check_command(
    ctx: typer.Context,
    rule: Annotated[str, typer.Argument(help="Rule to check.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Evaluate as of this local date (default: today).")
    ] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Check a rule and count the customers it matches, without saving anything."""
    app = app_of(ctx)
    with _rule_errors():
        parse_rule(rule)
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    tables = app.analytics()
    # The same evaluation as a refresh: stored scores (churn_risk, clv, ...) included.
    with app.read_session() as session:
        scores = service.scores_from_store(session)
    members, customers = service.evaluate_segments(
        tables, as_of_date, {"rule": rule}, scores, app.settings.timezone
    )
    matching = len(members["rule"])
    share = matching / customers if customers else None
    result: dict[str, Any] = {
        "rule": rule,
        "as_of": as_of_date,
        "matching": matching,
        "customers": customers,
        "share": share,
    }
    if output_format is OutputFormat.table:
        emit(f"{matching:,} of {customers:,} customers match ({fmt_rate(share)}) as of {as_of_date}")
    else:
        emit(_records_output([result], output_format, "check"))


@segments_app.command("list")
def list_command(ctx: typer.Context, output_format: FormatOption = OutputFormat.table) -> None:
    """All segments with their current size and the share of customers in at least one."""
    app = app_of(ctx)
    with app.read_session() as session:
        infos = [i.as_dict() for i in service.list_segments(session)]
        share = service.store_share(session)
    if output_format is OutputFormat.json:
        emit(to_json({"segments": infos, **share.as_dict()}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("name", "size", "rule", "description", "created_at", "refreshed_at"), infos))
    else:
        table = Table(title="Segments")
        for column in ("name", "size", "rule", "refreshed"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for info in infos:
            table.add_row(
                info["name"], fmt_number(info["size"]), info["rule"], _local(info["refreshed_at"], app)
            )
        emit(render_table(table) + _share_line(share))


@segments_app.command("show")
def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name.")],
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """A segment's definition, size and size history (one point per refresh that changed it)."""
    app = app_of(ctx)
    with app.read_session() as session:
        info = service.segment_info(session, name)
        history = [p.as_dict() for p in service.size_history(session, name)]
    if output_format is OutputFormat.json:
        emit(to_json({**info.as_dict(), "history": history}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("at", "size", "entered", "left"), history))
    else:
        lines = [
            f"segment:     {info.name}",
            f"rule:        {info.rule}",
            f"description: {info.description or '–'}",
            f"size:        {info.size:,}",
            f"refreshed:   {_local(info.refreshed_at, app)}",
        ]
        table = Table(title="Size history")
        for column in ("as of", "size", "entered", "left"):
            table.add_column(column, justify="left" if column == "as of" else "right")
        for point in history:
            table.add_row(
                _local(point["at"], app),
                fmt_number(point["size"]),
                fmt_number(point["entered"]),
                fmt_number(point["left"]),
            )
        emit("\n".join(lines) + "\n" + render_table(table))


@segments_app.command("refresh")
def refresh_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Evaluate on facts before this local date (default: today).")
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option("--segment", help="Only this segment (repeatable; default: all).")
    ] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Re-evaluate segments and record who entered and who left (idempotent for the same as-of)."""
    app = app_of(ctx)
    as_of_date = as_of_or_today(as_of, app.settings.timezone)
    result = service.refresh_all(app, as_of_date, segment or None)
    data = result.as_dict()
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("name", "size", "entered", "left"), data["segments"]))
    else:
        table = Table(title=f"Segments as of {as_of_date}")
        for column in ("name", "size", "entered", "left"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for change in data["segments"]:
            table.add_row(
                change["name"],
                fmt_number(change["size"]),
                fmt_number(change["entered"]),
                fmt_number(change["left"]),
            )
        emit(render_table(table) + _share_line(result.coverage))
    if result.failed:
        # The others were refreshed; each failed segment is named with its reason, and the exit
        # code says that not everything was done.
        for failure in result.failed:
            print(f"error: segment {failure.name!r} was not refreshed: {failure.reason}", file=sys.stderr)
        sys.exit(2)


@segments_app.command("members")
def members_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the members to this CSV file.")] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Current members with contact fields (CSV export with --out)."""
    app = app_of(ctx)
    with app.read_session() as session:
        rows = service.member_rows(session, name)
    if out is not None:
        count = service.write_members_csv(rows, out)
        emit(f"{count:,} members of {name!r} written to {out}")
        return
    if output_format is OutputFormat.json:
        emit(to_json({"segment": name, "members": rows}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(service.MEMBER_COLUMNS, rows))
    else:
        table = Table(title=f"{name}: {len(rows):,} members")
        for column in service.MEMBER_COLUMNS:
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["customer_id"],
                row["email"] or "",
                row["first_name"] or "",
                row["last_name"] or "",
                _local(row["entered_at"], app),
            )
        emit(render_table(table))


@segments_app.command("history")
def history_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Segment name.")],
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer's stays.")] = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Who entered and left the segment, and when (one row per stay)."""
    app = app_of(ctx)
    with app.read_session() as session:
        intervals = [i.as_dict() for i in service.membership_history(session, name, customer)]
    if output_format is OutputFormat.json:
        emit(to_json({"segment": name, "intervals": intervals}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("customer_id", "entered_at", "left_at"), intervals))
    else:
        table = Table(title=f"{name}: {len(intervals):,} stays")
        for column in ("customer_id", "entered", "left"):
            table.add_column(column)
        for interval in intervals:
            table.add_row(
                interval["customer_id"],
                _local(interval["entered_at"], app),
                _local(interval["left_at"], app),
            )
        emit(render_table(table))


@segments_app.command("delete")
def delete_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Segment name.")]) -> None:
    """Delete a segment and its membership history."""
    app = app_of(ctx)
    with app.session() as session:
        service.delete_segment(session, name)
    emit(f"segment {name!r} deleted")


@segments_app.command("init-defaults")
def init_defaults_command(ctx: typer.Context, output_format: FormatOption = OutputFormat.table) -> None:
    """Create the default segments (vip, at-risk, new, sleeping) that do not exist yet."""
    app = app_of(ctx)
    with app.session() as session:
        created = service.init_default_segments(session)
    if output_format is OutputFormat.json:
        emit(to_json({"created": created}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("name",), [{"name": n} for n in created]))
    elif created:
        emit(f"created {', '.join(created)}; run 'retentio segments refresh' to fill them")
    else:
        emit("the default segments exist already")


@segments_app.command("features")
def features_command(output_format: FormatOption = OutputFormat.table) -> None:
    """The customer features a rule can use, with their types."""
    rows: list[dict[str, Any]] = [
        {"name": f.name, "type": f.type.value, "description": f.description} for f in FEATURES.values()
    ]
    if output_format is OutputFormat.json:
        emit(to_json({"features": rows}))
    elif output_format is OutputFormat.csv:
        emit(to_csv(("name", "type", "description"), rows))
    else:
        table = Table(title="Features for segment rules")
        for column in ("name", "type", "description"):
            table.add_column(column)
        for row in rows:
            table.add_row(row["name"], row["type"], row["description"])
        emit(render_table(table))


def _records_output(records: list[dict[str, Any]], fmt: OutputFormat, key: str) -> str:
    if fmt is OutputFormat.json:
        return to_json(records[0] if len(records) == 1 else {key: records})
    return to_csv(tuple(records[0]), records) if records else ""


def register(app: typer.Typer) -> None:
    """Add ``retentio segments``."""
    app.add_typer(segments_app, name="segments")
