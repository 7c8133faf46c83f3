"""Reasons behind a churn score, in words a marketer understands (English and Russian).

The classifier's per-customer SHAP values (TreeSHAP, Lundberg et al. 2020; LightGBM
``pred_contrib=True``) say how much each feature moved this customer's log-odds of churning; they are
taken relative to the customers who stayed (:meth:`ChurnModel.relative_contributions`), so a reason
says what makes this customer riskier than a loyal one. Features that tell one story are summed into
a *reason group* (the recency features, the review features, ...); the groups that push the risk up
the most become reasons, each rendered from a template with the customer's own values ("no order for
94 days, usually orders every 30 days").

A group only becomes a reason when the customer's values support its sentence: if the ticket
features raised the risk of a customer with no open ticket and a good CSAT, no ticket sentence is
made up. Rendering is :func:`render_reason`.

The rules work on whole columns (:class:`Columns`), because ``churn score`` explains every customer:
rules in plain Python, row by row, took ~28 s per million customers; on columns, the rules and the
choice of the top groups (numpy over the rows × groups matrix) take ~1.5 s, and building the Python
objects the writer needs about as long again (1.7 reasons per customer; SHAP values not included).
One customer (``churn explain``, :func:`reasons_for`) goes through the very same code as a one-row
batch, so the two cannot drift apart.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from retentio.i18n import translate

# Log-odds a group must add before it is worth a sentence (exp(0.05) ≈ 5 % higher odds).
MIN_CONTRIBUTION = 0.05
DEFAULT_TOP = 3

GROUPS: dict[str, tuple[str, ...]] = {
    "recency": (
        "recency_days",
        "overdue_ratio",
        "gap_mean_days",
        "gap_median_days",
        "gap_std_days",
        "orders_90d",
        "orders_180d",
        "p_alive",
        "expected_purchases",
    ),
    "frequency": ("frequency", "tenure_days"),
    "spend": ("monetary", "aov", "spend_90d", "spend_180d", "spend_trend_180d"),
    "email": (
        "email_opens_30d",
        "email_opens_90d",
        "email_opens_prev_90d",
        "email_clicks_30d",
        "email_clicks_90d",
        "days_since_last_email_open",
    ),
    "visits": ("visits_30d", "visits_90d", "visits_prev_90d", "days_since_last_activity"),
    "reviews": ("reviews", "avg_rating", "negative_reviews", "last_rating"),
    "tickets": ("tickets", "tickets_90d", "open_tickets", "last_ticket_csat"),
    "surveys": ("last_nps", "last_csat_survey"),
    "loyalty": ("loyalty_tier_rank", "loyalty_points"),
}
FEATURE_GROUP: dict[str, str] = {feature: group for group, members in GROUPS.items() for feature in members}


@dataclass(frozen=True)
class Reason:
    """One reason: a message key, the values it is rendered with, and its weight in log-odds."""

    key: str
    values: dict[str, Any]
    contribution: float
    group: str

    def to_dict(self) -> dict[str, Any]:
        # Same shape as ReasonBatch.records() builds directly for many customers.
        return {
            "key": self.key,
            "values": self.values,
            "contribution": self.contribution,
            "group": self.group,
        }


# --- Reading feature values -------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A value as a number, None when missing or not a number (NaN counts as missing)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _date(value: Any) -> str | None:
    """A date-like value as ``YYYY-MM-DD`` (the first 10 characters of its ISO form), None when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:10] if text and text != "NaT" else None


Column = pd.Series | NDArray[Any]


class Columns:
    """Feature values of one or many customers, read column by column as the rules need them.

    ``num`` is :func:`_num` applied to every value and ``dates`` is :func:`_date`, only faster where
    the dtype makes it safe: a numeric column is one float64 array (NaN = missing), a datetime column
    formats each distinct date once. Other columns (strings, Decimals, objects; one customer's row)
    go through the scalar functions value by value, so every input reads exactly as it always did.
    """

    def __init__(self, data: Mapping[str, Column], length: int) -> None:
        self._data = data
        self._length = length
        self._numbers: dict[str, NDArray[np.float64]] = {}
        self._dates: dict[str, NDArray[np.object_]] = {}

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Columns:
        return cls({str(name): frame[name] for name in frame.columns}, len(frame))

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> Columns:
        data: dict[str, Column] = {}
        for name, value in row.items():
            cell = np.empty(1, dtype=object)
            cell[0] = value  # as is: no numpy conversion of dates, strings or None
            data[str(name)] = cell
        return cls(data, 1)

    def __len__(self) -> int:
        return self._length

    def num(self, name: str) -> NDArray[np.float64]:
        """The column as float64, NaN where :func:`_num` gives None (all NaN for a missing column)."""
        if name not in self._numbers:
            column = self._data.get(name)
            if column is None:
                values = np.full(self._length, np.nan)
            elif column.dtype.kind in "biuf":  # bool, int, float, numpy or nullable (NA → NaN)
                if isinstance(column, pd.Series):
                    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    values = np.asarray(column, dtype=np.float64)
            else:
                parsed = [_num(v) for v in column.tolist()]
                values = np.array([np.nan if v is None else v for v in parsed], dtype=np.float64)
            self._numbers[name] = values
        return self._numbers[name]

    def num_or_zero(self, name: str) -> NDArray[np.float64]:
        """``_num(...) or 0.0``: missing and -0.0 both become 0.0 (``-0.0 or 0.0`` is 0.0)."""
        values = self.num(name)
        return np.where(np.isnan(values) | (values == 0), 0.0, values)

    def dates(self, name: str) -> NDArray[np.object_]:
        """The column as ``YYYY-MM-DD`` strings or None (see :func:`_date`)."""
        if name not in self._dates:
            column = self._data.get(name)
            texts = np.empty(self._length, dtype=object)  # None everywhere
            if column is None:
                pass
            elif isinstance(column, pd.Series) and column.dtype.kind == "M":
                # Timestamps (NaT → code -1 → None): each distinct day formatted once.
                codes, uniques = pd.factorize(column)
                table = np.array([*(_date(u) for u in uniques), None], dtype=object)
                texts = table[codes]
            else:
                texts[:] = [_date(v) for v in column.tolist()]
            self._dates[name] = texts
        return self._dates[name]


# --- Turning selected values into the Python values a message is rendered with -----------------

Convert = Callable[[NDArray[Any]], list[Any]]


def _fits_int64(values: NDArray[np.float64]) -> bool:
    return bool(np.isfinite(values).all() and (np.abs(values) < 2.0**63).all())


def _ints(values: NDArray[np.float64]) -> list[int]:
    """``int(v)`` for each: truncation toward zero, as Python ints (JSON needs them, not numpy's)."""
    if _fits_int64(values):
        return list(np.trunc(values).astype(np.int64).tolist())
    return [int(v) for v in values.tolist()]  # inf raises, huge values stay exact: what int() does


def _rounded(values: NDArray[np.float64]) -> list[int]:
    """``round(v)`` for each: the nearest int, halves to even (``np.rint`` rounds the same way)."""
    if _fits_int64(values):
        return list(np.rint(values).astype(np.int64).tolist())
    return [round(v) for v in values.tolist()]


def _rounded_at_least_one(values: NDArray[np.float64]) -> list[int]:
    """``max(round(v), 1)`` for each."""
    if _fits_int64(values):
        return list(np.maximum(np.rint(values), 1.0).astype(np.int64).tolist())
    return [max(round(v), 1) for v in values.tolist()]


def _rounded_6(values: NDArray[np.float64]) -> list[float]:
    """``round(v, 6)`` for each (a reason's contribution), as Python floats, bit for bit.

    ``round`` gives the double nearest to the decimal ``K·10⁻⁶``, K being ``v·10⁶`` rounded half to
    even exactly; ``np.rint(v * 1e6) / 1e6`` gives the same double wherever the product's rounding
    error (at most 2⁻⁵³ of it) cannot carry ``v·10⁶`` across a halfway point, because the division is
    then correctly rounded too. Values closer than twice that error to a tie (or huge, or not finite)
    go through ``round`` itself. Five times faster than ``round`` on every value.
    """
    scaled = values * 1e6
    magnitude = np.abs(scaled)
    with np.errstate(invalid="ignore"):
        clear = np.abs(magnitude - np.floor(magnitude) - 0.5) > magnitude * 2.0**-51
    rounded: list[float] = (np.rint(scaled) / 1e6).tolist()
    for i in np.flatnonzero(~clear).tolist():
        rounded[i] = round(float(values[i]), 6)
    return rounded


def _money(values: NDArray[np.float64]) -> list[str]:
    """Whole currency units with thousands separators (``f"{v:,.0f}"``)."""
    return [f"{v:,.0f}" for v in values.tolist()]


def _one_decimal(values: NDArray[np.float64]) -> list[str]:
    return [f"{v:.1f}" for v in values.tolist()]


def _texts(values: NDArray[np.object_]) -> list[Any]:
    return list(values.tolist())


def _text_or_unknown(values: NDArray[np.object_]) -> list[Any]:
    return [v or "?" for v in values.tolist()]


# --- The rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message a rule may give: its key, the rows it holds for, and its values (array + conversion).

    A rule lists its messages in priority order; a row gets the first one whose ``when`` holds, or no
    reason from this group when none does. The values are converted to Python only for the rows that
    end up showing the message.
    """

    key: str
    when: NDArray[np.bool_]
    values: dict[str, tuple[NDArray[Any], Convert]]


Rule = Callable[[Columns], list[Message]]


def _recency(c: Columns) -> list[Message]:
    days, gap, p_alive = c.num("recency_days"), c.num("gap_mean_days"), c.num("p_alive")
    known = ~np.isnan(days)
    regular = known & (gap > 0)  # a usual gap between orders to compare with: no fallback below
    return [
        Message(
            "churn.reason.overdue", regular & (days > gap), {"days": (days, _ints), "gap": (gap, _rounded)}
        ),
        Message("churn.reason.lapsed", regular & (p_alive < 0.5), {"p_alive": (100 * p_alive, _rounded)}),
        Message(
            "churn.reason.one_order",
            known & ~regular & (c.num_or_zero("frequency") <= 1),
            {"days": (days, _ints)},
        ),
        Message("churn.reason.no_recent_order", known & ~regular, {"days": (days, _ints)}),
    ]


def _frequency(c: Columns) -> list[Message]:
    orders = c.num("frequency")
    months = c.num_or_zero("tenure_days") / 30.44
    return [
        Message(
            "churn.reason.few_orders",
            orders <= 3,  # NaN (unknown) compares False
            {"orders": (orders, _ints), "months": (months, _rounded_at_least_one)},
        )
    ]


def _spend(c: Columns) -> list[Message]:
    trend = c.num("spend_trend_180d")
    return [
        Message(
            "churn.reason.spend_down",
            trend < 0.8,
            {"recent": (c.num_or_zero("spend_180d"), _money), "percent": (100 * (1 - trend), _rounded)},
        )
    ]


def _email(c: Columns) -> list[Message]:
    recent, before = c.num_or_zero("email_opens_90d"), c.num_or_zero("email_opens_prev_90d")
    since = c.num("days_since_last_email_open")
    never_opened = np.isnan(since)
    return [
        Message(
            "churn.reason.email_stopped",
            (recent == 0) & (before > 0),
            {"days": (np.where(never_opened, 90.0, since), _ints)},
        ),
        Message("churn.reason.email_never", (recent == 0) & never_opened, {}),
        Message(
            "churn.reason.email_down", recent < before, {"before": (before, _ints), "recent": (recent, _ints)}
        ),
    ]


def _visits(c: Columns) -> list[Message]:
    recent, before = c.num_or_zero("visits_90d"), c.num_or_zero("visits_prev_90d")
    idle = c.num("days_since_last_activity")
    return [
        Message("churn.reason.inactive", (recent == 0) & (idle >= 30), {"days": (idle, _ints)}),
        Message(
            "churn.reason.visits_down",
            recent < before,
            {"before": (before, _ints), "recent": (recent, _ints)},
        ),
    ]


def _reviews(c: Columns) -> list[Message]:
    negative_date = c.dates("last_negative_review_date")
    average = c.num("avg_rating")
    return [
        Message(
            "churn.reason.negative_review",
            np.asarray(pd.notna(negative_date), dtype=bool),  # dates() holds only strings and None
            {"date": (negative_date, _texts)},
        ),
        Message("churn.reason.low_rating", average < 3.5, {"rating": (average, _one_decimal)}),
    ]


def _tickets(c: Columns) -> list[Message]:
    open_now, csat = c.num_or_zero("open_tickets"), c.num("last_ticket_csat")
    recent = c.num_or_zero("tickets_90d")
    return [
        Message("churn.reason.open_tickets", open_now > 0, {"count": (open_now, _ints)}),
        Message("churn.reason.bad_support", csat <= 3, {"csat": (csat, _ints)}),
        Message("churn.reason.many_tickets", recent >= 2, {"count": (recent, _ints)}),
    ]


def _surveys(c: Columns) -> list[Message]:
    nps, csat = c.num("last_nps"), c.num("last_csat_survey")
    return [
        Message(
            "churn.reason.nps",
            nps <= 6,
            {"score": (nps, _ints), "date": (c.dates("last_nps_date"), _text_or_unknown)},
        ),
        Message("churn.reason.csat", csat <= 3, {"score": (csat, _ints)}),
    ]


RULES: dict[str, Rule] = {
    "recency": _recency,
    "frequency": _frequency,
    "spend": _spend,
    "email": _email,
    "visits": _visits,
    "reviews": _reviews,
    "tickets": _tickets,
    "surveys": _surveys,
}


def rule_choices(columns: Columns, groups: Sequence[str]) -> tuple[list[list[Message]], NDArray[np.int8]]:
    """Every group's messages and, per group and row, the index of the message it gives (-1: none)."""
    messages: list[list[Message]] = []
    choice = np.full((len(groups), len(columns)), -1, dtype=np.int8)
    with np.errstate(all="ignore"):  # arithmetic on missing (NaN) or huge values is expected here
        for j, group in enumerate(groups):
            rule = RULES.get(group)
            made = rule(columns) if rule is not None else []
            for k in reversed(range(len(made))):  # the first message that holds wins
                choice[j, made[k].when] = k
            messages.append(made)
    return messages, choice


# --- Choosing the top groups and building the reasons -------------------------------------------


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small dicts and reasons are made.

    Each batch of new containers would trigger a collection that walks all of them again (measured:
    building 1.7M reasons took 2.5x as long); none of these objects can be part of a cycle.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class ReasonBatch:
    """The reasons of many rows, flat in row order and rank; row ``i`` owns ``offsets[i]:offsets[i+1]``."""

    offsets: list[int]
    keys: list[str]
    values: list[dict[str, Any]]
    contributions: list[float]
    groups: list[str]

    def reasons(self) -> list[list[Reason]]:
        """Per row, its :class:`Reason` list."""
        with _collector_paused():
            flat = list(map(Reason, self.keys, self.values, self.contributions, self.groups))
            return [flat[a:b] for a, b in pairwise(self.offsets)]

    def records(self) -> list[dict[str, Any]]:
        """Per row, ``{"reasons": [Reason.to_dict(), ...]}`` as ``customer_scores.reasons`` stores it,
        built without the intermediate :class:`Reason` objects."""
        with _collector_paused():
            flat = [
                {"key": k, "values": v, "contribution": c, "group": g}
                for k, v, c, g in zip(self.keys, self.values, self.contributions, self.groups, strict=True)
            ]
            return [{"reasons": flat[a:b]} for a, b in pairwise(self.offsets)]


def _value_dicts(message: Message, rows: NDArray[np.intp]) -> list[dict[str, Any]]:
    names = list(message.values)
    columns = [convert(source[rows]) for source, convert in message.values.values()]
    # Dict displays for the one- and two-value messages (all of them today): twice as fast as dict(zip()).
    if not names:
        return [{} for _ in range(len(rows))]
    if len(names) == 1:
        (name,) = names
        return [{name: value} for value in columns[0]]
    if len(names) == 2:
        first, second = names
        return [{first: a, second: b} for a, b in zip(columns[0], columns[1], strict=True)]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def batch_reasons(
    columns: Columns,
    groups: Sequence[str],
    totals: NDArray[np.float64],
    top: int = DEFAULT_TOP,
    min_contribution: float = MIN_CONTRIBUTION,
) -> ReasonBatch:
    """The top reasons of every row: ``totals`` (rows × groups) are the contributions summed by group.

    Per row, groups go by contribution, largest first (ties in ``groups`` order); the walk stops at the
    first one below ``min_contribution`` or once ``top`` reasons are found, and a group whose rule
    gives this row no message is passed over.
    """
    n = len(columns)
    weights_by_group = np.asarray(totals, dtype=np.float64).reshape(n, len(groups))
    messages, choice = rule_choices(columns, groups)

    order = np.argsort(-weights_by_group, axis=1, kind="stable")
    weights = np.take_along_axis(weights_by_group, order, axis=1)
    has_message = np.take_along_axis((choice >= 0).T, order, axis=1)
    reached = np.logical_and.accumulate(~(weights < min_contribution), axis=1)
    candidate = reached & has_message
    chosen = candidate & (np.cumsum(candidate, axis=1) <= top)
    rows, ranks = np.nonzero(chosen)  # row-major: each row's reasons in rank order
    group_at = order[rows, ranks]
    message_at = choice[group_at, rows]

    keys = np.empty(len(rows), dtype=object)
    values = np.empty(len(rows), dtype=object)
    with _collector_paused():
        for j, made in enumerate(messages):
            in_group = group_at == j
            for k, message in enumerate(made):
                at = np.flatnonzero(in_group & (message_at == k))
                if len(at):
                    keys[at] = message.key
                    values[at] = _value_dicts(message, rows[at])
        contributions = _rounded_6(weights[rows, ranks])
    offsets = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    return ReasonBatch(
        offsets.tolist(),
        keys.tolist(),
        values.tolist(),
        contributions,
        np.asarray(list(groups), dtype=object)[group_at].tolist(),
    )


def group_contributions(features: tuple[str, ...], contributions: np.ndarray) -> dict[str, float]:
    """Sum one row's SHAP values (bias column last, ignored) by reason group."""
    totals: dict[str, float] = {}
    for name, value in zip(features, contributions[: len(features)], strict=True):
        group = FEATURE_GROUP.get(name, name)
        totals[group] = totals.get(group, 0.0) + float(value)
    return totals


def group_matrix(features: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """Group names and the 0/1 matrix (features + bias) × groups that sums SHAP values by group."""
    names = list(dict.fromkeys(FEATURE_GROUP.get(f, f) for f in features))
    matrix = np.zeros((len(features) + 1, len(names)))
    for i, feature in enumerate(features):
        matrix[i, names.index(FEATURE_GROUP.get(feature, feature))] = 1.0
    return names, matrix


def reasons_for(
    row: Mapping[str, Any],
    features: tuple[str, ...],
    contributions: np.ndarray,
    top: int = DEFAULT_TOP,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[Reason]:
    """The top reasons (largest positive contributions first) this customer's values support."""
    return reasons_from_totals(row, group_contributions(features, contributions), top, min_contribution)


def reasons_from_totals(
    row: Mapping[str, Any],
    totals: Mapping[str, float],
    top: int = DEFAULT_TOP,
    min_contribution: float = MIN_CONTRIBUTION,
) -> list[Reason]:
    """:func:`reasons_for` from contributions already summed by group: a one-row :func:`batch_reasons`."""
    groups = list(totals)
    weights = np.array([[float(totals[g]) for g in groups]], dtype=np.float64).reshape(1, len(groups))
    return batch_reasons(Columns.of_row(row), groups, weights, top, min_contribution).reasons()[0]


def render_reason(reason: Reason | Mapping[str, Any], locale: str = "en") -> str:
    """The reason as a sentence in ``locale`` (``en`` or ``ru``)."""
    if isinstance(reason, Reason):
        key, values = reason.key, reason.values
    else:
        key, values = str(reason["key"]), dict(reason["values"])
    return translate(key, locale, **values)
