"""One code path, many engines: the same KPI, RFM, cohort and BTYD numbers on Spark local mode.

Slow (a JVM starts): run with ``--runslow``. Spark reads the snapshot from Arrow, so money keeps its
``decimal(18, 2)`` type (DESIGN §2).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retentio.analytics.cohorts import cohort_matrix
from retentio.analytics.kpis import compute_kpis
from retentio.analytics.rfm import rfm_report
from retentio.analytics.summary import customer_summary
from retentio.analytics.tables import AnalyticsTables

pytestmark = pytest.mark.slow


def shop(rows: Any, customers: int = 60, seed: int = 11) -> Any:
    rng = random.Random(seed)
    n = 0
    for c in range(customers):
        first = datetime(2023, 10, 1, tzinfo=UTC) + timedelta(
            days=rng.randint(0, 200), hours=rng.randint(0, 23)
        )
        for _ in range(rng.randint(1, 5)):
            at = first + timedelta(days=rng.choice([0, 0, 2, 15, 45, 120]), minutes=rng.randint(0, 1439))
            status = "cancelled" if rng.random() < 0.1 else "completed"
            rows.order(f"o{n}", f"c{c:03d}", at, f"{rng.randint(100, 50000) / 100:.2f}", status=status)
            if status == "completed" and rng.random() < 0.15:
                rows.refund(f"r{n}", f"o{n}", at + timedelta(days=rng.randint(1, 40)), "5.50")
            n += 1
        if rng.random() < 0.5:
            rows.survey(f"s{c}", f"c{c:03d}", first + timedelta(days=3), "nps", rng.randint(0, 10))
    return rows


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    warehouse: Path = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("retentio-tests")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


def test_spark_gives_the_duckdb_numbers(spark: Any, duckdb_backend: Any, make_rows: Any) -> None:
    import ibis

    rows = shop(make_rows())
    for name, table in rows.arrow_tables().items():
        spark.createDataFrame(table).createOrReplaceTempView(name)
    on_spark = AnalyticsTables.from_backend(ibis.pyspark.connect(spark))
    on_duckdb = duckdb_backend.load(rows)

    def numbers(tables: AnalyticsTables) -> dict[str, Any]:
        return {
            "kpis": compute_kpis(tables, date(2024, 1, 1), date(2024, 4, 1), active_window_days=90),
            "rfm": rfm_report(tables, date(2024, 5, 1)),
            "cohorts": cohort_matrix(tables, "month", "revenue", as_of=date(2024, 5, 15)),
            "summary": customer_summary(tables, date(2024, 3, 31), observation_end=date(2024, 6, 30))
            .order_by("customer_id")
            .to_pyarrow()
            .to_pylist(),
        }

    expected, actual = numbers(on_duckdb), numbers(on_spark)
    assert expected["kpis"]["S"] > 0 and len(expected["rfm"]["customers"]) > 30
    assert actual["kpis"] == expected["kpis"]
    assert actual["rfm"] == expected["rfm"]
    assert actual["cohorts"] == expected["cohorts"]
    for ours, theirs in zip(actual["summary"], expected["summary"], strict=True):
        assert ours.keys() == theirs.keys()
        for key, value in theirs.items():
            assert ours[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key
