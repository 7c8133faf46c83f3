"""CLV against the store: fit and save a version, score every customer into ``customer_scores``.

These are the settings-level entry points the CLI, the demo and the dashboard call:

- :func:`fit_clv` fits the transaction model and Gamma-Gamma on the store's data before ``as_of``
  (default: the day after the last order) and saves them through :mod:`retentio.models.registry` as
  the next version of the model ``clv`` (artifact ``clv.json``, plain JSON; metadata with parameters,
  standard errors, log-likelihoods, sample sizes, the spend/frequency correlation check and the
  store's ``data_version``);
- :func:`score_clv` loads a version (latest by default) and writes, for every customer with a purchase
  before ``as_of``, ``clv``, ``p_alive``, ``expected_purchases`` and ``next_order_at`` to
  ``customer_scores`` (model ``clv``), replacing that model's previous rows in one transaction;
- :func:`run_clv` does both on one read of the data (what ``retentio clv run`` and the demo use).

Time frame: ``as_of`` is exclusive, as everywhere in retentio (orders dated before it count); the BTYD
calibration end is the last day before it. Forecasts start at local midnight of ``as_of``: the
expected next-order date is that instant plus the model's expected wait (conditional on the
customer still being active: read it together with ``p_alive``). Customers without any order have
no purchase history for the models and get no row. CLV is in the shop's currency unit (RUB by
default), as a float prediction, not a booked amount; summaries print it rounded to kopecks.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from retentio.analytics.summary import customer_summary, valid_orders
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.models import registry
from retentio.models.clv_service.core import (
    MODEL_LABELS,
    CLVModel,
    CustomerHistories,
    Scores,
    check_model_name,
    describe_model,
    fit_spend_model,
    fit_transaction_model,
    next_order_timestamps,
    score_histories,
    spend_frequency_correlation,
)

if TYPE_CHECKING:
    from retentio.app import App

MODEL_NAME = "clv"
ARTIFACT = "clv.json"
DEFAULT_HORIZON_MONTHS = 12
DEFAULT_DISCOUNT_RATE = 0.01  # per month
DEFAULT_UNIT_DAYS = 7.0
SUMMARY_COLUMNS = ("customer_id", "frequency", "recency", "T", "monetary")


@contextmanager
def analytics_tables(app: App) -> Iterator[AnalyticsTables]:
    """The store's analytics snapshot, closed afterwards (an open reader makes ingest wait)."""

    con = app.analytics_connection()
    try:
        yield AnalyticsTables.from_backend(con)
    finally:
        con.disconnect()


def data_end(tables: AnalyticsTables) -> date | None:
    """The day after the last non-cancelled order (the exclusive end of the data), or None."""
    last = valid_orders(tables).order_date.max().to_pyarrow().as_py()
    return None if last is None else last + timedelta(days=1)


def resolve_as_of(tables: AnalyticsTables, as_of: date | None) -> date:
    """``as_of`` or, by default, the day after the last order; a :class:`UserError` without orders."""
    if as_of is not None:
        return as_of
    end = data_end(tables)
    if end is None:
        raise UserError("the store holds no orders: ingest orders first")
    return end


def load_histories(
    tables: AnalyticsTables, as_of: date, unit_days: float = DEFAULT_UNIT_DAYS
) -> CustomerHistories:
    """BTYD inputs of every customer with a purchase before ``as_of`` (calibration end = the day before)."""
    if not (math.isfinite(unit_days) and unit_days > 0):
        raise UserError(f"--unit-days must be a positive number of days, got {unit_days!r}")
    calibration_end = as_of - timedelta(days=1)
    # Ordered by customer: the engine's row order varies between runs, and with it the last digits of a
    # fit (sums in another order); sorted input makes a version reproducible, and sorted inserts are
    # cheaper for the store's primary-key index.
    summary = (
        customer_summary(tables, calibration_end, unit_days)
        .select(*SUMMARY_COLUMNS)
        .order_by("customer_id")
        .to_pyarrow()
    )
    histories = CustomerHistories.from_arrow(summary, calibration_end, unit_days)
    if histories.n_customers == 0:
        raise UserError(f"no customer has an order before {as_of.isoformat()}: nothing to fit or score")
    return histories


@dataclass(frozen=True)
class FitResult:
    """A fitted and saved CLV model version and what the fit found."""

    version: int
    model: str  # bgnbd | mbgnbd | pareto
    as_of: date
    calibration_end: date
    unit_days: float
    horizon_months: int
    discount_rate: float
    transaction: dict[str, Any]  # params, se, loglik, n_customers
    spend: dict[str, Any]  # params, se, loglik, n_customers, mean_spend
    correlation: dict[str, Any]  # pearson, spearman, n, independent
    data_version: int
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return MODEL_LABELS[self.model]

    def metadata(self) -> dict[str, Any]:
        """What is saved with the version in ``model_versions.metadata_json``."""
        return {
            "name": MODEL_NAME,
            "transaction_model": self.model,
            "label": self.label,
            "as_of": self.as_of.isoformat(),
            "calibration_end": self.calibration_end.isoformat(),
            "unit_days": self.unit_days,
            "horizon_months": self.horizon_months,
            "discount_rate": self.discount_rate,
            "transaction": self.transaction,
            "spend": self.spend,
            "correlation": self.correlation,
            "data_version": self.data_version,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``retentio clv fit --format json`` document."""
        return {"model": MODEL_NAME, "version": self.version, **self.metadata(), "timings_s": self.timings_s}


@dataclass(frozen=True)
class ScoreSummary:
    """What one scoring wrote to ``customer_scores``."""

    version: int
    transaction_model: str
    as_of: date
    customers: int
    one_time_buyers: int  # x = 0: CLV from the population mean spend
    with_next_order_date: int
    horizon_months: int
    discount_rate: float
    mean_p_alive: float
    expected_purchases: float  # Σ over customers, in the horizon
    clv_total: Decimal  # Σ CLV, rounded to the minor unit
    clv_mean: Decimal
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``retentio clv score --format json`` document."""
        return {
            "model": MODEL_NAME,
            "version": self.version,
            "transaction_model": self.transaction_model,
            "as_of": self.as_of.isoformat(),
            "customers": self.customers,
            "one_time_buyers": self.one_time_buyers,
            "with_next_order_date": self.with_next_order_date,
            "horizon_months": self.horizon_months,
            "discount_rate": self.discount_rate,
            "mean_p_alive": self.mean_p_alive,
            "expected_purchases": self.expected_purchases,
            "clv_total": self.clv_total,
            "clv_mean": self.clv_mean,
            "timings_s": self.timings_s,
        }


def _finite(value: Any) -> Any:
    """JSON-storable metadata: non-finite floats become None (PostgreSQL's JSON rejects NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _data_version(app: App) -> int:
    return app.store().data_version


def _check_options(horizon_months: int, discount_rate: float) -> None:
    if not (isinstance(horizon_months, int) and horizon_months >= 1):
        raise UserError(f"--horizon-months must be a whole number >= 1, got {horizon_months!r}")
    if not (math.isfinite(discount_rate) and discount_rate > -1):
        raise UserError(f"--discount-rate must be a monthly rate > -1 (e.g. 0.01), got {discount_rate!r}")


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now


def _fit(
    app: App,
    histories: CustomerHistories,
    as_of: date,
    model: str,
    horizon_months: int,
    discount_rate: float,
    penalizer: float,
    watch: _Stopwatch,
) -> tuple[FitResult, CLVModel]:
    transaction = fit_transaction_model(model, histories, penalizer)
    watch.lap("fit_transaction")
    spend = fit_spend_model(histories, penalizer)
    correlation = spend_frequency_correlation(histories.frequency, histories.monetary)
    watch.lap("fit_spend")
    fitted = CLVModel(model, transaction, spend, histories.calibration_end, histories.unit_days)
    spend_info = {**describe_model(spend), "mean_spend": spend.expected_spend()}
    result = FitResult(
        version=0,
        model=model,
        as_of=as_of,
        calibration_end=histories.calibration_end,
        unit_days=histories.unit_days,
        horizon_months=horizon_months,
        discount_rate=discount_rate,
        transaction=_finite(describe_model(transaction)),
        spend=_finite(spend_info),
        correlation=_finite(correlation),
        data_version=_data_version(app),
    )
    record = registry.save_model(
        app,
        MODEL_NAME,
        {ARTIFACT: json.dumps(_finite(fitted.to_state())).encode("utf-8")},
        result.metadata(),
        as_of=registry.local_midnight(as_of, app.settings.timezone),
    )
    watch.lap("save_model")
    saved = FitResult(**{**result.__dict__, "version": record.version, "timings_s": dict(watch.timings)})
    return saved, fitted


def _prepare(
    app: App,
    as_of: date | None,
    model: str,
    horizon_months: int,
    discount_rate: float,
    unit_days: float,
) -> tuple[_Stopwatch, date, CustomerHistories]:
    """What fit and run share: check the options, resolve as-of, read the histories (timed)."""
    check_model_name(model)
    _check_options(horizon_months, discount_rate)
    watch = _Stopwatch()
    with analytics_tables(app) as tables:
        day = resolve_as_of(tables, as_of)
        histories = load_histories(tables, day, unit_days)
    watch.lap("summary")
    return watch, day, histories


def fit_clv(
    app: App,
    as_of: date | None = None,
    model: str = "bgnbd",
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    unit_days: float = DEFAULT_UNIT_DAYS,
    penalizer: float = 0.0,
) -> FitResult:
    """Fit ``model`` + Gamma-Gamma on orders before ``as_of`` and save them as the next ``clv`` version.

    ``horizon_months`` and ``discount_rate`` (per month) are saved as the version's scoring defaults.
    """
    watch, day, histories = _prepare(app, as_of, model, horizon_months, discount_rate, unit_days)
    result, _ = _fit(app, histories, day, model, horizon_months, discount_rate, penalizer, watch)
    return result


def load_clv_model(app: App, version: int | None = None) -> tuple[CLVModel, registry.ModelRecord]:
    """The saved ``clv`` model at ``version`` (latest when None) and its registry record."""
    record = registry.load_model(app, MODEL_NAME, version)
    state = json.loads(record.file(ARTIFACT).read_text(encoding="utf-8"))
    return CLVModel.from_state(state), record


def _write(
    app: App,
    fitted: CLVModel,
    version: int,
    histories: CustomerHistories,
    as_of: date,
    horizon_months: int,
    discount_rate: float,
    watch: _Stopwatch,
) -> ScoreSummary:
    scores: Scores = score_histories(fitted, histories, horizon_months, discount_rate)
    start = registry.local_midnight(as_of, app.settings.timezone)
    next_order = next_order_timestamps(scores.days_to_next_order, start)
    watch.lap("score")
    table = pa.table(
        {
            "customer_id": scores.customer_id,
            "clv": scores.clv,  # numpy → Arrow without a copy; non-finite values are stored as NULL
            "p_alive": scores.p_alive,
            "expected_purchases": scores.expected_purchases,
            "next_order_at": next_order,
        }
    )
    registry.write_scores(app, MODEL_NAME, version, start, table)
    watch.lap("write")
    total = float(np.sum(scores.clv))
    cents = Decimal("0.01")
    return ScoreSummary(
        version=version,
        transaction_model=fitted.name,
        as_of=as_of,
        customers=scores.n_customers,
        one_time_buyers=int(np.sum(histories.frequency == 0)),
        with_next_order_date=int(len(next_order) - next_order.null_count),
        horizon_months=horizon_months,
        discount_rate=discount_rate,
        mean_p_alive=float(np.mean(scores.p_alive)),
        expected_purchases=float(np.sum(scores.expected_purchases)),
        clv_total=Decimal(repr(total)).quantize(cents),
        clv_mean=Decimal(repr(total / scores.n_customers)).quantize(cents),
        timings_s=dict(watch.timings),
    )


def score_clv(
    app: App,
    version: int | None = None,
    as_of: date | None = None,
    horizon_months: int | None = None,
    discount_rate: float | None = None,
) -> ScoreSummary:
    """Score every customer with the saved version (latest by default) and replace the ``clv`` scores.

    ``as_of`` defaults to the day after the last order (the current data, which may be newer than the
    fit); horizon and discount rate default to those saved with the version.
    """
    watch = _Stopwatch()
    fitted, record = load_clv_model(app, version)
    horizon = (
        int(record.metadata.get("horizon_months", DEFAULT_HORIZON_MONTHS))
        if horizon_months is None
        else horizon_months
    )
    rate = (
        float(record.metadata.get("discount_rate", DEFAULT_DISCOUNT_RATE))
        if discount_rate is None
        else discount_rate
    )
    _check_options(horizon, rate)
    with analytics_tables(app) as tables:
        day = resolve_as_of(tables, as_of)
        histories = load_histories(tables, day, fitted.unit_days)
    watch.lap("summary")
    return _write(app, fitted, record.version, histories, day, horizon, rate, watch)


@dataclass(frozen=True)
class RunResult:
    """``retentio clv run``: the fit and the scoring it was followed by.

    ``fit.timings_s`` holds the stages up to the saved model; ``score.timings_s`` every stage of the run.
    """

    fit: FitResult
    score: ScoreSummary

    def to_dict(self) -> dict[str, Any]:
        return {"fit": self.fit.to_dict(), "score": self.score.to_dict()}


def run_clv(
    app: App,
    as_of: date | None = None,
    model: str = "bgnbd",
    horizon_months: int = DEFAULT_HORIZON_MONTHS,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    unit_days: float = DEFAULT_UNIT_DAYS,
    penalizer: float = 0.0,
) -> RunResult:
    """Fit, save and score in one go, on one read of the data (same results as fit then score)."""
    watch, day, histories = _prepare(app, as_of, model, horizon_months, discount_rate, unit_days)
    fit_result, fitted = _fit(
        app, histories, day, model, horizon_months, discount_rate, penalizer, watch
    )
    summary = _write(
        app, fitted, fit_result.version, histories, day, horizon_months, discount_rate, watch
    )
    return RunResult(fit_result, summary)
