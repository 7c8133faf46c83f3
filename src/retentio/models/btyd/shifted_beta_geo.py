"""Shifted beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007).

Each customer of a cohort renews at the end of every period with probability 1 − theta, theta ~
Beta(alpha, beta), so lifetimes are geometric on 1, 2, ... with heterogeneous churn:

    P(T = t) = B(α+1, β+t−1) / B(α, β),   S(t) = P(T > t) = B(α, β+t) / B(α, β),
    retention r_t = S(t) / S(t−1) = (β + t − 1) / (α + β + t − 1)   (rises with t: the sorting effect).

It is fitted on one cohort's survivor counts: customers lost in each observed period and the number
still active at the end (FH 2007 eq. 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, psi

from retentio.models.btyd.base import (
    BTYDModel,
    FloatArray,
    LogLik,
    ModelInputError,
    as_float_array,
    broadcast_result,
    check_counts,
    check_horizon,
)


@dataclass(frozen=True)
class _CohortData:
    lost: FloatArray  # customers lost in periods 1..n
    still_active: float  # customers active after period n

    @property
    def periods(self) -> FloatArray:
        return np.arange(1.0, len(self.lost) + 1.0)


class ShiftedBetaGeo(BTYDModel):
    """The sBG model: ``ShiftedBetaGeo().fit(survivors)`` with survivors[0] the cohort size.

    ``params_`` = {alpha, beta}. On FH 2007's "regular" cohort (1,000; 631, 468, 382, 326, 289, 262,
    241 active after years 1–7): alpha 0.704, beta 1.182, log-likelihood −1680.27.
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def fit(self, survivors: ArrayLike) -> Self:
        """Fit on survivor counts at the start of periods 0, 1, ..., n (non-increasing whole numbers)."""
        self._check_hyperparameters()
        counts = as_float_array("survivors", survivors)
        if len(counts) < 2:
            raise ModelInputError("survivors needs the cohort size and at least one later count")
        check_counts("survivors", counts)
        if np.any(np.diff(counts) > 0):
            first = int(np.flatnonzero(np.diff(counts) > 0)[0]) + 1
            raise ModelInputError(
                f"survivors must not increase: period {first} has more than period {first - 1}"
            )
        if counts[0] <= 0:
            raise ModelInputError("survivors[0] (the cohort size) must be > 0")
        return self.fit_lost(-np.diff(counts), counts[-1])

    def fit_lost(self, lost: ArrayLike, still_active: float) -> Self:
        """Fit on customers lost in each period 1..n and the number still active after period n."""
        self._check_hyperparameters()
        lost_counts = as_float_array("lost", lost)
        check_counts("lost", lost_counts)
        if not (np.isfinite(still_active) and still_active >= 0 and float(still_active).is_integer()):
            raise ModelInputError(f"still_active must be a whole number >= 0, got {still_active!r}")
        total = float(lost_counts.sum() + still_active)
        if total <= 0:
            raise ModelInputError("the cohort is empty: there is nothing to fit")
        data = _CohortData(lost_counts, float(still_active))
        return self._fit_data(data, total, len(lost_counts) + 1)

    def _initial_params(self, data: _CohortData) -> FloatArray:
        return np.array([1.0, 1.0])

    def _loglik(self, theta: FloatArray, data: _CohortData, order: int) -> LogLik:
        alpha, beta = (float(v) for v in theta)
        t = data.periods
        n = float(len(t))
        lb = betaln(alpha, beta)
        log_p = betaln(alpha + 1.0, beta + t - 1.0) - lb
        log_s = betaln(alpha, beta + n) - lb
        ll = float(data.lost @ log_p + data.still_active * log_s)
        if order == 0:
            return ll, None, None
        psi_ab = psi(alpha + beta)
        d_lb = np.array([psi(alpha) - psi_ab, psi(beta) - psi_ab])
        psi_p = psi(alpha + beta + t)
        d_p = np.array([data.lost @ (psi(alpha + 1.0) - psi_p), data.lost @ (psi(beta + t - 1.0) - psi_p)])
        psi_s = psi(alpha + beta + n)
        d_s = data.still_active * np.array([psi(alpha) - psi_s, psi(beta + n) - psi_s])
        grad = d_p + d_s - (data.lost.sum() + data.still_active) * d_lb
        return ll, np.asarray(grad, dtype=np.float64), None

    # -- predictions -----------------------------------------------------------------------------------

    def survival(self, t: ArrayLike) -> FloatArray:
        """S(t): share of the cohort still active after t periods (S(0) = 1)."""
        periods = check_horizon("t", t)
        alpha, beta = self._params()
        return broadcast_result(np.exp(betaln(alpha, beta + periods) - betaln(alpha, beta)), t)

    def retention_rate(self, t: ArrayLike) -> FloatArray:
        """r_t: share of those active after period t−1 who renew for period t (t >= 1)."""
        periods = check_horizon("t", t)
        if np.any(periods < 1):
            raise ModelInputError("t must be >= 1 for a retention rate (renewal into period t)")
        alpha, beta = self._params()
        return broadcast_result((beta + periods - 1.0) / (alpha + beta + periods - 1.0), t)

    def churn_probability(self, t: ArrayLike) -> FloatArray:
        """P(T = t): share of the cohort lost in period t (t >= 1)."""
        periods = check_horizon("t", t)
        if np.any(periods < 1):
            raise ModelInputError("t must be >= 1 (customers are lost in periods 1, 2, ...)")
        alpha, beta = self._params()
        return broadcast_result(np.exp(betaln(alpha + 1.0, beta + periods - 1.0) - betaln(alpha, beta)), t)

    def projected_survivors(self, cohort_size: float, periods: int) -> FloatArray:
        """Expected customers active at the start of periods 0..``periods`` of a cohort of that size."""
        if not (np.isfinite(cohort_size) and cohort_size >= 0):
            raise ModelInputError(f"cohort_size must be >= 0, got {cohort_size!r}")
        if not (isinstance(periods, int | np.integer) and periods >= 0):
            raise ModelInputError(f"periods must be a whole number >= 0, got {periods!r}")
        return np.asarray(cohort_size * self.survival(np.arange(periods + 1.0)), dtype=np.float64)
