"""Churn models in the store: train and save, load by version, score every customer, explain one.

These are the settings-level entry points the CLI (and later the API and campaigns) call. The model
is saved through :mod:`retentio.models.registry` under the name ``churn``; scores go to
``customer_scores`` with model ``churn``: ``churn_risk`` and the reasons as JSON
(``{"reasons": [{"key", "values", "contribution", "group"}, ...]}``, rendered in any language with
:func:`retentio.models.churn.explain.render_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.models import registry
from retentio.models.churn.explain import (
    DEFAULT_TOP,
    Columns,
    Reason,
    ReasonBatch,
    batch_reasons,
    group_matrix,
    reasons_for,
)
from retentio.models.churn.features import feature_frame
from retentio.models.churn.label import data_end
from retentio.models.churn.model import ChurnModel
from retentio.models.churn.train import TrainResult, train_churn

if TYPE_CHECKING:
    from retentio.app import App

MODEL_NAME = "churn"


def _tables(app: App) -> AnalyticsTables:

    return AnalyticsTables.from_backend(app.analytics_connection())


def save_churn_model(app: App, result: TrainResult) -> registry.ModelRecord:
    """Save a trained model and its metadata as the next version of ``churn``."""
    cutoff = date.fromisoformat(result.metadata["cutoff"])
    return registry.save_model(
        app,
        MODEL_NAME,
        result.model.to_files(),
        result.metadata,
        as_of=registry.local_midnight(cutoff, app.settings.timezone),
    )


def load_churn_model(
    app: App, version: int | None = None
) -> tuple[ChurnModel, registry.ModelRecord]:
    """The saved model ``churn`` at ``version`` (latest when None) and its record."""
    record = registry.load_model(app, MODEL_NAME, version)
    model = ChurnModel.from_files(
        record.file("model.txt").read_bytes(), record.file("model.json").read_bytes()
    )
    return model, record


def train_and_save(
    app: App,
    cutoff: date | None = None,
    horizon_days: int = 90,
    origins: int = 3,
    train_cutoffs: int = 4,
    train_step_days: int = 30,
    on_step: Callable[[str], None] | None = None,
) -> tuple[TrainResult, registry.ModelRecord]:
    """Train on the store's snapshot (backtest + final model) and save the final model."""
    result = train_churn(
        _tables(app),
        cutoff=cutoff,
        horizon_days=horizon_days,
        origins=origins,
        train_cutoffs=train_cutoffs,
        train_step_days=train_step_days,
        timezone=app.settings.timezone,
        on_step=on_step,
    )
    return result, save_churn_model(app, result)


# Reasons are stored for customers at least this likely to churn (see score_and_store).
REASONS_MIN_RISK = 0.5
# SHAP values are computed this many rows at a time, so memory stays flat however many customers.
REASON_CHUNK = 50_000


@dataclass
class Scored:
    """Features and calibrated risk of the buyers at one as-of date (SHAP values on demand)."""

    as_of: date
    frame: pd.DataFrame
    churn_risk: np.ndarray
    model: ChurnModel

    def contributions(self) -> np.ndarray:
        """SHAP values of every row relative to the stayers (rows × features + bias), in margin units."""
        return self.model.relative_contributions(self.frame)

    def reason_batches(self, top: int = DEFAULT_TOP) -> Iterator[ReasonBatch]:
        """Top reasons of the rows, one :class:`ReasonBatch` per :data:`REASON_CHUNK` rows in order."""
        names, matrix = group_matrix(self.model.features_)
        for start in range(0, len(self.frame), REASON_CHUNK):
            chunk = self.frame.iloc[start : start + REASON_CHUNK]
            totals = self.model.relative_contributions(chunk, matrix)
            yield batch_reasons(Columns.of_frame(chunk), names, totals, top)

    def reasons(self, top: int = DEFAULT_TOP) -> list[list[Reason]]:
        """Top reasons per row (see :mod:`retentio.models.churn.explain`)."""
        return [reasons for batch in self.reason_batches(top) for reasons in batch.reasons()]

    def reason_records(self, top: int = DEFAULT_TOP) -> list[dict[str, Any]]:
        """Per row ``{"reasons": [reason as a dict, ...]}``, the ``customer_scores.reasons`` JSON.

        The same reasons as :meth:`reasons`, built as dicts directly: at a million customers that
        skips millions of :class:`Reason` objects made only to be turned into dicts.
        """
        return [record for batch in self.reason_batches(top) for record in batch.records()]


def reasons_at_risk(scored: Scored, min_risk: float, top: int = DEFAULT_TOP) -> list[dict[str, Any] | None]:
    """Per row the ``customer_scores.reasons`` JSON for rows with ``churn_risk >= min_risk``, else None."""
    at_risk = np.flatnonzero(scored.churn_risk >= min_risk)
    frame = scored.frame.iloc[at_risk].reset_index(drop=True)
    subset = Scored(scored.as_of, frame, scored.churn_risk[at_risk], scored.model)
    out: list[dict[str, Any] | None] = [None] * len(scored.frame)
    for position, record in zip(at_risk.tolist(), subset.reason_records(top), strict=True):
        out[position] = record
    return out


def score_tables(
    model: ChurnModel,
    tables: AnalyticsTables,
    as_of: date,
    horizon_days: int,
    timezone: str,
    customer_ids: list[str] | None = None,
) -> Scored:
    """Score every buyer before ``as_of`` (or only ``customer_ids``); no I/O beyond the tables."""
    frame, _ = feature_frame(tables, as_of, horizon_days, timezone, customer_ids=customer_ids)
    return Scored(as_of, frame, model.predict_proba(frame), model)


def default_as_of(tables: AnalyticsTables) -> date:
    """The day after the latest order: "now" for a live shop, the end of the data for an export."""
    end = data_end(tables)
    if end is None:
        raise UserError("the store holds no orders: nothing to score")
    return end


@dataclass(frozen=True)
class ScoreSummary:
    """What ``churn score`` did."""

    model_version: int
    as_of: date
    customers: int
    mean_churn_risk: float
    high_risk: int  # customers with churn_risk >= 0.5


def score_and_store(
    app: App,
    as_of: date | None = None,
    version: int | None = None,
    top: int = DEFAULT_TOP,
    with_reasons: bool = True,
    reasons_min_risk: float = REASONS_MIN_RISK,
) -> ScoreSummary:
    """Score every buyer with the saved model and replace the ``churn`` rows of ``customer_scores``.

    Every buyer gets a ``churn_risk``; the customers at risk (``churn_risk >= reasons_min_risk``, 0 =
    everyone) also get their reasons — the ones a marketer acts on, and the SHAP values behind reasons
    are most of the cost at millions of customers. ``with_reasons=False`` skips reasons altogether.
    ``explain`` computes any customer's reasons on demand.
    """
    if not 0.0 <= reasons_min_risk <= 1.0:
        raise UserError(f"the risk above which reasons are stored must be in [0, 1], got {reasons_min_risk}")
    model, record = load_churn_model(app, version)
    tables = _tables(app)
    day = as_of or default_as_of(tables)
    horizon = int(record.metadata.get("horizon_days", 90))
    scored = score_tables(model, tables, day, horizon, app.settings.timezone)
    reasons = reasons_at_risk(scored, reasons_min_risk, top) if with_reasons else None
    table = pa.table(
        {
            "customer_id": pa.array(scored.frame["customer_id"].astype(str).tolist(), pa.string()),
            "churn_risk": pa.array(scored.churn_risk, pa.float64()),
        }
    )
    registry.write_scores(
        app, MODEL_NAME, record.version, registry.local_midnight(day, app.settings.timezone), table, reasons
    )
    risk = scored.churn_risk
    return ScoreSummary(
        record.version,
        day,
        len(risk),
        float(risk.mean()) if len(risk) else float("nan"),
        int((risk >= 0.5).sum()),
    )


def _plain(value: Any) -> Any:
    """A feature value for JSON: None for missing, ISO dates, plain floats."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return float(value) if isinstance(value, int | float | np.number) else value


def explain_customer(
    app: App,
    customer_id: str,
    version: int | None = None,
    as_of: date | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Churn risk of one customer with its top reasons and the feature values behind them."""
    model, record = load_churn_model(app, version)
    tables = _tables(app)
    day = as_of or default_as_of(tables)
    horizon = int(record.metadata.get("horizon_days", 90))
    scored = score_tables(model, tables, day, horizon, app.settings.timezone, customer_ids=[customer_id])
    if len(scored.frame) == 0:
        raise UserError(
            f"customer {customer_id!r} has no order before {day}: there is no churn risk to explain"
        )
    row = cast(dict[str, Any], scored.frame.iloc[0].to_dict())
    reasons = reasons_for(row, model.features_, scored.contributions()[0], top)
    values = {name: _plain(row[name]) for name in scored.frame.columns if name != "customer_id"}
    return {
        "customer_id": customer_id,
        "model_version": record.version,
        "as_of": day.isoformat(),
        "horizon_days": horizon,
        "churn_risk": float(scored.churn_risk[0]),
        "reasons": [r.to_dict() for r in reasons],
        "features": values,
    }
