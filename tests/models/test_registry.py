"""The model registry and the score store, on SQLite and PostgreSQL.

Scores are written by the one writer (:mod:`retentio.models.scores_writer`, re-exported as
``registry.write_scores``); its CLV-style writes and stored forms are tested in test_clv_writer.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select

from retentio.app import App
from retentio.config import Settings
from retentio.errors import UserError
from retentio.models import registry
from retentio.store.schema import CustomerScore


@pytest.fixture
def settings(home: Path, store_url: str | None, tmp_path: Path) -> Settings:
    """A store holding customers a, b and c (scores reference customers)."""
    from retentio.ingest import ingest_file

    path = tmp_path / "customers.csv"
    path.write_text("customer_id\na\nb\nc\n", encoding="utf-8")
    settings = Settings(home=home, database_url=store_url)
    with App(settings) as app:
        ingest_file(app, "customers", path)
    return settings


def test_versions_count_up_and_load_by_version(app: App, settings: Settings) -> None:
    as_of = datetime(2024, 5, 31, 21, 0, tzinfo=UTC)
    first = registry.save_model(app, "churn", {"model.txt": b"one"}, {"horizon_days": 90}, as_of=as_of)
    second = registry.save_model(app, "churn", {"model.txt": b"two"}, {"horizon_days": 60})
    other = registry.save_model(app, "clv", {"params.json": b"{}"}, {"kind": "bgnbd"})
    assert (first.version, second.version, other.version) == (1, 2, 1)

    latest = registry.load_model(app, "churn")
    assert latest.version == 2
    assert latest.file("model.txt").read_bytes() == b"two"
    assert latest.metadata["horizon_days"] == 60
    older = registry.load_model(app, "churn", version=1)
    assert older.file("model.txt").read_bytes() == b"one"
    assert older.as_of == as_of
    assert {"python", "numpy", "lightgbm"} <= set(older.metadata["libraries"])
    assert older.path == registry.models_dir(app).resolve() / "churn" / "1"
    assert [(r.name, r.version) for r in registry.list_models(app)] == [
        ("churn", 1),
        ("churn", 2),
        ("clv", 1),
    ]

    with pytest.raises(registry.ModelNotFound, match="version 3"):
        registry.load_model(app, "churn", version=3)
    with pytest.raises(registry.ModelNotFound):
        registry.load_model(app, "nothing")
    with pytest.raises(UserError):
        registry.save_model(app, "../escape", {}, {})
    with pytest.raises(UserError):
        registry.save_model(app, "churn", {"../x": b""}, {})
    with pytest.raises(TypeError):
        registry.save_model(app, "churn", {}, {"bad": object()})
    assert registry.load_model(app, "churn").version == 2  # failed saves left nothing behind


def test_latest_scores_folds_models_into_one_row_per_customer(app: App, settings: Settings) -> None:
    assert registry.latest_scores(app).num_rows == 0
    early = datetime(2024, 1, 1, tzinfo=UTC)
    late = datetime(2024, 2, 1, tzinfo=UTC)
    registry.write_scores(
        app,
        "churn",
        1,
        early,
        pa.table({"customer_id": ["a", "b"], "churn_risk": [0.9, 0.1]}),
        reasons=[{"reasons": [{"key": "churn.reason.nps"}]}, None],
    )
    registry.write_scores(
        app,
        "clv",
        3,
        late,
        pa.table(
            {
                "customer_id": ["b", "c"],
                "clv": [1500.0, 20.5],
                "p_alive": [0.8, None],
                "expected_purchases": [2.5, 0.1],
                "next_order_at": pa.array([datetime(2024, 3, 1, 12), None], pa.timestamp("us")),
            }
        ),
    )
    table = registry.latest_scores(app)
    assert table.column_names == [
        "customer_id",
        "churn_risk",
        "clv",
        "p_alive",
        "expected_purchases",
        "next_order_at",
    ]
    rows = {r["customer_id"]: r for r in table.to_pylist()}
    assert rows["a"] == {
        "customer_id": "a",
        "churn_risk": 0.9,
        "clv": None,
        "p_alive": None,
        "expected_purchases": None,
        "next_order_at": None,
    }
    assert rows["b"]["churn_risk"] == 0.1 and rows["b"]["clv"] == 1500.0 and rows["b"]["p_alive"] == 0.8
    assert rows["b"]["next_order_at"] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert rows["c"]["p_alive"] is None and rows["c"]["churn_risk"] is None

    # A new scoring of a model replaces its rows; a later CLV model overrides the older one's values.
    registry.write_scores(app, "churn", 2, late, pa.table({"customer_id": ["b"], "churn_risk": [0.4]}))
    registry.write_scores(
        app,
        "clv-mbg",
        1,
        datetime(2024, 3, 1, tzinfo=UTC),
        pa.table({"customer_id": ["b"], "clv": [1700.0]}),
    )
    rows = {r["customer_id"]: r for r in registry.latest_scores(app).to_pylist()}
    assert set(rows) == {"b", "c"}  # customer a's old churn score is gone with its scoring
    assert rows["b"]["churn_risk"] == 0.4 and rows["b"]["clv"] == 1700.0 and rows["b"]["p_alive"] == 0.8

    with pytest.raises(UserError, match="one row per customer"):
        registry.write_scores(
            app, "churn", 3, late, pa.table({"customer_id": ["a", "a"], "churn_risk": [1.0, 0.0]})
        )
    with pytest.raises(UserError, match="unknown score columns"):
        registry.write_scores(app, "churn", 3, late, pa.table({"customer_id": ["a"], "risk": [1.0]}))


def test_churn_scores_with_reasons_read_back_through_the_orm(app: App, settings: Settings) -> None:
    """A write as ``churn score`` makes it: calibrated risks (numpy) and a reasons object per customer."""
    as_of = datetime(2024, 5, 31, 21, 0, tzinfo=UTC)
    registry.write_scores(app, "clv", 1, as_of, pa.table({"customer_id": ["a", "c"], "clv": [100.0, 5.0]}))
    reasons = [
        {
            "reasons": [
                {
                    "key": "churn.reason.recency",
                    "values": {"days": 120},
                    "contribution": 0.81,
                    "group": "rfm",
                },
                {
                    "key": "churn.reason.nps",
                    "values": {"score": 3, "comment": 'Доставка, "долго"\n'},
                    "contribution": 0.125,
                    "group": "feedback",
                },
            ]
        },
        {"reasons": []},
        None,
    ]
    risk = np.array([0.875, 0.03125, np.nan])  # NaN: a customer the model could not score
    table = pa.table({"customer_id": pa.array(["c", "a", "b"]), "churn_risk": pa.array(risk)})
    assert registry.write_scores(app, "churn", 2, as_of, table, reasons) == 3

    with app.session() as session:
        found = session.scalars(select(CustomerScore).where(CustomerScore.model == "churn")).all()
        rows = {row.customer_id: row for row in found}
    assert rows["c"].reasons == reasons[0]
    assert rows["a"].reasons == {"reasons": []}
    assert rows["b"].reasons is None and rows["b"].churn_risk is None
    assert rows["c"].churn_risk == 0.875 and rows["a"].churn_risk == 0.03125
    assert all(r.model_version == 2 and r.as_of == as_of for r in rows.values())
    assert all(r.clv is None and r.next_order_at is None for r in rows.values())

    latest = {r["customer_id"]: r for r in registry.latest_scores(app).to_pylist()}
    assert latest["a"]["churn_risk"] == 0.03125 and latest["a"]["clv"] == 100.0
    assert latest["c"]["churn_risk"] == 0.875 and latest["c"]["clv"] == 5.0
    assert latest["b"]["churn_risk"] is None

    # Rescoring without reasons replaces the old ones (no stale reasons left behind).
    registry.write_scores(app, "churn", 3, as_of, pa.table({"customer_id": ["c"], "churn_risk": [0.5]}))
    with app.session() as session:
        again = session.scalars(select(CustomerScore).where(CustomerScore.model == "churn")).all()
    assert [(r.customer_id, r.churn_risk, r.reasons, r.model_version) for r in again] == [("c", 0.5, None, 3)]
