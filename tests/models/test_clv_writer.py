"""The bulk score writer on SQLite and PostgreSQL: what the ORM reads back, replacement, other models kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select

from retentio.config import Settings
from retentio.errors import UserError
from retentio.models import registry
from retentio.models.clv_service.writer import ScoreColumns, write_score_columns
from retentio.store.db import ensure_schema, session_scope
from retentio.store.schema import Customer, CustomerScore

AS_OF = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    settings = Settings(home=home, database_url=store_url)
    ensure_schema(settings)
    with session_scope(settings) as session:
        session.add_all([Customer(customer_id=f"c{i}", row_hash=i) for i in range(5)])
    return settings


def _columns(ids: list[str], clv: list[float], next_order: list[datetime | None]) -> ScoreColumns:
    n = len(ids)
    return ScoreColumns(
        customer_id=pa.array(ids, pa.string()),
        clv=np.array(clv),
        p_alive=np.linspace(0.1, 0.9, n),
        expected_purchases=np.arange(n, dtype=float),
        next_order_at=pa.array(next_order, pa.timestamp("us", tz="UTC")),
    )


def _rows(settings: Settings, model: str = "clv") -> dict[str, CustomerScore]:
    with session_scope(settings) as session:
        found = session.scalars(select(CustomerScore).where(CustomerScore.model == model)).all()
        return {row.customer_id: row for row in found}


def test_written_rows_read_back_through_the_orm(settings: Settings) -> None:
    next_order = [datetime(2024, 3, 9, 4, 30, 0, 123456, tzinfo=UTC), None, datetime(2025, 1, 1, tzinfo=UTC)]
    written = write_score_columns(
        settings, "clv", 3, AS_OF, _columns(["c0", "c1", "c2"], [12.5, float("inf"), 0.25], next_order)
    )
    assert written == 3
    rows = _rows(settings)
    assert set(rows) == {"c0", "c1", "c2"}
    assert rows["c0"].clv == 12.5 and rows["c2"].clv == 0.25
    assert rows["c1"].clv is None  # non-finite → NULL
    assert rows["c0"].next_order_at == next_order[0]
    assert rows["c1"].next_order_at is None
    assert rows["c2"].next_order_at == next_order[2]
    assert all(r.as_of == AS_OF and r.model_version == 3 and r.reasons is None for r in rows.values())
    assert rows["c1"].p_alive == pytest.approx(0.5) and rows["c2"].expected_purchases == 2.0
    # The registry's reader (segments, dashboard) sees the same values.
    latest = registry.latest_scores(settings).to_pylist()
    assert [r["customer_id"] for r in latest] == ["c0", "c1", "c2"]
    assert latest[0]["next_order_at"] == next_order[0]


def test_writing_replaces_the_model_rows_and_keeps_other_models(settings: Settings) -> None:
    registry.write_scores(
        settings, "churn", 1, AS_OF, pa.table({"customer_id": ["c0", "c4"], "churn_risk": [0.2, 0.7]})
    )
    write_score_columns(
        settings, "clv", 1, AS_OF, _columns(["c0", "c1", "c2", "c3"], [1, 2, 3, 4], [None] * 4)
    )
    later = datetime(2024, 4, 1, 21, 0, tzinfo=UTC)
    write_score_columns(settings, "clv", 2, later, _columns(["c3", "c4"], [40, 50], [None, None]))
    rows = _rows(settings)
    assert set(rows) == {"c3", "c4"}
    assert {r.model_version for r in rows.values()} == {2} and rows["c4"].clv == 50
    assert all(r.as_of == later for r in rows.values())
    assert set(_rows(settings, "churn")) == {"c0", "c4"}


def test_a_failed_write_leaves_the_previous_scores(settings: Settings) -> None:
    write_score_columns(settings, "clv", 1, AS_OF, _columns(["c0", "c1"], [1, 2], [None, None]))
    with pytest.raises(Exception):  # noqa: B017 - the driver's foreign-key error, whichever driver
        write_score_columns(settings, "clv", 2, AS_OF, _columns(["c2", "nobody"], [3, 4], [None, None]))
    rows = _rows(settings)
    assert set(rows) == {"c0", "c1"} and {r.model_version for r in rows.values()} == {1}


def test_bad_input_is_refused_before_writing(settings: Settings) -> None:
    with pytest.raises(UserError, match="one row per customer_id"):
        write_score_columns(settings, "clv", 1, AS_OF, _columns(["c0", "c0"], [1, 2], [None, None]))
    with pytest.raises(UserError, match="timezone-aware"):
        write_score_columns(settings, "clv", 1, AS_OF.replace(tzinfo=None), _columns(["c0"], [1], [None]))
    with pytest.raises(UserError, match="lengths"):
        ScoreColumns(
            pa.array(["c0"]), np.ones(2), np.ones(1), np.ones(1), pa.array([None], pa.timestamp("us"))
        )
