"""BG/NBD (Fader, Hardie & Lee 2005) and the shared core of its modified variant MBG/NBD.

Purchases: Poisson at rate lambda ~ Gamma(r, alpha); after each repeat purchase (BG/NBD) or after
every purchase including the first (MBG/NBD, Batislam, Denizel & Filiztekin 2007) the customer drops
out with probability p ~ Beta(a, b).

Log-likelihood of one customer (FHL 2005 eq. 6; Batislam et al. 2007 eq. 3), written as

    ln L = [lnΓ(r+x) − lnΓ(r) + r ln α + lnΓ(b+x+m) − lnΓ(b) + lnΓ(a+b) − lnΓ(a+b+x+m)]
           + logaddexp(−(r+x) ln(α+T),  ln a − ln(b+x−1+m) − (r+x) ln(α+t_x))

with m = 0 (BG/NBD; the second term only when x > 0) or m = 1 (MBG/NBD). The bracket depends on x
alone and is computed once per distinct x; ln(α+T) and ln(α+t_x) once per distinct T and t_x; only the
log-sum-exp runs per distinct (x, t_x, T) row. Gradient and Hessian are analytic (softmax weights of the
two terms), so the fit is a damped Newton method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, expit, gammaln, hyp2f1, polygamma, psi

from retentio.models.btyd.base import (
    FloatArray,
    Histories,
    IntArray,
    LogLik,
    TransactionModel,
    broadcast_result,
    check_counts,
    check_horizon,
    dot,
    validate_histories,
    weighted_counts,
)


@dataclass(frozen=True)
class _BetaGeoData:
    histories: Histories
    x_weights: FloatArray  # customers per distinct x (all rows)
    total: float
    # Rows that carry the two-term log-sum-exp (BG/NBD: x > 0; MBG/NBD: all).
    x_index: IntArray
    tx_index: IntArray
    T_index: IntArray
    weights: FloatArray
    # The first term −(r+x) ln(α+T) is summed per distinct T: Σ w and Σ w·x of all rows with that T.
    T_weights: FloatArray
    T_weighted_x: FloatArray


def _trigamma(value: float) -> float:
    return float(polygamma(1, value))


class _BetaGeoFamily(TransactionModel):
    """Shared likelihood and predictions of BG/NBD (m = 0) and MBG/NBD (m = 1)."""

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "a", "b")
    analytic_hessian: ClassVar[bool] = True
    _m: ClassVar[int] = 0

    def _prepare(self, histories: Histories) -> _BetaGeoData:
        n_x, n_t = len(histories.x_values), len(histories.T_values)
        x = histories.x_values[histories.x_index]
        w = histories.weights
        x_weights = weighted_counts(histories.x_index, w, n_x)
        t_weights = weighted_counts(histories.T_index, w, n_t)
        t_weighted_x = weighted_counts(histories.T_index, w * x, n_t)
        rows = np.flatnonzero(x > 0) if self._m == 0 else np.arange(histories.n_rows)
        return _BetaGeoData(
            histories,
            x_weights,
            histories.n_customers,
            histories.x_index[rows],
            histories.tx_index[rows],
            histories.T_index[rows],
            w[rows],
            t_weights,
            t_weighted_x,
        )

    def _initial_params(self, data: _BetaGeoData) -> FloatArray:
        h = data.histories
        purchases = float(np.dot(h.weights, h.x))
        exposure = float(np.dot(h.weights, h.T))
        # r = 1 and alpha = 1 / (mean purchase rate): a moment start, independent of the time unit.
        alpha = exposure / purchases if purchases > 0 and exposure > 0 else 1.0
        return np.array([1.0, alpha, 1.0, 1.0])

    def _loglik(self, theta: FloatArray, data: _BetaGeoData, order: int) -> LogLik:
        r, alpha, a, b = (float(v) for v in theta)
        m = self._m
        h = data.histories
        ux, wx, total, w = h.x_values, data.x_weights, data.total, data.weights

        # Per distinct x: the Gamma and Beta ratios of FHL 2005 eq. 6.
        ll = float(
            wx @ (gammaln(r + ux) + gammaln(b + ux + m) - gammaln(a + b + ux + m))
            + total * (-gammaln(r) - gammaln(b) + gammaln(a + b) + r * np.log(alpha))
        )
        # logaddexp(g1, g2) = g1 + softplus(g2 − g1) with g1 = −(r+x) ln(α+T): g1 sums per distinct T.
        log_a_t = np.log(alpha + h.T_values)
        t_rx = r * data.T_weights + data.T_weighted_x  # Σ w (r + x) per distinct T
        ll -= float(t_rx @ log_a_t)
        log_a_tx = np.log(alpha + h.tx_values)
        cb = b + ux - 1.0 + m
        rx = (r + ux)[data.x_index]
        d_r = log_a_t[data.T_index] - log_a_tx[data.tx_index]  # ∂(g2 − g1)/∂r
        # d = g2 − g1 = ln a − ln(b+x−1+m) + (r+x)(ln(α+T) − ln(α+t_x))
        d = rx * d_r
        d -= np.log(cb)[data.x_index]
        d += np.log(a)
        p1 = expit(-d)  # softmax weight of the "alive" term; p2 = 1 − p1 that of "dropped out"
        ll -= dot(w, np.log(p1))  # softplus(d) = −ln p1
        if order == 0:
            return ll, None, None

        inv_a_t = 1.0 / (alpha + h.T_values)
        inv_a_tx = 1.0 / (alpha + h.tx_values)
        diff_i = inv_a_t[data.T_index] - inv_a_tx[data.tx_index]
        d_alpha = rx * diff_i  # ∂(g2 − g1)/∂α
        icb = (1.0 / cb)[data.x_index]
        wp2 = w - w * p1
        sum_wp2 = float(wp2.sum())
        psi_abx = psi(a + b + ux + m)
        psi_ab = float(psi(a + b))
        grad = np.array(
            [
                float(wx @ psi(r + ux))
                + total * (np.log(alpha) - float(psi(r)))
                - float(data.T_weights @ log_a_t)
                + dot(wp2, d_r),
                total * r / alpha - float(t_rx @ inv_a_t) + dot(wp2, d_alpha),
                total * psi_ab - float(wx @ psi_abx) + sum_wp2 / a,
                float(wx @ psi(b + ux + m))
                + total * (psi_ab - float(psi(b)))
                - float(wx @ psi_abx)
                - dot(wp2, icb),
            ]
        )
        if order == 1:
            return ll, grad, None

        # ∇²logaddexp = Σ p_k ∇²g_k + p1 p2 (∇g2 − ∇g1)(∇g2 − ∇g1)ᵀ
        wq = wp2 * p1
        wq_dr = wq * d_r
        wq_da = wq * d_alpha
        sum_wq = float(wq.sum())
        t_abx = np.asarray(polygamma(1, a + b + ux + m), dtype=np.float64)
        t_ab = _trigamma(a + b)
        hess = np.empty((4, 4))
        hess[0, 0] = float(wx @ np.asarray(polygamma(1, r + ux))) - total * _trigamma(r) + dot(wq_dr, d_r)
        hess[0, 1] = total / alpha - float(data.T_weights @ inv_a_t) + dot(wp2, diff_i) + dot(wq_dr, d_alpha)
        # Σ w p2 (r+x)(1/(α+t_x)² − 1/(α+T)²) = −Σ w p2 d_alpha (1/(α+T) + 1/(α+t_x))
        sum_i = inv_a_t[data.T_index] + inv_a_tx[data.tx_index]
        hess[1, 1] = (
            -total * r / alpha**2
            + float(t_rx @ (inv_a_t * inv_a_t))
            - dot(wp2, (d_alpha * sum_i))
            + dot(wq_da, d_alpha)
        )
        hess[0, 2] = float(wq_dr.sum()) / a
        hess[0, 3] = -dot(wq_dr, icb)
        hess[1, 2] = float(wq_da.sum()) / a
        hess[1, 3] = -dot(wq_da, icb)
        hess[2, 2] = total * t_ab - float(wx @ t_abx) + (sum_wq - sum_wp2) / a**2
        hess[2, 3] = total * t_ab - float(wx @ t_abx) - dot(wq, icb) / a
        hess[3, 3] = (
            float(wx @ np.asarray(polygamma(1, b + ux + m)))
            - total * _trigamma(b)
            + total * t_ab
            - float(wx @ t_abx)
            + dot((wp2 + wq), (icb * icb))
        )
        for i in range(4):
            for j in range(i):
                hess[i, j] = hess[j, i]
        return ll, grad, hess

    # -- predictions -----------------------------------------------------------------------------------

    def _log_odds_dead(self, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
        """ln[P(dropped out after the last purchase) / P(alive)] (FHL 2005 eq. 13), in log space."""
        r, alpha, a, b = self._params()
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = (
                np.log(a)
                - np.log(b + x - 1.0 + self._m)
                + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
            )
        if self._m == 0:
            odds = np.where(x > 0, odds, -np.inf)
        return np.asarray(odds, dtype=np.float64)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive | x, t_x, T) = 1 / (1 + odds), odds from FHL 2005 eq. 13 (Batislam et al. for MBG)."""
        x, t_x, big_t = validate_histories(frequency, recency, T, allow_scalar=True)
        result = np.exp(-np.logaddexp(0.0, self._log_odds_dead(x, t_x, big_t)))
        return broadcast_result(result, frequency, recency, T)

    def _expected_given_alive_factor(self, t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """The numerator of FHL 2005 eq. 10 (divided by its P(alive) denominator elsewhere).

        (c / (a−1)) [1 − ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x+m; c; z)], c = a+b+x−1+m, z = t/(α+T+t).
        Euler's transformation 2F1(A,B;C;z) = (1−z)^(C−A−B) 2F1(C−A, C−B; C; z) turns the product into
        (1−z)^(a−1) 2F1(c−r−x, a−1; c; z): the huge factor ((α+T+t)/(α+T))^(r+x) that overflows for
        large x cancels analytically instead of numerically.
        """
        r, alpha, a, b = self._params()
        c = a + b + x - 1.0 + self._m
        z = t / (alpha + big_t + t)
        u = (a - 1.0) * np.log1p(-z)
        f = hyp2f1(c - r - x, a - 1.0, c, z)
        # 1 − e^u F = −expm1(u) − e^u (F − 1): accurate when a → 1 or t → 0 (both terms are small).
        bracket = -np.expm1(u) - np.exp(u) * (f - 1.0)
        return np.asarray(c / (a - 1.0) * bracket, dtype=np.float64)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T] (FHL 2005 eq. 10; Batislam et al. 2007 for MBG/NBD)."""
        horizon = check_horizon("t", t)
        x, t_x, big_t = validate_histories(frequency, recency, T, allow_scalar=True)
        horizon, x, t_x, big_t = np.broadcast_arrays(horizon, x, t_x, big_t)
        alive = np.exp(-np.logaddexp(0.0, self._log_odds_dead(x, t_x, big_t)))
        result = self._expected_given_alive_factor(horizon, x, big_t) * alive
        return broadcast_result(result, t, frequency, recency, T)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a new customer (FHL 2005 eq. 9): eq. 10 at x = t_x = T = 0."""
        horizon = check_horizon("t", t)
        zeros = np.zeros_like(horizon)
        alive = np.exp(-np.logaddexp(0.0, self._log_odds_dead(zeros, zeros, zeros)))
        result = self._expected_given_alive_factor(horizon, zeros, zeros) * alive
        return broadcast_result(result, t)

    def probability_of_purchases(self, n: ArrayLike, t: ArrayLike) -> FloatArray:
        """P(X(t) = n) (FHL 2005 eq. 8; Batislam et al. 2007 eq. 5 for MBG/NBD).

        The finite sum 1 − Σ_{j<n} NB(j) of the paper is the negative-binomial survival function,
        evaluated as the regularised incomplete beta I_z(n, r) with z = t/(α+t) (no cancellation).
        """
        r, alpha, a, b = self._params()
        counts = check_horizon("n", n)
        check_counts("n", counts)
        horizon = check_horizon("t", t)
        counts, horizon = np.broadcast_arrays(counts, horizon)
        m = self._m
        z = horizon / (alpha + horizon)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_nb = (
                gammaln(r + counts)
                - gammaln(r)
                - gammaln(counts + 1.0)
                + r * np.log(alpha / (alpha + horizon))
                + np.where(counts > 0, counts * np.log(z), 0.0)
            )
            first = np.exp(betaln(a, b + counts + m) - betaln(a, b) + log_nb)
            survival = np.where(counts > 0, betainc(np.maximum(counts, 1.0), r, z), 1.0)
            second = np.exp(betaln(a + 1.0, b + counts - 1.0 + m) - betaln(a, b)) * survival
        if m == 0:
            second = np.where(counts > 0, second, 0.0)
        return broadcast_result(np.asarray(first + second, dtype=np.float64), n, t)


class BetaGeo(_BetaGeoFamily):
    """The BG/NBD model (Fader, Hardie & Lee 2005): ``BetaGeo().fit(frequency, recency, T)``.

    ``params_`` = {r, alpha, a, b}; ``alpha`` is in the time unit of the data. On the CDNOW sample in
    weeks it gives r 0.2426, alpha 4.4136, a 0.7930, b 2.4261, log-likelihood −9582.43.
    """

    _m: ClassVar[int] = 0
