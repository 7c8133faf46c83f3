"""Stores for the churn tests: a generated demo shop (built once per session) and hand-made CSV stores.

``generated_shop`` generates 2,500 customers with the demo generator (BG/NBD purchases; reviews,
tickets and NPS whose negativity raises churn), ingests every table into a temporary
``RETENTIO_HOME`` and returns its settings; tests only read it (models they save go to their own
copies of the settings' registry, which is harmless to share). ``csv_store`` builds a store from a few
rows per contract table written as CSV and ingested the normal way.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from retentio.analytics.tables import AnalyticsTables
from retentio.app import App
from retentio.config import Settings

GENERATED_CUSTOMERS = 2_500


@pytest.fixture(scope="session")
def generated_shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from retentio.demo.generator import generate
    from retentio.ingest import ingest_directory

    root = tmp_path_factory.mktemp("churn-shop")
    generate(root / "shop", customers=GENERATED_CUSTOMERS, seed=11)
    settings = Settings(home=root / "home")
    with App(settings) as app:
        ingest_directory(app, root / "shop")
    return settings


@pytest.fixture(scope="session")
def generated_tables(generated_shop: Settings) -> AnalyticsTables:
    from retentio.store.snapshot import open_analytics

    return AnalyticsTables.from_backend(open_analytics(generated_shop))


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


@pytest.fixture
def csv_store(
    tmp_path: Path,
) -> Callable[[dict[str, list[dict[str, Any]]]], tuple[Settings, AnalyticsTables]]:
    """``csv_store({"orders": [...], ...})`` → (settings, tables) of a fresh store holding those rows."""

    def build(tables: dict[str, list[dict[str, Any]]]) -> tuple[Settings, AnalyticsTables]:
        from retentio.ingest import ingest_directory
        from retentio.store.snapshot import open_analytics

        folder = tmp_path / "csv"
        folder.mkdir()
        for name, rows in tables.items():
            write_csv(folder / f"{name}.csv", rows)
        settings = Settings(home=tmp_path / "home")
        with App(settings) as app:
            summaries = ingest_directory(app, folder)
        assert all(s.rejected == 0 for s in summaries), [(s.table, s.rejected) for s in summaries]
        return settings, AnalyticsTables.from_backend(open_analytics(settings))

    return build


@pytest.fixture(scope="session")
def trained(generated_tables: AnalyticsTables) -> Any:
    """One backtest + final model on the generated shop: 3 origins, 2 training cutoffs 90 days apart."""
    from retentio.models.churn.train import train_churn

    return train_churn(generated_tables, horizon_days=90, origins=3, train_cutoffs=2, train_step_days=90)
