"""One suite every BTYD model passes: truth recovery, exact gradients, weights = repetition, sane outputs.

Each case simulates data from known parameters (retentio.models.btyd.simulate) with a fixed seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retentio.models import (
    BetaGeo,
    BetaGeoBetaBinom,
    ConvergenceError,
    GammaGamma,
    ModelInputError,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
)
from retentio.models.btyd import simulate
from retentio.models.btyd.base import BTYDModel, TransactionModel

Columns = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], BTYDModel]
    truth: dict[str, float]
    simulate: Callable[[np.random.Generator, int], Columns]
    size: int

    def fit(self, model: BTYDModel, columns: Columns, weights: np.ndarray | None = None) -> BTYDModel:
        if isinstance(model, ShiftedBetaGeo):
            (survivors,) = columns
            return model.fit(survivors if weights is None else survivors * weights)
        fit: Any = model.fit
        return fit(*columns, weights) if weights is not None else fit(*columns)


def _weeks(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(140, 546, n) / 7.0  # first purchases spread over 20–78 weeks, on whole days


def _gamma_gamma_columns(rng: np.random.Generator, n: int) -> Columns:
    x = rng.integers(1, 8, n).astype(float)
    # Whole money units, as prices often are: repeated (x, spend) rows for the weights test.
    return x, np.maximum(np.round(simulate.simulate_gamma_gamma(rng, x, 6.0, 4.0, 15.0)), 1.0)


CASES = [
    Case(
        "bg_nbd",
        BetaGeo,
        {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5},
        lambda rng, n: simulate.simulate_beta_geo(rng, _weeks(rng, n), 0.5, 5.0, 0.8, 2.5, grid=1 / 7),
        20_000,
    ),
    Case(
        "mbg_nbd",
        ModifiedBetaGeo,
        {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5},
        lambda rng, n: simulate.simulate_beta_geo(
            rng, _weeks(rng, n), 0.5, 5.0, 0.8, 2.5, modified=True, grid=1 / 7
        ),
        20_000,
    ),
    Case(
        "pareto_nbd",
        ParetoNBD,
        {"r": 0.6, "alpha": 8.0, "s": 0.7, "beta": 12.0},
        lambda rng, n: simulate.simulate_pareto_nbd(rng, _weeks(rng, n), 0.6, 8.0, 0.7, 12.0),
        8_000,
    ),
    Case(
        "bg_bb",
        BetaGeoBetaBinom,
        {"alpha": 1.2, "beta": 0.75, "gamma": 0.65, "delta": 2.8},
        lambda rng, n: simulate.simulate_bg_bb(rng, n, 8, 1.2, 0.75, 0.65, 2.8),
        20_000,
    ),
    Case("gamma_gamma", GammaGamma, {"p": 6.0, "q": 4.0, "v": 15.0}, _gamma_gamma_columns, 5_000),
    Case(
        "sbg",
        ShiftedBetaGeo,
        {"alpha": 0.7, "beta": 1.2},
        lambda rng, n: (simulate.simulate_shifted_beta_geo(rng, n, 10, 0.7, 1.2),),
        20_000,
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES], scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture(scope="module")
def simulated(case: Case) -> Columns:
    return case.simulate(np.random.default_rng(7), case.size)


@pytest.fixture(scope="module")
def fitted(case: Case, simulated: Columns) -> BTYDModel:
    return case.fit(case.make(), simulated)


def test_fit_recovers_the_truth_within_a_few_standard_errors(case: Case, fitted: BTYDModel) -> None:
    assert set(fitted.params_) == set(case.truth)
    for name, truth in case.truth.items():
        estimate, se = fitted.params_[name], fitted.se_[name]
        assert np.isfinite(se) and se > 0, name
        assert abs(estimate - truth) < 4 * se, (name, estimate, truth, se)
    assert np.isfinite(fitted.loglik_)


def test_analytic_gradient_matches_finite_differences(case: Case, fitted: BTYDModel) -> None:
    model = case.make()
    data = _prepared_data(model, fitted, case)
    # Away from the optimum, where the gradient is not ~0.
    theta = np.array([case.truth[n] for n in model.param_names]) * np.linspace(1.15, 0.85, len(case.truth))
    _, grad, hess = model._loglik(theta, data, 2)
    assert grad is not None
    numeric = np.empty_like(theta)
    for i in range(len(theta)):
        step = 1e-6 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (model._loglik(up, data, 0)[0] - model._loglik(down, data, 0)[0]) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())
    if hess is not None:  # BG/NBD and MBG/NBD have analytic Hessians too
        numeric_hess = np.empty((len(theta), len(theta)))
        for i in range(len(theta)):
            step = 1e-6 * theta[i]
            up, down = theta.copy(), theta.copy()
            up[i] += step
            down[i] -= step
            g_up = model._loglik(up, data, 1)[1]
            g_down = model._loglik(down, data, 1)[1]
            assert g_up is not None and g_down is not None
            numeric_hess[i] = (g_up - g_down) / (2 * step)
        np.testing.assert_allclose(hess, numeric_hess, rtol=1e-4, atol=1e-6 * np.abs(numeric_hess).max())


def _prepared_data(model: BTYDModel, fitted: BTYDModel, case: Case) -> Any:
    """The model's internal data for the simulated columns (via a fit on a small subset)."""
    captured: dict[str, Any] = {}
    original = model._fit_data

    def capture(data: Any, *args: Any) -> BTYDModel:
        captured["data"] = data
        return original(data, *args)

    model._fit_data = capture  # type: ignore[method-assign]
    columns = case.simulate(np.random.default_rng(11), min(case.size, 3000))
    case.fit(model, columns)
    return captured["data"]


def test_weights_equal_repetition(case: Case, simulated: Columns) -> None:
    if case.name == "sbg":
        # A cohort's counts are already weights: two copies of the cohort fit like one, with twice the LL.
        (survivors,) = simulated
        once = ShiftedBetaGeo().fit(survivors)
        twice = ShiftedBetaGeo().fit(survivors * 2)
        for name in once.params_:
            assert twice.params_[name] == pytest.approx(once.params_[name], rel=1e-7)
        assert twice.loglik_ == pytest.approx(2 * once.loglik_, rel=1e-9)
        return
    columns = tuple(c[:4000] for c in simulated)
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    grouped = frame.groupby(list(frame.columns), sort=False).size().reset_index(name="count")
    assert len(grouped) < len(frame)  # the test needs repeated rows to mean anything
    compressed = tuple(grouped[f"c{i}"].to_numpy() for i in range(len(columns)))
    on_repeats = case.fit(case.make(), columns)
    on_counts = case.fit(case.make(), compressed, grouped["count"].to_numpy().astype(float))
    for name in on_repeats.params_:
        assert on_counts.params_[name] == pytest.approx(on_repeats.params_[name], rel=1e-6)
    assert on_counts.loglik_ == pytest.approx(on_repeats.loglik_, rel=1e-9)
    assert on_counts.n_customers_ == on_repeats.n_customers_ == len(frame)


def test_predictions_are_finite_and_in_range(case: Case, fitted: BTYDModel, simulated: Columns) -> None:
    columns = tuple(c[:500] for c in simulated)
    if isinstance(fitted, TransactionModel):
        x, t_x, big_t = columns
        alive = fitted.probability_alive(x, t_x, big_t)
        assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
        near = fitted.conditional_expected_purchases(10.0, x, t_x, big_t)
        far = fitted.conditional_expected_purchases(52.0, x, t_x, big_t)
        assert np.all(np.isfinite(far)) and np.all(near >= 0) and np.all(far >= near)
        curve = fitted.expected_purchases(np.array([0.0, 1.0, 10.0, 52.0, 104.0]))
        assert curve[0] == pytest.approx(0.0, abs=1e-12) and np.all(np.diff(curve) > 0)
        pmf = fitted.probability_of_purchases(np.arange(400), 52.0)
        assert np.all((pmf >= 0) & (pmf <= 1)) and pmf.sum() == pytest.approx(1.0, abs=1e-6)
        # The pmf's mean is the expected number of purchases.
        assert float(np.arange(400) @ pmf) == pytest.approx(float(fitted.expected_purchases(52.0)), rel=1e-5)
        wait = fitted.expected_time_to_next_purchase(x, t_x, big_t)
        assert np.all(wait > 0)
    elif isinstance(fitted, BetaGeoBetaBinom):
        x, t_x, n = columns
        alive = fitted.probability_alive(x, t_x, n)
        assert np.all((alive >= 0) & (alive <= 1))
        future = fitted.conditional_expected_purchases(5, x, t_x, n)
        assert np.all(np.isfinite(future)) and np.all(future >= 0) and np.all(future <= 5)
        pmf = fitted.probability_of_purchases(np.arange(9), 8)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
        assert float(np.arange(9) @ pmf) == pytest.approx(float(fitted.expected_purchases(8)), rel=1e-9)
    elif isinstance(fitted, GammaGamma):
        x, spend = columns
        expected = fitted.conditional_expected_spend(x, spend)
        population = fitted.expected_spend()
        # A credibility-weighted mean: between the population mean and the customer's own mean.
        low, high = np.minimum(spend, population), np.maximum(spend, population)
        assert np.all((expected >= low - 1e-9) & (expected <= high + 1e-9))
        assert float(fitted.conditional_expected_spend(0, 0.0)) == pytest.approx(population)
    else:
        assert isinstance(fitted, ShiftedBetaGeo)
        survival = fitted.survival(np.arange(20.0))
        assert survival[0] == 1.0 and np.all(np.diff(survival) < 0) and np.all(survival > 0)
        retention = fitted.retention_rate(np.arange(1.0, 20.0))
        assert np.all((retention > 0) & (retention < 1)) and np.all(np.diff(retention) > 0)
        lost = fitted.churn_probability(np.arange(1.0, 20.0))
        np.testing.assert_allclose(lost, -np.diff(survival), rtol=1e-10)


BAD_INPUTS: dict[str, list[tuple[tuple[Any, ...], str]]] = {
    "transaction": [
        (([1, 2], [3.0, 1.0], [2.0, 5.0]), "recency must not exceed T"),
        (([-1, 2], [0.0, 1.0], [2.0, 5.0]), "frequency must be >= 0"),
        (([1.5, 2], [1.0, 1.0], [2.0, 5.0]), "frequency must be whole numbers"),
        (([1, 2], [np.nan, 1.0], [2.0, 5.0]), "recency has 1 missing"),
        (([0, 2], [1.0, 1.0], [2.0, 5.0]), "recency must be 0 where frequency is 0"),
        (([1, 2], [1.0, 1.0], [2.0, 5.0, 6.0]), "same length"),
        (([1, 2], [1.0, 1.0], [2.0, 5.0], [1.0, -1.0]), "weights must be >= 0"),
        (([], [], []), "empty"),
    ],
    "bg_bb": [
        (([3, 1], [2, 1], [6, 6]), "frequency must not exceed recency"),
        (([1, 1], [7, 1], [6, 6]), "recency must not exceed n_periods"),
        (([1, 1], [1.5, 1], [6, 6]), "recency must be whole numbers"),
    ],
    "gamma_gamma": [
        (([0, 2], [10.0, 5.0]), "repeat buyers only"),
        (([1, 2], [10.0, -5.0]), "monetary_value must be > 0"),
        (([1, 2], [10.0, np.inf]), "monetary_value has 1 missing or infinite"),
    ],
    "sbg": [
        (([100, 80, 90],), "survivors must not increase"),
        (([100],), "at least one later count"),
        (([100, 80.5],), "whole numbers"),
    ],
}


def test_bad_inputs_raise_clear_errors(case: Case) -> None:
    group = {"bg_bb": "bg_bb", "gamma_gamma": "gamma_gamma", "sbg": "sbg"}.get(case.name, "transaction")
    for arguments, message in BAD_INPUTS[group]:
        with pytest.raises(ModelInputError, match=message):
            case.make().fit(*arguments)


def test_unfitted_model_says_so(case: Case) -> None:
    model = case.make()
    with pytest.raises(ModelInputError, match="not fitted"):
        model.summary()
    rejected = type(model)(penalizer=-1.0)  # stored as given: the constructor does no work
    assert rejected.penalizer == -1.0
    with pytest.raises(ModelInputError, match="penalizer"):
        case.fit(rejected, case.simulate(np.random.default_rng(0), 500))


def test_penalizer_shrinks_the_parameters(case: Case, simulated: Columns, fitted: BTYDModel) -> None:
    if case.name == "sbg":
        return  # two parameters and one cohort: covered by the other models' use of the same code
    columns = tuple(c[:3000] for c in simulated)
    plain = case.fit(case.make(), columns)
    shrunk = case.fit(type(fitted)(penalizer=0.1), columns)
    assert sum(v**2 for v in shrunk.params_.values()) < sum(v**2 for v in plain.params_.values())
    assert shrunk.loglik_ < plain.loglik_  # the penalised optimum is not the likelihood's maximum


def test_summary_table(fitted: BTYDModel) -> None:
    table = fitted.summary()
    assert list(table.index) == list(fitted.param_names)
    assert (table["lower_95"] < table["estimate"]).all() and (table["estimate"] < table["upper_95"]).all()


def test_unidentified_model_raises_convergence_error() -> None:
    # Nobody ever came back: the purchase rate runs to 0 and the dropout parameters are unidentified.
    with pytest.raises(ConvergenceError) as caught:
        BetaGeo().fit(np.zeros(500), np.zeros(500), np.linspace(1, 50, 500))
    error = caught.value
    assert error.cause and error.params and "did not converge" in str(error)
