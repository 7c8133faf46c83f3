"""The churn classifier: gradient-boosted trees (LightGBM) with calibrated probabilities.

Training rows are split by customer (a stable hash of the id, so the split is the same on every run
and a customer's rows at several cutoffs stay together) into a fitting part and a held-out
calibration part (20 %). The trees are grown on the fitting part with early stopping on the
held-out part; the held-out margins then fit the calibration map:

- isotonic regression (Zadrozny & Elkan 2002) when the held-out part has at least
  :data:`ISOTONIC_MIN_ROWS` rows, a monotone step function of the margin interpolated linearly;
- Platt scaling (Platt 1999), a logistic function of the margin, below that, where isotonic
  regression would overfit.

The model is saved as LightGBM's text format plus a JSON file for the calibration map and the feature
list: no pickles, and loading gives bit-identical predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retentio.models.churn.treeshap import TreeSplits, shap_values, tree_splits

ISOTONIC_MIN_ROWS = 2_000
CALIBRATION_SHARE = 0.2
# Shallow trees: on the demo shop depth 4 loses ~0.001 ROC AUC against unlimited depth (0.9330 vs
# 0.9342, 50k customers) while exact TreeSHAP for the reasons runs ~10x faster (its cost grows with
# leaves × depth² per tree), and at most 15 splits per tree keep the decision patterns the fast
# TreeSHAP (retentio.models.churn.treeshap) works on few.
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.15,
    "max_depth": 4,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
    # One thread: on a busy machine OpenMP threads spin-wait for each other, and two threads were
    # measured 4x *slower* than one (100k customers, 2 shared cores: 279 s vs 72 s to train);
    # pass params={"num_threads": N} to train_churn on a dedicated machine.
    "num_threads": 1,
    "seed": 7,
}
MAX_ROUNDS = 400
REFERENCE_ROWS = 20_000  # held-out stayers averaged for the reasons' reference point
EARLY_STOPPING_ROUNDS = 30


def calibration_fold(customer_ids: pd.Series, share: float = CALIBRATION_SHARE) -> NDArray[np.bool_]:
    """True for rows of customers in the held-out calibration part (a stable hash of the id)."""
    hashes = pd.util.hash_pandas_object(customer_ids.astype(str), index=False).to_numpy(dtype=np.uint64)
    return np.asarray((hashes % np.uint64(1000)) < np.uint64(int(share * 1000)), dtype=bool)


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from the model's margin (log-odds) to a probability."""

    kind: str  # "isotonic" | "platt"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, margin: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.kind == "isotonic":
            return np.asarray(np.interp(margin, np.asarray(self.x), np.asarray(self.y)), dtype=np.float64)
        z = self.slope * margin + self.intercept
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "x": list(self.x),
            "y": list(self.y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(
            kind=str(data["kind"]),
            x=tuple(float(v) for v in data.get("x", ())),
            y=tuple(float(v) for v in data.get("y", ())),
            slope=float(data.get("slope", 1.0)),
            intercept=float(data.get("intercept", 0.0)),
        )


def fit_isotonic(score: NDArray[np.float64], y: NDArray[np.float64]) -> Calibrator:
    """Isotonic regression of ``y`` on ``score``, kept as its breakpoints (clipped outside them)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
    return Calibrator("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))


def fit_platt(score: NDArray[np.float64], y: NDArray[np.float64]) -> Calibrator:
    """Platt scaling: logistic regression of ``y`` on the margin (almost unregularised)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(score.reshape(-1, 1), y)
    return Calibrator("platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))


def fit_calibrator(score: NDArray[np.float64], y: NDArray[np.float64]) -> Calibrator:
    """Isotonic with enough rows, Platt otherwise (see the module docstring)."""
    if len(score) >= ISOTONIC_MIN_ROWS:
        return fit_isotonic(score, y)
    return fit_platt(score, y)


@dataclass
class ChurnModel:
    """A fitted churn classifier: trees, calibration map and the feature columns it reads."""

    booster: lgb.Booster
    features: tuple[str, ...]
    calibrator: Calibrator
    info: dict[str, Any] = field(default_factory=dict)
    # Mean SHAP values (features + bias) of held-out customers who stayed: the reference the reasons
    # compare a customer with (see :meth:`relative_contributions`). Empty = compare with everyone.
    reference: tuple[float, ...] = ()
    _splits: list[TreeSplits] | None = field(default=None, init=False, repr=False, compare=False)

    def _matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(f"feature columns missing: {missing}")
        return frame.loc[:, list(self.features)].to_numpy(dtype=np.float64, na_value=np.nan)

    def margin(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The trees' raw score (log-odds of churn, before calibration)."""
        if len(frame) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(self._matrix(frame), raw_score=True), dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of churn for every row of ``frame``."""
        return self.calibrator(self.margin(frame))

    def shap(
        self, matrix: NDArray[np.float64], projection: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """TreeSHAP values of the rows of ``matrix`` (features + bias), or ``values @ projection``."""
        if self._splits is None:
            self._splits = tree_splits(self.booster)
        return shap_values(self.booster, self._splits, matrix, projection)

    def contributions(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Per-row, per-feature SHAP values in margin units (TreeSHAP, Lundberg et al. 2020); bias last.

        Exactly LightGBM's ``pred_contrib``, computed once per decision pattern of each tree
        (:mod:`retentio.models.churn.treeshap`): 9.5× faster on half a million customers.
        """
        if len(frame) == 0:
            return np.zeros((0, len(self.features) + 1))
        return self.shap(self._matrix(frame))

    def relative_contributions(
        self, frame: pd.DataFrame, projection: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """SHAP values minus those of the average customer who stayed (bias column: margin gap).

        TreeSHAP explains a prediction against the *training average*, and in a shop where most past
        buyers have lapsed the average customer is long gone: "no order for 94 days" then looks
        better than average and never becomes a reason. A marketer asks the opposite question, "why
        is this customer riskier than the ones who stay?". Subtracting the stayers' mean SHAP values
        answers it additively: the differences still sum to (margin of the customer − mean margin of
        the stayers), because each row's SHAP values sum to its margin.

        With ``projection`` ((features + bias) × k, e.g. the reason-group matrix) the result is
        ``relative_contributions(frame) @ projection``, without the per-feature matrix.
        """
        width = len(self.features) + 1 if projection is None else projection.shape[1]
        if len(frame) == 0:
            return np.zeros((0, width))
        values = self.shap(self._matrix(frame), projection)
        if self.reference:
            reference = np.asarray(self.reference)
            values = values - (reference if projection is None else reference @ projection)
        return values

    def to_files(self) -> dict[str, bytes]:
        """The artifact files: ``model.txt`` (LightGBM) and ``model.json`` (features, calibration)."""
        spec = {
            "features": list(self.features),
            "calibrator": self.calibrator.to_dict(),
            "reference": list(self.reference),
            "info": self.info,
        }
        return {
            "model.txt": self.booster.model_to_string(num_iteration=-1).encode("utf-8"),
            "model.json": json.dumps(spec, indent=1).encode("utf-8"),
        }

    @classmethod
    def from_files(cls, model_txt: bytes, model_json: bytes) -> ChurnModel:
        spec = json.loads(model_json.decode("utf-8"))
        booster = lgb.Booster(model_str=model_txt.decode("utf-8"))
        return cls(
            booster=booster,
            features=tuple(spec["features"]),
            calibrator=Calibrator.from_dict(spec["calibrator"]),
            info=dict(spec.get("info", {})),
            reference=tuple(float(v) for v in spec.get("reference", ())),
        )


def fit_churn_model(
    frame: pd.DataFrame,
    y: NDArray[np.float64],
    features: tuple[str, ...],
    params: dict[str, Any] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> ChurnModel:
    """Fit trees + calibration on ``frame`` (one row per customer and cutoff) and labels ``y``."""
    if len(frame) != len(y):
        raise ValueError("frame and y differ in length")
    labels = np.asarray(y, dtype=np.float64)
    if labels.min(initial=1.0) == labels.max(initial=0.0):
        raise ValueError("training labels hold a single class: nothing to learn")
    merged = {**DEFAULT_PARAMS, **(params or {})}
    held_out = calibration_fold(frame["customer_id"])
    if held_out.all() or not held_out.any() or len(np.unique(labels[held_out])) < 2:
        raise ValueError("too few customers to hold out a calibration fold: need more training data")
    matrix = frame.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    train_set = lgb.Dataset(
        matrix[~held_out], labels[~held_out], feature_name=list(features), free_raw_data=True
    )
    valid_set = lgb.Dataset(matrix[held_out], labels[held_out], reference=train_set)
    booster = lgb.train(
        merged,
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    # Keep exactly the best iteration so saving and predicting agree without extra arguments.
    best = booster.best_iteration or booster.current_iteration()
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    margin_held = np.asarray(booster.predict(matrix[held_out], raw_score=True), dtype=np.float64)
    calibrator = fit_calibrator(margin_held, labels[held_out])
    stayers = matrix[held_out][labels[held_out] == 0][:REFERENCE_ROWS]
    model = ChurnModel(booster, tuple(features), calibrator)
    model.reference = tuple(float(v) for v in model.shap(stayers).mean(axis=0))
    model.info = {
        "rounds": int(best),
        "rows": len(labels),
        "calibration_rows": int(held_out.sum()),
        "calibration": calibrator.kind,
        "params": merged,
    }
    return model
