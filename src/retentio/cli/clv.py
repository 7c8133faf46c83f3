"""``retentio clv``: evaluate the BTYD models on a holdout, fit and save a CLV model, score every customer.

Thin commands over :mod:`retentio.models.clv_service`; JSON documents are the ``to_dict()`` of the results
(stable keys), tables are for reading.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from retentio.analytics.periods import parse_date
from retentio.analytics.render import OutputFormat, fmt_money, render_table, to_csv, to_json
from retentio.cli.common import FormatOption, app_of, emit, status

clv_app = typer.Typer(
    help="Customer lifetime value: BG/NBD, MBG/NBD or Pareto/NBD with Gamma-Gamma spend.",
    no_args_is_help=True,
)


AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Use orders before this local date (default: the day after the last order)."
    ),
]
# Model names are plain strings checked by the domain code: a bad one is a one-line UserError.
ModelOption = Annotated[str, typer.Option("--model", help="Transaction model: bgnbd, mbgnbd or pareto.")]
HorizonOption = Annotated[int, typer.Option("--horizon-months", help="CLV horizon in months.", min=1)]
DiscountOption = Annotated[
    float, typer.Option("--discount-rate", help="Discount rate per month (0.01 = 1 %).")
]
UnitDaysOption = Annotated[float, typer.Option("--unit-days", help="Model time unit in days (7 = weeks).")]


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _as_of(text: str | None) -> date | None:
    return parse_date(text, "--as-of") if text else None


# --- evaluate --------------------------------------------------------------------------------------


def _evaluate_tables(report: dict[str, Any]) -> list[Table]:
    fitted = [m for m in report["models"] if "error" not in m]
    summary = Table(
        title=(
            f"Holdout {report['calibration_end']} → {report['holdout_end']}: "
            f"{report['customers']:,} customers, {report['holdout_repeat_purchases']:,} repeat purchases"
        )
    )
    for column in (
        "model",
        "log-likelihood",
        "parameters (± SE)",
        "predicted",
        "actual",
        "error",
        "MAE",
        "RMSE",
    ):
        summary.add_column(column, justify="left" if column in ("model", "parameters (± SE)") else "right")
    for m in report["models"]:
        if "error" in m:
            summary.add_row(m["label"], "–", m["error"], "–", "–", "–", "–", "–")
            continue
        holdout = m["holdout"]
        params = ", ".join(f"{k} {v:.4g} ± {m['se'][k]:.2g}" for k, v in m["params"].items())
        relative = holdout["relative_error"]
        summary.add_row(
            m["label"],
            _num(m["loglik"], 2),
            params,
            _num(holdout["predicted"], 1),
            _num(holdout["actual"]),
            "–" if relative is None else f"{100 * relative:+.1f}%",
            _num(holdout["mae"]),
            _num(holdout["rmse"]),
        )
    buckets = Table(title="Holdout repeat purchases by calibration frequency")
    buckets.add_column("frequency", justify="right")
    buckets.add_column("customers", justify="right")
    buckets.add_column("actual", justify="right")
    for m in fitted:
        buckets.add_column(m["label"], justify="right")
    if fitted:
        for i, row in enumerate(fitted[0]["holdout"]["buckets"]):
            predicted = [_num(m["holdout"]["buckets"][i]["predicted"], 1) for m in fitted]
            buckets.add_row(row["frequency"], _num(row["customers"]), _num(row["actual"]), *predicted)
    tracking = report["tracking"]
    track = Table(title="Cumulative repeat purchases (weekly; every few weeks shown, * = holdout)")
    track.add_column("week", justify="right")
    track.add_column("ending", justify="left")
    track.add_column("actual", justify="right")
    for m in fitted:
        track.add_column(m["label"], justify="right")
    n = len(tracking["week"])
    step = max(1, math.ceil(n / 16))
    shown = sorted(set(range(step - 1, n, step)) | {n - 1}) if n else []
    for i in shown:
        mark = "*" if tracking["in_holdout"][i] else ""
        predicted = [_num(tracking["predicted_cumulative"][m["model"]][i], 0) for m in fitted]
        track.add_row(
            f"{tracking['week'][i]}{mark}",
            tracking["week_end"][i],
            _num(tracking["actual_cumulative"][i]),
            *predicted,
        )
    return [summary, buckets, track]


_BUCKET_CSV = ("model", "frequency", "customers", "actual", "predicted", "mean_actual", "mean_predicted")


def _bucket_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"model": m["model"], **bucket}
        for m in report["models"]
        if "error" not in m
        for bucket in m["holdout"]["buckets"]
    ]


@clv_app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration period (inclusive).")
    ],
    holdout_end: Annotated[
        str, typer.Option("--holdout-end", help="Last day of the holdout period (inclusive).")
    ],
    model: Annotated[str, typer.Option("--model", help="bgnbd, mbgnbd, pareto or all.")] = "all",
    unit_days: UnitDaysOption = 7.0,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Fit on the calibration period; compare predicted and actual repeat purchases in the holdout."""
    from retentio.models.clv_service.evaluate import evaluate_clv
    from retentio.models.clv_service.service import analytics_tables

    start = parse_date(calibration_end, "--calibration-end")
    end = parse_date(holdout_end, "--holdout-end")
    app = app_of(ctx)
    with (
        status("fitting and evaluating", enabled=output_format is OutputFormat.table),
        analytics_tables(app) as tables,
    ):
        report = evaluate_clv(tables, start, end, models=model, unit_days=unit_days)
    if output_format is OutputFormat.json:
        emit(to_json(report))
    elif output_format is OutputFormat.csv:
        emit(to_csv(list(_BUCKET_CSV), _bucket_rows(report)))
    else:
        emit("".join(render_table(table) for table in _evaluate_tables(report)))


# --- fit / score / run -----------------------------------------------------------------------------


def _fit_table(fit: dict[str, Any]) -> str:
    table = Table(
        title=f"CLV model v{fit['version']}: {fit['label']} + Gamma-Gamma, data before {fit['as_of']}"
    )
    table.add_column("model")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("SE", justify="right")
    for part, label in (("transaction", fit["label"]), ("spend", "Gamma-Gamma")):
        for name, value in fit[part]["params"].items():
            table.add_row(label, name, _num(value, 4), _num(fit[part]["se"][name], 4))
        table.add_row(label, "log-likelihood", _num(fit[part]["loglik"], 2), "")
        table.add_row(label, "customers", _num(fit[part]["n_customers"]), "")
    lines = [render_table(table)]
    lines.append(f"Mean spend per order (Gamma-Gamma): {fmt_money(_money(fit['spend']['mean_spend']))}")
    corr = fit["correlation"]
    if corr["pearson"] is None:
        lines.append("Frequency/spend correlation: not enough repeat buyers to check.")
    else:
        verdict = (
            "≈ 0, as Gamma-Gamma assumes"
            if corr["independent"]
            else "far from 0: Gamma-Gamma's independence assumption is doubtful"
        )
        lines.append(
            f"Frequency/spend correlation among {corr['n']:,} repeat buyers: Pearson {corr['pearson']:.3f}, "
            f"Spearman {corr['spearman']:.3f} ({verdict})."
        )
    return "\n".join(lines) + "\n"


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def _score_text(score: dict[str, Any]) -> str:
    return (
        f"Scored {score['customers']:,} customers with CLV v{score['version']} "
        f"({score['transaction_model']}) as of {score['as_of']}: "
        f"{score['horizon_months']}-month CLV total {fmt_money(score['clv_total'])}, "
        f"mean {fmt_money(score['clv_mean'])}; mean P(alive) {100 * score['mean_p_alive']:.1f}%; "
        f"{score['expected_purchases']:,.0f} purchases expected; "
        f"{score['one_time_buyers']:,} one-time buyers valued at the mean spend.\n"
    )


_SCORE_CSV = (
    "model",
    "version",
    "transaction_model",
    "as_of",
    "customers",
    "one_time_buyers",
    "with_next_order_date",
    "horizon_months",
    "discount_rate",
    "mean_p_alive",
    "expected_purchases",
    "clv_total",
    "clv_mean",
)


def _fit_csv_rows(fit: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for part, label in (("transaction", fit["transaction_model"]), ("spend", "gamma_gamma")):
        for name, value in fit[part]["params"].items():
            rows.append({"model": label, "parameter": name, "estimate": value, "se": fit[part]["se"][name]})
        rows.append({"model": label, "parameter": "loglik", "estimate": fit[part]["loglik"], "se": None})
    return rows


def _fit_or_run(
    ctx: typer.Context,
    service: Callable[..., Any],
    message: str,
    as_of: str | None,
    model: str,
    horizon_months: int,
    discount_rate: float,
    unit_days: float,
    output_format: OutputFormat,
) -> dict[str, Any]:
    """Call ``fit_clv`` or ``run_clv`` (same options) under a spinner; the result's ``to_dict()``."""
    app = app_of(ctx)
    with status(message, enabled=output_format is OutputFormat.table):
        result = service(
            app,
            _as_of(as_of),
            model,
            horizon_months=horizon_months,
            discount_rate=discount_rate,
            unit_days=unit_days,
        )
    data: dict[str, Any] = result.to_dict()
    return data


@clv_app.command("fit")
def fit_command(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    model: ModelOption = "bgnbd",
    horizon_months: HorizonOption = 12,
    discount_rate: DiscountOption = 0.01,
    unit_days: UnitDaysOption = 7.0,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Fit the transaction model and Gamma-Gamma and save them as a new version of the model "clv"."""
    from retentio.models.clv_service.service import fit_clv

    data = _fit_or_run(
        ctx,
        fit_clv,
        "fitting the CLV model",
        as_of,
        model,
        horizon_months,
        discount_rate,
        unit_days,
        output_format,
    )
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        emit(to_csv(["model", "parameter", "estimate", "se"], _fit_csv_rows(data)))
    else:
        emit(_fit_table(data))


@clv_app.command("score")
def score_command(
    ctx: typer.Context,
    version: Annotated[
        int | None, typer.Option("--version", help="Model version (default: the latest).")
    ] = None,
    as_of: AsOfOption = None,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Write CLV, P(alive), expected purchases and the expected next-order date of every customer."""
    from retentio.models.clv_service.service import score_clv

    app = app_of(ctx)
    with status("scoring customers", enabled=output_format is OutputFormat.table):
        summary = score_clv(app, version, _as_of(as_of))
    data = summary.to_dict()
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        emit(to_csv(list(_SCORE_CSV), [data]))
    else:
        emit(_score_text(data))


@clv_app.command("run")
def run_command(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    model: ModelOption = "bgnbd",
    horizon_months: HorizonOption = 12,
    discount_rate: DiscountOption = 0.01,
    unit_days: UnitDaysOption = 7.0,
    output_format: FormatOption = OutputFormat.table,
) -> None:
    """Fit, save and score in one go (fit then score on one read of the data)."""
    from retentio.models.clv_service.service import run_clv

    data = _fit_or_run(
        ctx,
        run_clv,
        "fitting and scoring",
        as_of,
        model,
        horizon_months,
        discount_rate,
        unit_days,
        output_format,
    )
    if output_format is OutputFormat.json:
        emit(to_json(data))
    elif output_format is OutputFormat.csv:
        emit(to_csv(list(_SCORE_CSV), [data["score"]]))
    else:
        emit(_fit_table(data["fit"]) + _score_text(data["score"]))


def register(app: typer.Typer) -> None:
    """Add ``retentio clv``."""
    app.add_typer(clv_app, name="clv")
