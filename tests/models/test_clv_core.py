"""The I/O-free CLV rules: scoring equals the BTYD package's own predictions, persistence, evaluation maths.

Scoring computes the expensive factor of E[Y(t) | x, t_x, T] once per distinct (x, T) pair; these tests
pin it to :func:`retentio.models.btyd.clv`, ``conditional_expected_purchases`` and ``probability_alive``
evaluated row by row, for every transaction model, on the CDNOW sample (real, ragged histories).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import optimize
from scipy.special import gammaln

from retentio.errors import UserError
from retentio.models import clv as btyd_clv
from retentio.models.btyd import BetaGeo, GammaGamma, ModelInputError, simulate
from retentio.models.clv_service.core import (
    DAYS_PER_MONTH,
    MAX_NEXT_ORDER_DAYS,
    TRANSACTION_MODELS,
    CLVModel,
    CustomerHistories,
    fit_spend_model,
    fit_transaction_model,
    model_state,
    next_order_timestamps,
    restore_model,
    score_histories,
    spend_frequency_correlation,
)
from retentio.models.clv_service.evaluate import bucket_labels, holdout_accuracy, tracking_predicted

CALIBRATION_END = date(1997, 9, 30)


def histories_of(summary: pd.DataFrame, unit_days: float = 7.0) -> CustomerHistories:
    table = pa.table(
        {
            "customer_id": pa.array([str(i) for i in summary.index], pa.string()),
            "frequency": summary["frequency"].to_numpy(np.int64),
            "recency": summary["recency"].to_numpy(np.float64),
            "T": summary["T"].to_numpy(np.float64),
            "monetary": summary["monetary"].to_numpy(np.float64),
        }
    )
    return CustomerHistories.from_arrow(table, CALIBRATION_END, unit_days)


@pytest.fixture(scope="module")
def cdnow_histories(cdnow: pd.DataFrame) -> CustomerHistories:
    return histories_of(cdnow)


@pytest.fixture(scope="module")
def cdnow_spend(cdnow_histories: CustomerHistories) -> GammaGamma:
    return fit_spend_model(cdnow_histories)


@pytest.mark.parametrize("name", list(TRANSACTION_MODELS))
def test_scores_equal_the_btyd_predictions_row_by_row(
    name: str, cdnow_histories: CustomerHistories, cdnow_spend: GammaGamma
) -> None:
    h = cdnow_histories
    transaction = fit_transaction_model(name, h)
    model = CLVModel(name, transaction, cdnow_spend, CALIBRATION_END, 7.0)
    scores = score_histories(model, h, horizon_months=12, discount_rate=0.01)

    month = DAYS_PER_MONTH / 7.0
    expected_clv = btyd_clv(
        transaction, h.frequency, h.recency, h.T, h.monetary, 12, 0.01, month, spend_model=cdnow_spend
    )
    np.testing.assert_allclose(scores.clv, expected_clv, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        scores.expected_purchases,
        transaction.conditional_expected_purchases(12 * month, h.frequency, h.recency, h.T),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_array_equal(scores.p_alive, transaction.probability_alive(h.frequency, h.recency, h.T))
    wait_weeks = transaction.expected_time_to_next_purchase(h.frequency, h.recency, h.T)
    np.testing.assert_array_equal(scores.days_to_next_order, wait_weeks * 7.0)
    assert scores.customer_id.equals(h.customer_id)
    assert np.all((scores.p_alive >= 0) & (scores.p_alive <= 1))
    assert np.all(scores.clv >= 0)


def test_one_time_buyers_are_valued_at_the_population_mean_spend(
    cdnow_histories: CustomerHistories, cdnow_spend: GammaGamma
) -> None:
    h = cdnow_histories
    model = CLVModel("bgnbd", fit_transaction_model("bgnbd", h), cdnow_spend, CALIBRATION_END, 7.0)
    scores = score_histories(model, h, 12, 0.01)
    one_time = h.frequency == 0
    assert one_time.sum() > 1000
    p, q, v = (cdnow_spend.params_[k] for k in ("p", "q", "v"))
    np.testing.assert_allclose(scores.expected_spend[one_time], p * v / (q - 1.0), rtol=1e-12)
    # Repeat buyers are shrunk between their own mean and the population mean (note 025 eq. 5).
    repeat = ~one_time
    own = h.monetary[repeat]
    population = p * v / (q - 1.0)
    low, high = np.minimum(own, population), np.maximum(own, population)
    assert np.all(
        (scores.expected_spend[repeat] >= low - 1e-9) & (scores.expected_spend[repeat] <= high + 1e-9)
    )


def test_discounting_and_horizon_change_clv_the_right_way(
    cdnow_histories: CustomerHistories, cdnow_spend: GammaGamma
) -> None:
    h = cdnow_histories
    model = CLVModel("bgnbd", fit_transaction_model("bgnbd", h), cdnow_spend, CALIBRATION_END, 7.0)
    base = score_histories(model, h, 12, 0.01).clv
    assert np.all(score_histories(model, h, 12, 0.05).clv <= base + 1e-12)
    assert np.all(score_histories(model, h, 24, 0.01).clv >= base - 1e-12)
    undiscounted = score_histories(model, h, 12, 0.0)
    np.testing.assert_allclose(
        undiscounted.clv, undiscounted.expected_purchases * undiscounted.expected_spend
    )


def test_saved_state_round_trips_through_json(
    cdnow_histories: CustomerHistories, cdnow_spend: GammaGamma
) -> None:
    h = cdnow_histories
    model = CLVModel("mbgnbd", fit_transaction_model("mbgnbd", h), cdnow_spend, CALIBRATION_END, 7.0)
    restored = CLVModel.from_state(json.loads(json.dumps(model.to_state())))
    assert restored.name == "mbgnbd" and restored.calibration_end == CALIBRATION_END
    assert restored.transaction.params_ == model.transaction.params_
    assert restored.spend.se_ == model.spend.se_
    np.testing.assert_array_equal(
        score_histories(restored, h, 6, 0.02).clv, score_histories(model, h, 6, 0.02).clv
    )


def test_a_model_is_refused_on_histories_in_another_time_unit(
    cdnow: pd.DataFrame, cdnow_histories: CustomerHistories, cdnow_spend: GammaGamma
) -> None:
    model = CLVModel(
        "bgnbd", fit_transaction_model("bgnbd", cdnow_histories), cdnow_spend, CALIBRATION_END, 7.0
    )
    with pytest.raises(UserError, match="units"):
        score_histories(model, histories_of(cdnow, unit_days=1.0), 12, 0.01)
    with pytest.raises(UserError, match="horizon"):
        score_histories(model, cdnow_histories, 0, 0.01)


def test_next_order_dates_are_null_where_the_wait_is_infinite_or_absurd() -> None:
    start = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
    days = np.array([0.5, 10.0, np.inf, MAX_NEXT_ORDER_DAYS * 2])
    stamps = next_order_timestamps(days, start).to_pylist()
    assert stamps[0] == datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
    assert stamps[1] == datetime(2024, 3, 11, 21, 0, tzinfo=UTC)
    assert stamps[2] is None and stamps[3] is None


def test_spend_frequency_correlation_flags_dependence() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, 5000).astype(float)
    independent = spend_frequency_correlation(x, rng.gamma(4.0, 100.0, 5000))
    assert independent["independent"] is True and abs(independent["pearson"]) < 0.05
    dependent = spend_frequency_correlation(x, 50.0 * x + rng.gamma(4.0, 10.0, 5000))
    assert dependent["independent"] is False and dependent["pearson"] > 0.9
    assert dependent["n"] == 5000
    # One-time buyers (x = 0) are not part of the check.
    with_zeros = spend_frequency_correlation(
        np.concatenate([x, np.zeros(100)]), np.concatenate([x, np.zeros(100)])
    )
    assert with_zeros["n"] == 5000


def test_gamma_gamma_needs_enough_repeat_buyers_with_positive_spend() -> None:
    table = pa.table(
        {
            "customer_id": pa.array([str(i) for i in range(50)]),
            "frequency": np.array([0] * 40 + [2] * 10),
            "recency": np.array([0.0] * 40 + [3.0] * 10),
            "T": np.full(50, 10.0),
            "monetary": np.array([0.0] * 40 + [100.0] * 5 + [0.0] * 5),
        }
    )
    with pytest.raises(UserError, match="only 5 customers"):
        fit_spend_model(CustomerHistories.from_arrow(table, CALIBRATION_END, 7.0))


def test_holdout_accuracy_buckets_add_up() -> None:
    frequency = np.array([0, 0, 1, 3, 7, 12, 40], dtype=float)
    actual = np.array([0, 2, 1, 0, 5, 9, 30], dtype=float)
    predicted = np.array([0.5, 0.5, 1.0, 2.0, 6.0, 8.0, 25.0])
    report = holdout_accuracy(frequency, actual, predicted)
    assert (
        [b["frequency"] for b in report["buckets"]]
        == bucket_labels()
        == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    )
    assert sum(b["customers"] for b in report["buckets"]) == 7
    assert sum(b["actual"] for b in report["buckets"]) == report["actual"] == 47
    assert sum(b["predicted"] for b in report["buckets"]) == pytest.approx(report["predicted"]) == 43.0
    top = report["buckets"][-1]
    assert (top["customers"], top["actual"], top["predicted"]) == (3, 44, 39.0)
    assert report["buckets"][2]["mean_actual"] is None  # nobody with x = 2
    assert report["mae"] == pytest.approx(np.mean(np.abs(predicted - actual)))
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)))
    assert report["relative_error"] == pytest.approx(-4 / 47)


def test_tracking_prediction_is_the_sum_over_customers_of_unconditional_expectations() -> None:
    rng = np.random.default_rng(5)
    x, t_x, big_t = simulate.simulate_beta_geo(rng, rng.integers(10, 300, 3000) / 7.0, 0.8, 2.0, 1.0, 8.0)
    model = BetaGeo().fit(x, t_x, big_t)
    first_offsets = np.array([0.0, 3.0, 10.0, 45.0])
    first_counts = np.array([5.0, 1.0, 2.0, 7.0])
    week_ends = np.array([6.0, 13.0, 20.0, 50.0])
    got = tracking_predicted(model, first_offsets, first_counts, week_ends, 7.0)
    brute = [
        sum(
            n * float(model.expected_purchases(max(end - first, 0.0) / 7.0))
            for first, n in zip(first_offsets, first_counts, strict=True)
        )
        for end in week_ends
    ]
    np.testing.assert_allclose(got, brute, rtol=1e-12)
    assert np.all(np.diff(got) > 0)


def _spend_cases(cdnow: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    repeat = cdnow[cdnow["frequency"] > 0]
    rng = np.random.default_rng(11)
    x = rng.integers(1, 40, 20_000).astype(float)
    spend = np.round(simulate.simulate_gamma_gamma(rng, x, 4.0, 3.0, 1750.0), 2)
    return [(repeat["frequency"].to_numpy(float), repeat["monetary"].to_numpy(float)), (x, spend)]


def _per_customer_loglik(log_theta: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    """Note 025 eq. 4 summed customer by customer: the form ``GammaGamma`` groups by frequency."""
    p, q, v = np.exp(log_theta)
    px = p * x
    return float(
        np.sum(
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + (px - 1.0) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(v + x * m)
        )
    )


def test_gamma_gamma_grouped_fit_is_the_maximum_of_the_per_customer_likelihood(cdnow: pd.DataFrame) -> None:
    for x, spend in _spend_cases(cdnow):
        model = GammaGamma().fit(x, spend)
        names = ("p", "q", "v")
        log_theta = np.log([model.params_[n] for n in names])
        assert model.loglik_ == pytest.approx(_per_customer_loglik(log_theta, x, spend), abs=1e-6)
        # No point near the fit is higher on the per-customer likelihood.
        res = optimize.minimize(
            lambda t, x, m: -_per_customer_loglik(t, x, m),
            log_theta,
            args=(x, spend),
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 2000},
        )
        assert -res.fun <= model.loglik_ + 1e-6
        # Standard errors: the inverse of a finite-difference Hessian of the per-customer form.
        h = 1e-4
        hess = np.empty((3, 3))
        for i in range(3):
            for j in range(3):
                ei, ej = np.eye(3)[i] * h, np.eye(3)[j] * h
                hess[i, j] = (
                    _per_customer_loglik(log_theta + ei + ej, x, spend)
                    - _per_customer_loglik(log_theta + ei - ej, x, spend)
                    - _per_customer_loglik(log_theta - ei + ej, x, spend)
                    + _per_customer_loglik(log_theta - ei - ej, x, spend)
                ) / (4 * h * h)
        theta = np.exp(log_theta)
        se = np.sqrt(np.diag(np.linalg.inv(-hess)) * theta**2)
        for k, name in enumerate(names):
            assert model.se_[name] == pytest.approx(se[k], rel=1e-3)


def test_gamma_gamma_refuses_non_repeat_buyers_and_weights_equal_repetition() -> None:
    with pytest.raises(ModelInputError, match="repeat buyers only"):
        GammaGamma().fit([0, 1], [10.0, 12.0])
    with pytest.raises(ModelInputError, match="must be > 0"):
        GammaGamma().fit([1, 2], [10.0, 0.0])
    # Weights equal repetition: distinct (x, m) rows with counts fit as the repeated rows do.
    rng = np.random.default_rng(2)
    x = rng.integers(1, 6, 3000).astype(float)
    spend = np.maximum(np.round(simulate.simulate_gamma_gamma(rng, x, 6.0, 4.0, 15.0)), 1.0)
    rows, counts = np.unique(np.column_stack([x, spend]), axis=0, return_counts=True)
    assert len(rows) < len(x) / 2
    once = GammaGamma().fit(x, spend)
    weighted = GammaGamma().fit(rows[:, 0], rows[:, 1], counts)
    for name in ("p", "q", "v"):
        assert weighted.params_[name] == pytest.approx(once.params_[name], rel=1e-6)


def test_fitted_spend_model_saves_as_plain_gamma_gamma(cdnow_spend: GammaGamma) -> None:
    state = model_state(cdnow_spend)
    assert state["class"] == "GammaGamma"
    restored = restore_model(json.loads(json.dumps(state)))
    assert type(restored) is GammaGamma and restored.params_ == cdnow_spend.params_
