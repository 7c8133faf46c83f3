"""Output for the analytics commands (table, JSON, CSV) and the plumbing they share.

- JSON carries full precision: rates are unrounded floats, money is an exact decimal *string*
  (``"1234.50"``), dates ISO strings; NaN/inf never appear (null instead). One document on stdout.
- CSV is long/tidy (one row per value) so spreadsheets and pandas read it without reshaping.
- Tables (Rich) are for reading: rates as percentages with one decimal, money with two decimals
  and thousands separators; partial cohort cells carry a ``*``.

Each ``*_output(report, fmt)`` returns the text to print, so the commands stay thin and the
output is testable without a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    pass


class OutputFormat(StrEnum):
    """``--format`` of every analytics command."""

    table = "table"
    json = "json"
    csv = "csv"


# --- JSON / CSV -------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal → exact string, date → ISO, non-finite float → None."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def to_json(value: Any) -> str:
    """One JSON document (UTF-8 text, no ASCII escaping)."""
    return json.dumps(jsonable(value), ensure_ascii=False)


# A spreadsheet runs a cell that starts with one of these as a formula (``=HYPERLINK(...)``,
# ``+cmd|' /C calc'!A0``, ``@SUM(...)``); a leading tab or CR hides such a start from a reader.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number written as text ("-12.50", "+7", "-1,5", "1e-3"): no letters, no operators
# between digits, so no spreadsheet reads a formula into it; it stays a number.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d.,]*|[.,]\d[\d.,]*)(?:[eE][+-]?\d+)?")


def safe_text(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet evaluates: OWASP's leading ``'`` before a formula start.

    A plain numeric literal such as ``-12.50`` is left as is (a number, not a formula).
    """
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> Any:
    """One CSV cell: null → empty; numbers (int, float, Decimal, bool) as numbers, whatever their sign
    (non-finite floats → empty); dates ISO; any text through :func:`safe_text`.
    """
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        value = value.value
        if not isinstance(value, str):
            return csv_cell(value)
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(jsonable(value), ensure_ascii=False)
    return safe_text(value if isinstance(value, str) else str(value))


class CsvWriter:
    """The one CSV writer of every export (stdout, ``--out`` files, rejects files).

    Like :func:`csv.writer`, but every cell goes through :func:`csv_cell`, so text a customer
    typed (a name, an id, a segment name) can never become a spreadsheet formula.
    """

    def __init__(self, handle: IO[str], lineterminator: str = "\n") -> None:
        self._writer = csv.writer(handle, lineterminator=lineterminator)

    def writerow(self, values: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(v) for v in values])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header; values as in JSON (exact money), null as an empty field, text made safe."""
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row.get(c) for c in columns)
    return buffer.getvalue()


# --- human formatting -------------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    """``0.3512`` → ``35.1%``; None → ``–``."""
    return "–" if value is None else f"{100 * value:.1f}%"


def fmt_money(value: Decimal | str | None) -> str:
    """``Decimal("1234.5")`` → ``1,234.50``; None → ``–``."""
    return "–" if value is None else f"{Decimal(value):,.2f}"


def fmt_number(value: float | int | None, digits: int = 2) -> str:
    """Integers as they are, floats with ``digits`` decimals; None → ``–``."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def render_table(table: Table, width: int = 160) -> str:
    """A Rich table as plain text (no colour codes), for printing or tests."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()


# --- KPI output -------------------------------------------------------------------------------------

RATE_KPIS = (
    "retention_rate",
    "cohort_retention",
    "churn_rate",
    "repeat_purchase_rate",
    "nrr",
    "revenue_churn",
    "csat",
)
# The one list of KPI keys (kpis.py imports it): defined here, not in kpis.py, because this module
# must stay importable without ibis.
KPI_KEYS = (
    "S",
    "E",
    "N",
    "retention_rate",
    "cohort_retention",
    "churn_rate",
    "repeat_purchase_rate",
    "purchase_frequency",
    "aov",
    "net_revenue",
    "net_profit_per_customer",
    "nrr",
    "revenue_churn",
    "historical_clv",
    "nps",
    "csat",
)
MONEY_KPIS = frozenset({"aov", "net_revenue", "net_profit_per_customer", "historical_clv"})


def fmt_kpi(key: str, value: Any) -> str:
    """One KPI value for reading."""
    if key in RATE_KPIS:
        return fmt_rate(value)
    if key in MONEY_KPIS:
        return fmt_money(value)
    if key == "nps":
        return "–" if value is None else f"{value:.1f}"
    return fmt_number(value)


def fmt_change(key: str, value: Any) -> str:
    """A change or a difference to a benchmark, with a sign; rates in percentage points."""
    if value is None:
        return "–"
    if key in RATE_KPIS:
        return f"{100 * value:+.1f} pp"
    if key in MONEY_KPIS:
        return f"{Decimal(value):+,.2f}"
    if isinstance(value, int):
        return f"{value:+,}"
    return f"{value:+,.2f}"


def _kpi_numbers(kpis: Mapping[str, Any], key: str) -> tuple[Any, Any]:
    counts = kpis.get("counts", {}).get(key, {})
    if key == "nps":
        return counts.get("promoters", 0) - counts.get("detractors", 0), counts.get("responses")
    if key == "revenue_churn":
        counts = kpis.get("counts", {}).get("nrr", {})
    return counts.get("numerator"), counts.get("denominator")


def _interval_of(kpis: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = kpis.get("intervals", {}).get(key)
    return value if isinstance(value, Mapping) else None


def _kpi_csv_rows(kpis: Mapping[str, Any], group: Any = None) -> list[dict[str, Any]]:
    rows = []
    for key in KPI_KEYS:
        numerator, denominator = _kpi_numbers(kpis, key)
        interval = _interval_of(kpis, key)
        previous = kpis.get("previous", {})
        benchmark = kpis.get("benchmarks", {}).get(key, {})
        rows.append(
            {
                "group": group,
                "kpi": key,
                "value": kpis.get(key),
                "numerator": numerator if key not in ("S", "E", "N") else None,
                "denominator": denominator if key not in ("S", "E", "N") else None,
                "ci_low": interval.get("low") if interval else None,
                "ci_high": interval.get("high") if interval else None,
                "previous": previous.get(key),
                "change": kpis.get("change", {}).get(key),
                "benchmark": benchmark.get("benchmark"),
                "benchmark_difference": benchmark.get("difference"),
            }
        )
    return rows


KPI_CSV_COLUMNS = (
    "kpi",
    "value",
    "numerator",
    "denominator",
    "ci_low",
    "ci_high",
    "previous",
    "change",
    "benchmark",
    "benchmark_difference",
)


def _fmt_interval(key: str, interval: Mapping[str, Any] | None) -> str:
    if interval is None:
        return ""
    if key == "nps":
        return f"{interval['low']:.1f} … {interval['high']:.1f}"
    return f"{fmt_rate(interval['low'])} … {fmt_rate(interval['high'])}"


def _fmt_counts(key: str, numerator: Any, denominator: Any) -> str:
    if key in ("S", "E", "N") or denominator is None:
        return ""
    if key in ("nrr", "revenue_churn"):
        return f"{fmt_money(numerator)} / {fmt_money(denominator)}"
    if key in MONEY_KPIS:
        shown = fmt_money(numerator) if key != "net_revenue" else ""
        return f"{shown} / {fmt_number(denominator)}" if shown else ""
    return f"{fmt_number(numerator)} / {fmt_number(denominator)}"


def kpi_output(report: Mapping[str, Any], fmt: OutputFormat) -> str:
    """The text ``retentio kpi`` prints for a :func:`retentio.analytics.kpis.compute_kpis` report."""
    if fmt is OutputFormat.json:
        return to_json(report)
    grouped = "groups" in report
    if fmt is OutputFormat.csv:
        if grouped:
            rows = [r for g in report["groups"] for r in _kpi_csv_rows(g, g["group"])]
            return to_csv(("group", *KPI_CSV_COLUMNS), rows)
        return to_csv(KPI_CSV_COLUMNS, _kpi_csv_rows(report))
    title = f"KPIs {report['from']} → {report['to']} (to exclusive)"
    if report.get("partial"):
        title += f", partial: as of {report['as_of']}"
    if grouped:
        table = Table(title=f"{title}, by {report['by']}")
        table.add_column("KPI")
        for group in report["groups"]:
            table.add_column("(none)" if group["group"] is None else str(group["group"]), justify="right")
        for key in KPI_KEYS:
            table.add_row(key, *[fmt_kpi(key, group.get(key)) for group in report["groups"]])
        return render_table(table, width=max(120, 24 + 14 * len(report["groups"])))
    table = Table(title=title)
    for name in ("KPI", "value", "counts", "95% interval", "previous", "change"):
        table.add_column(name, justify="left" if name == "KPI" else "right")
    benchmarks = report.get("benchmarks") or {}
    if benchmarks:
        table.add_column("benchmark", justify="right")
        table.add_column("vs benchmark", justify="right")
    previous = report.get("previous", {})
    for key in KPI_KEYS:
        numerator, denominator = _kpi_numbers(report, key)
        cells = [
            key,
            fmt_kpi(key, report.get(key)),
            _fmt_counts(key, numerator, denominator),
            _fmt_interval(key, _interval_of(report, key)),
            fmt_kpi(key, previous.get(key)) if previous else "",
            fmt_change(key, report.get("change", {}).get(key)) if previous else "",
        ]
        if benchmarks:
            mark = benchmarks.get(key)
            cells += [
                fmt_kpi(key, mark["benchmark"]) if mark else "",
                fmt_change(key, mark["difference"]) if mark else "",
            ]
        table.add_row(*cells)
    text = render_table(table)
    if report.get("missing_costs"):
        text += (
            "net profit per customer is missing: unknown "
            + ", ".join(report["missing_costs"])
            + f" (with known costs only: {fmt_money(report.get('net_profit_per_customer_known_costs'))})\n"
        )
    return text


# --- cohorts and lifecycle --------------------------------------------------------------------------


def cohort_output(matrix: Mapping[str, Any], fmt: OutputFormat) -> str:
    """The text ``retentio cohorts`` prints for a :func:`retentio.analytics.cohorts.cohort_matrix`."""
    if fmt is OutputFormat.json:
        return to_json(matrix)
    revenue = matrix["metric"] == "revenue"
    if fmt is OutputFormat.csv:
        rows = []
        for row in matrix["cohorts"]:
            for k, value in enumerate(row["values"]):
                rows.append(
                    {
                        "cohort": row["cohort"],
                        "start": row["start"],
                        "size": row["size"],
                        "k": k,
                        "value": value,
                        "customers": row["counts"][k],
                        "revenue": row["revenue"][k] if revenue else None,
                        "partial": row["partial"][k],
                    }
                )
        columns = ("cohort", "start", "size", "k", "value", "customers", "revenue", "partial")
        return to_csv(columns if revenue else tuple(c for c in columns if c != "revenue"), rows)
    width = max((len(row["values"]) for row in matrix["cohorts"]), default=0)
    kind = "cumulative " if matrix["cumulative"] else ""
    what = "net revenue per customer" if revenue else "share of customers ordering"
    title = f"Cohorts by {matrix['by']}: {kind}{what} (as of {matrix['as_of']}; * = period not over)"
    table = Table(title=title, min_width=len(title))
    table.add_column("cohort")
    table.add_column("size", justify="right")
    for k in range(width):
        table.add_column(str(k), justify="right")
    for row in matrix["cohorts"]:
        cells = []
        for value, partial in zip(row["values"], row["partial"], strict=True):
            text = fmt_money(value) if revenue else f"{100 * value:.0f}%"
            cells.append(text + ("*" if partial else ""))
        table.add_row(row["cohort"], fmt_number(row["size"]), *cells, *[""] * (width - len(cells)))
    return render_table(table, width=max(120, 20 + 8 * width))


LIFECYCLE_COLUMNS = (
    "period",
    "start",
    "end",
    "new",
    "returning",
    "resurrected",
    "dormant",
    "active",
    "partial",
)


def lifecycle_output(report: Mapping[str, Any], fmt: OutputFormat) -> str:
    """The text ``retentio cohorts --lifecycle`` prints: ``{"by", "as_of", "periods": [...]}``."""
    if fmt is OutputFormat.json:
        return to_json(report)
    if fmt is OutputFormat.csv:
        return to_csv(LIFECYCLE_COLUMNS, report["periods"])
    title = f"Lifecycle by {report['by']} (as of {report['as_of']}; * = period not over)"
    table = Table(title=title, min_width=len(title))
    for name in LIFECYCLE_COLUMNS[:1] + LIFECYCLE_COLUMNS[3:8]:
        table.add_column(name, justify="left" if name == "period" else "right")
    for row in report["periods"]:
        table.add_row(
            row["period"] + ("*" if row["partial"] else ""),
            *[fmt_number(row[name]) for name in LIFECYCLE_COLUMNS[3:8]],
        )
    return render_table(table)


# --- RFM ------------------------------------------------------------------------------------------

RFM_CSV_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
)


def rfm_output(report: Mapping[str, Any], fmt: OutputFormat) -> str:
    """The text ``retentio rfm`` prints. CSV = one row per customer; table = the segment summary."""
    if fmt is OutputFormat.json:
        return to_json(report)
    if fmt is OutputFormat.csv:
        return to_csv(RFM_CSV_COLUMNS, report["customers"])
    table = Table(title=f"RFM segments as of {report['as_of']} ({len(report['customers']):,} customers)")
    for name in ("segment", "customers", "share", "net revenue", "revenue share", "recency days", "orders"):
        table.add_column(name, justify="left" if name == "segment" else "right")
    for row in report["segments"]:
        table.add_row(
            row["segment"],
            fmt_number(row["customers"]),
            fmt_rate(row["share"]),
            fmt_money(row["net_revenue"]),
            fmt_rate(row["revenue_share"]),
            fmt_number(row["mean_recency_days"], 0),
            fmt_number(row["mean_frequency"], 1),
        )
    return render_table(table)
