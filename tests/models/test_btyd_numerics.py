"""Numerical robustness where the peer tools break (REFERENCE.md "Numerical traps"), and CLV."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import gammaln

from retentio.models import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, clv
from retentio.models.btyd import simulate
from retentio.models.btyd.base import compress_histories

CDNOW_PARETO = {"r": 0.5533, "alpha": 10.5776, "s": 0.6062, "beta": 11.668}


def _pareto(params: dict[str, float]) -> ParetoNBD:
    model = ParetoNBD()
    model.params_ = dict(params)
    return model


def _pareto_loglik_by_quadrature(
    x: float, t_x: float, big_t: float, r: float, alpha: float, s: float, beta: float
) -> float:
    """ln L from the lifetime integral (no hypergeometric function), scaled to avoid underflow."""
    log_scale = -(r + x) * np.log(alpha + t_x) - (s + 1) * np.log(beta + t_x)

    def integrand(tau: float) -> float:
        return float(
            np.exp(
                -(r + x) * np.log((alpha + tau) / (alpha + t_x))
                - (s + 1) * np.log((beta + tau) / (beta + t_x))
            )
        )

    integral, _ = integrate.quad(integrand, t_x, big_t, epsabs=0, epsrel=1e-12, limit=400)
    alive = -(r + x) * np.log(alpha + big_t) - s * np.log(beta + big_t)
    dead = np.log(s) + log_scale + np.log(integral) if big_t > t_x else -np.inf
    return float(
        gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(alive, dead)
    )


@pytest.mark.parametrize(
    ("x", "t_x", "big_t", "params"),
    [
        (0, 0.0, 38.9, CDNOW_PARETO),
        (2, 30.43, 38.86, CDNOW_PARETO),
        (500, 400.0, 500.0, CDNOW_PARETO),
        (800, 20.0, 700.0, CDNOW_PARETO),
        (300, 250.0, 300.0, {"r": 2.0, "alpha": 40.0, "s": 1.5, "beta": 3.0}),  # α > β, z near 1
        (1, 0.5, 100.0, {"r": 0.3, "alpha": 80.0, "s": 0.4, "beta": 1.0}),
        (50, 10.0, 60.0, {"r": 1.0, "alpha": 2.0, "s": 2.0, "beta": 30.0}),  # α < β
    ],
)
def test_pareto_likelihood_matches_the_lifetime_integral(
    x: float, t_x: float, big_t: float, params: dict[str, float]
) -> None:
    model = ParetoNBD()
    data = model._prepare(
        compress_histories(np.array([float(x)]), np.array([t_x]), np.array([big_t]), np.ones(1))
    )
    theta = np.array([params[n] for n in model.param_names])
    ours, _, _ = model._loglik(theta, data, 0)
    assert np.isfinite(ours)
    assert ours == pytest.approx(_pareto_loglik_by_quadrature(x, t_x, big_t, *theta), rel=1e-9, abs=1e-9)


def test_pareto_probability_alive_is_finite_for_heavy_long_histories() -> None:
    model = _pareto(CDNOW_PARETO)
    x = np.full(5, 500.0)
    t_x = np.array([1.0, 250.0, 450.0, 499.0, 500.0])
    alive = model.probability_alive(x, t_x, np.full(5, 500.0))
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    assert alive[-1] == pytest.approx(1.0)  # bought at the very end: certainly alive
    assert np.all(np.diff(alive) > 0)  # the longer the silence, the likelier gone
    expected = model.conditional_expected_purchases(52.0, x, t_x, np.full(5, 500.0))
    assert np.all(np.isfinite(expected)) and expected[-1] > 40


def test_pareto_fits_heavy_buyers() -> None:
    rng = np.random.default_rng(3)
    x, t_x, big_t = simulate.simulate_pareto_nbd(rng, rng.uniform(50, 150, 2000), 4.0, 1.0, 1.0, 40.0)
    assert x.max() > 500
    model = ParetoNBD().fit(x, t_x, big_t)
    for name, truth in {"r": 4.0, "alpha": 1.0, "s": 1.0, "beta": 40.0}.items():
        assert abs(model.params_[name] - truth) < 4 * model.se_[name], name


def test_bg_family_predictions_stay_finite_for_heavy_buyers() -> None:
    for model_type in (BetaGeo, ModifiedBetaGeo):
        model = model_type()
        model.params_ = {"r": 0.2426, "alpha": 4.4136, "a": 0.7930, "b": 2.4261}
        x = np.array([500.0, 500.0, 2000.0])
        t_x = np.array([499.0, 100.0, 1000.0])
        big_t = np.array([500.0, 500.0, 1000.0])
        alive = model.probability_alive(x, t_x, big_t)
        expected = model.conditional_expected_purchases(39.0, x, t_x, big_t)
        assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
        # Alive heavy buyers keep buying at their own rate, (r + x) / (alpha + T) per week.
        assert expected[0] == pytest.approx(39 * (0.2426 + 500) / (4.4136 + 500) * alive[0], rel=0.1)


def test_bg_nbd_on_2_5_million_customers_has_no_overflow() -> None:
    rng = np.random.default_rng(5)
    n = 2_500_000
    x, t_x, big_t = simulate.simulate_beta_geo(
        rng, rng.integers(1, 365, n) / 7.0, 0.8, 3.0, 0.8, 3.0, grid=1 / 7
    )
    model = BetaGeo().fit(x, t_x, big_t)
    assert model.n_customers_ == n
    assert np.isfinite(model.loglik_) and all(np.isfinite(v) and v > 0 for v in model.se_.values())
    # Recency floored to whole days biases the continuous-time fit by ~1 %: far more than the SEs here.
    for name, truth in {"r": 0.8, "alpha": 3.0, "a": 0.8, "b": 3.0}.items():
        assert model.params_[name] == pytest.approx(truth, rel=0.03), name
    assert np.all(np.isfinite(model.probability_alive(x[:100_000], t_x[:100_000], big_t[:100_000])))


def test_clv_matches_lifetimes(cdnow: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    transactions = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    repeaters = cdnow[cdnow["frequency"] > 0]
    spend = GammaGamma().fit(repeaters["frequency"], repeaters["monetary"])
    ours = clv(
        transactions,
        cdnow["frequency"],
        cdnow["recency"],
        cdnow["T"],
        cdnow["monetary"],
        horizon=12,
        discount_rate=0.01,
        period_length=4.345,  # lifetimes' weeks per month
        spend_model=spend,
    )
    peer = lifetimes.BetaGeoFitter()
    peer.params_ = pd.Series(transactions.params_)
    peer.predict = peer.conditional_expected_number_of_purchases_up_to_time  # set by its fit()
    expected_spend = pd.Series(
        spend.conditional_expected_spend(cdnow["frequency"], cdnow["monetary"]), index=cdnow.index
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes.utils._customer_lifetime_value(
            peer,
            cdnow["frequency"],
            cdnow["recency"],
            cdnow["T"],
            expected_spend,
            time=12,
            discount_rate=0.01,
            freq="W",
        )
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-8)
    assert np.all(ours >= 0) and ours.sum() > 0


def test_clv_discounting_and_horizon(cdnow: pd.DataFrame) -> None:
    model = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    args = (model, [2, 0], [30.43, 0.0], [38.86, 38.86], [20.0, 20.0])
    undiscounted = clv(*args, horizon=12, discount_rate=0.0, period_length=4.0)
    # Without discounting CLV is just expected purchases over the horizon × spend.
    np.testing.assert_allclose(
        undiscounted, 20.0 * model.conditional_expected_purchases(48.0, [2, 0], [30.43, 0.0], [38.86, 38.86])
    )
    discounted = clv(*args, horizon=12, discount_rate=0.05, period_length=4.0)
    longer = clv(*args, horizon=24, discount_rate=0.05, period_length=4.0)
    assert np.all(discounted < undiscounted) and np.all(longer > discounted)
