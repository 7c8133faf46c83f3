"""CLV in production, the part free of I/O: fit a transaction model and Gamma-Gamma, score customers.

A *CLV model* here is a fitted transaction model (BG/NBD, MBG/NBD or Pareto/NBD, from
:mod:`retentio.models.btyd`) plus a fitted :class:`~retentio.models.btyd.GammaGamma` spend model, the
time unit they were fitted in and the calibration end. Scoring gives every customer:

- ``p_alive`` — P(still a customer at the end of the data | x, t_x, T);
- ``expected_purchases`` — E[purchases in the next ``horizon_months``];
- ``clv`` — the discounted expected value of those purchases (Fader, Hardie & Lee 2005, "RFM and CLV:
  using iso-value curves for customer base analysis"; the same discrete monthly discounting as
  :func:`retentio.models.btyd.clv`, so the numbers are identical to it);
- ``days_to_next_order`` — the expected wait to the next purchase *if still active* (FHL 2005 §5), in
  days, infinite when the model gives no finite mean (r + x ≤ 1).

Customers with no repeat purchase (x = 0) have no own spend history: Gamma-Gamma's conditional
expected spend at x = 0 is the population mean p·v/(q − 1), so their CLV uses that (note 025 eq. 5
with x = 0). Customers whose repeat purchases average ≤ 0 (free repeat orders) are scored with a
mean of 0, which Gamma-Gamma shrinks towards the population mean; they are left out of its fit,
whose likelihood needs positive spend.

Speed: the conditional expectation factorises as P(alive | x, t_x, T) × E[purchases | alive, x, T]
in every model here (FHL 2005 eq. 10; Schmittlein et al. 1987), and the second factor — the
expensive one (a Gauss hypergeometric function for BG/NBD) — depends on (x, T) only. It is computed
once per distinct (x, T) pair (tens of thousands for a million customers, since x ≤ a few hundred and
T is a whole number of days) and gathered per customer; only P(alive), a few logarithms, runs per row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray
from scipy import stats

from retentio.errors import UserError
from retentio.models.btyd import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD, TransactionModel
from retentio.models.btyd.base import BTYDModel

FloatArray = NDArray[np.float64]

# Transaction models by their CLI name; the label is the literature's name.
TRANSACTION_MODELS: dict[str, type[TransactionModel]] = {
    "bgnbd": BetaGeo,
    "mbgnbd": ModifiedBetaGeo,
    "pareto": ParetoNBD,
}
MODEL_LABELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD"}
# A calendar month in days (a Julian year / 12): the discounting period of the CLV horizon.
DAYS_PER_MONTH = 365.25 / 12.0
# |Pearson correlation| between frequency and mean repeat spend above which we warn that Gamma-Gamma's
# independence assumption looks doubtful (a rule of thumb; CDNOW, the textbook case, has 0.11).
CORRELATION_WARNING = 0.3
# Fewer repeat buyers than this cannot pin down three spend parameters.
MIN_REPEAT_BUYERS = 20
# Expected waits beyond this are reported as no date (a date centuries away is not a forecast).
MAX_NEXT_ORDER_DAYS = 100 * 365.25


def check_model_name(name: str) -> str:
    """``name`` if it is a known transaction model, else a :class:`UserError` listing them."""
    if name not in TRANSACTION_MODELS:
        raise UserError(f"--model must be one of {', '.join(TRANSACTION_MODELS)}, got {name!r}")
    return name


@dataclass(frozen=True)
class CustomerHistories:
    """BTYD inputs of the customers at one calibration end, as arrays in the model's time unit.

    ``frequency`` = repeat purchase days x, ``recency`` = t_x, ``T`` = first purchase to calibration end,
    ``monetary`` = mean value of repeat purchase days (0 without repeats), as produced by
    :func:`retentio.analytics.summary.customer_summary`.
    """

    customer_id: pa.Array
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary: FloatArray
    calibration_end: date
    unit_days: float

    @property
    def n_customers(self) -> int:
        return len(self.frequency)

    @classmethod
    def from_arrow(cls, summary: pa.Table, calibration_end: date, unit_days: float) -> CustomerHistories:
        """From the Arrow result of ``customer_summary`` (extra columns are ignored)."""

        def column(name: str) -> FloatArray:
            return np.ascontiguousarray(summary.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

        ids = summary.column("customer_id").combine_chunks()
        return cls(
            ids,
            column("frequency"),
            column("recency"),
            column("T"),
            column("monetary"),
            calibration_end,
            float(unit_days),
        )


def spend_frequency_correlation(frequency: FloatArray, monetary: FloatArray) -> dict[str, Any]:
    """Correlation between purchase frequency and mean repeat spend among repeat buyers.

    Gamma-Gamma assumes a customer's spend per purchase is independent of how often they buy (Fader &
    Hardie, note 025): both correlations should be near 0. ``independent`` is False when
    |Pearson| > :data:`CORRELATION_WARNING`.
    """
    repeat = frequency > 0
    n = int(repeat.sum())
    if n < 3 or np.ptp(frequency[repeat]) == 0 or np.ptp(monetary[repeat]) == 0:
        return {"pearson": None, "spearman": None, "n": n, "independent": None}
    pearson = float(np.corrcoef(frequency[repeat], monetary[repeat])[0, 1])
    spearman = float(stats.spearmanr(frequency[repeat], monetary[repeat]).statistic)
    return {
        "pearson": pearson,
        "spearman": spearman,
        "n": n,
        "independent": abs(pearson) <= CORRELATION_WARNING,
    }


def fit_transaction_model(
    name: str, histories: CustomerHistories, penalizer: float = 0.0
) -> TransactionModel:
    """Fit the transaction model ``name`` (``bgnbd``, ``mbgnbd``, ``pareto``) on every customer."""
    if histories.n_customers == 0:
        raise UserError("no customer has a purchase in the calibration period: there is nothing to fit")
    model = TRANSACTION_MODELS[check_model_name(name)](penalizer=penalizer)
    return model.fit(histories.frequency, histories.recency, histories.T)


def fit_spend_model(histories: CustomerHistories, penalizer: float = 0.0) -> GammaGamma:
    """Fit Gamma-Gamma on the repeat buyers (x ≥ 1) with a positive mean repeat spend.

    Raises :class:`UserError` when there are too few of them or the fitted population mean spend is
    infinite (q ≤ 1: spend too heavy-tailed for the model).
    """
    keep = (histories.frequency > 0) & (histories.monetary > 0)
    n = int(keep.sum())
    if n < MIN_REPEAT_BUYERS:
        raise UserError(
            f"only {n} customers have a repeat purchase with a positive value; Gamma-Gamma needs at least "
            f"{MIN_REPEAT_BUYERS}: use a later --as-of or more data"
        )
    spend = GammaGamma(penalizer=penalizer).fit(histories.frequency[keep], histories.monetary[keep])
    if not math.isfinite(spend.expected_spend()):
        raise UserError(
            f"Gamma-Gamma found q = {spend.params_['q']:.3g} <= 1: the mean spend per order is infinite "
            "under the fitted model (a few huge orders dominate); check the order totals for outliers"
        )
    return spend


def describe_model(model: BTYDModel) -> dict[str, Any]:
    """Parameters with standard errors, log-likelihood and sample size of a fitted model (JSON-ready)."""
    return {
        "params": dict(model.params_),
        "se": dict(model.se_),
        "loglik": model.loglik_,
        "n_customers": int(model.n_customers_),
    }


# --------------------------------------------------------------------------------------------------
# Persistence of fitted models as plain JSON (no pickles: an artifact is portable and safe to open)
# --------------------------------------------------------------------------------------------------


def model_state(model: BTYDModel) -> dict[str, Any]:
    """Everything a fitted BTYD model needs to predict, as JSON-ready values.

    The class saved is the first known class in the model's MRO (a subclass saves as its base).
    """
    name = next(cls.__name__ for cls in type(model).__mro__ if cls.__name__ in _CLASSES)
    return {
        "class": name,
        "penalizer": model.penalizer,
        "params": dict(model.params_),
        "se": dict(model.se_),
        "covariance": np.asarray(model.covariance_).tolist(),
        "loglik": model.loglik_,
        "n_customers": model.n_customers_,
        "n_rows": model.n_rows_,
        "n_iter": model.n_iter_,
    }


_CLASSES: dict[str, type[BTYDModel]] = {
    cls.__name__: cls for cls in (BetaGeo, ModifiedBetaGeo, ParetoNBD, GammaGamma)
}


def restore_model(state: dict[str, Any]) -> BTYDModel:
    """A fitted model from :func:`model_state` (predictions only need the learned attributes)."""
    cls = _CLASSES.get(str(state.get("class")))
    if cls is None:
        raise UserError(f"saved CLV model has an unknown class {state.get('class')!r}")
    model = cls(penalizer=float(state.get("penalizer", 0.0)))
    missing = [name for name in cls.param_names if name not in state["params"]]
    if missing:
        raise UserError(f"saved {cls.__name__} lacks parameters {missing}")
    model.params_ = {name: float(state["params"][name]) for name in cls.param_names}
    model.se_ = {name: float(state["se"].get(name, math.nan)) for name in cls.param_names}
    model.covariance_ = np.asarray(state.get("covariance", np.full((len(cls.param_names),) * 2, np.nan)))
    model.loglik_ = float(state.get("loglik", math.nan))
    model.n_customers_ = float(state.get("n_customers", math.nan))
    model.n_rows_ = int(state.get("n_rows", 0))
    model.n_iter_ = int(state.get("n_iter", 0))
    return model


@dataclass
class CLVModel:
    """A fitted transaction model and spend model, with the time frame they were fitted in."""

    name: str  # bgnbd | mbgnbd | pareto
    transaction: TransactionModel
    spend: GammaGamma
    calibration_end: date
    unit_days: float

    FORMAT: ClassVar[int] = 1

    @property
    def label(self) -> str:
        return MODEL_LABELS[self.name]

    def to_state(self) -> dict[str, Any]:
        """JSON-ready state (the artifact saved with each version)."""
        return {
            "format": self.FORMAT,
            "name": self.name,
            "calibration_end": self.calibration_end.isoformat(),
            "unit_days": self.unit_days,
            "transaction": model_state(self.transaction),
            "spend": model_state(self.spend),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CLVModel:
        """The model saved by :meth:`to_state`."""
        if state.get("format") != cls.FORMAT:
            raise UserError(
                f"saved CLV model has format {state.get('format')!r}; this version reads {cls.FORMAT}"
            )
        transaction = restore_model(state["transaction"])
        spend = restore_model(state["spend"])
        if not isinstance(transaction, TransactionModel) or not isinstance(spend, GammaGamma):
            raise UserError("saved CLV model does not hold a transaction model and a Gamma-Gamma model")
        return cls(
            check_model_name(str(state["name"])),
            transaction,
            spend,
            date.fromisoformat(state["calibration_end"]),
            float(state["unit_days"]),
        )


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Per-customer predictions, aligned with the :class:`CustomerHistories` they came from."""

    customer_id: pa.Array
    p_alive: FloatArray
    expected_purchases: FloatArray
    clv: FloatArray
    expected_spend: FloatArray
    days_to_next_order: FloatArray  # inf where the model gives no finite expectation

    @property
    def n_customers(self) -> int:
        return len(self.p_alive)


def _pair_codes(frequency: FloatArray, big_t: FloatArray) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
    """Code of each row's (x, T) pair, and the x and T of each distinct pair."""
    x_codes, x_values = pd.factorize(frequency, sort=False)
    t_codes, t_values = pd.factorize(big_t, sort=False)
    key = x_codes.astype(np.int64) * len(t_values) + t_codes
    pair_codes, unique_keys = pd.factorize(key, sort=False)
    unique_keys = np.asarray(unique_keys, dtype=np.int64)
    pair_x = np.asarray(x_values, dtype=np.float64)[unique_keys // len(t_values)]
    pair_t = np.asarray(t_values, dtype=np.float64)[unique_keys % len(t_values)]
    return pair_codes.astype(np.intp, copy=False), pair_x, pair_t


def expected_if_alive(model: TransactionModel, t: float, x: FloatArray, big_t: FloatArray) -> FloatArray:
    """E[purchases in (T, T+t] | alive at T, x, T], through the models' public predictions.

    Every model here writes E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) · g(t, x, T); evaluating both at
    a reference recency (t_x = T, or 0 when x = 0, always a valid history) and dividing recovers g,
    which does not depend on t_x.
    """
    reference = np.where(x > 0, big_t, 0.0)
    conditional = model.conditional_expected_purchases(t, x, reference, big_t)
    alive = model.probability_alive(x, reference, big_t)
    out = np.zeros_like(conditional)
    np.divide(conditional, alive, out=out, where=alive > 0)
    return out


def score_histories(
    model: CLVModel, histories: CustomerHistories, horizon_months: int, discount_rate: float
) -> Scores:
    """P(alive), expected purchases and CLV over ``horizon_months`` (discounted monthly), next-order wait.

    Equal to :func:`retentio.models.btyd.clv` with ``period_length`` = one month in the model's time
    unit, evaluated per distinct (x, T) pair (see the module docstring).
    """
    if not (isinstance(horizon_months, int) and horizon_months >= 1):
        raise UserError(f"--horizon-months must be a whole number >= 1, got {horizon_months!r}")
    if not (math.isfinite(discount_rate) and discount_rate > -1):
        raise UserError(f"--discount-rate must be a monthly rate > -1 (e.g. 0.01), got {discount_rate!r}")
    if histories.unit_days != model.unit_days:
        raise UserError(
            f"histories are in units of {histories.unit_days} days, the model's are {model.unit_days} days"
        )
    x, t_x, big_t = histories.frequency, histories.recency, histories.T
    transaction = model.transaction
    p_alive = transaction.probability_alive(x, t_x, big_t)
    pair_codes, pair_x, pair_t = _pair_codes(x, big_t)
    month = DAYS_PER_MONTH / model.unit_days
    discounted = np.zeros(len(pair_x))
    previous = np.zeros(len(pair_x))
    for i in range(1, horizon_months + 1):
        cumulative = expected_if_alive(transaction, i * month, pair_x, pair_t)
        discounted += (cumulative - previous) / (1.0 + discount_rate) ** i
        previous = cumulative
    # Customers with x = 0 get the population mean spend: GG's conditional expectation at x = 0.
    spend = model.spend.conditional_expected_spend(x, np.maximum(histories.monetary, 0.0))
    expected = p_alive * previous[pair_codes]
    value = p_alive * discounted[pair_codes] * spend
    wait_units = transaction.expected_time_to_next_purchase(x, t_x, big_t)
    return Scores(
        histories.customer_id,
        np.asarray(p_alive, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        np.asarray(value, dtype=np.float64),
        np.asarray(spend, dtype=np.float64),
        np.asarray(wait_units, dtype=np.float64) * model.unit_days,
    )


def next_order_timestamps(days_to_next_order: FloatArray, start: datetime) -> pa.Array:
    """``start`` (an aware instant) + the expected wait, as UTC timestamps; null where the wait is
    infinite or beyond :data:`MAX_NEXT_ORDER_DAYS`."""
    finite = np.isfinite(days_to_next_order) & (days_to_next_order <= MAX_NEXT_ORDER_DAYS)
    micros = np.where(finite, np.round(days_to_next_order * 86_400e6), 0.0).astype(np.int64)
    origin = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "us")
    stamps = origin + micros.astype("timedelta64[us]")
    return pa.array(stamps, pa.timestamp("us", tz="UTC"), mask=~finite)
