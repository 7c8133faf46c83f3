"""Training and rolling-origin backtest of the churn model.

Time only runs forward. For the newest cutoff ``t`` (by default the last date whose H-day horizon is
fully inside the data) the plan is:

- *evaluation origins* ``t, t − s, t − 2s, …`` (``origins`` of them, ``s`` = ``origin_step_days``,
  default H so that their label windows do not overlap);
- for an origin ``e``, *training cutoffs* ``e − H, e − H − k, e − H − 2k, …`` (``train_cutoffs`` of
  them, ``k`` = ``train_step_days``): every training label window ends by ``e``, so nothing after the
  origin is seen while training the model evaluated there;
- the *final* model (the one saved and used for scoring) is trained the same way on the cutoffs
  ``t, t − k, …`` whose labels the data already hold.

Each origin is scored with the model, and with two baselines that need no training beyond a
calibration map fitted on the same training rows: BG/NBD ``1 − P(alive)`` and RFM recency (days since
the last order). Ranking metrics use the raw scores; Brier and the calibration table use the
probabilities (the model's calibrated output; the baselines' isotonic maps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.models.churn.features import DEFAULT_TIMEZONE, FEATURE_COLUMNS, feature_frame
from retentio.models.churn.label import churn_labels, data_end, latest_observable_cutoff
from retentio.models.churn.metrics import score_metrics
from retentio.models.churn.model import DEFAULT_RANDOM_STATE, ChurnModel, fit_isotonic

BASELINES = ("bgnbd", "recency")
MIN_BUYERS_PER_CUTOFF = 50


@dataclass(frozen=True)
class TrainingPlan:
    """Which cutoffs train and which evaluate (see the module docstring)."""

    cutoff: date
    horizon_days: int = 90
    origins: int = 3
    train_cutoffs: int = 4
    train_step_days: int = 30
    origin_step_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("horizon_days", "origins", "train_cutoffs", "train_step_days"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")

    @property
    def origin_step(self) -> int:
        return self.origin_step_days or self.horizon_days

    def evaluation_origins(self) -> list[date]:
        """Origins, oldest first."""
        return [self.cutoff - timedelta(days=self.origin_step * i) for i in reversed(range(self.origins))]

    def training_cutoffs_for(self, origin: date) -> list[date]:
        """Training cutoffs of the model evaluated at ``origin``, oldest first."""
        first = origin - timedelta(days=self.horizon_days)
        return [first - timedelta(days=self.train_step_days * i) for i in reversed(range(self.train_cutoffs))]

    def final_training_cutoffs(self) -> list[date]:
        return [
            self.cutoff - timedelta(days=self.train_step_days * i)
            for i in reversed(range(self.train_cutoffs))
        ]

    def all_cutoffs(self) -> list[date]:
        dates = set(self.final_training_cutoffs()) | set(self.evaluation_origins())
        for origin in self.evaluation_origins():
            dates.update(self.training_cutoffs_for(origin))
        return sorted(dates)


@dataclass
class TrainResult:
    """The final model, the backtest report and the metadata to save with the model."""

    model: ChurnModel
    report: dict[str, Any]
    metadata: dict[str, Any]


@dataclass
class CutoffFrames:
    """Feature frames with labels, computed once per cutoff and reused across the plan."""

    tables: AnalyticsTables
    horizon_days: int
    timezone: str = DEFAULT_TIMEZONE
    on_cutoff: Callable[[date], None] | None = None
    frames: dict[date, pd.DataFrame] = field(default_factory=dict)
    btyd: dict[date, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0  # time spent building frames (features, BG/NBD fits, labels)

    def get(self, cutoff: date) -> pd.DataFrame:
        if cutoff not in self.frames:
            started = time.perf_counter()
            frame, info = feature_frame(self.tables, cutoff, self.horizon_days, self.timezone)
            labels = churn_labels(self.tables, cutoff, self.horizon_days).to_pandas()
            frame = frame.merge(labels, on="customer_id", how="left", validate="one_to_one")
            if frame["churned"].isna().any():
                raise RuntimeError(f"labels missing for some buyers at {cutoff}")
            frame["churned"] = frame["churned"].astype(np.float64)
            frame["cutoff"] = cutoff
            self.frames[cutoff] = frame
            self.btyd[cutoff] = info
            self.seconds += time.perf_counter() - started
            if self.on_cutoff is not None:
                self.on_cutoff(cutoff)
        return self.frames[cutoff]

    def stacked(self, cutoffs: list[date]) -> pd.DataFrame:
        return pd.concat([self.get(c) for c in cutoffs], ignore_index=True)


def _limit_rows(frame: pd.DataFrame, max_rows: int | None, seed: int | list[int]) -> pd.DataFrame:
    if max_rows is None or len(frame) <= max_rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def baseline_scores(frame: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """Scores of the baselines (higher = more likely to churn); None where the baseline is unavailable."""
    p_alive = frame["p_alive"].to_numpy(dtype=np.float64)
    return {
        "bgnbd": None if np.isnan(p_alive).any() else 1.0 - p_alive,
        "recency": frame["recency_days"].to_numpy(dtype=np.float64),
    }


def _evaluate_origin(
    model: ChurnModel, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray] | None]]:
    """Metrics at one origin, and the (score, probability) arrays for pooling."""
    y = test["churned"].to_numpy()
    probability = model.predict_proba(test)
    scored: dict[str, tuple[np.ndarray, np.ndarray] | None] = {"model": (probability, probability)}
    train_scores, test_scores = baseline_scores(train), baseline_scores(test)
    for name in BASELINES:
        fitted, applied = train_scores[name], test_scores[name]
        if fitted is None or applied is None:
            scored[name] = None
            continue
        calibrator = fit_isotonic(fitted, train["churned"].to_numpy())
        scored[name] = (applied, calibrator(applied))
    metrics = {
        name: (None if pair is None else score_metrics(y, pair[0], pair[1])) for name, pair in scored.items()
    }
    return metrics, scored


def train_churn(
    tables: AnalyticsTables,
    *,
    cutoff: date | None = None,
    horizon_days: int = 90,
    origins: int = 3,
    train_cutoffs: int = 4,
    train_step_days: int = 30,
    timezone: str = DEFAULT_TIMEZONE,
    max_train_rows: int | None = 1_000_000,
    params: dict[str, Any] | None = None,
    on_step: Callable[[str], None] | None = None,
    random_state: int | None = None,
) -> TrainResult:
    """Backtest over ``origins`` rolling origins, then fit the final model; see the module docstring.

    ``cutoff`` defaults to the latest date whose horizon the data cover. ``max_train_rows`` caps the
    stacked training rows of any one fit (a random subset above it) to bound the time at scale.
    ``random_state`` seeds LightGBM (``ChurnModel(random_state=...)``) and those subsets (fit ``i``
    draws with the seed ``[random_state, i]``); None keeps the seeds of earlier versions (LightGBM 7,
    fit ``i`` draws with ``i``), so the same data give the same models and report.
    """
    lgb_params = dict(params or {})
    # A seed in ``params`` (how it was passed before ``random_state``) still seeds LightGBM.
    legacy_seed = lgb_params.pop("seed", None)
    model_seed = random_state if random_state is not None else legacy_seed
    if model_seed is None:
        model_seed = DEFAULT_RANDOM_STATE

    def subset_seed(i: int) -> int | list[int]:
        return i if random_state is None else [random_state, i]

    def new_model() -> ChurnModel:
        return ChurnModel(features=FEATURE_COLUMNS, params=lgb_params or None, random_state=model_seed)

    latest = latest_observable_cutoff(tables, horizon_days)
    if latest is None:
        raise UserError("the store holds no orders: nothing to train on")
    chosen = cutoff or latest
    if chosen > latest:
        raise UserError(
            f"--cutoff {chosen} needs orders up to {chosen + timedelta(days=horizon_days)} to label the "
            f"{horizon_days}-day horizon, but the data end on {latest + timedelta(days=horizon_days - 1)}; "
            f"use --cutoff {latest} or earlier"
        )
    plan = TrainingPlan(chosen, horizon_days, origins, train_cutoffs, train_step_days)
    earliest = plan.all_cutoffs()[0]
    first_order = tables.orders.order_date.min().to_pyarrow().as_py()
    if first_order is None or earliest <= first_order:
        raise UserError(
            f"the plan needs buyers before {earliest} (the oldest training cutoff for {origins} origins, "
            f"{train_cutoffs} training cutoffs, {horizon_days}-day horizon) but the first order is on "
            f"{first_order}; use fewer --origins or a shorter --horizon-days"
        )

    def note(message: str) -> None:
        if on_step is not None:
            on_step(message)

    cache = CutoffFrames(tables, horizon_days, timezone, on_cutoff=lambda c: note(f"features at {c}"))
    for c in plan.all_cutoffs():
        if len(cache.get(c)) < MIN_BUYERS_PER_CUTOFF:
            raise UserError(
                f"only {len(cache.get(c))} buyers before {c}: too few to train a churn model "
                f"(need {MIN_BUYERS_PER_CUTOFF}); use fewer --origins"
            )

    features = FEATURE_COLUMNS
    fit_seconds = 0.0
    origin_reports: list[dict[str, Any]] = []
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray] | None]] = {
        "model": [],
        **{b: [] for b in BASELINES},
    }
    pooled_y: list[np.ndarray] = []
    for i, origin in enumerate(plan.evaluation_origins()):
        train_cutoffs_here = plan.training_cutoffs_for(origin)
        train = _limit_rows(cache.stacked(train_cutoffs_here), max_train_rows, seed=subset_seed(i))
        test = cache.get(origin)
        note(f"backtest at {origin}: training on {len(train):,} rows")
        started = time.perf_counter()
        model = new_model().fit(train, train["churned"].to_numpy())
        fit_seconds += time.perf_counter() - started
        metrics, scored = _evaluate_origin(model, train, test)
        origin_reports.append(
            {
                "origin": origin.isoformat(),
                "training_cutoffs": [c.isoformat() for c in train_cutoffs_here],
                "training_rows": len(train),
                "customers": len(test),
                "churned": int(test["churned"].sum()),
                "churn_rate": float(test["churned"].mean()),
                "rounds": model.info_["rounds"],
                "scores": metrics,
            }
        )
        pooled_y.append(test["churned"].to_numpy())
        for name, pair in scored.items():
            pooled[name].append(pair)

    y_all = np.concatenate(pooled_y)
    pooled_metrics: dict[str, Any] = {}
    for name, pairs in pooled.items():
        if any(pair is None for pair in pairs):
            pooled_metrics[name] = None
            continue
        score = np.concatenate([pair[0] for pair in pairs if pair is not None])
        probability = np.concatenate([pair[1] for pair in pairs if pair is not None])
        pooled_metrics[name] = score_metrics(y_all, score, probability)

    final_cutoffs = plan.final_training_cutoffs()
    final_train = _limit_rows(
        cache.stacked(final_cutoffs), max_train_rows, seed=subset_seed(len(origin_reports))
    )
    note(f"final model: training on {len(final_train):,} rows")
    started = time.perf_counter()
    final = new_model().fit(final_train, final_train["churned"].to_numpy())
    fit_seconds += time.perf_counter() - started
    importance = dict(
        zip(features, (float(v) for v in final.booster_.feature_importance("gain")), strict=True)
    )
    report = {
        "cutoff": chosen.isoformat(),
        "horizon_days": horizon_days,
        "origins": origin_reports,
        "pooled": {
            "customers": len(y_all),
            "churned": int(y_all.sum()),
            "churn_rate": float(y_all.mean()) if len(y_all) else math.nan,
            "scores": pooled_metrics,
        },
    }
    end = data_end(tables)
    metadata = {
        "kind": "churn",
        "features": list(features),
        "horizon_days": horizon_days,
        "cutoff": chosen.isoformat(),
        "training_cutoffs": [c.isoformat() for c in final_cutoffs],
        "training_window": {
            "first_cutoff": final_cutoffs[0].isoformat(),
            "last_cutoff": final_cutoffs[-1].isoformat(),
        },
        "training_rows": len(final_train),
        "evaluation_origins": [o.isoformat() for o in plan.evaluation_origins()],
        "train_cutoffs_per_origin": train_cutoffs,
        "train_step_days": train_step_days,
        "origin_step_days": plan.origin_step,
        "data_end": end.isoformat() if end else None,
        "timezone": timezone,
        "model": final.info_,
        "feature_importance_gain": importance,
        "btyd": {c.isoformat(): info for c, info in cache.btyd.items() if c in final_cutoffs},
        "metrics": report,
        "timings_s": {"features": cache.seconds, "lightgbm": fit_seconds, "cutoffs": len(cache.frames)},
    }
    return TrainResult(final, report, metadata)
