"""Calibration/holdout evaluation of the transaction models, as in Fader, Hardie & Lee (2005) §4.

Each model is fitted on the purchases up to ``calibration_end`` (inclusive) and judged on the
*repeat purchases* (purchase days, same-day orders merged; DESIGN §4 "BTYD inputs") of the same
customers in ``(calibration_end, holdout_end]``:

- in total and per calibration-frequency bucket (x = 0, 1, …, 6, 7+): actual vs the sum of the
  customers' conditional expectations E[Y(t) | x, t_x, T] (FHL 2005 eq. 10 and its analogues), t the
  holdout length — the paper's Figure 4;
- per customer: mean absolute error and root mean squared error of that expectation;
- over time: the weekly *tracking* series of cumulative repeat purchases of the calibration cohort,
  from the first purchase day to ``holdout_end``, actual vs Σ_customers E[X(t − s_i)], s_i the
  customer's first purchase (the unconditional expectation, FHL 2005 eq. 9) — the paper's Figure 2,
  for the dashboard's chart. Week k covers days ``origin + 7(k−1) … origin + 7k − 1``; the last week
  ends at ``holdout_end`` and may be shorter.

The numbers come from the engine-portable summary (:func:`retentio.analytics.summary.customer_summary`)
and one Ibis aggregation of repeat purchase days per week; the rest is numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from retentio.analytics.summary import customer_summary, valid_orders
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import RetentioError, UserError
from retentio.models.btyd import TransactionModel
from retentio.models.clv_service.core import (
    MODEL_LABELS,
    TRANSACTION_MODELS,
    CustomerHistories,
    FloatArray,
    check_model_name,
    describe_model,
    fit_transaction_model,
)

ALL_MODELS = tuple(TRANSACTION_MODELS)
# Calibration-frequency buckets 0 … TOP_BUCKET − 1 and "TOP_BUCKET+".
TOP_BUCKET = 7


def bucket_labels() -> list[str]:
    """``["0", "1", …, "6", "7+"]``."""
    return [str(k) for k in range(TOP_BUCKET)] + [f"{TOP_BUCKET}+"]


def holdout_accuracy(frequency: FloatArray, actual: FloatArray, predicted: FloatArray) -> dict[str, Any]:
    """Totals, per-bucket totals and per-customer errors of holdout predictions (no I/O).

    ``frequency`` is each customer's calibration x, ``actual`` the holdout repeat purchases and
    ``predicted`` the model's conditional expectation of them.
    """
    bucket = np.minimum(frequency, TOP_BUCKET).astype(np.intp)
    n_buckets = TOP_BUCKET + 1
    customers = np.bincount(bucket, minlength=n_buckets)
    actual_sum = np.bincount(bucket, weights=actual, minlength=n_buckets)
    predicted_sum = np.bincount(bucket, weights=predicted, minlength=n_buckets)
    buckets = []
    for k, label in enumerate(bucket_labels()):
        n = int(customers[k])
        buckets.append(
            {
                "frequency": label,
                "customers": n,
                "actual": round(float(actual_sum[k])),
                "predicted": float(predicted_sum[k]),
                "mean_actual": float(actual_sum[k] / n) if n else None,
                "mean_predicted": float(predicted_sum[k] / n) if n else None,
            }
        )
    total_actual = round(float(actual.sum()))
    total_predicted = float(predicted.sum())
    # The per-customer errors are scikit-learn's (same definitions as the mean of |e| and sqrt(mean e²)).
    return {
        "actual": total_actual,
        "predicted": total_predicted,
        "error": total_predicted - total_actual,
        "relative_error": (total_predicted - total_actual) / total_actual if total_actual else None,
        "mae": float(mean_absolute_error(actual, predicted)) if len(actual) else None,
        "rmse": float(root_mean_squared_error(actual, predicted)) if len(actual) else None,
        "buckets": buckets,
    }


def tracking_predicted(
    model: TransactionModel,
    first_offsets: FloatArray,
    first_counts: FloatArray,
    week_end_offsets: FloatArray,
    unit_days: float,
) -> FloatArray:
    """Σ_i E[X(t_k − s_i)] per week end t_k: expected cumulative repeat purchases of the cohort.

    Offsets are whole days from the cohort's first purchase day; ``first_counts`` customers have their
    first purchase on day ``first_offsets``. A customer contributes 0 before their first purchase
    (E[X(0)] = 0). E[X] is evaluated once per distinct lag in days.
    """
    lags = np.clip(week_end_offsets[:, None] - first_offsets[None, :], 0.0, None)
    distinct, index = np.unique(lags, return_inverse=True)
    expected = np.asarray(model.expected_purchases(distinct / unit_days), dtype=np.float64)
    return np.asarray(expected[index.reshape(lags.shape)] @ first_counts, dtype=np.float64)


def _repeat_days_per_week(
    tables: AnalyticsTables, calibration_end: date, holdout_end: date, origin: date
) -> dict[int, int]:
    """Repeat purchase days per week index (0-based from ``origin``) of customers whose first purchase is
    on or before ``calibration_end``, up to ``holdout_end``; computed in the engine."""
    orders = valid_orders(tables)
    orders = orders.filter(orders.order_date <= holdout_end)
    days = orders.select("customer_id", "order_date").distinct()
    firsts = days.group_by(first_customer_id=days.customer_id).aggregate(first_day=days.order_date.min())
    firsts = firsts.filter(firsts.first_day <= calibration_end)
    joined = days.join(firsts, days.customer_id == firsts.first_customer_id)
    repeats = joined.filter(joined.order_date > joined.first_day)
    week = repeats.order_date.delta(ibis.date(origin), unit="day") // 7
    counts = repeats.group_by(week=week).aggregate(purchases=repeats.count()).to_pyarrow()
    return {
        int(w): int(n)
        for w, n in zip(
            counts.column("week").to_pylist(), counts.column("purchases").to_pylist(), strict=True
        )
    }


def _model_names(models: str | Sequence[str]) -> list[str]:
    names = list(ALL_MODELS) if models == "all" else [models] if isinstance(models, str) else list(models)
    unknown = [name for name in names if name not in TRANSACTION_MODELS]
    if unknown or not names:
        raise UserError(
            f"--model must be one of {', '.join(ALL_MODELS)} or all, got {', '.join(unknown) or 'nothing'}"
        )
    return [check_model_name(name) for name in dict.fromkeys(names)]


def evaluate_clv(
    tables: AnalyticsTables,
    calibration_end: date,
    holdout_end: date,
    models: str | Sequence[str] = ALL_MODELS,
    unit_days: float = 7.0,
    penalizer: float = 0.0,
) -> dict[str, Any]:
    """Fit each model on the calibration period and compare its predictions with the holdout.

    ``models``: names from ``bgnbd``, ``mbgnbd``, ``pareto`` or ``"all"``. Returns the JSON document of
    ``retentio clv evaluate`` (stable keys; see the module docstring). A model that fails to converge
    is reported with an ``error`` instead of stopping the others (when several are evaluated).
    ``holdout_end`` may not be after the last order: days beyond the data would count as no purchases.
    """
    names = _model_names(models)
    if holdout_end <= calibration_end:
        raise UserError(
            f"--holdout-end {holdout_end.isoformat()} must be after "
            f"--calibration-end {calibration_end.isoformat()}"
        )
    if not (math.isfinite(unit_days) and unit_days > 0):
        raise UserError(f"--unit-days must be a positive number of days, got {unit_days!r}")
    last_order = valid_orders(tables).order_date.max().to_pyarrow().as_py()
    if last_order is not None and holdout_end > last_order:
        # Days after the data ends would count as "no purchase" and make every model look too optimistic.
        raise UserError(
            f"--holdout-end {holdout_end.isoformat()} is after the last order ({last_order.isoformat()}): "
            "the holdout must lie inside the data"
        )
    summary: pa.Table = (
        customer_summary(tables, calibration_end, unit_days, observation_end=holdout_end)
        .select(
            "customer_id", "frequency", "recency", "T", "monetary", "frequency_holdout", "first_order_date"
        )
        .order_by("customer_id")  # reproducible fits (see service.load_histories)
        .to_pyarrow()
    )
    histories = CustomerHistories.from_arrow(summary, calibration_end, unit_days)
    if histories.n_customers == 0:
        raise UserError(
            f"no customer has an order on or before --calibration-end {calibration_end.isoformat()}"
        )
    actual = summary.column("frequency_holdout").to_numpy(zero_copy_only=False).astype(np.float64)
    holdout_length = (holdout_end - calibration_end).days / unit_days

    # Tracking axis: whole days from the cohort's first purchase day.
    first_days = summary.column("first_order_date").to_numpy(zero_copy_only=False).astype("datetime64[D]")
    origin_day = first_days.min()
    origin = date.fromisoformat(str(origin_day))
    offsets = (first_days - origin_day).astype(np.int64)
    first_offsets, first_counts = np.unique(offsets, return_counts=True)
    span_days = (holdout_end - origin).days + 1
    n_weeks = -(-span_days // 7)
    week_end_offsets = np.minimum(np.arange(1, n_weeks + 1) * 7 - 1, span_days - 1).astype(np.float64)
    per_week = _repeat_days_per_week(tables, calibration_end, holdout_end, origin)
    actual_cumulative = np.cumsum([per_week.get(k, 0) for k in range(n_weeks)])
    calibration_offset = (calibration_end - origin).days

    results: list[dict[str, Any]] = []
    predicted_tracking: dict[str, list[float]] = {}
    for name in names:
        try:
            model = fit_transaction_model(name, histories, penalizer)
        except RetentioError as exc:
            if len(names) == 1:
                raise
            results.append({"model": name, "label": MODEL_LABELS[name], "error": str(exc)})
            continue
        predicted = np.asarray(
            model.conditional_expected_purchases(
                holdout_length, histories.frequency, histories.recency, histories.T
            ),
            dtype=np.float64,
        )
        results.append(
            {
                "model": name,
                "label": MODEL_LABELS[name],
                **describe_model(model),
                "holdout": holdout_accuracy(histories.frequency, actual, predicted),
            }
        )
        predicted_tracking[name] = tracking_predicted(
            model,
            first_offsets.astype(np.float64),
            first_counts.astype(np.float64),
            week_end_offsets,
            unit_days,
        ).tolist()

    return {
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat(),
        "unit_days": unit_days,
        "holdout_length": holdout_length,
        "customers": histories.n_customers,
        "calibration_repeat_purchases": int(histories.frequency.sum()),
        "holdout_repeat_purchases": int(actual.sum()),
        "models": results,
        "tracking": {
            "unit": "week",
            "origin": origin.isoformat(),
            "week": list(range(1, n_weeks + 1)),
            "week_end": [(origin + timedelta(days=int(d))).isoformat() for d in week_end_offsets],
            "in_holdout": [bool(d > calibration_offset) for d in week_end_offsets],
            "actual_cumulative": [int(v) for v in actual_cumulative],
            "predicted_cumulative": predicted_tracking,
        },
    }
