"""Seasonal time warp: the map between *operational time* (where the purchase process is stationary)
and calendar time (where November and December are busy).

The behaviour process (BG/NBD, see :mod:`retentio.demo.behaviour`) runs in operational weeks. Calendar
intensity on local day ``d`` is ``s(d)`` (a yearly pattern with a December peak, Black Friday, quiet New
Year holidays and summer, times a weekday pattern), normalised so that its mean over the calendar years
touched by the period is 1. Operational time is the integral of that intensity,
``τ(t) = ∫ s(u) du``, so a Poisson process of rate λ in operational time is a process of rate ``λ·s(t)`` in
calendar time: counts over any operational interval are exactly BG/NBD, while calendar counts rise in
Nov–Dec. Within a day, the same monotone map spreads operational time over the local hours by a fixed
intraday profile (quiet nights, lunch and evening peaks). Because the warp is monotone and the mean of
``s`` is 1, a whole calendar year is (almost exactly) a whole operational year, so parameters fitted in
calendar weeks are close to the true ones; :meth:`SeasonalClock.operational_weeks` maps any timestamp back
for exact checks.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

SHOP_TIMEZONE = "Europe/Moscow"
SECONDS_PER_DAY = 86_400

# Local-hour weights of activity (0h..23h): night trough, lunch bump, evening peak.
HOURLY_PROFILE = np.array(
    [0.6, 0.35, 0.2, 0.15, 0.15, 0.2, 0.4, 0.8, 1.3, 1.6, 1.8, 1.9,
     2.1, 2.1, 1.9, 1.8, 1.8, 1.9, 2.1, 2.4, 2.6, 2.5, 2.0, 1.2],
    dtype=np.float64,
)  # fmt: skip
# Weekday multipliers, Monday first: Sunday evening and Monday are the busiest days online.
WEEKDAY_PROFILE = np.array([1.08, 1.02, 1.0, 0.98, 0.92, 0.93, 1.07], dtype=np.float64)

PEAK_AMPLITUDE = 0.8  # December bump height over the base level
PEAK_CENTRE_DAY = 342  # ~8 December (day of year, 1-based)
PEAK_WIDTH_DAYS = 22.0
BLACK_FRIDAY_BOOST = 1.0  # extra intensity Friday..Monday of the Black Friday weekend
NEW_YEAR_HOLIDAY_FACTOR = 0.75  # 1..8 January, the Russian winter holidays
SUMMER_FACTOR = 0.92  # July and August


def black_friday(year: int) -> date:
    """The last Friday of November."""
    day = date(year, 11, 30)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def _raw_intensity(day: date) -> float:
    doy = day.timetuple().tm_yday
    distance = min(abs(doy - PEAK_CENTRE_DAY), 365 - abs(doy - PEAK_CENTRE_DAY))
    level = 1.0 + PEAK_AMPLITUDE * float(np.exp(-0.5 * (distance / PEAK_WIDTH_DAYS) ** 2))
    bf = black_friday(day.year)
    if bf <= day <= bf + timedelta(days=3):
        level += BLACK_FRIDAY_BOOST
    if day.month == 1 and day.day <= 8:
        level *= NEW_YEAR_HOLIDAY_FACTOR
    if day.month in (7, 8):
        level *= SUMMER_FACTOR
    return level * float(WEEKDAY_PROFILE[day.weekday()])


class SeasonalClock:
    """Operational ↔ calendar time for the local days ``start..end`` (inclusive)."""

    def __init__(self, start: date, end: date, timezone: str = SHOP_TIMEZONE) -> None:
        if end < start:
            raise ValueError("end before start")
        self.start, self.end = start, end
        self.zone = ZoneInfo(timezone)
        n_days = (end - start).days + 1
        self.dates = [start + timedelta(days=i) for i in range(n_days)]
        # Normalise over the whole calendar years touched, so the yearly mean of s is 1 whatever the period.
        first, last = date(start.year, 1, 1), date(end.year, 12, 31)
        all_days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        self.norm = float(np.mean([_raw_intensity(d) for d in all_days]))
        self.intensity = np.array([_raw_intensity(d) / self.norm for d in self.dates], dtype=np.float64)
        weeks_per_day = self.intensity / 7.0
        self.cum_weeks = np.concatenate([[0.0], np.cumsum(weeks_per_day)])
        # UTC epoch seconds of each local midnight, plus the one after the last day.
        self.day_start_utc = np.array(
            [
                int(datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp())
                for d in [*self.dates, end + timedelta(days=1)]
            ],
            dtype=np.int64,
        )
        cdf = np.concatenate([[0.0], np.cumsum(HOURLY_PROFILE)])
        self._cdf_knots = cdf / cdf[-1]
        self._second_knots = np.arange(25, dtype=np.float64) * 3600.0

    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def horizon_weeks(self) -> float:
        """Operational length of the period, in weeks."""
        return float(self.cum_weeks[-1])

    @property
    def start_utc(self) -> int:
        return int(self.day_start_utc[0])

    @property
    def end_utc(self) -> int:
        """First second after the period (local midnight after ``end``), exclusive."""
        return int(self.day_start_utc[-1])

    def to_utc_seconds(self, weeks: np.ndarray) -> np.ndarray:
        """Map operational weeks since the start to UTC epoch seconds (int64), monotonically."""
        tau = np.clip(np.asarray(weeks, dtype=np.float64), 0.0, np.nextafter(self.horizon_weeks, 0.0))
        day = np.searchsorted(self.cum_weeks, tau, side="right") - 1
        day = np.clip(day, 0, self.n_days - 1)
        frac = (tau - self.cum_weeks[day]) / (self.intensity[day] / 7.0)
        second = np.interp(np.clip(frac, 0.0, 1.0), self._cdf_knots, self._second_knots)
        span = self.day_start_utc[day + 1] - self.day_start_utc[day]
        offset = np.minimum(np.floor(second * span / SECONDS_PER_DAY).astype(np.int64), span - 1)
        return np.asarray(self.day_start_utc[day] + offset, dtype=np.int64)

    def operational_weeks(self, utc_seconds: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_utc_seconds` (up to the one-second rounding)."""
        t = np.asarray(utc_seconds, dtype=np.int64)
        day = np.clip(np.searchsorted(self.day_start_utc, t, side="right") - 1, 0, self.n_days - 1)
        span = (self.day_start_utc[day + 1] - self.day_start_utc[day]).astype(np.float64)
        second = (t - self.day_start_utc[day]).astype(np.float64) * SECONDS_PER_DAY / span
        frac = np.interp(second, self._second_knots, self._cdf_knots)
        return np.asarray(self.cum_weeks[day] + frac * self.intensity[day] / 7.0, dtype=np.float64)

    def local_day_index(self, utc_seconds: np.ndarray) -> np.ndarray:
        """Index of the local day (0 = start) of each timestamp; may fall outside ``0..n_days-1``."""
        t = np.asarray(utc_seconds, dtype=np.int64)
        return np.asarray(np.searchsorted(self.day_start_utc, t, side="right") - 1, dtype=np.int64)

    def monthly_index(self) -> dict[str, float]:
        """Mean calendar intensity per month of the year over the period (1.0 = the yearly average)."""
        months = np.array([d.month for d in self.dates])
        return {f"{m:02d}": round(float(self.intensity[months == m].mean()), 4) for m in np.unique(months)}

    def nov_dec_uplift(self) -> float:
        """Mean intensity of November–December days relative to the period's mean, minus one."""
        months = np.array([d.month for d in self.dates])
        mask = months >= 11
        if not mask.any():
            return 0.0
        return float(self.intensity[mask].mean() / self.intensity.mean() - 1.0)
