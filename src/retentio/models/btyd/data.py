"""From a transaction log to the per-customer summary the BTYD models take (DESIGN §4 "BTYD inputs").

Purchases are counted in *days*: several purchases on one calendar day merge into one (their values add
up), as in Fader, Hardie & Lee (2005), whose CDNOW preparation this reproduces exactly. Time is then
measured in units of ``unit_days`` days (weeks = 7, the literature's choice).

This is the plain pandas version for users and tests; analytics has the engine-portable Ibis one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from retentio.models.btyd.base import ModelInputError

DateLike = str | dt.date | dt.datetime | pd.Timestamp | np.datetime64


def _as_day(name: str, value: DateLike) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name} must be a date, got {value!r}: {exc}") from None
    if stamp is pd.NaT:
        raise ModelInputError(f"{name} must be a date, got {value!r}")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)  # wall-clock date in the stamp's own zone
    return stamp.normalize()


def _days(timestamp: Sequence[Any] | ArrayLike | pd.Series) -> pd.Series:
    raw = pd.Series(timestamp).reset_index(drop=True)
    try:
        stamps = pd.to_datetime(raw)
    except (TypeError, ValueError):
        try:  # strings in several ISO forms ("2024-01-01", "2024-01-01 09:00"): parse each on its own
            stamps = pd.to_datetime(raw, format="mixed")
        except (TypeError, ValueError) as exc:
            raise ModelInputError(f"timestamp must hold dates or date-times: {exc}") from None
    missing = stamps.isna()
    if missing.any():
        first = int(np.flatnonzero(missing.to_numpy())[0])
        raise ModelInputError(
            f"timestamp has {int(missing.sum())} missing value(s) (first at position {first})"
        )
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)  # keep the wall-clock date of each purchase
    return stamps.dt.normalize().reset_index(drop=True)


def summary_from_transactions(
    customer_id: Sequence[Any] | ArrayLike | pd.Series,
    timestamp: Sequence[Any] | ArrayLike | pd.Series,
    value: Sequence[Any] | ArrayLike | pd.Series | None,
    calibration_end: DateLike,
    observation_end: DateLike | None = None,
    unit_days: float = 7.0,
) -> pd.DataFrame:
    """One row per customer whose first purchase is on or before ``calibration_end`` (the index).

    Columns:

    * ``frequency`` — repeat purchase *days* in the calibration period (x);
    * ``recency`` — time from the first to the last purchase day (t_x), in units of ``unit_days``;
    * ``T`` — time from the first purchase day to ``calibration_end``;
    * ``monetary`` — mean value of the repeat purchase days (0 without repeats; needs ``value``);
    * with ``observation_end``: ``holdout_frequency`` (purchase days in (calibration_end,
      observation_end]), ``holdout_monetary`` (their mean value) and ``holdout_duration``.

    Days are calendar dates of the timestamps as given (time-zone-aware stamps keep their wall-clock
    date: convert them to the reporting zone first). Equal to ``lifetimes``'
    ``summary_data_from_transaction_data(..., freq="D", freq_multiplier=unit_days)``.
    """
    if not (isinstance(unit_days, int | float) and np.isfinite(unit_days) and unit_days > 0):
        raise ModelInputError(f"unit_days must be a number of days > 0, got {unit_days!r}")
    customers = pd.Series(customer_id).reset_index(drop=True)
    days = _days(timestamp)
    if len(customers) != len(days):
        raise ModelInputError(
            f"customer_id and timestamp must have the same length, got {len(customers)} and {len(days)}"
        )
    if customers.isna().any():
        raise ModelInputError("customer_id has missing values")
    if value is None:
        values = pd.Series(np.zeros(len(days)))
    else:
        try:
            values = pd.Series(np.asarray(pd.Series(value), dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ModelInputError(f"value must be numeric: {exc}") from None
        if len(values) != len(days):
            raise ModelInputError(
                f"value must have one entry per transaction, got {len(values)} for {len(days)}"
            )
        if not np.isfinite(values.to_numpy()).all():
            raise ModelInputError("value has missing or infinite entries")
    cal_end = _as_day("calibration_end", calibration_end)
    obs_end = None if observation_end is None else _as_day("observation_end", observation_end)
    if obs_end is not None and obs_end < cal_end:
        raise ModelInputError(f"observation_end {obs_end.date()} is before calibration_end {cal_end.date()}")
    last_day = obs_end if obs_end is not None else cal_end

    frame = pd.DataFrame({"customer_id": customers, "day": days, "value": values})
    frame = frame[frame["day"] <= last_day]
    # Same-day purchases merge into one purchase day whose value is their sum (FHL 2005, §5).
    daily = frame.groupby(["customer_id", "day"], sort=True)["value"].sum().reset_index()
    calibration = daily[daily["day"] <= cal_end]
    grouped = calibration.groupby("customer_id", sort=True)
    first_day = grouped["day"].min()
    last_purchase = grouped["day"].max()
    purchase_days = grouped["day"].size()
    total_value = grouped["value"].sum()
    first_value = grouped["value"].first()  # rows are sorted by day within a customer

    one_day = np.timedelta64(1, "D")
    frequency = (purchase_days - 1).astype(np.int64)
    repeat_value = total_value - first_value
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last_purchase - first_day).dt.days.astype(np.float64) / unit_days,
            "T": (cal_end - first_day).dt.days.astype(np.float64) / unit_days,
            "monetary": np.where(frequency > 0, repeat_value / frequency.where(frequency > 0, 1), 0.0),
        }
    )
    summary.index.name = "customer_id"
    if obs_end is not None:
        holdout = (
            daily[daily["day"] > cal_end].groupby("customer_id", sort=True)["value"].agg(["size", "mean"])
        )
        holdout = holdout.reindex(summary.index)
        summary["holdout_frequency"] = holdout["size"].fillna(0).astype(np.int64)
        summary["holdout_monetary"] = holdout["mean"].fillna(0.0).astype(np.float64)
        summary["holdout_duration"] = float((obs_end - cal_end) / one_day) / unit_days
    return summary
