"""The one score writer on SQLite and PostgreSQL: what the ORM reads back, replacement, other models kept.

CLV-style writes (several float columns and next-order timestamps) and the stored form of every value;
the churn-style write with reasons is in test_registry.py. ``registry.write_scores`` is the same
function as ``scores_writer.write_scores``, so these go through the registry's name, as callers do.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select, text

from retentio.app import App
from retentio.config import Settings
from retentio.errors import UserError
from retentio.models import registry, scores_writer
from retentio.store.db import migrate
from retentio.store.schema import Customer, CustomerScore

AS_OF = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
CUSTOMERS = 250  # more than two SQLite statements' worth of rows, not a multiple of one


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    settings = Settings(home=home, database_url=store_url)
    app = App(settings)
    migrate(settings)
    with app.session() as session:
        session.add_all([Customer(customer_id=f"c{i}", row_hash=i) for i in range(CUSTOMERS)])
    return settings


def _clv_table(ids: list[str], clv: list[float], next_order: list[datetime | None]) -> pa.Table:
    """Columns as the CLV service passes them: numpy floats and an Arrow UTC timestamp array."""
    n = len(ids)
    return pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "clv": np.array(clv, dtype=np.float64),
            "p_alive": np.linspace(0.1, 0.9, n),
            "expected_purchases": np.arange(n, dtype=np.float64),
            "next_order_at": pa.array(next_order, pa.timestamp("us", tz="UTC")),
        }
    )


def _rows(app: App, model: str = "clv") -> dict[str, CustomerScore]:
    with app.session() as session:
        found = session.scalars(select(CustomerScore).where(CustomerScore.model == model)).all()
        return {row.customer_id: row for row in found}


def test_registry_writes_through_the_one_writer() -> None:
    assert registry.write_scores is scores_writer.write_scores
    assert registry.SCORE_COLUMNS == scores_writer.SCORE_COLUMNS


def test_written_rows_read_back_through_the_orm(app: App, settings: Settings) -> None:
    next_order = [datetime(2024, 3, 9, 4, 30, 0, 123456, tzinfo=UTC), None, datetime(2025, 1, 1, tzinfo=UTC)]
    written = registry.write_scores(
        app, "clv", 3, AS_OF, _clv_table(["c0", "c1", "c2"], [12.5, float("inf"), 0.1 + 0.2], next_order)
    )
    assert written == 3
    rows = _rows(app)
    assert set(rows) == {"c0", "c1", "c2"}
    assert rows["c0"].clv == 12.5 and rows["c2"].clv == 0.1 + 0.2  # the same double, not a rounding
    assert rows["c1"].clv is None  # non-finite → NULL
    assert rows["c0"].next_order_at == next_order[0]
    assert rows["c1"].next_order_at is None
    assert rows["c2"].next_order_at == next_order[2]
    assert all(r.as_of == AS_OF and r.model_version == 3 and r.reasons is None for r in rows.values())
    assert all(r.churn_risk is None for r in rows.values())  # columns not given stay NULL
    assert rows["c1"].p_alive == pytest.approx(0.5) and rows["c2"].expected_purchases == 2.0
    # The registry's reader (segments, dashboard) sees the same values.
    latest = registry.latest_scores(app).to_pylist()
    assert [r["customer_id"] for r in latest] == ["c0", "c1", "c2"]
    assert latest[0]["next_order_at"] == next_order[0]
    assert latest[2]["clv"] == 0.1 + 0.2


def test_values_are_stored_as_the_orm_stores_them(app: App, settings: Settings) -> None:
    """Timestamps, floats and JSON in the very form SQLAlchemy's types bind, on either backend."""
    reasons = [{"reasons": [{"key": "churn.reason.recency", "values": {"days": 120}, "note": "é"}]}, None]
    scores = pa.table(
        {
            "customer_id": ["c0", "c1"],
            "churn_risk": [0.25, None],
            "next_order_at": pa.array([datetime(2024, 3, 9, 4, 30, 0, 5), None], pa.timestamp("us")),
        }
    )
    registry.write_scores(app, "probe", 1, AS_OF, scores, reasons)
    with app.session() as session:  # the ORM's own write of the same values, for comparison
        session.add(
            CustomerScore(
                customer_id="c2",
                model="probe",
                model_version=1,
                as_of=AS_OF,
                churn_risk=0.25,
                next_order_at=datetime(2024, 3, 9, 4, 30, 0, 5, tzinfo=UTC),
                reasons=reasons[0],
            )
        )
    with app.engine.connect() as conn:
        stored = {
            row[0]: tuple(row[1:])
            for row in conn.execute(
                text(
                    "SELECT customer_id, CAST(as_of AS TEXT), churn_risk, CAST(next_order_at AS TEXT), "
                    "CAST(reasons AS TEXT), reasons IS NULL FROM customer_scores WHERE model = 'probe'"
                )
            )
        }
    assert stored["c0"] == stored["c2"]  # byte for byte what the ORM stored
    assert stored["c0"][3] == json.dumps(reasons[0])
    assert stored["c1"][1:] == (None, None, None, True)  # no reasons: SQL NULL


def test_writing_replaces_the_model_rows_and_keeps_other_models(app: App, settings: Settings) -> None:
    registry.write_scores(
        app, "churn", 1, AS_OF, pa.table({"customer_id": ["c0", "c4"], "churn_risk": [0.2, 0.7]})
    )
    registry.write_scores(
        app, "clv", 1, AS_OF, _clv_table(["c0", "c1", "c2", "c3"], [1, 2, 3, 4], [None] * 4)
    )
    later = datetime(2024, 4, 1, 21, 0, tzinfo=UTC)
    registry.write_scores(app, "clv", 2, later, _clv_table(["c3", "c4"], [40, 50], [None, None]))
    rows = _rows(app)
    assert set(rows) == {"c3", "c4"}
    assert {r.model_version for r in rows.values()} == {2} and rows["c4"].clv == 50
    assert all(r.as_of == later for r in rows.values())
    assert set(_rows(app, "churn")) == {"c0", "c4"}
    # An empty scoring removes the model's rows.
    assert registry.write_scores(app, "clv", 3, later, _clv_table([], [], [])) == 0
    assert _rows(app) == {}


def test_many_rows_in_any_order_and_any_input_types(app: App, settings: Settings) -> None:
    """Full SQLite statements plus a remainder; unsorted ids, integer scores, naive and zoned stamps."""
    order = np.random.default_rng(3).permutation(CUSTOMERS)
    ids = [f"c{i}" for i in order]
    moscow = timezone(timedelta(hours=3))
    stamps = [datetime(2024, 5, 1, 12, tzinfo=moscow) + timedelta(hours=int(i)) for i in order]
    scores = pa.table(
        {
            "next_order_at": pa.array(stamps, pa.timestamp("ms", tz="+03:00")),
            "customer_id": pa.array(ids, pa.large_string()),
            "expected_purchases": pa.array(order, pa.int64()),
            "p_alive": pa.nulls(CUSTOMERS),
        }
    )
    assert registry.write_scores(app, "clv", 1, AS_OF, scores) == CUSTOMERS
    rows = _rows(app)
    assert len(rows) == CUSTOMERS
    for i in (0, 99, 100, 199, 200, 249):
        row = rows[f"c{i}"]
        assert row.expected_purchases == float(i) and row.p_alive is None and row.clv is None
        assert row.next_order_at == datetime(2024, 5, 1, 9, tzinfo=UTC) + timedelta(hours=i)


def test_a_failed_write_leaves_the_previous_scores(app: App, settings: Settings) -> None:
    registry.write_scores(app, "clv", 1, AS_OF, _clv_table(["c0", "c1"], [1, 2], [None, None]))
    with pytest.raises(UserError, match=r"does not have .*'nobody'"):
        registry.write_scores(app, "clv", 2, AS_OF, _clv_table(["c2", "nobody"], [3, 4], [None, None]))
    rows = _rows(app)
    assert set(rows) == {"c0", "c1"} and {r.model_version for r in rows.values()} == {1}


def test_bad_input_is_refused_before_writing(app: App, settings: Settings) -> None:
    registry.write_scores(app, "clv", 1, AS_OF, _clv_table(["c0"], [1], [None]))
    cases: list[tuple[str, pa.Table, list[dict[str, Any] | None] | None]] = [
        ("one row per customer_id", _clv_table(["c0", "c0"], [1, 2], [None, None]), None),
        ("unknown score columns", pa.table({"customer_id": ["c0"], "risk": [1.0]}), None),
        ("need a customer_id", pa.table({"clv": [1.0]}), None),
        ("must not be null", pa.table({"customer_id": ["c0", None], "clv": [1.0, 2.0]}), None),
        ("must be numbers", pa.table({"customer_id": ["c0"], "clv": ["12"]}), None),
        ("must be timestamps", pa.table({"customer_id": ["c0"], "next_order_at": ["2024-01-01"]}), None),
        ("reasons has 2 rows", pa.table({"customer_id": ["c0"], "churn_risk": [0.5]}), [None, None]),
        ("JSON-serialisable", pa.table({"customer_id": ["c0"], "churn_risk": [0.5]}), [{"x": object()}]),
    ]
    for message, scores, reasons in cases:
        with pytest.raises(UserError, match=message):
            registry.write_scores(app, "clv", 2, AS_OF, scores, reasons)
    with pytest.raises(UserError, match="timezone-aware"):
        registry.write_scores(app, "clv", 2, AS_OF.replace(tzinfo=None), _clv_table(["c1"], [1], [None]))
    assert {r.model_version for r in _rows(app).values()} == {1}
