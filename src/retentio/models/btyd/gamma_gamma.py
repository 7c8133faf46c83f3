"""Gamma-Gamma spend model (Colombo & Jiang 1999; Fader & Hardie 2013, note 025).

A customer's purchase values are Gamma(p, nu) with a customer-specific scale nu ~ Gamma(q, v); given
x repeat purchases with mean value m, the density of m is (note 025, eq. 4)

    f(m | p, q, v; x) = Γ(px+q) / (Γ(px) Γ(q)) · v^q x^(px) m^(px−1) / (v + x m)^(px+q),

and E[spend per purchase | x, m] = p (v + x m) / (px + q − 1) (eq. 5). The model assumes spend is
independent of purchase frequency and uses the mean of *repeat* purchases only (the first purchase is
often atypical): fit on customers with frequency >= 1.

The log-likelihood is grouped by frequency so that fitting a million customers takes a fraction of a
second. Per customer,

    ln f = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v + x m),

and everything but the last term depends on x alone or is linear in p with a data constant
(Σ w x ln m). So the Gamma functions are evaluated once per *distinct* x (a few hundred values), the
per-customer work is one ``ln(v + x m)`` (and one reciprocal for derivatives) plus dot products, and
with the analytic Hessian the damped Newton of :mod:`retentio.models.btyd.base` converges in a handful
of evaluations. (Measured against the per-customer form with a finite-difference Hessian: the same
maximum — log-likelihoods within 1e-8, parameters within 1e-4 of a standard error — on CDNOW and on
800k simulated customers, 0.2 s instead of 7.8 s.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, polygamma, psi

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
    dot,
    factorize,
    weighted_counts,
)


@dataclass(frozen=True)
class _GroupedSpend:
    x_values: FloatArray  # distinct frequencies
    x_weights: FloatArray  # Σ w per distinct x
    x_log_m: FloatArray  # Σ w ln m per distinct x
    sum_log_m: float  # Σ w ln m
    total: float  # Σ w
    xm: FloatArray  # per customer x·m
    weights: FloatArray  # per customer w
    wx: FloatArray  # per customer w·x
    monetary: FloatArray  # per customer m (for the starting point)


def _trigamma(values: FloatArray | float) -> FloatArray:
    return np.asarray(polygamma(1, values), dtype=np.float64)


class GammaGamma(BTYDModel):
    """The Gamma-Gamma model: ``GammaGamma().fit(frequency, monetary_value)`` on repeat buyers.

    ``params_`` = {p, q, v}; v is in money units. On the 946 CDNOW repeat buyers: p 6.249, q 3.745,
    v 15.448. ``n_rows_`` is the number of customers with a positive weight (the likelihood is grouped
    by frequency, not compressed to distinct rows).
    """

    param_names: ClassVar[tuple[str, ...]] = ("p", "q", "v")
    analytic_hessian: ClassVar[bool] = True

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> Self:
        """Fit on (x, mean repeat-purchase value) of customers with x >= 1; returns ``self``."""
        self._check_hyperparameters()
        x = as_float_array("frequency", frequency)
        m = as_float_array("monetary_value", monetary_value)
        check_same_length(frequency=x, monetary_value=m)
        if len(x) == 0:
            raise ModelInputError("frequency is empty: there is nothing to fit")
        check_counts("frequency", x)
        if np.any(x == 0):
            raise ModelInputError(
                f"frequency is 0 in {int(np.sum(x == 0))} row(s): fit Gamma-Gamma on repeat buyers only "
                "(frequency >= 1); their spend is the mean of repeat purchases"
            )
        if np.any(m <= 0):
            raise ModelInputError(f"monetary_value must be > 0: {int(np.sum(m <= 0))} row(s) are not")
        w = check_weights(weights, len(x))
        keep = w > 0
        x, m, w = x[keep], m[keep], w[keep]
        x_index, x_values = factorize(x)
        w_log_m = w * np.log(m)
        data = _GroupedSpend(
            x_values=x_values,
            x_weights=weighted_counts(x_index, w, len(x_values)),
            x_log_m=weighted_counts(x_index, w_log_m, len(x_values)),
            sum_log_m=float(w_log_m.sum()),
            total=float(w.sum()),
            xm=x * m,
            weights=w,
            wx=w * x,
            monetary=m,
        )
        return self._fit_data(data, data.total, len(w))

    def _initial_params(self, data: _GroupedSpend) -> FloatArray:
        # p = 1, q = 2 and v = mean spend put the population mean p v / (q − 1) at the sample mean.
        mean = float(np.dot(data.weights, data.monetary) / data.total)
        return np.array([1.0, 2.0, mean])

    def _loglik(self, theta: FloatArray, data: _GroupedSpend, order: int) -> LogLik:
        p, q, v = (float(t) for t in theta)
        ux, wx_, total = data.x_values, data.x_weights, data.total
        pux = p * ux
        log_ux = np.log(ux)
        log_v_xm = np.log(v + data.xm)
        sum_x_log = dot(data.wx, log_v_xm)  # Σ w x ln(v + x m)
        sum_log = dot(data.weights, log_v_xm)  # Σ w ln(v + x m)
        x_log_m = float(ux @ data.x_log_m)  # Σ w x ln m
        ll = (
            float(wx_ @ (gammaln(pux + q) - gammaln(pux) + pux * log_ux))
            + total * (q * np.log(v) - float(gammaln(q)))
            + p * x_log_m
            - data.sum_log_m
            - p * sum_x_log
            - q * sum_log
        )
        if order == 0:
            return ll, None, None
        inverse = 1.0 / (v + data.xm)
        sum_x_inv = dot(data.wx, inverse)
        sum_inv = dot(data.weights, inverse)
        psi_pxq = psi(pux + q)
        grad = np.array(
            [
                float(wx_ @ (ux * (psi_pxq - psi(pux) + log_ux))) + x_log_m - sum_x_log,
                float(wx_ @ psi_pxq) + total * (np.log(v) - float(psi(q))) - sum_log,
                total * q / v - p * sum_x_inv - q * sum_inv,
            ]
        )
        if order == 1:
            return ll, grad, None
        tri_pxq = _trigamma(pux + q)
        inverse2 = inverse * inverse
        hess = np.empty((3, 3))
        hess[0, 0] = float(wx_ @ (ux * ux * (tri_pxq - _trigamma(pux))))
        hess[0, 1] = float(wx_ @ (ux * tri_pxq))
        hess[0, 2] = -sum_x_inv
        hess[1, 1] = float(wx_ @ tri_pxq) - total * float(_trigamma(q))
        hess[1, 2] = total / v - sum_inv
        hess[2, 2] = -total * q / v**2 + p * dot(data.wx, inverse2) + q * dot(data.weights, inverse2)
        for i in range(3):
            for j in range(i):
                hess[i, j] = hess[j, i]
        return ll, grad, hess

    def conditional_expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[value of a purchase | x, mean repeat value m] = p (v + x m) / (px + q − 1) (note 025 eq. 5).

        A weighted average of the population mean p v / (q − 1) and the customer's own mean; with x = 0
        it is the population mean (infinite when q <= 1).
        """
        x = as_float_array("frequency", frequency, allow_scalar=True)
        m = as_float_array("monetary_value", monetary_value, allow_scalar=True)
        x, m = np.broadcast_arrays(x, m)
        check_counts("frequency", x)
        if np.any(m < 0):
            raise ModelInputError("monetary_value must be >= 0")
        p, q, v = self._params()
        denominator = p * x + q - 1.0
        with np.errstate(divide="ignore"):
            result = np.where(
                denominator > 0, p * (v + x * m) / np.where(denominator > 0, denominator, 1.0), np.inf
            )
        return broadcast_result(np.asarray(result, dtype=np.float64), frequency, monetary_value)

    def expected_spend(self) -> float:
        """Population mean value of a purchase, p v / (q − 1) (infinite when q <= 1)."""
        p, q, v = self._params()
        return p * v / (q - 1.0) if q > 1.0 else float("inf")
