"""BG/BB (Fader, Hardie & Shang 2010): discrete-time, non-contractual purchasing.

Each of n transaction opportunities (e.g. yearly donation drives), an active customer transacts with
probability p ~ Beta(alpha, beta); before each opportunity they may become inactive for good with
probability theta ~ Beta(gamma, delta). Data per customer: x transactions, t_x the opportunity of the
last one (0 if none), n opportunities observed.

Likelihood (FHS 2010 eq. 5): B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
    + Σ_{i=0}^{n−t_x−1} B(α+x, β+t_x−x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ),
summed in log space (log-sum-exp) with an analytic gradient (digamma differences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, gammaln, logsumexp, psi

from retentio.models.btyd.base import (
    BTYDModel,
    FloatArray,
    LogLik,
    ModelInputError,
    as_float_array,
    broadcast_result,
    check_counts,
    check_same_length,
    check_weights,
    weighted_counts,
)


def validate_discrete(
    frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike, *, allow_scalar: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, n): whole numbers, x <= t_x <= n, t_x = 0 exactly when x = 0."""
    x = as_float_array("frequency", frequency, allow_scalar=allow_scalar)
    t_x = as_float_array("recency", recency, allow_scalar=allow_scalar)
    n = as_float_array("n_periods", n_periods, allow_scalar=allow_scalar)
    if allow_scalar:
        x, t_x, n = (np.ascontiguousarray(v) for v in np.broadcast_arrays(x, t_x, n))
    check_same_length(frequency=x, recency=t_x, n_periods=n)
    check_counts("frequency", x)
    check_counts("recency", t_x)
    check_counts("n_periods", n)
    for name, bad, rule in (
        ("recency", t_x > n, "must not exceed n_periods"),
        ("frequency", x > t_x, "must not exceed recency (one transaction per period at most)"),
        ("recency", (x == 0) & (t_x > 0), "must be 0 where frequency is 0"),
    ):
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ModelInputError(
                f"{name} {rule}: {int(bad.sum())} row(s) break this (first at position {first})"
            )
    return x, t_x, n


@dataclass(frozen=True)
class _DiscreteData:
    x: FloatArray
    t_x: FloatArray
    n: FloatArray
    weights: FloatArray


def _term_and_gradient(
    alpha: float, beta: float, gamma: float, delta: float, x: FloatArray, m: FloatArray, g: float
) -> tuple[FloatArray, FloatArray]:
    """ln[B(α+x, β+m−x)/B(α,β) · B(γ+g, δ+m)/B(γ,δ)] and its gradient (leading axis of 4)."""
    value = (
        betaln(alpha + x, beta + m - x)
        - betaln(alpha, beta)
        + betaln(gamma + g, delta + m)
        - betaln(gamma, delta)
    )
    psi_ab, psi_gd = psi(alpha + beta), psi(gamma + delta)
    psi_abm = psi(alpha + beta + m)
    psi_gdm = psi(gamma + delta + g + m)
    grad = np.stack(
        [
            psi(alpha + x) - psi_abm - psi(alpha) + psi_ab,
            psi(beta + m - x) - psi_abm - psi(beta) + psi_ab,
            psi(gamma + g) - psi_gdm - psi(gamma) + psi_gd,
            psi(delta + m) - psi_gdm - psi(delta) + psi_gd,
        ]
    )
    return np.asarray(value, dtype=np.float64), np.asarray(grad, dtype=np.float64)


class BetaGeoBetaBinom(BTYDModel):
    """The BG/BB model: ``BetaGeoBetaBinom().fit(frequency, recency, n_periods, weights)``.

    ``params_`` = {alpha, beta, gamma, delta}. On the donations data (11,104 donors, 6 opportunities):
    alpha 1.2035, beta 0.7497, gamma 0.6568, delta 2.7838, log-likelihood −33,225.58.
    """

    param_names: ClassVar[tuple[str, ...]] = ("alpha", "beta", "gamma", "delta")

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike, weights: ArrayLike | None = None
    ) -> Self:
        """Fit by maximum likelihood on (x, t_x, n) rows; ``weights`` counts customers per row."""
        self._check_hyperparameters()
        x, t_x, n = validate_discrete(frequency, recency, n_periods)
        if len(x) == 0:
            raise ModelInputError("frequency is empty: there is nothing to fit")
        w = check_weights(weights, len(x))
        keep = w > 0
        rows, inverse = np.unique(
            np.stack([x[keep], t_x[keep], n[keep]], axis=1), axis=0, return_inverse=True
        )
        counts = weighted_counts(inverse.ravel(), w[keep], len(rows))
        data = _DiscreteData(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), counts)
        return self._fit_data(data, float(counts.sum()), len(rows))

    def _initial_params(self, data: _DiscreteData) -> FloatArray:
        return np.array([1.0, 1.0, 1.0, 1.0])

    def _terms(
        self, theta: FloatArray, data: _DiscreteData, gradient: bool
    ) -> tuple[FloatArray, FloatArray | None]:
        """Log terms (rows × 1 + max(n − t_x)), −inf where absent, and their gradients (4 × rows × K)."""
        alpha, beta, gamma, delta = (float(v) for v in theta)
        x, t_x, n = data.x, data.t_x, data.n
        k = int(np.max(n - t_x)) if len(n) else 0
        i = np.arange(k, dtype=np.float64)[None, :]
        m = t_x[:, None] + i
        present = i < (n - t_x)[:, None]
        m = np.where(present, m, t_x[:, None])  # any valid value where absent (masked below)
        lead, lead_grad = _term_and_gradient(alpha, beta, gamma, delta, x, n, 0.0)
        rest, rest_grad = _term_and_gradient(alpha, beta, gamma, delta, x[:, None], m, 1.0)
        terms = np.concatenate([lead[:, None], np.where(present, rest, -np.inf)], axis=1)
        if not gradient:
            return terms, None
        grads = np.concatenate([lead_grad[:, :, None], np.where(present, rest_grad, 0.0)], axis=2)
        return terms, grads

    def _loglik(self, theta: FloatArray, data: _DiscreteData, order: int) -> LogLik:
        terms, grads = self._terms(theta, data, order >= 1)
        row_ll = logsumexp(terms, axis=1)
        ll = float(data.weights @ row_ll)
        if grads is None:
            return ll, None, None
        share = np.exp(terms - row_ll[:, None])  # softmax weight of each term
        grad = np.einsum("krj,rj,r->k", grads, share, data.weights)
        return ll, grad, None

    # -- predictions -----------------------------------------------------------------------------------

    def _log_likelihood_rows(self, x: FloatArray, t_x: FloatArray, n: FloatArray) -> FloatArray:
        terms, _ = self._terms(np.array(self._params()), _DiscreteData(x, t_x, n, np.ones_like(x)), False)
        return np.asarray(logsumexp(terms, axis=1), dtype=np.float64)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike) -> FloatArray:
        """P(active at opportunity n+1 | x, t_x, n) (FHS 2010 eq. 11)."""
        x, t_x, n = validate_discrete(frequency, recency, n_periods, allow_scalar=True)
        alpha, beta, gamma, delta = self._params()
        log_alive = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n + 1.0)
            - betaln(gamma, delta)
        )
        result = np.exp(log_alive - self._log_likelihood_rows(x, t_x, n))
        return broadcast_result(result, frequency, recency, n_periods)

    def expected_purchases(self, n_periods: ArrayLike) -> FloatArray:
        """E[X(n)] for a new customer over n opportunities (FHS 2010 eq. 7)."""
        n = as_float_array("n_periods", n_periods, allow_scalar=True)
        check_counts("n_periods", n)
        alpha, beta, gamma, delta = self._params()
        ratio = np.exp(
            gammaln(gamma + delta)
            + gammaln(1.0 + delta + n)
            - gammaln(gamma + delta + n)
            - gammaln(1.0 + delta)
        )
        result = alpha / (alpha + beta) * delta / (gamma - 1.0) * (1.0 - ratio)
        return broadcast_result(np.asarray(result, dtype=np.float64), n_periods)

    def conditional_expected_purchases(
        self, future_periods: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """E[transactions in the next n* opportunities | x, t_x, n] (FHS 2010 eq. 13)."""
        future = as_float_array("future_periods", future_periods, allow_scalar=True)
        check_counts("future_periods", future)
        x, t_x, n = validate_discrete(frequency, recency, n_periods, allow_scalar=True)
        future, x, t_x, n = np.broadcast_arrays(future, x, t_x, n)
        alpha, beta, gamma, delta = self._params()
        log_lead = (
            betaln(alpha + x + 1.0, beta + n - x)
            - betaln(alpha, beta)
            + gammaln(gamma + delta)
            - gammaln(1.0 + delta)
        )
        bracket = np.exp(gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)) - np.exp(
            gammaln(1.0 + delta + n + future) - gammaln(gamma + delta + n + future)
        )
        result = np.exp(log_lead - self._log_likelihood_rows(x, t_x, n)) * delta / (gamma - 1.0) * bracket
        return broadcast_result(
            np.asarray(result, dtype=np.float64), future_periods, frequency, recency, n_periods
        )

    def probability_of_purchases(self, frequency: ArrayLike, n_periods: ArrayLike) -> FloatArray:
        """P(X(n) = x) for a new customer (FHS 2010 eq. 8)."""
        x = as_float_array("frequency", frequency, allow_scalar=True)
        n = as_float_array("n_periods", n_periods, allow_scalar=True)
        check_counts("frequency", x)
        check_counts("n_periods", n)
        x, n = (np.ascontiguousarray(v) for v in np.broadcast_arrays(x, n))
        alpha, beta, gamma, delta = self._params()
        out = np.zeros(len(x))
        valid = x <= n
        log_choose = gammaln(n + 1.0) - gammaln(x + 1.0) - gammaln(np.maximum(n - x, 0.0) + 1.0)
        out = np.where(
            valid,
            np.exp(
                log_choose
                + betaln(alpha + x, beta + np.maximum(n - x, 0.0))
                - betaln(alpha, beta)
                + betaln(gamma, delta + n)
                - betaln(gamma, delta)
            ),
            0.0,
        )
        k = int(np.max(n)) if len(n) else 0
        i = np.arange(k, dtype=np.float64)[None, :]
        in_sum = (i >= x[:, None]) & (i < n[:, None])
        i_safe = np.where(in_sum, i, x[:, None])
        log_terms = (
            gammaln(i_safe + 1.0)
            - gammaln(x[:, None] + 1.0)
            - gammaln(i_safe - x[:, None] + 1.0)
            + betaln(alpha + x[:, None], beta + i_safe - x[:, None])
            - betaln(alpha, beta)
            + betaln(gamma + 1.0, delta + i_safe)
            - betaln(gamma, delta)
        )
        out = out + np.where(in_sum, np.exp(log_terms), 0.0).sum(axis=1)
        return broadcast_result(np.asarray(out, dtype=np.float64), frequency, n_periods)
