"""Interval estimates for the KPIs: pure functions over counts, no I/O.

- Proportions use the Wilson score interval (Wilson 1927, "Probable inference, the law of
  succession, and statistical inference", JASA 22:209–212), which stays inside [0, 1] and behaves at
  0 and n; Brown, Cai & DasGupta (2001, Statistical Science 16:101–133) recommend it over Wald.
- NPS uses the adjusted Wald interval that Rocks (2016, "Interval estimation for the 'Net Promoter
  Score'", The American Statistician 70:365–372) found to cover best: add 3/4 to promoters and to
  detractors and 3 to n, then a Wald interval for the difference of the two multinomial shares. It
  is not degenerate when every answer is a passive (the plain Wald interval is [0, 0] there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval."""

    low: float
    high: float
    confidence: float = 0.95
    method: str = "wilson"

    def as_dict(self) -> dict[str, float | str]:
        return {"low": self.low, "high": self.high, "confidence": self.confidence, "method": self.method}


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Interval | None:
    """Wilson score interval for ``successes / trials``; None when there are no trials."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # At 0 and n the bounds are exactly 0 and 1 in exact arithmetic; floating point leaves ~1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def nps_score(promoters: int, passives: int, detractors: int) -> float | None:
    """Net promoter score in −100..100: % promoters (9–10) − % detractors (0–6); None without answers."""
    total = promoters + passives + detractors
    if total == 0:
        return None
    return 100.0 * (promoters - detractors) / total


def nps_interval(promoters: int, passives: int, detractors: int, z: float = Z_95) -> Interval | None:
    """Adjusted Wald interval for NPS (Rocks 2016), on the −100..100 scale; None without answers."""
    if min(promoters, passives, detractors) < 0:
        raise ValueError("answer counts cannot be negative")
    total = promoters + passives + detractors
    if total == 0:
        return None
    n = total + 3.0
    share_promoters = (promoters + 0.75) / n
    share_detractors = (detractors + 0.75) / n
    centre = share_promoters - share_detractors
    variance = (share_promoters + share_detractors - centre * centre) / n
    half = z * math.sqrt(variance)
    return Interval(
        100.0 * max(-1.0, centre - half), 100.0 * min(1.0, centre + half), method="adjusted-wald (Rocks 2016)"
    )
