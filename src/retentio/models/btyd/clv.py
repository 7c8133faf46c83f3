"""Customer lifetime value: a transaction model's expected purchases × expected spend, discounted.

CLV over H periods of length L (in the transaction model's time unit) with discount rate d per period:

    CLV = Σ_{i=1}^{H} (E[Y(iL)] − E[Y((i−1)L)]) · spend / (1 + d)^i,

where E[Y(t)] is the conditional expected number of purchases in (T, T+t] given the customer's history
and spend the expected value of one purchase (Fader, Hardie & Lee 2005b, "RFM and CLV"; the same
discrete discounting as the ``lifetimes`` package, so results agree with it).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from retentio.models.btyd.base import (
    FloatArray,
    ModelInputError,
    TransactionModel,
    as_float_array,
    validate_histories,
)
from retentio.models.btyd.gamma_gamma import GammaGamma


def clv(
    transaction_model: TransactionModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    horizon: int,
    discount_rate: float,
    period_length: float,
    spend_model: GammaGamma | None = None,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over ``horizon`` periods.

    ``monetary`` is the expected value of one purchase per customer, or, with ``spend_model`` (a fitted
    :class:`GammaGamma`), the customer's mean repeat-purchase value from which the model's conditional
    expected spend is computed. ``period_length`` is one discounting period in the transaction model's
    time unit (a month is 30/7 ≈ 4.29 weeks; ``lifetimes`` uses 4.345) and ``discount_rate`` applies per
    period (e.g. 0.01 a month). Values are in the money unit of ``monetary``.
    """
    transaction_model._check_fitted()
    if not (isinstance(horizon, int | np.integer) and horizon >= 1):
        raise ModelInputError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
    if not (isinstance(discount_rate, int | float) and math.isfinite(discount_rate) and discount_rate > -1):
        raise ModelInputError(f"discount_rate must be a number > -1 (per period), got {discount_rate!r}")
    if not (isinstance(period_length, int | float) and math.isfinite(period_length) and period_length > 0):
        raise ModelInputError(f"period_length must be > 0 (in the model's time unit), got {period_length!r}")
    x, t_x, big_t = validate_histories(frequency, recency, T)
    value = as_float_array("monetary", monetary)
    if len(value) != len(x):
        raise ModelInputError(f"monetary must have one value per customer: got {len(value)} for {len(x)}")
    spend = spend_model.conditional_expected_spend(x, value) if spend_model is not None else value
    total = np.zeros(len(x))
    previous = np.zeros(len(x))
    for i in range(1, int(horizon) + 1):
        cumulative = transaction_model.conditional_expected_purchases(i * period_length, x, t_x, big_t)
        total += (cumulative - previous) * spend / (1.0 + discount_rate) ** i
        previous = cumulative
    return total
