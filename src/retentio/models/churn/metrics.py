"""Scoring rules for churn probabilities: ranking, calibration and lift.

All functions take ``y`` (1 = churned, 0 = stayed) and a score or probability per customer; higher
scores mean *more* likely to churn. Ties are handled exactly (no dependence on input order):

- ROC AUC is the Mann–Whitney statistic with mid-ranks (Hanley & McNeil 1982): the probability that a
  random churner scores above a random stayer, ties counting one half
  (``sklearn.metrics.roc_auc_score``).
- PR AUC is average precision (precision at each distinct threshold weighted by the recall gained
  there, no interpolation; ``sklearn.metrics.average_precision_score``). The report keeps the key
  ``pr_auc`` it always had: the number was always this step-wise average precision, not a trapezoidal
  area under the precision-recall curve.
- The Brier score is the mean squared error of the probabilities (Brier 1950;
  ``sklearn.metrics.brier_score_loss``).

The first three come from scikit-learn; the two below have no scikit-learn equivalent with the same
definition and stay here:

- The calibration table splits customers into ten equal-count groups by predicted probability and
  compares the mean prediction with the observed churn rate in each.
- Top-decile lift is the churn rate among the 10 % highest scores over the overall churn rate; ties
  at the boundary are shared pro rata, so the answer never depends on row order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _inputs(y: ArrayLike, score: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    labels = np.asarray(y, dtype=np.float64)
    values = np.asarray(score, dtype=np.float64)
    if labels.shape != values.shape or labels.ndim != 1:
        raise ValueError(f"y and score must be 1-D of the same length, got {labels.shape} and {values.shape}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 and 1")
    if np.isnan(values).any():
        raise ValueError("score has missing values")
    return labels, values


def roc_auc(y: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn's); NaN when only one class is present."""
    labels, values = _inputs(y, score)
    positives = float(labels.sum())
    if positives == 0 or positives == len(labels):
        return math.nan
    return float(roc_auc_score(labels, values))


def pr_auc(y: ArrayLike, score: ArrayLike) -> float:
    """Average precision (scikit-learn's): Σ over distinct thresholds of (recall gained) × (precision).

    NaN without churners (scikit-learn would warn and return 0 there).
    """
    labels, values = _inputs(y, score)
    if labels.sum() == 0:
        return math.nan
    return float(average_precision_score(labels, values))


def brier(y: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared difference between the probability and the outcome (lower is better; scikit-learn's)."""
    labels, values = _inputs(y, probability)
    if len(labels) == 0:
        return math.nan
    # pos_label=1 also when y holds a single class (scikit-learn cannot infer it then).
    return float(brier_score_loss(labels, values, pos_label=1.0))


def calibration_table(y: ArrayLike, probability: ArrayLike, groups: int = 10) -> list[dict[str, Any]]:
    """Ten (``groups``) equal-count bins by predicted probability: mean prediction vs observed rate.

    Rows are sorted by probability (stable, ties kept together by the sort) and cut into ``groups``
    contiguous bins whose sizes differ by at most one. Not ``sklearn.calibration.calibration_curve``
    (``strategy="quantile"``): that cuts at quantile *values*, so ties make bins of unequal size or
    merge them, and it reports no bin sizes.
    """
    labels, values = _inputs(y, probability)
    n = len(labels)
    if n == 0:
        return []
    order = np.argsort(values, kind="mergesort")
    edges = np.linspace(0, n, min(groups, n) + 1).round().astype(int)
    table = []
    for i in range(len(edges) - 1):
        rows = order[edges[i] : edges[i + 1]]
        if len(rows) == 0:
            continue
        table.append(
            {
                "decile": i + 1,
                "customers": len(rows),
                "mean_predicted": float(values[rows].mean()),
                "observed": float(labels[rows].mean()),
            }
        )
    return table


def top_decile_lift(y: ArrayLike, score: ArrayLike, share: float = 0.1) -> float:
    """Churn rate among the top ``share`` of scores ÷ the overall churn rate (1 = no better than random).

    scikit-learn has no lift metric; the boundary tie is shared pro rata (see the module docstring).
    """
    labels, values = _inputs(y, score)
    n = len(labels)
    base = labels.mean() if n else 0.0
    if n == 0 or base == 0:
        return math.nan
    k = share * n
    threshold_rank = np.sort(values)[::-1]
    cut = threshold_rank[max(math.ceil(k) - 1, 0)]
    above = values > cut
    tied = values == cut
    # Customers strictly above the boundary count fully; the boundary tie fills the rest pro rata.
    room = k - above.sum()
    churners = labels[above].sum() + (labels[tied].mean() * room if tied.any() else 0.0)
    return float((churners / k) / base)


def score_metrics(y: ArrayLike, score: ArrayLike, probability: ArrayLike | None) -> dict[str, Any]:
    """The report's metrics for one score: ranking on ``score``, calibration on ``probability``."""
    result: dict[str, Any] = {
        "roc_auc": roc_auc(y, score),
        "pr_auc": pr_auc(y, score),
        "top_decile_lift": top_decile_lift(y, score),
    }
    if probability is not None:
        result["brier"] = brier(y, probability)
        result["calibration"] = calibration_table(y, probability)
    else:
        result["brier"] = math.nan
        result["calibration"] = []
    return result
