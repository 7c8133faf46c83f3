"""``retentio churn``: train, score, explain and report the churn-risk model.

Thin commands over :mod:`retentio.models.churn.store`; the backtest report is the one saved with the
model version (so ``report`` is instant and shows exactly what ``train`` measured).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer
from rich.table import Table

from retentio.analytics.periods import parse_date
from retentio.analytics.render import OutputFormat, jsonable, render_table, to_csv, to_json
from retentio.cli.common import FormatOption, LocaleOption, app_of, emit, err_console, status
from retentio.i18n import translate

churn_app = typer.Typer(
    help="Churn risk: probability of no order in the next N days, with the reasons behind it.",
    no_args_is_help=True,
)

VersionOption = Annotated[int | None, typer.Option("--version", help="Model version (default: the latest).")]
SCORE_NAMES = ("model", "bgnbd", "recency")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


@churn_app.command("train")
def train_command(
    ctx: typer.Context,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff", help="Newest training cutoff (default: the last date with a complete horizon)."
        ),
    ] = None,
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", help="Churn = no order within this many days.")
    ] = 90,
    origins: Annotated[int, typer.Option("--origins", help="Rolling backtest origins.")] = 3,
    train_cutoffs: Annotated[
        int, typer.Option("--train-cutoffs", help="Cutoffs stacked per training set.")
    ] = 4,
    train_step_days: Annotated[
        int, typer.Option("--train-step-days", help="Days between the stacked training cutoffs.")
    ] = 30,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Backtest over rolling origins, fit the final model and save it as a new version."""
    from retentio.models.churn.store import train_and_save

    app = app_of(ctx)
    day = parse_date(cutoff, "--cutoff") if cutoff else None
    quiet = output_format is not OutputFormat.table
    with status("training the churn model", enabled=not quiet):
        result, record = train_and_save(
            app,
            cutoff=day,
            horizon_days=horizon_days,
            origins=origins,
            train_cutoffs=train_cutoffs,
            train_step_days=train_step_days,
            on_step=None if quiet else lambda message: err_console.print(f"  {message}"),
        )
    if output_format is OutputFormat.json:
        emit(to_json({"model": "churn", "version": record.version, **result.report}))
        return
    if output_format is OutputFormat.csv:
        emit(to_csv(list(_CSV_COLUMNS), _report_rows(result.report)))
        return
    lang = app.settings.locale
    emit(translate("churn.trained", lang, version=record.version, cutoff=result.report["cutoff"]))
    emit(render_table(_report_table(result.report, lang)))


@churn_app.command("score")
def score_command(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score at this local date (default: the day after the last order)."),
    ] = None,
    version: VersionOption = None,
    reasons: Annotated[
        bool, typer.Option("--reasons/--no-reasons", help="Store the top reasons too (slower at scale).")
    ] = True,
    reasons_min_risk: Annotated[
        float,
        typer.Option("--reasons-min-risk", help="Store reasons for customers at least this risky (0 = all)."),
    ] = 0.5,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Score every customer with an order; store churn_risk, and reasons for those at risk."""
    from retentio.models.churn.store import score_and_store

    app = app_of(ctx)
    day = parse_date(as_of, "--as-of") if as_of else None
    with status("scoring customers", enabled=output_format is OutputFormat.table):
        summary = score_and_store(app, day, version, with_reasons=reasons, reasons_min_risk=reasons_min_risk)
    data = {
        "model": "churn",
        "version": summary.model_version,
        "as_of": summary.as_of,
        "customers": summary.customers,
        "mean_churn_risk": summary.mean_churn_risk,
        "high_risk": summary.high_risk,
    }
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        emit(to_csv(list(data), [data]))
    else:
        emit(
            translate(
                "churn.scored",
                app.settings.locale,
                customers=f"{summary.customers:,}",
                version=summary.model_version,
                as_of=summary.as_of.isoformat(),
                mean=f"{100 * summary.mean_churn_risk:.1f}",
                high=f"{summary.high_risk:,}",
            )
        )


@churn_app.command("explain")
def explain_command(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer to explain.")],
    version: VersionOption = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Explain at this local date.")] = None,
    top: Annotated[int, typer.Option("--top", help="How many reasons to show.")] = 3,
    locale: LocaleOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """The customer's churn risk and the top reasons behind it, in plain words."""
    from retentio.models.churn.explain import render_reason
    from retentio.models.churn.store import explain_customer

    app = app_of(ctx)
    day = parse_date(as_of, "--as-of") if as_of else None
    lang = locale or app.settings.locale
    result = explain_customer(app, customer_id, version, day, top)
    for reason in result["reasons"]:
        reason["text"] = render_reason(reason, lang)
    if output_format is OutputFormat.json:
        emit(to_json(result))
        return
    if output_format is OutputFormat.csv:
        rows = [
            {"customer_id": customer_id, "churn_risk": result["churn_risk"], **r} for r in result["reasons"]
        ]
        emit(to_csv(["customer_id", "churn_risk", "key", "text", "contribution"], rows))
        return
    emit(
        translate(
            "churn.explain.header",
            lang,
            customer=customer_id,
            risk=f"{100 * result['churn_risk']:.0f}",
            horizon=result["horizon_days"],
            as_of=result["as_of"],
        )
    )
    if not result["reasons"]:
        emit(translate("churn.explain.none", lang))
    for reason in result["reasons"]:
        emit(f"  • {reason['text']}")


_CSV_COLUMNS = ("origin", "score", "customers", "churn_rate", "roc_auc", "pr_auc", "brier", "top_decile_lift")


def _report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    blocks = [(o["origin"], o) for o in report["origins"]] + [("pooled", report["pooled"])]
    for label, block in blocks:
        for name in SCORE_NAMES:
            metrics = block["scores"].get(name)
            if metrics is None:
                continue
            rows.append(
                {
                    "origin": label,
                    "score": name,
                    "customers": block["customers"],
                    "churn_rate": block["churn_rate"],
                    **{k: metrics[k] for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")},
                }
            )
    return rows


def _report_table(report: dict[str, Any], lang: str) -> Table:
    table = Table(title=translate("churn.report.title", lang, horizon=report["horizon_days"]))
    for key in ("origin", "score", "customers", "churn_rate", "roc_auc", "pr_auc", "brier", "lift"):
        table.add_column(
            translate(f"churn.report.{key}", lang), justify="left" if key in ("origin", "score") else "right"
        )
    for row in _report_rows(report):
        table.add_row(
            row["origin"],
            translate(f"churn.score.{row['score']}", lang),
            f"{row['customers']:,}",
            f"{100 * row['churn_rate']:.1f}%",
            _fmt(row["roc_auc"]),
            _fmt(row["pr_auc"]),
            _fmt(row["brier"]),
            _fmt(row["top_decile_lift"], 2),
        )
    return table


def _calibration_table(report: dict[str, Any], lang: str) -> Table:
    pooled = report["pooled"]["scores"]
    table = Table(title=translate("churn.report.calibration", lang))
    table.add_column(translate("churn.report.decile", lang), justify="right")
    names = [n for n in SCORE_NAMES if pooled.get(n)]
    for name in names:
        label = translate(f"churn.score.{name}", lang)
        table.add_column(f"{label}: {translate('churn.report.predicted', lang)}", justify="right")
        table.add_column(f"{label}: {translate('churn.report.observed', lang)}", justify="right")
    deciles = max((len(pooled[n]["calibration"]) for n in names), default=0)
    for i in range(deciles):
        cells = [str(i + 1)]
        for name in names:
            row = pooled[name]["calibration"][i] if i < len(pooled[name]["calibration"]) else None
            cells += ["–", "–"] if row is None else [f"{row['mean_predicted']:.3f}", f"{row['observed']:.3f}"]
        table.add_row(*cells)
    return table


@churn_app.command("report")
def report_command(
    ctx: typer.Context, version: VersionOption = None, output_format: FormatOption = OutputFormat.table
) -> None:
    """Backtest metrics of a saved model next to the BG/NBD and RFM-recency baselines."""
    from retentio.models.churn.store import load_churn_model

    app = app_of(ctx)
    _, record = load_churn_model(app, version)
    report = record.metadata["metrics"]
    if output_format is OutputFormat.json:
        emit(
            to_json(
                {
                    "model": "churn",
                    "version": record.version,
                    "created_at": record.created_at,
                    "training_cutoffs": record.metadata.get("training_cutoffs"),
                    **jsonable(report),
                }
            )
        )
        return
    if output_format is OutputFormat.csv:
        emit(to_csv(list(_CSV_COLUMNS), _report_rows(report)))
        return
    lang = app.settings.locale
    emit(translate("churn.report.version", lang, version=record.version, cutoff=report["cutoff"]))
    emit(render_table(_report_table(report, lang)))
    emit(render_table(_calibration_table(report, lang)))


def register(app: typer.Typer) -> None:
    """Add ``retentio churn``."""
    app.add_typer(churn_app, name="churn")
