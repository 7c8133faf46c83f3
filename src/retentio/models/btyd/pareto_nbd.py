"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987) with a likelihood that stays finite for any history.

Purchases: Poisson at rate lambda ~ Gamma(r, alpha) while alive; lifetime exponential at rate
mu ~ Gamma(s, beta). Fader & Hardie (2005, "A note on deriving the Pareto/NBD model and related
expressions", eq. 22) give one customer's likelihood as

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · (G(t_x) − G(T)) ],
    G(t) = 2F1(r+s+x, b; r+s+x+1; |α−β|/(M+t)) / (M+t)^(r+s+x),  M = max(α, β),
    b = s+1 if α ≥ β else r+x.

Evaluated as written, (M+t)^(r+s+x) and the hypergeometric function overflow for large x and long
histories (the peer tools return NaN for x > ~300). Here G is computed in log space after Euler's
transformation 2F1(a, b; a+1; z) = (1−z)^(1−b) 2F1(1, a+1−b; a+1; z), whose series has positive
terms that *decrease* from the first (ratio (a+1−b+k)/(a+1+k)·z < z), so it converges with no
overflow or cancellation for every z in [0, 1). Writing 1−z = (m+t)/(M+t), m = min(α, β):

    α ≥ β:  ln G = −s ln(β+t) − (r+x) ln(α+t) + ln S(z; r+x, r+s+x+1),        z = (α−β)/(α+t)
    α < β:  ln G = (1−r−x) ln(α+t) − (s+1) ln(β+t) + ln S(z; s+1, r+s+x+1),   z = (β−α)/(β+t)

with S(z; B, C) = 2F1(1, B; C; z) = Σ_k Π_{j<k} (B+j)/(C+j) z^k. Derivatives of ln S in B, C and z are
sums over the same terms (digamma-like running sums), so the gradient is analytic. The difference
G(t_x) − G(T) is taken as G(t_x)·(1 − e^(ln G(T) − ln G(t_x))).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, psi, roots_legendre

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

# Relative size of the last series term at which the sums stop (tail bounded by term·z/(1−z)).
_SERIES_TOLERANCE = 1e-17
_SERIES_MAX_TERMS = 200_000
_QUADRATURE_NODES = 96


def _log_s_series(
    big_b: FloatArray, big_c: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """ln S, ∂ln S/∂B, ∂ln S/∂C, ∂ln S/∂z for S = 2F1(1, B; C; z), 0 <= z < 1, 0 < B < C.

    Terms t_k = Π_{j<k} (B+j)/(C+j) z^k are positive and decreasing, so partial sums never overflow.
    Rows leave the loop as soon as their tail is below tolerance; a geometric tail estimate is added
    to the (rare) rows still running after the term limit.
    """
    n = len(z)
    total = np.ones(n)
    sum_b = np.zeros(n)
    sum_c = np.zeros(n)
    sum_z = np.zeros(n)
    active = np.arange(n)
    term = np.ones(n)
    h_b = np.zeros(n)
    h_c = np.zeros(n)
    b_act, c_act, z_act = big_b, big_c, z
    k = 0
    while len(active) and k < _SERIES_MAX_TERMS:
        k += 1
        ratio = (b_act + (k - 1)) / (c_act + (k - 1))
        q = term * ratio  # t_k / z
        h_b = h_b + 1.0 / (b_act + (k - 1))
        h_c = h_c + 1.0 / (c_act + (k - 1))
        term = q * z_act
        total[active] += term
        sum_b[active] += term * h_b
        sum_c[active] += term * h_c
        sum_z[active] += k * q
        # Tail after this term is at most term·ρ/(1−ρ), ρ = next ratio·z < z; weigh by k for ∂/∂z.
        rho = z_act * (b_act + k) / (c_act + k)
        tail = (k + 1.0 + h_b + h_c) * term * rho / np.maximum(1.0 - rho, 1e-300)
        going = tail > _SERIES_TOLERANCE * total[active]
        if not going.all():
            active, term, h_b, h_c = active[going], term[going], h_b[going], h_c[going]
            b_act, c_act, z_act = b_act[going], c_act[going], z_act[going]
    if len(active):
        # Geometric estimate of the remaining tail for rows that hit the term limit.
        rho = z_act * (b_act + k) / (c_act + k)
        extra = term * rho / (1.0 - rho)
        total[active] += extra
        sum_b[active] += extra * h_b
        sum_c[active] += extra * h_c
        sum_z[active] += (k + 1.0) * extra / np.maximum(z_act, 1e-300)
    return np.log(total), sum_b / total, -sum_c / total, sum_z / total


def log_g(
    x: FloatArray, t: FloatArray, r: float, alpha: float, s: float, beta: float, *, gradient: bool = True
) -> tuple[FloatArray, FloatArray | None]:
    """ln G(t) of the module docstring and, optionally, its gradient in (r, alpha, s, beta) (4 × n)."""
    big_c = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        log_s, s_b, s_c, s_z = _log_s_series(r + x, big_c, z)
        value = -s * np.log(beta + t) - (r + x) * np.log(alpha + t) + log_s
        if not gradient:
            return value, None
        grad = np.array(
            [
                -np.log(alpha + t) + s_b + s_c,
                -(r + x) / (alpha + t) + s_z * (beta + t) / (alpha + t) ** 2,
                -np.log(beta + t) + s_c,
                -s / (beta + t) - s_z / (alpha + t),
            ]
        )
        return value, grad
    z = (beta - alpha) / (beta + t)
    log_s, s_b, s_c, s_z = _log_s_series(np.full_like(x, s + 1.0), big_c, z)
    value = (1.0 - r - x) * np.log(alpha + t) - (s + 1.0) * np.log(beta + t) + log_s
    if not gradient:
        return value, None
    grad = np.array(
        [
            -np.log(alpha + t) + s_c,
            (1.0 - r - x) / (alpha + t) - s_z / (beta + t),
            -np.log(beta + t) + s_b + s_c,
            -(s + 1.0) / (beta + t) + s_z * (alpha + t) / (beta + t) ** 2,
        ]
    )
    return value, grad


def log_odds_dead(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray, r: float, alpha: float, s: float, beta: float
) -> FloatArray:
    """ln[P(dropped out in (t_x, T]) / P(alive at T)] given the history: the two likelihood terms."""
    log_g_tx, _ = log_g(x, t_x, r, alpha, s, beta, gradient=False)
    log_g_t, _ = log_g(x, big_t, r, alpha, s, beta, gradient=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a0 = log_g_tx + np.log1p(-np.exp(np.minimum(log_g_t - log_g_tx, 0.0)))
    log_a0 = np.where(big_t > t_x, log_a0, -np.inf)
    return np.asarray(
        np.log(s) - np.log(r + s + x) + log_a0 + (r + x) * np.log(alpha + big_t) + s * np.log(beta + big_t),
        dtype=np.float64,
    )


@dataclass(frozen=True)
class _ParetoData:
    histories: Histories
    x_weights: FloatArray
    total: float
    # distinct (x, t_x) and (x, T) pairs, and each row's pair
    pair_tx_x: FloatArray
    pair_tx_t: FloatArray
    row_pair_tx: IntArray
    pair_t_x: FloatArray
    pair_t_t: FloatArray
    row_pair_t: IntArray


def _pairs(x_index: IntArray, other_index: IntArray, n_other: int) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct (x, other) code pairs: (x codes, other codes, each row's pair)."""
    key = x_index.astype(np.int64) * n_other + other_index
    unique_keys, row_pair = np.unique(key, return_inverse=True)
    return (unique_keys // n_other).astype(np.intp), (unique_keys % n_other).astype(np.intp), row_pair


class ParetoNBD(TransactionModel):
    """The Pareto/NBD model: ``ParetoNBD().fit(frequency, recency, T)``.

    ``params_`` = {r, alpha, s, beta}; alpha and beta are in the time unit of the data. On the CDNOW
    sample in weeks: r 0.5533, alpha 10.5776, s 0.6062, beta 11.668, log-likelihood −9594.97.
    Fitted by L-BFGS-B on the analytic gradient, polished by Newton steps.
    """

    param_names: ClassVar[tuple[str, ...]] = ("r", "alpha", "s", "beta")
    time_params: ClassVar[tuple[str, ...]] = ("alpha", "beta")

    def _prepare(self, histories: Histories) -> _ParetoData:
        x_weights = weighted_counts(histories.x_index, histories.weights, len(histories.x_values))
        tx_x, tx_t, row_tx = _pairs(histories.x_index, histories.tx_index, len(histories.tx_values))
        t_x, t_t, row_t = _pairs(histories.x_index, histories.T_index, len(histories.T_values))
        return _ParetoData(
            histories,
            x_weights,
            histories.n_customers,
            histories.x_values[tx_x],
            histories.tx_values[tx_t],
            row_tx,
            histories.x_values[t_x],
            histories.T_values[t_t],
            row_t,
        )

    def _initial_params(self, data: _ParetoData) -> FloatArray:
        h = data.histories
        purchases = float(np.dot(h.weights, h.x))
        exposure = float(np.dot(h.weights, h.T))
        alpha = exposure / purchases if purchases > 0 and exposure > 0 else 1.0
        beta = max(exposure / max(h.n_customers, 1.0), 1e-3)
        return np.array([1.0, alpha, 1.0, beta])

    def _loglik(self, theta: FloatArray, data: _ParetoData, order: int) -> LogLik:
        r, alpha, s, beta = (float(v) for v in theta)
        h = data.histories
        ux, wx, total, w = h.x_values, data.x_weights, data.total, h.weights
        gradient = order >= 1
        lg_tx, dg_tx = log_g(data.pair_tx_x, data.pair_tx_t, r, alpha, s, beta, gradient=gradient)
        lg_t, dg_t = log_g(data.pair_t_x, data.pair_t_t, r, alpha, s, beta, gradient=gradient)

        x = h.x
        big_t = h.T
        lgx = lg_tx[data.row_pair_tx]
        lgt = lg_t[data.row_pair_t]
        open_interval = h.T_values[h.T_index] > h.tx_values[h.tx_index]
        ratio = np.where(open_interval, np.exp(np.minimum(lgt - lgx, 0.0)), 1.0)  # G(T)/G(t_x) in [0, 1)
        with np.errstate(divide="ignore"):
            log_a0 = np.where(open_interval, lgx + np.log1p(-ratio), -np.inf)
        log_rsx = np.log(r + s + x)
        e1 = -(r + x) * np.log(alpha + big_t) - s * np.log(beta + big_t)
        e2 = np.log(s) - log_rsx + log_a0
        row_ll = np.logaddexp(e1, e2)
        ll = float(
            wx @ gammaln(r + ux)
            + total * (-gammaln(r) + r * np.log(alpha) + s * np.log(beta))
            + dot(w, row_ll)
        )
        if not gradient or dg_tx is None or dg_t is None:
            return ll, None, None

        p2 = np.exp(e2 - row_ll)  # weight of the "dropped out in (t_x, T]" term
        p1 = 1.0 - p2
        grad_e1 = np.array(
            [-np.log(alpha + big_t), -(r + x) / (alpha + big_t), -np.log(beta + big_t), -s / (beta + big_t)]
        )
        safe = np.where(open_interval, 1.0 - ratio, 1.0)
        grad_a0 = (dg_tx[:, data.row_pair_tx] - ratio * dg_t[:, data.row_pair_t]) / safe
        grad_e2 = grad_a0
        grad_e2[0] -= 1.0 / (r + s + x)
        grad_e2[2] += 1.0 / s - 1.0 / (r + s + x)
        row_grad = np.where(open_interval, p1 * grad_e1 + p2 * grad_e2, grad_e1)
        grad = np.einsum("kn,n->k", row_grad, w)
        grad[0] += float(wx @ psi(r + ux)) + total * (np.log(alpha) - float(psi(r)))
        grad[1] += total * r / alpha
        grad[3] += total * s / beta
        grad[2] += total * np.log(beta)
        return ll, grad, None

    # -- predictions -----------------------------------------------------------------------------------

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive | x, t_x, T) (Fader & Hardie 2005 note, eq. 18), finite for any x and T."""
        x, t_x, big_t = validate_histories(frequency, recency, T, allow_scalar=True)
        odds = log_odds_dead(x, t_x, big_t, *self._params())
        return broadcast_result(np.exp(-np.logaddexp(0.0, odds)), frequency, recency, T)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, big_t: FloatArray) -> FloatArray:
        """(r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)], with its s → 1 limit (log)."""
        r, alpha, s, beta = self._params()
        log_u = -np.log1p(t / (beta + big_t))
        # (1 − u^(s−1)) / (s−1), whose limit at s = 1 is −ln u.
        shape_term = -log_u if abs(s - 1.0) < 1e-10 else -np.expm1((s - 1.0) * log_u) / (s - 1.0)
        return np.asarray((r + x) * (beta + big_t) / (alpha + big_t) * shape_term, dtype=np.float64)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T] (Schmittlein et al. 1987; Fader & Hardie 2005 eq. 19)."""
        horizon = check_horizon("t", t)
        x, t_x, big_t = validate_histories(frequency, recency, T, allow_scalar=True)
        horizon, x, t_x, big_t = np.broadcast_arrays(horizon, x, t_x, big_t)
        alive = np.exp(-np.logaddexp(0.0, log_odds_dead(x, t_x, big_t, *self._params())))
        return broadcast_result(self._expected_if_alive(horizon, x, big_t) * alive, t, frequency, recency, T)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] = rβ/(α(s−1)) [1 − (β/(β+t))^(s−1)] (Fader & Hardie 2005 eq. 17)."""
        horizon = check_horizon("t", t)
        zeros = np.zeros_like(horizon)
        return broadcast_result(self._expected_if_alive(horizon, zeros, zeros), t)

    def probability_of_purchases(self, n: ArrayLike, t: ArrayLike) -> FloatArray:
        """P(X(t) = n) by conditioning on the lifetime τ (Fader & Hardie note 012's starting point).

        P = (β/(β+t))^s NB(n; r, α/(α+t)) + ∫_0^t sβ^s (β+τ)^−(s+1) NB(n; r, α/(α+τ)) dτ. With
        u = 1 − (β/(β+τ))^s the integral is ∫_0^{u(t)} NB(n; r, α/(α+τ(u))) du over a bounded smooth
        integrand, done by Gauss-Legendre quadrature; no hypergeometric function is needed.
        """
        r, alpha, s, beta = self._params()
        counts = check_horizon("n", n)
        check_counts("n", counts)
        horizon = check_horizon("t", t)
        counts, horizon = np.broadcast_arrays(counts, horizon)
        counts, horizon = counts.ravel(), horizon.ravel()

        def log_nb(k: FloatArray, tau: FloatArray) -> FloatArray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(
                    gammaln(r + k)
                    - gammaln(r)
                    - gammaln(k + 1.0)
                    + r * (np.log(alpha) - np.log(alpha + tau))
                    + np.where(k > 0, k * (np.log(tau) - np.log(alpha + tau)), 0.0),
                    dtype=np.float64,
                )

        alive_term = np.exp(s * (np.log(beta) - np.log(beta + horizon)) + log_nb(counts, horizon))
        nodes, weights = roots_legendre(_QUADRATURE_NODES)
        u_end = -np.expm1(s * (np.log(beta) - np.log(beta + horizon)))  # 1 − (β/(β+t))^s
        u = 0.5 * u_end[None, :] * (nodes[:, None] + 1.0)
        tau = beta * np.expm1(-np.log1p(-u) / s)
        integral = 0.5 * u_end * (weights @ np.exp(log_nb(counts[None, :], tau)))
        result = (alive_term + integral).reshape(
            np.shape(np.broadcast_arrays(np.asarray(n), np.asarray(t))[0])
        )
        return broadcast_result(np.asarray(result, dtype=np.float64), n, t)
