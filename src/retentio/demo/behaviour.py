"""The true customer behaviour process of the demo shop.

Purchases follow BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") in
*operational time* (see :mod:`retentio.demo.clock`): each buyer has a purchase rate λ ~ Gamma(r, α)
per operational week and a dropout probability p ~ Beta(a, b); the first purchase happens at
acquisition, and after every *repeat* purchase the customer becomes inactive for good with probability
p. Spend per order follows the Gamma-Gamma model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
curves", and note 025): each customer has ν ~ Gamma(q, v) (v a rate, in RUB) and every order value is
Gamma(p, ν), so the customer's mean order value is p/ν.

Everything else about a customer is tied to these latent draws through Gaussian copulas, which keeps the
population marginals *exactly* the stated BG/NBD and Gamma-Gamma distributions:

- latent satisfaction ``s = −ρ·z_dropout + √(1−ρ²)·ε`` (``z_dropout`` = the normal score of the customer's
  dropout quantile): unhappy customers have higher p and so churn measurably more; reviews, NPS, CSAT,
  tickets, refunds and exit-survey reasons all read ``s``;
- the acquisition channel is drawn from a multinomial logit on the normal scores of λ, p and ν, so
  channels differ in quality (referral and email customers stay longer, social and marketplace customers
  drop out sooner, referral customers spend more) while the pooled population stays BG/NBD + Gamma-Gamma;
- the interest segment (coffee, tea, tech, mixed) leans on the spend score (tech buyers spend more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import betaincinv, gammainccinv, gammaincinv, hyp2f1, ndtr

from retentio.demo.catalogue import SEGMENT_NAMES


@dataclass(frozen=True)
class ChannelEffect:
    """Multinomial-logit loading of one acquisition channel on the latent normal scores."""

    name: str
    intercept: float
    dropout: float  # > 0: chosen more by customers with a high dropout probability
    rate: float  # > 0: chosen more by frequent buyers
    spend: float  # > 0: chosen more by big spenders


CHANNELS: tuple[ChannelEffect, ...] = (
    ChannelEffect("organic", 0.35, -0.15, 0.10, 0.00),
    ChannelEffect("paid_search", 0.25, 0.25, 0.00, 0.10),
    ChannelEffect("social", -0.05, 0.75, -0.25, -0.35),
    ChannelEffect("referral", -0.90, -0.85, 0.25, 0.45),
    ChannelEffect("email", -1.00, -0.70, 0.40, 0.00),
    ChannelEffect("marketplace", 0.00, 0.90, -0.30, -0.20),
)
CHANNEL_NAMES = tuple(c.name for c in CHANNELS)

# Interest segment logit: intercept and loading on the spend score.
SEGMENT_LOGITS = {"coffee": (0.55, -0.10), "tea": (0.0, -0.45), "tech": (-0.55, 0.85), "mixed": (-0.35, 0.20)}


@dataclass(frozen=True)
class BehaviourParams:
    """True parameters of the process; written to ``metadata.json`` as ``true_params``."""

    # BG/NBD, time unit = operational week.
    r: float = 0.75
    alpha: float = 1.7
    a: float = 1.3
    b: float = 14.0
    # Gamma-Gamma spend per order, RUB.
    p: float = 4.0
    q: float = 3.0
    v: float = 1750.0
    # Share of registered customers who never buy (leads): not part of the BG/NBD population.
    lead_share: float = 0.08
    # Acquisition intensity over the period grows linearly in operational time: ∝ 1 + g·u/U.
    acquisition_growth: float = 1.0
    # Gaussian-copula correlation between satisfaction and the normal score of −(dropout quantile).
    satisfaction_dropout_rho: float = 0.55
    # Cancelled orders: extra orders placed shortly after a purchase and then cancelled; share of all orders.
    cancel_rate: float = 0.03
    # Refunds: share of completed orders (before the period end cuts late ones); risk ∝ exp(−k·s).
    refund_rate: float = 0.05
    refund_satisfaction_slope: float = 0.6
    partial_refund_share: float = 0.45
    # Order-level pricing.
    # Coupons: WELCOME10 on first orders, BF<year> (20 %) over the Black Friday weekend, else evergreen codes.
    welcome_coupon_share: float = 0.30
    black_friday_coupon_share: float = 0.45
    evergreen_coupon_share: float = 0.077
    points_redemption_share: float = 0.05  # orders without a code paying 100–500 RUB with loyalty points
    free_shipping_from_rub: int = 3000
    shipping_fee_rub: int = 299
    pickup_share: float = 0.25  # orders collected at a pickup point: no shipping fee
    channels: tuple[ChannelEffect, ...] = field(default=CHANNELS)


@dataclass
class Traits:
    """Latent draws of a block of customers (arrays of the block's length)."""

    rate_per_week: np.ndarray  # λ
    dropout_p: np.ndarray  # p
    spend_nu: np.ndarray  # ν (rate), mean order value = params.p / ν
    satisfaction: np.ndarray  # standard normal, higher = happier
    channel: np.ndarray  # index into CHANNEL_NAMES
    segment: np.ndarray  # index into SEGMENT_NAMES
    z_rate: np.ndarray
    z_dropout: np.ndarray
    z_spend: np.ndarray


def _from_scores(
    params: BehaviourParams, z_rate: np.ndarray, z_dropout: np.ndarray, z_spend: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """λ, p and ν as quantile transforms of normal scores (upper tails computed from the survival side)."""
    lam = gammainccinv(params.r, np.clip(ndtr(-z_rate), 1e-300, 1.0)) / params.alpha
    p = betaincinv(params.a, params.b, np.clip(ndtr(z_dropout), 1e-15, 1.0 - 1e-15))
    # High spend score → small ν → big orders.
    nu = gammaincinv(params.q, np.clip(ndtr(-z_spend), 1e-300, 1.0)) / params.v
    return lam, p, nu


def _channel_logits(
    params: BehaviourParams, z_rate: np.ndarray, z_dropout: np.ndarray, z_spend: np.ndarray
) -> np.ndarray:
    return np.stack(
        [c.intercept + c.dropout * z_dropout + c.rate * z_rate + c.spend * z_spend for c in params.channels],
        axis=-1,
    )


def draw_traits(rng: np.random.Generator, n: int, params: BehaviourParams) -> Traits:
    """Draw the latent traits of ``n`` customers."""
    z_rate, z_dropout, z_spend, noise = rng.standard_normal((4, n))
    lam, p, nu = _from_scores(params, z_rate, z_dropout, z_spend)
    rho = params.satisfaction_dropout_rho
    satisfaction = -rho * z_dropout + np.sqrt(1.0 - rho * rho) * noise
    gumbel = rng.gumbel(size=(n, len(params.channels)))
    channel = np.argmax(_channel_logits(params, z_rate, z_dropout, z_spend) + gumbel, axis=1)
    seg_logits = np.stack(
        [SEGMENT_LOGITS[s][0] + SEGMENT_LOGITS[s][1] * z_spend for s in SEGMENT_NAMES], axis=-1
    )
    segment = np.argmax(seg_logits + rng.gumbel(size=(n, len(SEGMENT_NAMES))), axis=1)
    return Traits(lam, p, nu, satisfaction, channel, segment, z_rate, z_dropout, z_spend)


@dataclass
class PurchaseHistory:
    """Repeat purchases of a block of buyers in operational time."""

    repeat_count: np.ndarray  # x per customer
    alive_at_end: np.ndarray  # bool: has not dropped out by the horizon
    owner: np.ndarray  # customer index of each repeat purchase (grouped, ascending time within)
    weeks_after_first: np.ndarray  # operational weeks from the first purchase


def simulate_repeat_purchases(
    rng: np.random.Generator, rate_per_week: np.ndarray, dropout_p: np.ndarray, horizon_weeks: np.ndarray
) -> PurchaseHistory:
    """Exact BG/NBD draws over ``(0, T]`` for each customer, vectorised.

    The Poisson process has ``N ~ Poisson(λT)`` arrivals in the window and the customer drops out after
    repeat purchase ``J ~ Geometric(p)``, so ``x = min(N, J)``. The first x of N uniform order statistics
    come from the Rényi representation: with E_k ~ Exp(1), ``U_(k) = (E_1+…+E_k) / (E_1+…+E_{N+1})``,
    where the tail sum of the N+1−x unused exponentials is one Gamma(N+1−x) draw.
    """
    n_customers = len(rate_per_week)
    arrivals = rng.poisson(rate_per_week * horizon_weeks)
    lifetime_purchases = rng.geometric(dropout_p)
    x = np.minimum(arrivals, lifetime_purchases)
    alive = lifetime_purchases > arrivals
    owner = np.repeat(np.arange(n_customers), x)
    exponentials = rng.standard_exponential(int(x.sum()))
    running = np.cumsum(exponentials)
    ends = np.cumsum(x)
    before = np.concatenate([[0.0], running])[ends - x]  # running sum before each customer's group
    partial = running - np.repeat(before, x)
    group_total = np.where(x > 0, np.concatenate([[0.0], running])[ends] - before, 0.0)
    rest = rng.standard_gamma(arrivals - x + 1.0)
    uniform_order_stats = partial / np.repeat(group_total + rest, x)
    weeks = uniform_order_stats * np.repeat(horizon_weeks, x)
    return PurchaseHistory(x, alive, owner, weeks)


def expected_repeat_purchases(params: BehaviourParams, weeks: np.ndarray) -> np.ndarray:
    """BG/NBD E[X(t)] (Fader, Hardie & Lee 2005, eq. 9) for customers observed ``weeks`` since acquisition."""
    t = np.asarray(weeks, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return np.asarray(
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1.0, z)),
        dtype=np.float64,
    )


def acquisition_weeks(rng: np.random.Generator, n: int, horizon_weeks: float, growth: float) -> np.ndarray:
    """Sorted acquisition times in operational weeks, density ∝ 1 + g·u/U on [0, U) (inverse CDF)."""
    u = rng.random(n)
    if growth <= 0.0:
        weeks = u * horizon_weeks
    else:
        # F(w) = (w + g w²/(2U)) / (U (1 + g/2))  →  solve the quadratic for w.
        c = u * horizon_weeks * (1.0 + growth / 2.0)
        weeks = (-1.0 + np.sqrt(1.0 + 2.0 * growth * c / horizon_weeks)) * horizon_weeks / growth
    return np.sort(np.clip(weeks, 0.0, np.nextafter(horizon_weeks, 0.0)))


def expected_orders_per_customer(params: BehaviourParams, horizon_weeks: float, grid: int = 4000) -> float:
    """E[orders per registered customer] over the period: leads, buyers' 1 + E[X(T)], cancelled extras."""
    u = (np.arange(grid) + 0.5) / grid * horizon_weeks
    weight = 1.0 + params.acquisition_growth * u / horizon_weeks
    weight /= weight.sum()
    completed = 1.0 + float(np.sum(weight * expected_repeat_purchases(params, horizon_weeks - u)))
    return (1.0 - params.lead_share) * completed / (1.0 - params.cancel_rate)


def channel_profiles(params: BehaviourParams, nodes: int = 24) -> dict[str, dict[str, float]]:
    """Implied share, mean λ, mean p and mean order value per acquisition channel (Gauss–Hermite)."""
    z, w = hermegauss(nodes)
    w = w / w.sum()
    zr, zd, zs = np.meshgrid(z, z, z, indexing="ij")
    weight = w[:, None, None] * w[None, :, None] * w[None, None, :]
    lam, p, nu = _from_scores(params, zr, zd, zs)
    logits = _channel_logits(params, zr, zd, zs)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    out: dict[str, dict[str, float]] = {}
    for i, channel in enumerate(params.channels):
        wc = weight * probs[..., i]
        total = float(wc.sum())
        out[channel.name] = {
            "share": total,
            "mean_rate_per_week": float((wc * lam).sum() / total),
            "mean_dropout_p": float((wc * p).sum() / total),
            "mean_order_value_rub": float((wc * params.p / nu).sum() / total),
        }
    return out
