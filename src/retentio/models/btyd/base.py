"""Shared machinery of the buy-till-you-die (BTYD) models: validation, compression, maximum likelihood.

Every model here is fitted the same way (DESIGN §2 "Models"):

* the data are first *compressed* to distinct rows with counts (:func:`compress_histories`): per-column
  codes by hash-based factorisation, one int64 key per row, distinct keys by one (SIMD) sort of the
  keys, so that fit cost grows with distinct histories, not customers;
* the log-likelihood is maximised in log-parameter space with analytic gradients: by damped Newton on
  the analytic Hessian where the model has one (BG/NBD, MBG/NBD; on large data started from a fit on a
  random subset of rows, so the full data see two or three Newton iterations), and by L-BFGS-B
  followed by Newton steps on the finite-difference-of-analytic-gradient Hessian otherwise;
* the optimum is then checked: finite log-likelihood, positive-definite Hessian and a Newton decrement
  saying the log-likelihood (sum over customers) is within 1e-6 of its maximum (the iterations stop
  at 1e-8). Anything else raises :class:`ConvergenceError` with the cause, so an early stop (the
  Nelder-Mead trap of the peer tools) cannot pass silently.

The objective is ``-loglik / n_customers + penalizer * sum(params**2)``, with parameters measured in time
units scaled so that the longest observation period is 1, as in the ``lifetimes`` package; so a given
``penalizer`` means the same in both, whatever the data's time unit.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from sklearn.base import BaseEstimator

from retentio.errors import RetentioError
from retentio.models.estimator import ModelInputError, check_float, check_random_state

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

# A fit is accepted when the Newton decrement says the log-likelihood (sum over customers) is within this
# much of its maximum: tight enough to pin published log-likelihoods to 1e-6 and parameters to ~1e-6.
LOGLIK_TOLERANCE = 1e-6
# Above this many distinct rows, models that support it first fit a random subset of rows and start the
# full-data Newton iterations from there (2-3 full-data iterations instead of ~10).
WARM_START_ROWS = 60_000
WARM_START_SAMPLE = 25_000
# The default ``random_state`` of the transaction models: the seed of the warm-start subset has always
# been this one, so fits on large data give the numbers they gave before ``random_state`` existed.
DEFAULT_RANDOM_STATE = 20050101


class ConvergenceError(RetentioError, RuntimeError):
    """Maximum likelihood did not reach a verified maximum.

    Attributes carry the evidence: the optimiser's own message, the gradient norm (log-parameter space,
    per customer), the log-likelihood reached and the parameters where it stopped.
    """

    def __init__(
        self,
        model: str,
        cause: str,
        *,
        optimizer_message: str = "",
        gradient_norm: float = math.nan,
        loglik: float = math.nan,
        params: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.cause = cause
        self.optimizer_message = optimizer_message
        self.gradient_norm = gradient_norm
        self.loglik = loglik
        self.params = params or {}
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        detail = f"; optimiser said: {optimizer_message}" if optimizer_message else ""
        super().__init__(
            f"{model} did not converge: {cause} (gradient norm {gradient_norm:.3g}, "
            f"log-likelihood {loglik:.6g}, parameters {shown}){detail}. "
            "Try penalizer > 0 or check the data."
        )


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


def as_float_array(name: str, values: ArrayLike, *, allow_scalar: bool = False) -> FloatArray:
    """``values`` as a 1-D float array, or a :class:`ModelInputError` naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name} must be numeric: {exc}") from None
    if array.ndim == 0:
        if not allow_scalar:
            raise ModelInputError(f"{name} must be a 1-D array of values, got a scalar")
        array = array.reshape(1)
    if array.ndim != 1:
        raise ModelInputError(f"{name} must be 1-D, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ModelInputError(
            f"{name} has {int(bad.sum())} missing or infinite value(s) (first at position {first}: "
            f"{array[first]}); drop or fill them before fitting"
        )
    return array


def check_same_length(**arrays: FloatArray) -> int:
    """The common length of ``arrays``; a :class:`ModelInputError` listing lengths when they differ."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ModelInputError(f"inputs must have the same length, got {shown}")
    return next(iter(lengths.values()))


def _fail_where(name: str, mask: NDArray[np.bool_], values: FloatArray, rule: str) -> None:
    if mask.any():
        first = int(np.flatnonzero(mask)[0])
        raise ModelInputError(
            f"{name} {rule}: {int(mask.sum())} row(s) break this (first at position {first}: {values[first]})"
        )


def check_counts(name: str, values: FloatArray) -> None:
    """Counts must be non-negative integers (repeat-purchase counts, periods)."""
    _fail_where(name, values < 0, values, "must be >= 0")
    _fail_where(name, values != np.floor(values), values, "must be whole numbers")


def check_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Per-row counts of customers (default 1 each): finite, >= 0, not all zero."""
    if weights is None:
        return np.ones(n)
    w = as_float_array("weights", weights)
    if len(w) != n:
        raise ModelInputError(f"weights must have one value per row: got {len(w)} for {n} rows")
    _fail_where("weights", w < 0, w, "must be >= 0")
    if n and w.sum() <= 0:
        raise ModelInputError("weights sum to zero: there is nothing to fit")
    return w


def validate_histories(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, allow_scalar: bool = False
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate continuous-time summaries (x, t_x, T) with messages naming the parameter at fault.

    ``frequency`` = repeat purchases x (whole, >= 0); ``recency`` = t_x, time from first to last purchase
    (0 when x = 0); ``T`` = time from first purchase to the end of calibration; 0 <= t_x <= T.
    """
    x = as_float_array("frequency", frequency, allow_scalar=allow_scalar)
    t_x = as_float_array("recency", recency, allow_scalar=allow_scalar)
    big_t = as_float_array("T", T, allow_scalar=allow_scalar)
    x, t_x, big_t = np.broadcast_arrays(x, t_x, big_t) if allow_scalar else (x, t_x, big_t)
    check_same_length(frequency=x, recency=t_x, T=big_t)
    check_counts("frequency", x)
    _fail_where("recency", t_x < 0, t_x, "must be >= 0")
    _fail_where("T", big_t < 0, big_t, "must be >= 0")
    _fail_where("recency", t_x > big_t * (1 + 1e-12), t_x, "must not exceed T (time observed)")
    _fail_where("recency", (x == 0) & (t_x != 0), t_x, "must be 0 where frequency is 0")
    return (
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(t_x, dtype=np.float64),
        np.ascontiguousarray(big_t, dtype=np.float64),
    )


def check_horizon(name: str, t: ArrayLike) -> FloatArray:
    """A prediction horizon (scalar or array) that is finite and >= 0."""
    values = as_float_array(name, t, allow_scalar=True)
    _fail_where(name, values < 0, values, "must be >= 0")
    return values


# --------------------------------------------------------------------------------------------------
# Compression to distinct rows
# --------------------------------------------------------------------------------------------------


def weighted_counts(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """Σ weights per code (``np.bincount`` with weights, typed as the float array it is)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def factorize(values: FloatArray) -> tuple[IntArray, FloatArray]:
    """Codes and distinct values of ``values`` (hash based: O(n), not a sort)."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.intp, copy=False), np.asarray(uniques, dtype=np.float64)


def combine_codes(*codes_and_sizes: tuple[IntArray, int]) -> tuple[IntArray, list[IntArray]]:
    """Distinct combinations of several code columns: (row code, per-column codes of each combination).

    Each row is encoded as one integer key (mixed radix), then factorised; keys that could overflow
    int64 are factorised pairwise first.
    """
    key, size = codes_and_sizes[0][0].astype(np.int64), codes_and_sizes[0][1]
    parts: list[tuple[IntArray, int]] = [codes_and_sizes[0]]
    for codes, n in codes_and_sizes[1:]:
        if size * n >= 2**62:
            inner, uniq = pd.factorize(key, sort=False)
            key, size = inner.astype(np.int64), len(uniq)
        key = key * n + codes
        size = size * n
        parts.append((codes, n))
    row_code, unique_keys = pd.factorize(key, sort=False)
    # Decode the per-column codes of each distinct key from any one of its rows (all agree).
    representative = np.empty(len(unique_keys), dtype=np.intp)
    representative[row_code] = np.arange(len(row_code))
    return row_code.astype(np.intp, copy=False), [codes[representative] for codes, _ in parts]


@dataclass(frozen=True)
class Histories:
    """Distinct (x, t_x, T) rows with their customer counts, and the distinct values behind them.

    ``x_values[x_index]`` is each row's frequency, likewise for t_x and T; ``weights`` counts customers.
    Models compute gammaln/log terms once per *distinct value* and gather them per row.
    """

    x_values: FloatArray
    tx_values: FloatArray
    T_values: FloatArray
    x_index: IntArray
    tx_index: IntArray
    T_index: IntArray
    weights: FloatArray

    @property
    def n_rows(self) -> int:
        return len(self.weights)

    @property
    def n_customers(self) -> float:
        return float(self.weights.sum())

    @property
    def x(self) -> FloatArray:
        return self.x_values[self.x_index]

    @property
    def t_x(self) -> FloatArray:
        return self.tx_values[self.tx_index]

    @property
    def T(self) -> FloatArray:
        return self.T_values[self.T_index]

    def take(self, rows: IntArray) -> Histories:
        """A subset of rows (used for warm starts); distinct-value tables are shared."""
        return Histories(
            self.x_values,
            self.tx_values,
            self.T_values,
            self.x_index[rows],
            self.tx_index[rows],
            self.T_index[rows],
            self.weights[rows],
        )


def _count_codes(values: FloatArray) -> tuple[IntArray, FloatArray]:
    """Codes for whole-number counts: the value itself when small (no hashing), else factorised."""
    top = float(values.max()) if len(values) else 0.0
    if top <= 100_000:
        return values.astype(np.intp), np.arange(top + 1.0)
    return factorize(values)


def compress_histories(
    frequency: FloatArray, recency: FloatArray, T: FloatArray, weights: FloatArray
) -> Histories:
    """Collapse identical (x, t_x, T) rows, summing their weights; rows of weight 0 are dropped.

    Each row becomes one int64 key (mixed radix over the per-column codes); distinct keys come from a
    sort of the keys (SIMD-accelerated in numpy) and are decoded back into per-column codes.
    """
    keep = weights > 0
    if not keep.all():
        frequency, recency, T, weights = frequency[keep], recency[keep], T[keep], weights[keep]
    fx, ux = _count_codes(frequency)
    ft, ut = factorize(recency)
    f_t, u_t = factorize(T)
    n_x, n_tx, n_t = len(ux), len(ut), len(u_t)
    if n_x * n_tx * n_t >= 2**62:  # cannot happen below ~2M distinct values per column
        row_code, (x_idx, tx_idx, t_idx) = combine_codes((fx, n_x), (ft, n_tx), (f_t, n_t))
        counts = weighted_counts(row_code, weights, len(x_idx))
        return Histories(ux, ut, u_t, x_idx, tx_idx, t_idx, counts)
    key = (fx.astype(np.int64) * n_tx + ft) * n_t + f_t
    if np.all(weights == 1.0):
        keys = np.sort(key)
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        unique_keys = keys[starts]
        counts = np.diff(np.append(starts, len(keys))).astype(np.float64)
    else:
        order = np.argsort(key)
        keys = key[order]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        unique_keys = keys[starts]
        counts = np.asarray(np.add.reduceat(weights[order], starts), dtype=np.float64)
    t_idx = (unique_keys % n_t).astype(np.intp)
    rest = unique_keys // n_t
    tx_idx = (rest % n_tx).astype(np.intp)
    x_idx = (rest // n_tx).astype(np.intp)
    return Histories(ux, ut, u_t, x_idx, tx_idx, t_idx, counts)


# --------------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------------

LogLik = tuple[float, FloatArray | None, FloatArray | None]


class _Objective:
    """Penalised mean negative log-likelihood in log-parameter space, with a one-point cache.

    f(phi) = -LL(theta)/W + penalizer * sum((theta * scale)^2), theta = exp(phi).
    """

    def __init__(
        self,
        loglik: Callable[[FloatArray, Any, int], LogLik],
        data: Any,
        n_customers: float,
        penalizer: float,
        scale: FloatArray,
        analytic_hessian: bool,
    ) -> None:
        self.loglik = loglik
        self.data = data
        self.n = n_customers
        self.penalizer = penalizer
        self.scale2 = scale**2
        self.analytic_hessian = analytic_hessian
        self._key: bytes | None = None
        self._cache: tuple[float, FloatArray, FloatArray | None] = (math.nan, np.zeros(0), None)
        self.evaluations = 0

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        key = phi.tobytes()
        if key == self._key and (order < 2 or self._cache[2] is not None):
            return self._cache
        theta = np.exp(phi)
        self.evaluations += 1
        with np.errstate(all="ignore"):
            ll, grad, hess = self.loglik(theta, self.data, order)
        if not np.isfinite(ll) or grad is None or not np.all(np.isfinite(grad)):
            # Outside the region where the likelihood is representable: a wall for the optimiser.
            value = math.inf
            g_phi = np.zeros_like(phi)
            self._key, self._cache = key, (value, g_phi, np.eye(len(phi)) if order >= 2 else None)
            return self._cache
        value = -ll / self.n + self.penalizer * float(np.sum(self.scale2 * theta**2))
        g_theta = -grad / self.n + 2.0 * self.penalizer * self.scale2 * theta
        g_phi = theta * g_theta
        h_phi: FloatArray | None = None
        if order >= 2 and hess is not None:
            h_theta = -hess / self.n + np.diag(2.0 * self.penalizer * self.scale2)
            h_phi = h_theta * np.outer(theta, theta) + np.diag(g_phi)
        self._key, self._cache = key, (float(value), g_phi, h_phi)
        return self._cache

    def fun(self, phi: FloatArray) -> float:
        return self.evaluate(phi, 2 if self.analytic_hessian else 1)[0]

    def jac(self, phi: FloatArray) -> FloatArray:
        return self.evaluate(phi, 2 if self.analytic_hessian else 1)[1]

    def fd_hessian(self, phi: FloatArray) -> FloatArray:
        """Central differences of the analytic gradient (2k gradient evaluations)."""
        k = len(phi)
        h = np.empty((k, k))
        for i in range(k):
            step = 1e-5 * max(1.0, abs(phi[i]))
            up, down = phi.copy(), phi.copy()
            up[i] += step
            down[i] -= step
            h[i] = (self.evaluate(up, 1)[1] - self.evaluate(down, 1)[1]) / (2 * step)
        return 0.5 * (h + h.T)


@dataclass(frozen=True)
class FitResult:
    """What the optimiser found, before it becomes the model's learned attributes."""

    phi: FloatArray
    loglik: float
    hessian_phi: FloatArray
    iterations: int
    evaluations: int
    message: str


class BTYDModel(BaseEstimator, ABC):
    """Base of the BTYD models, in scikit-learn's estimator shape (:mod:`retentio.models.estimator`).

    ``penalizer`` (>= 0, checked by ``fit``) is the only hyper-parameter shared by all; what ``fit``
    learns ends in ``_``. Subclasses declare ``param_names`` (the literature's names) and implement
    ``_loglik`` (the weighted log-likelihood summed over customers with its gradient, and optionally
    Hessian, in natural parameters) and ``_initial_params``.
    """

    param_names: ClassVar[tuple[str, ...]]
    #: parameters measured in the data's time unit (scaled by 1 / max observation time in the penalty)
    time_params: ClassVar[tuple[str, ...]] = ()
    analytic_hessian: ClassVar[bool] = False

    params_: dict[str, float]
    se_: dict[str, float]
    covariance_: FloatArray
    loglik_: float
    n_customers_: float
    n_rows_: int
    n_iter_: int

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def _check_hyperparameters(self) -> None:
        """Validate the constructor's arguments (``fit`` calls this first)."""
        check_float(self, "penalizer", self.penalizer, low=0.0)

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        fitted = getattr(self, "params_", None)
        if fitted is None:
            return str(super().__repr__(N_CHAR_MAX))
        shown = ", ".join(f"{k}={v:.4g}" for k, v in fitted.items())
        return f"<{type(self).__name__} fitted on {self.n_customers_:g} customers: {shown}>"

    # -- to implement ---------------------------------------------------------------------------------

    @abstractmethod
    def _loglik(self, theta: FloatArray, data: Any, order: int) -> LogLik:
        """Weighted log-likelihood sum, its gradient (order >= 1) and Hessian (order >= 2, or None)."""

    @abstractmethod
    def _initial_params(self, data: Any) -> FloatArray:
        """A starting point in natural parameters."""

    def _warm_start_subset(self, data: Any, rng: np.random.Generator) -> tuple[Any, float] | None:
        """A random subset of the data to fit first and its customers, or None (small data or not
        supported)."""
        return None

    # -- public helpers -------------------------------------------------------------------------------

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "params_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ModelInputError(f"{type(self).__name__} is not fitted yet: call fit(...) first")

    def _params(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(self.params_[name] for name in self.param_names)

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95 % Wald intervals (on the log scale, so always > 0)."""
        self._check_fitted()
        est = np.array([self.params_[n] for n in self.param_names])
        se = np.array([self.se_[n] for n in self.param_names])
        with np.errstate(divide="ignore", invalid="ignore"):
            half = 1.959963984540054 * se / est
        return pd.DataFrame(
            {"estimate": est, "se": se, "lower_95": est * np.exp(-half), "upper_95": est * np.exp(half)},
            index=list(self.param_names),
        )

    # -- fitting --------------------------------------------------------------------------------------

    def _time_scale(self, data: Any) -> float:
        """1 / (longest observation time) for the penalty's scaling; 1 where no parameter is a time."""
        return 1.0

    def _fit_data(
        self, data: Any, n_customers: float, n_rows: int, rng: np.random.Generator | None = None
    ) -> Self:
        """Run the optimiser on prepared data and set the learned attributes.

        ``rng`` (from ``random_state``) draws the warm-start subset of models that use one.
        """
        names = self.param_names
        penalizer = float(self.penalizer)
        scale = np.array([self._time_scale(data) if n in self.time_params else 1.0 for n in names])
        phi0 = np.log(np.asarray(self._initial_params(data), dtype=np.float64))
        warm = self._warm_start_subset(data, rng) if rng is not None else None
        if warm is not None:
            subset, sub_customers = warm
            sub = _Objective(self._loglik, subset, sub_customers, penalizer, scale, self.analytic_hessian)
            phi0 = self._minimise(sub, phi0, strict=False).phi
        objective = _Objective(self._loglik, data, n_customers, penalizer, scale, self.analytic_hessian)
        result = self._minimise(objective, phi0, strict=True)
        theta = np.exp(result.phi)
        self.params_ = {name: float(v) for name, v in zip(names, theta, strict=True)}
        self.loglik_ = result.loglik
        # Observed information of the (penalised) objective, summed over customers, mapped by the delta
        # method from log-parameters (where it was computed) to the parameters.
        cov_phi = np.linalg.inv(result.hessian_phi * n_customers)
        self.covariance_ = cov_phi * np.outer(theta, theta)
        se = np.sqrt(np.clip(np.diag(self.covariance_), 0, None))
        self.se_ = {name: float(v) for name, v in zip(names, se, strict=True)}
        self.n_customers_ = float(n_customers)
        self.n_rows_ = int(n_rows)
        self.n_iter_ = result.iterations
        return self

    def _minimise(self, objective: _Objective, phi0: FloatArray, *, strict: bool) -> FitResult:
        """Optimise, then verify the maximum (``strict``).

        With an analytic Hessian: damped Newton from ``phi0`` (quadratic convergence; from a warm start
        two or three iterations on the full data). Otherwise L-BFGS-B with the analytic gradient, then
        Newton steps on the finite-difference Hessian of the analytic gradient to polish the optimum.
        """
        model = type(self).__name__
        phi = np.clip(phi0, -25.0, 25.0)
        message = "Newton iterations"
        iterations = 0
        if not objective.analytic_hessian:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = optimize.minimize(
                    objective.fun,
                    phi,
                    jac=objective.jac,
                    method="L-BFGS-B",
                    bounds=[(-30.0, 30.0)] * len(phi),
                    options={"maxiter": 3000, "maxfun": 6000, "ftol": 1e-15, "gtol": 1e-10},
                )
            phi = np.asarray(res.x, dtype=np.float64)
            message = f"L-BFGS-B: {res.message}"
            iterations = int(res.nit)
        phi, value, grad, hessian, newton_steps, newton_message = _newton(
            objective, phi, max_iter=200 if objective.analytic_hessian else 30
        )
        iterations += newton_steps
        if newton_message:
            message = f"{message}; {newton_message}"
        if float(self.penalizer) == 0.0 and math.isfinite(value):
            loglik = -value * objective.n
        else:
            loglik = self._unpenalised_loglik(objective, phi)
        if strict:
            self._verify(model, objective, phi, value, grad, hessian, loglik, message)
        return FitResult(phi, loglik, hessian, iterations, objective.evaluations, message)

    def _unpenalised_loglik(self, objective: _Objective, phi: FloatArray) -> float:
        with np.errstate(all="ignore"):
            ll, _, _ = self._loglik(np.exp(phi), objective.data, 0)
        return float(ll)

    def _verify(
        self,
        model: str,
        objective: _Objective,
        phi: FloatArray,
        value: float,
        grad: FloatArray,
        hessian: FloatArray,
        loglik: float,
        message: str,
    ) -> None:
        params = {n: float(v) for n, v in zip(self.param_names, np.exp(phi), strict=True)}
        gnorm = _norm(grad)
        common: dict[str, Any] = {
            "optimizer_message": message,
            "gradient_norm": gnorm,
            "loglik": loglik,
            "params": params,
        }
        if not math.isfinite(value) or not math.isfinite(loglik):
            raise ConvergenceError(model, "the log-likelihood is not finite at the last point", **common)
        if not np.all(np.isfinite(hessian)):
            raise ConvergenceError(model, "the Hessian is not finite at the last point", **common)
        eigenvalues, vectors = np.linalg.eigh(hessian)
        if eigenvalues[0] <= 0:
            loudest = self.param_names[int(np.argmax(np.abs(vectors[:, 0])))]
            raise ConvergenceError(
                model,
                f"the Hessian is not positive definite (smallest eigenvalue {eigenvalues[0]:.3g}, "
                f"mostly along {loudest}): no strict maximum, a parameter may be running to a bound",
                **common,
            )
        step = np.linalg.solve(hessian, grad)
        decrement = float(grad @ step) * objective.n
        if decrement > 2 * LOGLIK_TOLERANCE:
            raise ConvergenceError(
                model,
                f"the Newton decrement {decrement:.3g} says the log-likelihood can still rise",
                **common,
            )
        if np.any(np.abs(phi) >= 29.9):
            raise ConvergenceError(model, "a parameter reached the bound exp(+-30)", **common)


def _newton(
    objective: _Objective, phi: FloatArray, *, max_iter: int
) -> tuple[FloatArray, float, FloatArray, FloatArray, int, str]:
    """Damped Newton on the objective: (phi, value, gradient, Hessian, steps, message if it stalled).

    The Hessian is shifted to positive definite when it is not (far from the optimum); steps are capped
    at 3 in log-parameter space and halved until the Armijo condition holds. Near the optimum the
    objective is flat to rounding, so a step that does not raise it and shrinks the gradient is taken.
    """
    value, grad, hessian = _value_grad_hess(objective, phi)
    steps = 0
    for _ in range(max_iter):
        if not math.isfinite(value):
            return phi, value, grad, hessian, steps, "the objective is not finite at the start"
        step = _newton_step(hessian, grad)
        slope = float(grad @ step)
        # Converged when the Newton decrement says the log-likelihood (sum over customers) is within
        # 1e-8 of its maximum: the remaining parameter error is then ~1e-4 standard errors.
        if -slope * objective.n < 1e-2 * LOGLIK_TOLERANCE:
            return phi, value, grad, hessian, steps, ""
        t = min(1.0, 3.0 / float(np.max(np.abs(step))))
        for _ in range(40):
            candidate = phi + t * step
            c_value, c_grad, c_hess = _value_grad_hess(objective, candidate)
            if math.isfinite(c_value) and (
                c_value <= value + 1e-4 * t * slope
                or (c_value <= value + 1e-13 * max(1.0, abs(value)) and _norm(c_grad) < _norm(grad))
            ):
                break
            t *= 0.5
        else:
            return phi, value, grad, hessian, steps, "the Newton line search could not improve"
        phi, value, grad, hessian = candidate, c_value, c_grad, c_hess
        steps += 1
    return phi, value, grad, hessian, steps, f"no convergence in {max_iter} Newton steps"


def _value_grad_hess(objective: _Objective, phi: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    value, grad, hess = objective.evaluate(phi, 2)
    if hess is None:
        hess = objective.fd_hessian(phi) if math.isfinite(value) else np.eye(len(phi))
    return value, grad, hess


def _newton_step(hessian: FloatArray, grad: FloatArray) -> FloatArray:
    """−H⁻¹g, with H shifted to positive definite (Levenberg) when it is not."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    floor = 1e-8 * max(1.0, float(np.max(np.abs(eigenvalues))))
    if eigenvalues[0] <= floor:
        eigenvalues = np.maximum(np.abs(eigenvalues), floor) + (floor - min(0.0, float(eigenvalues[0])))
    return np.asarray(-(vectors @ ((vectors.T @ grad) / eigenvalues)), dtype=np.float64)


def _norm(vector: FloatArray) -> float:
    return float(np.max(np.abs(vector))) if len(vector) else 0.0


def dot(u: FloatArray, v: FloatArray) -> float:
    """Σ u·v for long 1-D arrays without BLAS.

    OpenBLAS's threaded ``ddot`` costs ~7 ms on 700k rows on a busy 2-core machine (thread hand-off);
    einsum's single-threaded loop takes ~0.4 ms.
    """
    return float(np.einsum("i,i->", u, v))


def broadcast_result(values: FloatArray, *inputs: Sequence[float] | float | ArrayLike) -> FloatArray:
    """Return a scalar-shaped result when every input was a scalar (predictions accept both)."""
    if all(np.ndim(v) == 0 for v in inputs):
        return values.reshape(())
    return values


class TransactionModel(BTYDModel):
    """A model of repeat purchases in continuous time fitted on (frequency x, recency t_x, T).

    Time may be in any unit (weeks = days / 7 in the literature); predictions come back in that unit.
    """

    time_params: ClassVar[tuple[str, ...]] = ("alpha",)

    def __init__(self, penalizer: float = 0.0, random_state: Any = DEFAULT_RANDOM_STATE) -> None:
        self.penalizer = penalizer
        self.random_state = random_state

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
    ) -> Self:
        """Fit by maximum likelihood; returns ``self`` with ``params_``, ``loglik_``, ``se_``.

        ``frequency`` = repeat purchases x, ``recency`` = time of the last purchase since the first t_x
        (0 when x = 0), ``T`` = time since the first purchase; ``weights`` = customers per row (rows of
        identical histories with counts fit exactly as the repeated rows would). Above
        ``WARM_START_ROWS`` distinct histories the fit starts from one on a random subset drawn with
        ``random_state`` (the maximum reached is the same; the last digits may differ with the seed).
        """
        self._check_hyperparameters()
        rng = check_random_state(self, self.random_state)
        x, t_x, big_t = validate_histories(frequency, recency, T)
        w = check_weights(weights, len(x))
        if len(x) == 0:
            raise ModelInputError("frequency is empty: there is nothing to fit")
        histories = compress_histories(x, t_x, big_t, w)
        if histories.n_rows == 0:
            raise ModelInputError("every row has weight 0: there is nothing to fit")
        data = self._prepare(histories)
        return self._fit_data(data, histories.n_customers, histories.n_rows, rng)

    @abstractmethod
    def _prepare(self, histories: Histories) -> Any:
        """Model-specific tables precomputed once per fit from the compressed histories."""

    def _time_scale(self, data: Any) -> float:
        return 1.0 / max(float(np.max(data.histories.T_values)), 1e-12)

    def _warm_start_subset(self, data: Any, rng: np.random.Generator) -> tuple[Any, float] | None:
        histories: Histories = data.histories
        if histories.n_rows <= WARM_START_ROWS:
            return None
        rows = np.sort(rng.choice(histories.n_rows, size=WARM_START_SAMPLE, replace=False))
        subset = histories.take(rows)
        # Every customer of the subset (the BG/NBD tables' ``weights`` hold only the rows with x > 0,
        # and the Pareto/NBD tables have none: reading them crashed Pareto/NBD on large data).
        return self._prepare(subset), subset.n_customers

    # -- predictions shared by every model with Poisson purchasing at a gamma-distributed rate --------

    @abstractmethod
    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(the customer is still active at T | x, t_x, T)."""

    @abstractmethod
    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T]."""

    @abstractmethod
    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: repeat purchases in the first t time units of a new customer."""

    @abstractmethod
    def probability_of_purchases(self, n: ArrayLike, t: ArrayLike) -> FloatArray:
        """P(X(t) = n) for a new customer."""

    def expected_time_to_next_purchase(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected time from T to the next purchase *if the customer is still active*.

        Given activity, the purchase rate's posterior is Gamma(r + x, alpha + T) in every model here
        (Fader, Hardie & Lee 2005, §5), and by memorylessness the wait is exponential at that rate, so
        the expectation is E[1/lambda] = (alpha + T) / (r + x - 1); it is infinite when r + x <= 1.
        Multiply by the unit in days and add to the calibration end for a date; weigh it with
        :meth:`probability_alive` (a customer who has left never buys again).
        """
        x, _, big_t = validate_histories(frequency, recency, T, allow_scalar=True)
        r, alpha = self.params_["r"], self.params_["alpha"]
        shape = r + x - 1.0
        with np.errstate(divide="ignore"):
            result = np.where(shape > 0, (alpha + big_t) / np.where(shape > 0, shape, 1.0), np.inf)
        return broadcast_result(result, frequency, recency, T)
