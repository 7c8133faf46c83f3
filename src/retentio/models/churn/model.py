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
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from retentio.models.churn.features import FEATURE_COLUMNS
from retentio.models.churn.treeshap import TreeSplits, shap_values, tree_splits
from retentio.models.estimator import InvalidParameterError, check_float, check_int, seed_from

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
}
# LightGBM's seed, now ``ChurnModel(random_state=...)``: 7 is the seed the models were always trained
# with, so a default fit gives the trees it gave before.
DEFAULT_RANDOM_STATE = 7
# LightGBM parameters that set seeds: ``random_state`` sets them, ``params`` may not.
_SEED_ALIASES = frozenset(
    {"seed", "random_seed", "random_state", "bagging_seed", "feature_fraction_seed", "data_random_seed"}
)
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


def fit_calibrator(
    score: NDArray[np.float64], y: NDArray[np.float64], isotonic_min_rows: int = ISOTONIC_MIN_ROWS
) -> Calibrator:
    """Isotonic with at least ``isotonic_min_rows`` rows, Platt otherwise (see the module docstring)."""
    if len(score) >= isotonic_min_rows:
        return fit_isotonic(score, y)
    return fit_platt(score, y)


class ChurnModel(BaseEstimator):
    """The churn classifier in scikit-learn's estimator shape: ``ChurnModel().fit(frame, y)``.

    Hyper-parameters (stored as given, checked by :meth:`fit`):

    - ``features``: the columns of ``frame`` the trees read (default: the churn feature table's);
    - ``params``: LightGBM parameters over :data:`DEFAULT_PARAMS` (not the seed: see ``random_state``);
    - ``max_rounds``, ``early_stopping_rounds``: boosting rounds and the patience of early stopping;
    - ``calibration_share``: the share of customers held out for early stopping and calibration;
    - ``isotonic_min_rows``: held-out rows from which the calibration is isotonic (Platt below);
    - ``reference_rows``: held-out stayers averaged for the reasons' reference point;
    - ``random_state``: LightGBM's seed (bagging and feature sampling); an int gives the same trees on
      every fit.

    Learned: ``booster_`` (the trees, cut at the best iteration), ``features_``, ``calibrator_``,
    ``reference_`` (mean SHAP values of held-out stayers, see :meth:`relative_contributions`) and
    ``info_`` (rounds, rows, calibration kind, the LightGBM parameters used).
    """

    booster_: lgb.Booster
    features_: tuple[str, ...]
    calibrator_: Calibrator
    reference_: tuple[float, ...]
    info_: dict[str, Any]
    _splits: list[TreeSplits] | None  # the trees' decision patterns, read once for TreeSHAP

    def __init__(
        self,
        features: tuple[str, ...] = FEATURE_COLUMNS,
        params: dict[str, Any] | None = None,
        max_rounds: int = MAX_ROUNDS,
        early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
        calibration_share: float = CALIBRATION_SHARE,
        isotonic_min_rows: int = ISOTONIC_MIN_ROWS,
        reference_rows: int = REFERENCE_ROWS,
        random_state: Any = DEFAULT_RANDOM_STATE,
    ) -> None:
        self.features = features
        self.params = params
        self.max_rounds = max_rounds
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration_share = calibration_share
        self.isotonic_min_rows = isotonic_min_rows
        self.reference_rows = reference_rows
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------------------

    def _check_hyperparameters(self) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The validated feature list and LightGBM parameters (seed included)."""
        features = self.features
        if isinstance(features, str) or not all(isinstance(f, str) for f in features or ()):
            raise InvalidParameterError(
                f"ChurnModel: features must be a sequence of column names, got {features!r}"
            )
        features = tuple(features)
        if not features:
            raise InvalidParameterError("ChurnModel: features must name at least one column")
        repeated = sorted({f for f in features if features.count(f) > 1})
        if repeated:
            raise InvalidParameterError(f"ChurnModel: features names {repeated} more than once")
        params = self.params
        if params is not None and not isinstance(params, dict):
            raise InvalidParameterError(f"ChurnModel: params must be a dict or None, got {params!r}")
        seeds = sorted(set(params or {}) & _SEED_ALIASES)
        if seeds:
            raise InvalidParameterError(
                f"ChurnModel: params must not set {seeds}: pass the seed as random_state"
            )
        check_int(self, "max_rounds", self.max_rounds, low=1)
        check_int(self, "early_stopping_rounds", self.early_stopping_rounds, low=1)
        check_float(
            self,
            "calibration_share",
            self.calibration_share,
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
        )
        check_int(self, "isotonic_min_rows", self.isotonic_min_rows, low=0)
        check_int(self, "reference_rows", self.reference_rows, low=1)
        seed = seed_from(self, self.random_state)
        return features, {**DEFAULT_PARAMS, "seed": seed, **(params or {})}

    def fit(self, frame: pd.DataFrame, y: NDArray[np.float64]) -> ChurnModel:
        """Fit trees + calibration on ``frame`` (one row per customer and cutoff, with ``customer_id``)
        and labels ``y`` (1 = churned); returns ``self``."""
        features, merged = self._check_hyperparameters()
        if len(frame) != len(y):
            raise ValueError("frame and y differ in length")
        labels = np.asarray(y, dtype=np.float64)
        if labels.min(initial=1.0) == labels.max(initial=0.0):
            raise ValueError("training labels hold a single class: nothing to learn")
        held_out = calibration_fold(frame["customer_id"], float(self.calibration_share))
        if held_out.all() or not held_out.any() or len(np.unique(labels[held_out])) < 2:
            raise ValueError("too few customers to hold out a calibration fold: need more training data")
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise ValueError(f"feature columns missing: {missing}")
        matrix = frame.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
        train_set = lgb.Dataset(
            matrix[~held_out], labels[~held_out], feature_name=list(features), free_raw_data=True
        )
        valid_set = lgb.Dataset(matrix[held_out], labels[held_out], reference=train_set)
        booster = lgb.train(
            merged,
            train_set,
            num_boost_round=int(self.max_rounds),
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(int(self.early_stopping_rounds), verbose=False)],
        )
        # Keep exactly the best iteration so saving and predicting agree without extra arguments.
        best = booster.best_iteration or booster.current_iteration()
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.features_ = features
        self._splits = None
        margin_held = np.asarray(self.booster_.predict(matrix[held_out], raw_score=True), dtype=np.float64)
        self.calibrator_ = fit_calibrator(margin_held, labels[held_out], int(self.isotonic_min_rows))
        stayers = matrix[held_out][labels[held_out] == 0][: int(self.reference_rows)]
        self.reference_ = ()
        self.reference_ = tuple(float(v) for v in self.shap(stayers).mean(axis=0))
        self.info_ = {
            "rounds": int(best),
            "rows": len(labels),
            "calibration_rows": int(held_out.sum()),
            "calibration": self.calibrator_.kind,
            "params": merged,
        }
        return self

    # -- predictions ----------------------------------------------------------------------------------

    def _fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise NotFittedError("ChurnModel is not fitted yet: call fit(frame, y) first")

    def _matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        self._fitted()
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise ValueError(f"feature columns missing: {missing}")
        return frame.loc[:, list(self.features_)].to_numpy(dtype=np.float64, na_value=np.nan)

    def margin(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The trees' raw score (log-odds of churn, before calibration)."""
        self._fitted()
        if len(frame) == 0:
            return np.zeros(0)
        return np.asarray(self.booster_.predict(self._matrix(frame), raw_score=True), dtype=np.float64)

    def predict_proba(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of churn for every row of ``frame``."""
        return self.calibrator_(self.margin(frame))

    def shap(
        self, matrix: NDArray[np.float64], projection: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """TreeSHAP values of the rows of ``matrix`` (features + bias), or ``values @ projection``."""
        self._fitted()
        splits: list[TreeSplits] | None = getattr(self, "_splits", None)
        if splits is None:
            splits = self._splits = tree_splits(self.booster_)
        return shap_values(self.booster_, splits, matrix, projection)

    def contributions(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Per-row, per-feature SHAP values in margin units (TreeSHAP, Lundberg et al. 2020); bias last.

        Exactly LightGBM's ``pred_contrib``, computed once per decision pattern of each tree
        (:mod:`retentio.models.churn.treeshap`): 9.5× faster on half a million customers.
        """
        if len(frame) == 0:
            return np.zeros((0, len(self.features_) + 1))
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
        width = len(self.features_) + 1 if projection is None else projection.shape[1]
        if len(frame) == 0:
            return np.zeros((0, width))
        values = self.shap(self._matrix(frame), projection)
        if self.reference_:
            reference = np.asarray(self.reference_)
            values = values - (reference if projection is None else reference @ projection)
        return values

    def to_files(self) -> dict[str, bytes]:
        """The artifact files: ``model.txt`` (LightGBM) and ``model.json`` (features, calibration).

        ``model.json`` keeps the keys of the first format (``features``, ``calibrator``, ``reference``,
        ``info``) and adds ``hyperparameters``: files saved before it existed still load, with the
        constructor's defaults for the hyper-parameters they did not record.
        """
        self._fitted()
        spec = {
            "features": list(self.features_),
            "calibrator": self.calibrator_.to_dict(),
            "reference": list(self.reference_),
            "info": self.info_,
            "hyperparameters": _json_hyperparameters(self.get_params(deep=False)),
        }
        return {
            "model.txt": self.booster_.model_to_string(num_iteration=-1).encode("utf-8"),
            "model.json": json.dumps(spec, indent=1).encode("utf-8"),
        }

    @classmethod
    def from_files(cls, model_txt: bytes, model_json: bytes) -> ChurnModel:
        spec = json.loads(model_json.decode("utf-8"))
        features = tuple(str(f) for f in spec["features"])
        saved = dict(spec.get("hyperparameters") or {})
        known = {k: v for k, v in saved.items() if k in _HYPERPARAMETERS}
        known["features"] = features
        model = cls(**known)
        model.booster_ = lgb.Booster(model_str=model_txt.decode("utf-8"))
        model.features_ = features
        model.calibrator_ = Calibrator.from_dict(spec["calibrator"])
        model.info_ = dict(spec.get("info", {}))
        model.reference_ = tuple(float(v) for v in spec.get("reference", ()))
        model._splits = None
        return model


_HYPERPARAMETERS = (
    "params",
    "max_rounds",
    "early_stopping_rounds",
    "calibration_share",
    "isotonic_min_rows",
    "reference_rows",
    "random_state",
)


def _json_hyperparameters(values: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters that JSON can hold (a Generator ``random_state`` is saved as None)."""
    out = {k: v for k, v in values.items() if k in _HYPERPARAMETERS}
    if not (out.get("random_state") is None or isinstance(out["random_state"], int)):
        out["random_state"] = None
    return out


def fit_churn_model(
    frame: pd.DataFrame,
    y: NDArray[np.float64],
    features: tuple[str, ...],
    params: dict[str, Any] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> ChurnModel:
    """``ChurnModel(features, params, max_rounds).fit(frame, y)`` (kept for existing callers).

    A ``seed`` in ``params`` (how the seed was passed before ``random_state``) becomes ``random_state``.
    """
    rest = dict(params or {})
    seed = rest.pop("seed", DEFAULT_RANDOM_STATE)
    model = ChurnModel(features=features, params=rest or None, max_rounds=max_rounds, random_state=seed)
    return model.fit(frame, y)
