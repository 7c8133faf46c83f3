"""A generated demo shop for the recommender tests: customers, orders and order lines only.

The generator's baskets carry true cross-sell affinities (coffee → syrups and grinders, phones →
cases and chargers) and consumables that customers reorder, which the tests rediscover. Only the
three tables the recommenders read are ingested, which keeps the fixture fast.
"""

from __future__ import annotations

import shutil

import pytest

from retentio.analytics.tables import AnalyticsTables
from retentio.app import App
from retentio.config import Settings

GENERATED_CUSTOMERS = 3_000


@pytest.fixture(scope="session")
def purchase_shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from retentio.demo.generator import generate
    from retentio.ingest import ingest_directory

    root = tmp_path_factory.mktemp("recommend-shop")
    generate(root / "shop", customers=GENERATED_CUSTOMERS, seed=5)
    (root / "subset").mkdir()
    for table in ("customers", "orders", "order_lines"):
        shutil.copy(root / "shop" / f"{table}.csv", root / "subset" / f"{table}.csv")
    settings = Settings(home=root / "home")
    with App(settings) as app:
        ingest_directory(app, root / "subset")
    return settings


@pytest.fixture(scope="session")
def purchase_tables(purchase_shop: Settings) -> AnalyticsTables:
    from retentio.store.snapshot import open_analytics

    return AnalyticsTables.from_backend(open_analytics(purchase_shop))
