"""The models reproduce the published estimates (REFERENCE.md): parameters to 0.5 %, log-likelihood to 0.1.

Both are checked because an optimiser that stops early (the Nelder-Mead trap) can leave parameters a few
per cent off while the log-likelihood looks almost right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retentio.models import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

PARAM_RTOL = 0.005
LOGLIK_ATOL = 0.1


def assert_params(fitted: dict[str, float], published: dict[str, float]) -> None:
    for name, value in published.items():
        assert fitted[name] == pytest.approx(value, rel=PARAM_RTOL), (name, fitted[name], value)


def test_daily_preparation_gives_the_papers_summary(cdnow: pd.DataFrame) -> None:
    paper = pd.read_csv(FIXTURES / "cdnow" / "cdnow_customers_summary.csv", index_col="ID")
    assert len(cdnow) == 2357 == len(paper)
    assert (cdnow.index.to_numpy() == paper.index.to_numpy()).all()
    assert (cdnow["frequency"].to_numpy() == paper["frequency"].to_numpy()).all()
    # The paper's file rounds weeks to two decimals.
    assert np.abs(cdnow["recency"].to_numpy() - paper["recency"].to_numpy()).max() <= 0.005
    assert np.abs(cdnow["T"].to_numpy() - paper["T"].to_numpy()).max() <= 0.005
    assert int((cdnow["frequency"] > 0).sum()) == 946
    assert int(cdnow["frequency"].sum()) == 2457  # repeat purchase days in weeks 1–39


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_bg_nbd_on_cdnow(bgnbd: BetaGeo) -> None:
    assert_params(bgnbd.params_, {"r": 0.2426, "alpha": 4.4136, "a": 0.7930, "b": 2.4261})
    assert bgnbd.loglik_ == pytest.approx(-9582.43, abs=LOGLIK_ATOL)
    assert bgnbd.n_customers_ == 2357
    assert all(np.isfinite(v) and v > 0 for v in bgnbd.se_.values())


def test_bg_nbd_predictions_on_cdnow(bgnbd: BetaGeo) -> None:
    expected = bgnbd.expected_purchases(np.array([1.0, 3.0, 32.0, 78.0]))
    np.testing.assert_allclose(expected, [0.0532, 0.1506, 1.0437, 1.8576], rtol=PARAM_RTOL)
    assert float(bgnbd.conditional_expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=0.001)


def test_pareto_nbd_on_cdnow(cdnow: pd.DataFrame) -> None:
    model = ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert_params(model.params_, {"r": 0.5533, "alpha": 10.5776, "s": 0.6062, "beta": 11.668})
    assert model.loglik_ == pytest.approx(-9594.97, abs=LOGLIK_ATOL)


def test_mbg_nbd_on_cdnow(cdnow: pd.DataFrame) -> None:
    model = ModifiedBetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert_params(model.params_, {"r": 0.5248, "alpha": 6.1829, "a": 0.8914, "b": 1.6141})
    assert model.loglik_ == pytest.approx(-9582.13, abs=LOGLIK_ATOL)


def test_gamma_gamma_on_cdnow_repeat_buyers(cdnow: pd.DataFrame) -> None:
    repeaters = cdnow[cdnow["frequency"] > 0]
    assert len(repeaters) == 946
    model = GammaGamma().fit(repeaters["frequency"], repeaters["monetary"])
    assert_params(model.params_, {"p": 6.249, "q": 3.745, "v": 15.448})
    spend = model.conditional_expected_spend(cdnow["frequency"].iloc[:10], cdnow["monetary"].iloc[:10])
    published = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    np.testing.assert_allclose(spend, published, atol=0.006)


def test_bg_bb_on_donations(donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinom().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )
    assert model.n_customers_ == 11104
    assert_params(model.params_, {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6568, "delta": 2.7838})
    assert model.loglik_ == pytest.approx(-33225.58, abs=LOGLIK_ATOL)
    alive = model.probability_alive([0, 2, 6], [0, 4, 6], [6, 6, 6])
    np.testing.assert_allclose(alive, [0.11, 0.59, 0.93], atol=0.005)


@pytest.mark.parametrize(
    ("survival_percent", "published", "loglik"),
    [
        ([100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], {"alpha": 0.704, "beta": 1.182}, -1680.27),
        ([100, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1], {"alpha": 0.668, "beta": 3.806}, None),
    ],
    ids=["regular", "high-end"],
)
def test_shifted_beta_geo_on_fader_hardie_2007(
    survival_percent: list[float], published: dict[str, float], loglik: float | None
) -> None:
    survivors = np.round(np.array(survival_percent) * 10)  # a cohort of 1,000
    model = ShiftedBetaGeo().fit(survivors)
    assert_params(model.params_, published)
    if loglik is not None:
        assert model.loglik_ == pytest.approx(loglik, abs=LOGLIK_ATOL)
    # The fitted curve passes close to the data it was fitted on (FH 2007, Figure 3).
    np.testing.assert_allclose(model.projected_survivors(1000, 7), survivors, atol=25)
