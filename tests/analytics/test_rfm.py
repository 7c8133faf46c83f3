"""RFM scores, tie rule and named segments, on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retentio.analytics.rfm import (
    RFM_COLUMNS,
    SegmentMap,
    load_segment_map,
    rfm_report,
    rfm_summary,
    rfm_table,
    segment_map_from_data,
)
from retentio.errors import UserError

AS_OF = date(2024, 3, 1)


def five_customers(rows: Any) -> Any:
    rows.order("a1", "a", "2024-02-29T20:30:00Z", "100")  # 23:30 Moscow Feb 29: 1 day before as-of
    rows.order("a2", "a", "2024-02-29T21:30:00Z", "100")  # 00:30 Moscow Mar 1: not before as-of
    rows.order("b1", "b", "2024-01-01T10:00:00Z", "10")
    rows.order("b2", "b", "2024-01-01T12:00:00Z", "20")  # same day: two orders
    rows.order("b3", "b", "2024-02-01T12:00:00Z", "30")
    rows.refund("rb", "b3", "2024-02-02T12:00:00Z", "5")
    rows.refund("rb-late", "b3", "2024-03-05T12:00:00Z", "7")  # after as-of
    rows.order("c1", "c", "2023-11-01T10:00:00Z", "500")
    rows.order("c2", "c", "2024-02-10T10:00:00Z", "1", status="cancelled")
    rows.order("d1", "d", "2024-02-20T10:00:00Z", "40")
    rows.refund("rd", "d1", "2024-02-21T10:00:00Z", "40")  # fully refunded: still a customer
    rows.order("e1", "e", "2024-02-20T10:00:00Z", "50")
    rows.order("f1", "f", "2024-03-02T10:00:00Z", "50")  # after as-of: not scored
    return rows


def test_rfm_values_and_scores_by_hand(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(five_customers(snapshot_rows))
    table = rfm_table(tables, AS_OF)
    assert tuple(table.columns) == RFM_COLUMNS
    rows = {r["customer_id"]: r for r in table.to_pyarrow().to_pylist()}
    assert sorted(rows) == ["a", "b", "c", "d", "e"]
    values = {c: (r["recency_days"], r["frequency"], Decimal(r["monetary"])) for c, r in rows.items()}
    assert values == {
        "a": (1, 1, Decimal("100.00")),
        "b": (29, 3, Decimal("55.00")),
        "c": (121, 1, Decimal("500.00")),
        "d": (10, 1, Decimal("0.00")),
        "e": (10, 1, Decimal("50.00")),
    }
    # score = 1 + floor(5 · rank / 5) = 1 + rank, with RANK() (ties share the lower rank).
    # recency desc: c 121 (0), b 29 (1), d = e 10 (2, 2), a 1 (4)
    # frequency asc: a = c = d = e 1 (0), b 3 (4); monetary asc: d 0, e 50, b 55, a 100, c 500
    scores = {c: (r["r_score"], r["f_score"], r["m_score"]) for c, r in rows.items()}
    assert scores == {
        "a": (5, 1, 4),
        "b": (2, 5, 3),
        "c": (1, 1, 5),
        "d": (3, 1, 1),
        "e": (3, 1, 2),
    }
    # FM = (F + M + 1) // 2: a 3 → R5/FM3 Loyal; b 4 → R2/FM4 At Risk; c 3 → R1/FM3 At Risk;
    # d 1 → R3/FM1 About to Sleep; e 2 → R3/FM2 Need Attention
    segments = {c: r["segment"] for c, r in rows.items()}
    assert segments == {
        "a": "Loyal",
        "b": "At Risk",
        "c": "At Risk",
        "d": "About to Sleep",
        "e": "Need Attention",
    }


def test_rfm_report_shape_and_summary(analytics_backend: Any, snapshot_rows: Any) -> None:
    tables = analytics_backend.load(five_customers(snapshot_rows))
    report = rfm_report(tables, AS_OF)
    assert report["as_of"] == "2024-03-01"
    assert [c["customer_id"] for c in report["customers"]] == ["a", "b", "c", "d", "e"]
    assert set(report["customers"][0]) == set(RFM_COLUMNS)
    assert report["customers"][1]["monetary"] == Decimal("55.00")
    segments = {s["segment"]: s for s in report["segments"]}
    assert len(segments) == 11
    assert segments["At Risk"]["customers"] == 2
    assert segments["At Risk"]["net_revenue"] == Decimal("555.00")
    assert segments["At Risk"]["mean_recency_days"] == pytest.approx(75.0)
    assert segments["Champions"]["customers"] == 0 and segments["Champions"]["mean_monetary"] is None
    assert sum(s["customers"] for s in report["segments"]) == 5
    assert sum(s["share"] for s in report["segments"]) == pytest.approx(1.0)


def test_customer_filter_scores_among_the_members(duckdb_backend: Any, snapshot_rows: Any) -> None:
    tables = duckdb_backend.load(five_customers(snapshot_rows))
    rows = rfm_table(tables, AS_OF, customer_ids=["a", "c"]).to_pyarrow().to_pylist()
    assert {r["customer_id"]: r["r_score"] for r in rows} == {"a": 3, "c": 1}  # 1 + floor(5·rank/2)


def test_segment_map_files(tmp_path: Path, duckdb_backend: Any, snapshot_rows: Any) -> None:
    yaml_file = tmp_path / "map.yaml"
    yaml_file.write_text(
        "segments:\n"
        "  - {segment: Recent, r: [4, 5], fm: [1, 5]}\n"
        "  - {segment: Big, r: [1, 3], fm: 5}\n"
        "  - {segment: Rest, r: [1, 5], fm: [1, 5]}\n",
        encoding="utf-8",
    )
    mapping = load_segment_map(yaml_file)
    assert mapping.segments == ["Recent", "Big", "Rest"]
    tables = duckdb_backend.load(five_customers(snapshot_rows))
    rows = {
        r["customer_id"]: r["segment"] for r in rfm_table(tables, AS_OF, mapping).to_pyarrow().to_pylist()
    }
    assert rows == {"a": "Recent", "b": "Rest", "c": "Rest", "d": "Rest", "e": "Rest"}
    summary = rfm_summary(tables, AS_OF, mapping)
    assert [(s["segment"], s["customers"]) for s in summary] == [("Recent", 1), ("Big", 0), ("Rest", 4)]

    json_file = tmp_path / "map.json"
    json_file.write_text(json.dumps([{"segment": "All", "r": [1, 5], "fm": [1, 5]}]), encoding="utf-8")
    assert load_segment_map(json_file).segments == ["All"]


def test_segment_map_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="R1/FM1"):
        segment_map_from_data({"segments": [{"segment": "Top", "r": [2, 5], "fm": [1, 5]}]})
    with pytest.raises(UserError, match="1 <= lo <= hi <= 5"):
        segment_map_from_data([{"segment": "X", "r": [0, 5], "fm": [1, 5]}])
    with pytest.raises(UserError, match="needs 'segment'"):
        segment_map_from_data([{"segment": "X", "r": [1, 5]}])
    with pytest.raises(UserError, match="cannot read"):
        load_segment_map(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("segments: [unclosed", encoding="utf-8")
    with pytest.raises(UserError, match="not valid"):
        load_segment_map(bad)
    other = tmp_path / "map.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match=r"\.yaml, \.yml or \.json"):
        load_segment_map(other)


def test_default_map_names_all_eleven_segments_once_per_cell() -> None:
    mapping = SegmentMap()
    grid = mapping.grid()
    assert len(grid) == 25
    assert set(grid.values()) == {
        "Champions",
        "Loyal",
        "Potential Loyalist",
        "New",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "At Risk",
        "Can't Lose",
        "Hibernating",
        "Lost",
    }
    assert grid[(5, 5)] == "Champions" and grid[(1, 1)] == "Lost" and grid[(5, 1)] == "New"
    assert grid[(1, 5)] == "Can't Lose"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 90), st.integers(1, 500)),
        min_size=1,
        max_size=25,
    )
)
def test_scores_in_range_and_segments_cover_customers(
    duckdb_backend: Any, make_rows: Any, orders: list[Any]
) -> None:
    rows = make_rows()
    for i, (customer, offset, total) in enumerate(orders):
        day = date.fromordinal(date(2024, 1, 1).toordinal() + offset)
        rows.order(f"o{i}", customer, f"{day}T10:00:00Z", total)
    tables = duckdb_backend.load(rows)
    report = rfm_report(tables, date(2024, 4, 1))
    customers = report["customers"]
    assert len(customers) == len({c for c, _, _ in orders})
    for row in customers:
        assert all(1 <= row[key] <= 5 for key in ("r_score", "f_score", "m_score"))
        assert row["segment"] in SegmentMap().segments
    assert sum(s["customers"] for s in report["segments"]) == len(customers)
    # Equal values share a score: the tie rule never splits identical customers.
    by_frequency: dict[int, set[int]] = {}
    for row in customers:
        by_frequency.setdefault(row["frequency"], set()).add(row["f_score"])
    assert all(len(scores) == 1 for scores in by_frequency.values())
