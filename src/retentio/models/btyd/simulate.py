"""Draw customer summaries from each BTYD model with known parameters.

Used to check that fits recover the truth and by benchmarks; exact (no time discretisation) unless a
``grid`` is given. Every function takes a numpy ``Generator`` so results are reproducible.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from retentio.models.btyd.base import FloatArray


def _order_statistic(
    rng: np.random.Generator, k: FloatArray, n: FloatArray, length: FloatArray
) -> FloatArray:
    """Time of the k-th of n uniform points on [0, length] (0 where k = 0): length * Beta(k, n - k + 1)."""
    positive = k > 0
    out = np.zeros_like(length)
    out[positive] = length[positive] * rng.beta(k[positive], n[positive] - k[positive] + 1.0)
    return out


def _on_grid(values: FloatArray, grid: float | None) -> FloatArray:
    return values if grid is None else np.floor(values / grid) * grid


def simulate_beta_geo(
    rng: np.random.Generator,
    T: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    *,
    modified: bool = False,
    grid: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(frequency, recency, T) under BG/NBD (or MBG/NBD when ``modified``), one customer per T.

    Purchases are Poisson(lambda) with lambda ~ Gamma(r, rate alpha); the customer drops out after each
    repeat purchase (and, for MBG/NBD, after the first) with probability p ~ Beta(a, b). Given n arrivals
    in [0, T], the last of the first k sits at the k-th uniform order statistic.
    ``grid`` floors recency to a time grid (e.g. 1/7 for whole days in weeks); T is used as given.
    """
    big_t = np.asarray(T, dtype=np.float64)
    n = len(big_t)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # Purchases the customer would make before dropping out, with unlimited time.
    budget = rng.geometric(p) - (1 if modified else 0)  # BG: 1, 2, ...; MBG: 0, 1, ...
    arrivals = rng.poisson(lam * big_t).astype(np.float64)
    x = np.minimum(arrivals, budget.astype(np.float64))
    t_x = _on_grid(_order_statistic(rng, x, arrivals, big_t), grid)
    return x, t_x, big_t


def simulate_pareto_nbd(
    rng: np.random.Generator,
    T: ArrayLike,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    *,
    grid: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(frequency, recency, T) under Pareto/NBD: Poisson(lambda) purchases until an Exp(mu) lifetime.

    lambda ~ Gamma(r, rate alpha), mu ~ Gamma(s, rate beta) (Schmittlein, Morrison & Colombo 1987).
    """
    big_t = np.asarray(T, dtype=np.float64)
    n = len(big_t)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    active = np.minimum(rng.exponential(1.0 / mu), big_t)
    x = rng.poisson(lam * active).astype(np.float64)
    t_x = _on_grid(_order_statistic(rng, x, x, active), grid)
    return x, t_x, big_t


def simulate_bg_bb(
    rng: np.random.Generator,
    n_customers: int,
    n_periods: int,
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(frequency, recency, n_periods) under BG/BB (Fader, Hardie & Shang 2010).

    An active customer transacts in a period with probability p ~ Beta(alpha, beta) and is lost before
    each period with probability theta ~ Beta(gamma, delta); recency is the last period with a
    transaction (0 if none).
    """
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    # Periods lived: k with probability theta (1 - theta)^k, capped at n_periods.
    lived = np.minimum(rng.geometric(theta) - 1, n_periods)
    x = np.zeros(n_customers)
    t_x = np.zeros(n_customers)
    for period in range(1, n_periods + 1):
        buys = (lived >= period) & (rng.random(n_customers) < p)
        x += buys
        t_x = np.where(buys, float(period), t_x)
    return x, t_x, np.full(n_customers, float(n_periods))


def simulate_gamma_gamma(
    rng: np.random.Generator, frequency: ArrayLike, p: float, q: float, v: float
) -> FloatArray:
    """Mean spend per repeat purchase under Gamma-Gamma (Fader & Hardie note 025; Colombo & Jiang 1999).

    Each customer's spend scale nu ~ Gamma(q, rate v); each purchase ~ Gamma(p, rate nu); the mean of x
    purchases is Gamma(p x, rate x nu).
    """
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / v, len(x))
    return rng.gamma(p * x, 1.0 / (x * nu))


def simulate_shifted_beta_geo(
    rng: np.random.Generator, cohort_size: int, n_periods: int, alpha: float, beta: float
) -> FloatArray:
    """Survivors at the start of periods 0..n_periods of one cohort under sBG (Fader & Hardie 2007).

    Each customer's churn probability theta ~ Beta(alpha, beta); the lifetime is geometric on 1, 2, ...
    """
    theta = rng.beta(alpha, beta, cohort_size)
    lifetime = rng.geometric(theta)
    return np.array([float(np.sum(lifetime > t)) for t in range(n_periods + 1)])
