"""RFM scores and the named RFM segments (DESIGN §4), computed in the engine.

Definitions (orders = non-cancelled orders dated before ``as_of``; ``as_of`` is exclusive, so an
order on the as-of date does not count and ``recency_days`` ≥ 1):

- ``recency_days`` = days from the local date of the last order to ``as_of``;
- ``frequency`` = number of orders (two orders on one day are two orders; BTYD frequency, which
  merges same-day orders and counts only repeats, lives in :mod:`retentio.analytics.summary`);
- ``monetary`` = net revenue: order totals − refunds of those orders dated before ``as_of``;
- only customers with at least one order before ``as_of`` are scored.

Scores 1–5 by quintiles with one tie rule that every SQL engine computes the same way: over the n
scored customers, ``score = 1 + floor(5 · rank / n)`` where ``rank`` is the 0-based SQL ``RANK()``
(the number of customers with a strictly smaller value). Equal values therefore always share a
score — the score of the first position of the tie — so two customers with the same behaviour never
land in different segments, and no ordering on ids is involved. Recency is reversed: ranked by
``recency_days`` descending, so the most recent buyers score 5. With heavy ties (most customers have
one order) the low scores absorb the tie and some scores stay empty; that is the data, not a bug.

Segments: the usual 11-segment map on R and FM, where FM = the mean of F and M rounded half up
(``(F + M + 1) // 2``). The default grid (rows R, columns FM):

=====  ==============  ==================  ==============  ==========  ==========
R \\FM  1               2                   3               4           5
=====  ==============  ==================  ==============  ==========  ==========
5      New             Potential Loyalist  Loyal           Champions   Champions
4      Promising       Potential Loyalist  Loyal           Champions   Champions
3      About to Sleep  Need Attention      Need Attention  Loyal       Loyal
2      Hibernating     Hibernating         At Risk         At Risk     At Risk
1      Lost            Hibernating         At Risk         Can't Lose  Can't Lose
=====  ==============  ==================  ==============  ==========  ==========

A segment map file (YAML or JSON) replaces it: a list of rules, first match wins, each with a
``segment`` name and inclusive ``r`` and ``fm`` ranges (``[lo, hi]`` or one number); together the
rules must cover all 25 (R, FM) cells::

    segments:
      - {segment: Champions, r: [4, 5], fm: [4, 5]}
      - {segment: Everyone else, r: [1, 5], fm: [1, 5]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from retentio.analytics.summary import CustomerIds, valid_orders, valid_refunds
from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError

SCORES = range(1, 6)
CENT = Decimal("0.01")
RFM_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "segment",
)


@dataclass(frozen=True)
class SegmentRule:
    """Customers with ``r_lo ≤ R ≤ r_hi`` and ``fm_lo ≤ FM ≤ fm_hi`` (unless an earlier rule matched)."""

    segment: str
    r: tuple[int, int]
    fm: tuple[int, int]

    def matches(self, r_score: int, fm_score: int) -> bool:
        return self.r[0] <= r_score <= self.r[1] and self.fm[0] <= fm_score <= self.fm[1]


DEFAULT_SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("Champions", (4, 5), (4, 5)),
    SegmentRule("Need Attention", (3, 3), (2, 3)),
    SegmentRule("Loyal", (3, 5), (3, 5)),
    SegmentRule("Potential Loyalist", (4, 5), (2, 2)),
    SegmentRule("New", (5, 5), (1, 1)),
    SegmentRule("Promising", (4, 4), (1, 1)),
    SegmentRule("About to Sleep", (3, 3), (1, 1)),
    SegmentRule("Can't Lose", (1, 1), (4, 5)),
    SegmentRule("At Risk", (1, 2), (3, 5)),
    SegmentRule("Lost", (1, 1), (1, 1)),
    SegmentRule("Hibernating", (1, 2), (1, 2)),
)


@dataclass(frozen=True)
class SegmentMap:
    """An ordered list of rules that together name every (R, FM) cell."""

    rules: tuple[SegmentRule, ...] = DEFAULT_SEGMENT_RULES

    def __post_init__(self) -> None:
        if not self.rules:
            raise UserError("the RFM segment map has no rules")
        uncovered = [f"R{r}/FM{fm}" for r in SCORES for fm in SCORES if self.segment_of(r, fm) is None]
        if uncovered:
            raise UserError(f"the RFM segment map leaves cells without a segment: {', '.join(uncovered)}")

    def segment_of(self, r_score: int, fm_score: int) -> str | None:
        """The first rule's segment that matches, or None."""
        for rule in self.rules:
            if rule.matches(r_score, fm_score):
                return rule.segment
        return None

    @property
    def segments(self) -> list[str]:
        """Segment names in rule order, each once."""
        return list(dict.fromkeys(rule.segment for rule in self.rules))

    def grid(self) -> dict[tuple[int, int], str]:
        """(R, FM) → segment for the 25 cells."""
        return {(r, fm): self.segment_of(r, fm) or "" for r in SCORES for fm in SCORES}


def _score_range(value: Any, where: str) -> tuple[int, int]:
    if isinstance(value, bool):
        raise UserError(f"{where}: expected a score 1–5 or a range [lo, hi], got {value!r}")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        low, high = int(value[0]), int(value[1])
    else:
        raise UserError(f"{where}: expected a score 1–5 or a range [lo, hi], got {value!r}")
    if not 1 <= low <= high <= 5:
        raise UserError(f"{where}: the range {value!r} must satisfy 1 <= lo <= hi <= 5")
    return low, high


def segment_map_from_data(data: Any, source: str = "segment map") -> SegmentMap:
    """Build a :class:`SegmentMap` from parsed YAML/JSON (a list of rules or ``{"segments": [...]}``)."""
    rules_data = data.get("segments") if isinstance(data, dict) else data
    if not isinstance(rules_data, list):
        raise UserError(f"{source}: expected a list of rules under 'segments'")
    rules = []
    for number, item in enumerate(rules_data, start=1):
        where = f"{source}, rule {number}"
        if not isinstance(item, dict) or not {"segment", "r", "fm"} <= set(item):
            raise UserError(f"{where}: each rule needs 'segment', 'r' and 'fm'")
        name = item["segment"]
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"{where}: 'segment' must be a non-empty name")
        rules.append(
            SegmentRule(name.strip(), _score_range(item["r"], where), _score_range(item["fm"], where))
        )
    return SegmentMap(tuple(rules))


def load_segment_map(path: str | Path) -> SegmentMap:
    """Read a segment map from a ``.yaml``/``.yml`` or ``.json`` file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read the segment map {file}: {exc.strerror or exc}") from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise UserError(f"segment map {file}: use a .yaml, .yml or .json file")
    except (ValueError, ImportError) as exc:
        raise UserError(f"segment map {file} is not valid: {exc}") from None
    except Exception as exc:  # yaml.YAMLError has no common base we can name without importing yaml
        raise UserError(f"segment map {file} is not valid YAML: {exc}") from None
    return segment_map_from_data(data, str(file))


def _quintile_score(rank: ir.IntegerValue, n: ir.IntegerValue) -> ir.IntegerValue:
    """``1 + floor(5 · rank / n)`` with a 0-based ``RANK()``."""
    return (1 + (rank * 5) // n).cast("int64")


def rfm_table(
    tables: AnalyticsTables,
    as_of: date,
    segment_map: SegmentMap | None = None,
    customer_ids: CustomerIds = None,
) -> ir.Table:
    """Per-customer RFM with columns :data:`RFM_COLUMNS` (``monetary`` is a decimal).

    ``customer_ids`` limits the customers *before* scoring (quintiles are then among them).
    """
    segment_map = segment_map or SegmentMap()
    orders = valid_orders(tables, as_of, customer_ids)
    per_customer = orders.group_by("customer_id").aggregate(
        last_order_date=orders.order_date.max(),
        frequency=orders.count(),
        order_totals=orders.total.sum(),
    )
    refunds = valid_refunds(tables, as_of, customer_ids)
    refunded = refunds.group_by(refund_customer_id=refunds.customer_id).aggregate(
        refunded=refunds.amount.sum()
    )
    joined = per_customer.left_join(refunded, per_customer.customer_id == refunded.refund_customer_id)
    zero = ibis.literal(0, type="decimal(38, 2)")
    base = joined.select(
        "customer_id",
        recency_days=ibis.date(as_of).delta(joined.last_order_date, unit="day").cast("int64"),
        frequency=joined.frequency.cast("int64"),
        monetary=(joined.order_totals - joined.refunded.fill_null(zero)).cast("decimal(38, 2)"),
    )
    n = base.customer_id.count().over()
    scored = base.mutate(
        r_score=_quintile_score(ibis.rank().over(order_by=base.recency_days.desc()), n),
        f_score=_quintile_score(ibis.rank().over(order_by=base.frequency), n),
        m_score=_quintile_score(ibis.rank().over(order_by=base.monetary), n),
    )
    fm_score = (scored.f_score + scored.m_score + 1) // 2
    cell = (scored.r_score * 10 + fm_score).cast("int64")
    grid = segment_map.grid()
    segment = cell.cases(*[((r * 10 + fm), name) for (r, fm), name in grid.items()])
    return scored.select(*RFM_COLUMNS[:-1], segment=segment.cast("string"))


def rfm_summary(
    tables: AnalyticsTables,
    as_of: date,
    segment_map: SegmentMap | None = None,
    customer_ids: CustomerIds = None,
    rfm: ir.Table | None = None,
) -> list[dict[str, Any]]:
    """One row per segment of the map, in rule order, empty segments included.

    Keys: ``segment``, ``customers``, ``share`` (of scored customers), ``net_revenue`` (Decimal),
    ``revenue_share`` (None when total net revenue ≤ 0), ``mean_recency_days``, ``mean_frequency``,
    ``mean_monetary`` (Decimal, half-up to 0.01; None for an empty segment). Pass ``rfm`` to reuse
    an :func:`rfm_table` expression.
    """
    segment_map = segment_map or SegmentMap()
    table = rfm if rfm is not None else rfm_table(tables, as_of, segment_map, customer_ids)
    stats = table.group_by("segment").aggregate(
        customers=table.count(),
        net_revenue=table.monetary.sum(),
        recency_days_total=table.recency_days.sum(),
        frequency_total=table.frequency.sum(),
    )
    return _summary_rows(stats.to_pyarrow().to_pylist(), segment_map)


def _summary_rows(stats: list[dict[str, Any]], segment_map: SegmentMap) -> list[dict[str, Any]]:
    """Segment rows (map order, empty segments included) from per-segment sums."""
    by_segment = {row["segment"]: row for row in stats}
    total_customers = sum(int(row["customers"]) for row in by_segment.values())
    total_revenue = sum((Decimal(row["net_revenue"]) for row in by_segment.values()), Decimal(0))
    out = []
    for name in segment_map.segments:
        row = by_segment.get(name)
        customers = int(row["customers"]) if row else 0
        revenue = Decimal(row["net_revenue"]).quantize(CENT) if row else Decimal("0.00")
        out.append(
            {
                "segment": name,
                "customers": customers,
                "share": customers / total_customers if total_customers else None,
                "net_revenue": revenue,
                "revenue_share": float(revenue / total_revenue) if total_revenue > 0 else None,
                "mean_recency_days": int(row["recency_days_total"]) / customers if row else None,
                "mean_frequency": int(row["frequency_total"]) / customers if row else None,
                "mean_monetary": (revenue / customers).quantize(CENT, rounding=ROUND_HALF_UP)
                if row
                else None,
            }
        )
    return out


def rfm_report(
    tables: AnalyticsTables,
    as_of: date,
    segment_map: SegmentMap | None = None,
    customer_ids: CustomerIds = None,
) -> dict[str, Any]:
    """``{"as_of", "customers": [rows sorted by customer_id], "segments": rfm_summary(...)}``."""
    segment_map = segment_map or SegmentMap()
    fetched = rfm_table(tables, as_of, segment_map, customer_ids).to_pyarrow().sort_by("customer_id")
    # One query: the segment sums come from the fetched rows (Arrow), not from a second scan.
    stats = fetched.group_by("segment").aggregate(
        [
            ("customer_id", "count"),
            ("monetary", "sum"),
            ("recency_days", "sum"),
            ("frequency", "sum"),
        ]
    )
    stats_rows = [
        {
            "segment": row["segment"],
            "customers": row["customer_id_count"],
            "net_revenue": row["monetary_sum"],
            "recency_days_total": row["recency_days_sum"],
            "frequency_total": row["frequency_sum"],
        }
        for row in stats.to_pylist()
    ]
    customers = fetched.to_pylist()
    for row in customers:
        row["monetary"] = row["monetary"].quantize(CENT)
    return {
        "as_of": as_of.isoformat(),
        "customers": customers,
        "segments": _summary_rows(stats_rows, segment_map),
    }
