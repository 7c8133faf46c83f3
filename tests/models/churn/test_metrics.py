"""Churn metrics on examples small enough to compute by hand, and against scikit-learn on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from retentio.models.churn.metrics import brier, calibration_table, pr_auc, roc_auc, top_decile_lift


def test_roc_auc_by_hand() -> None:
    # Pairs (churner, stayer): (0.35 vs 0.1) win, (0.35 vs 0.4) lose, (0.8 vs both) win → 3/4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # A tie counts one half.
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_average_precision_by_hand() -> None:
    # Ranked 1, 0, 1: precision 1 at the first hit, 2/3 at the second → (1 + 2/3) / 2.
    assert pr_auc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)
    # A tie is one threshold: both rows enter together with precision 1/2.
    assert pr_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


def test_brier_and_lift_by_hand() -> None:
    assert brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    y = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # base rate 0.2
    score = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.05, 0.06, 0.07, 0.08]
    assert top_decile_lift(y, score) == pytest.approx(1.0 / 0.2)
    # Top 10 % of 10 rows is one row; a two-way tie at the top shares it: (1 + 0) / 2 churners.
    tied = [0.9, 0.9, 0.2, 0.3, 0.4, 0.5, 0.05, 0.06, 0.07, 0.08]
    assert top_decile_lift([1, 0, 0, 0, 0, 1, 0, 0, 0, 0], tied) == pytest.approx(0.5 / 0.2)


def test_calibration_table_bins_by_prediction() -> None:
    p = np.linspace(0.0, 0.95, 20)
    y = (np.arange(20) >= 10).astype(int)
    table = calibration_table(y, p)
    assert [row["customers"] for row in table] == [2] * 10
    assert [row["observed"] for row in table] == [0.0] * 5 + [1.0] * 5
    assert table[0]["mean_predicted"] == pytest.approx((0.0 + 0.05) / 2)
    assert table[-1]["mean_predicted"] == pytest.approx((0.9 + 0.95) / 2)


def test_agrees_with_scikit_learn_on_random_data_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500) + 0.3 * y, 1)  # heavy ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))
    assert pr_auc(y, score) == pytest.approx(average_precision_score(y, score))
    p = rng.random(500)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))


def test_edge_cases_keep_their_answers_with_scikit_learn_underneath() -> None:
    # One class only: no ranking (NaN, where scikit-learn raises or warns), but a Brier score.
    assert math.isnan(roc_auc([0, 0], [0.1, 0.2])) and math.isnan(pr_auc([0, 0], [0.1, 0.2]))
    assert brier([1, 1], [0.9, 0.6]) == pytest.approx((0.01 + 0.16) / 2)
    assert brier([0, 0], [0.1, 0.2]) == pytest.approx((0.01 + 0.04) / 2)
    assert math.isnan(brier([], []))
