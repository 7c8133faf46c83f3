"""Scoring rules for churn probabilities: ranking, calibration and lift, as plain numpy functions.

All functions take ``y`` (1 = churned, 0 = stayed) and a score or probability per customer; higher
scores mean *more* likely to churn. Ties are handled exactly (no dependence on input order):

- ROC AUC is the Mann–Whitney statistic with mid-ranks (Hanley & McNeil 1982): the probability that a
  random churner scores above a random stayer, ties counting one half.
- PR AUC is average precision (precision at each distinct threshold weighted by the recall gained
  there), the step-wise area scikit-learn's ``average_precision_score`` reports.
- The Brier score is the mean squared error of the probabilities (Brier 1950).
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
from scipy.stats import rankdata


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
    """Area under the ROC curve; NaN when only one class is present."""
    labels, values = _inputs(y, score)
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = rankdata(values)  # mid-ranks for ties
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def pr_auc(y: ArrayLike, score: ArrayLike) -> float:
    """Average precision: Σ over distinct thresholds of (recall gained) × (precision there)."""
    labels, values = _inputs(y, score)
    positives = labels.sum()
    if positives == 0:
        return math.nan
    order = np.argsort(-values, kind="mergesort")
    sorted_scores, sorted_labels = values[order], labels[order]
    # The last index of each run of equal scores: a threshold admits the whole tie at once.
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), len(sorted_scores) - 1]
    true_pos = np.cumsum(sorted_labels)[last_of_tie]
    predicted = last_of_tie + 1.0
    precision = true_pos / predicted
    recall_gain = np.diff(np.r_[0.0, true_pos]) / positives
    return float(np.sum(recall_gain * precision))


def brier(y: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared difference between the probability and the outcome (lower is better)."""
    labels, values = _inputs(y, probability)
    if len(labels) == 0:
        return math.nan
    return float(np.mean((values - labels) ** 2))


def calibration_table(y: ArrayLike, probability: ArrayLike, groups: int = 10) -> list[dict[str, Any]]:
    """Ten (``groups``) equal-count bins by predicted probability: mean prediction vs observed rate.

    Rows are sorted by probability (stable, ties kept together by the sort) and cut into ``groups``
    contiguous bins whose sizes differ by at most one.
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
    """Churn rate among the top ``share`` of scores ÷ the overall churn rate (1 = no better than random)."""
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
