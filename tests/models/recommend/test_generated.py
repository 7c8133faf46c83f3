"""Recommenders on the generated shop: planted cross-sells are found, both models beat popularity."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from retentio.analytics.tables import AnalyticsTables
from retentio.app import App
from retentio.config import Settings
from retentio.models import registry
from retentio.models.recommend.cooccurrence import CooccurrenceRecommender
from retentio.models.recommend.data import PurchaseMatrix, purchases
from retentio.models.recommend.evaluate import time_split_evaluation
from retentio.models.recommend.implicit_mf import ImplicitALS
from retentio.models.recommend.service import fit_recommender, recommend_for, service_for


@pytest.fixture(scope="module")
def evaluation(purchase_tables: AnalyticsTables) -> dict[str, Any]:
    return time_split_evaluation(purchase_tables, test_days=90, k=10)


def test_coffee_pulls_syrups_and_grinders(purchase_tables: AnalyticsTables) -> None:
    model = fit_recommender(purchase_tables, "cooccurrence")
    assert isinstance(model, CooccurrenceRecommender)
    categories = model.rules_frame("category")
    from_coffee = categories[categories["antecedent"] == "coffee"].set_index("consequent")
    assert {"syrups", "grinders"} <= set(from_coffee.index)
    assert (from_coffee.loc[["syrups", "grinders"], "lift"] > 1.0).all()
    from_phones = categories[categories["antecedent"] == "phones"].set_index("consequent")
    assert {"phone_cases", "chargers"} <= set(from_phones.index)
    # At SKU level too: coffee SKUs' rules lead to syrups.
    items = model.rules_frame("item")
    category_of = dict(zip(model.items_.skus, model.items_.categories, strict=True))
    coffee_rules = items[items["antecedent"].map(category_of) == "coffee"]
    assert (coffee_rules["consequent"].map(category_of) == "syrups").sum() > 0
    # Coffee is reordered on a short cycle.
    profile = model.repurchase_
    is_coffee = model.items_.categories == "coffee"
    assert profile.consumable[is_coffee].all()
    assert np.nanmedian(profile.interval_days[is_coffee]) < 40


def test_the_repurchase_rule_learns_which_products_are_consumables(purchase_tables: AnalyticsTables) -> None:
    # The generator knows (catalogue.CONSUMABLE_CATEGORIES); the recommender must find out from purchases
    # alone, although the generator's big spenders buy a phone with most orders (all different ones).
    from retentio.demo.catalogue import CONSUMABLE_CATEGORIES

    model = fit_recommender(purchase_tables, "cooccurrence")
    truth = np.isin(model.items_.categories, CONSUMABLE_CATEGORIES)
    wrong = model.items_.skus[model.repurchase_.consumable != truth]
    assert not len(wrong), wrong
    assert set(model.items_.categories[truth]) == set(CONSUMABLE_CATEGORIES)


def test_both_models_beat_popularity_on_a_time_split(evaluation: dict[str, Any]) -> None:
    models = evaluation["models"]
    assert evaluation["customers"] > 300
    for name in ("cooccurrence", "als"):
        for metric in ("precision_at_10", "recall_at_10", "ndcg_at_10"):
            assert models[name][metric] > models["popularity"][metric] * 1.1, (name, metric, models)


def test_recommend_for_uses_the_registry_and_reuses_a_current_model(purchase_shop: Settings) -> None:
    settings = purchase_shop
    app = App(settings)
    tables = service_for(app, "als").tables
    buyer = str(purchases(tables).iloc[0]["customer_id"])
    picks = recommend_for(app, buyer, n=5, model="als")
    assert 1 <= len(picks) <= 5
    assert {"sku", "product_name", "score", "reason"} <= set(picks[0])
    assert all(isinstance(p["reason"], str) and p["reason"] for p in picks)
    assert [p["score"] for p in picks] == sorted((p["score"] for p in picks), reverse=True)
    versions = [r.version for r in registry.list_models(app, "recommend-als")]
    assert versions == [1]
    recommend_for(app, buyer, n=5, model="als")
    assert [r.version for r in registry.list_models(app, "recommend-als")] == [1]
    russian = recommend_for(app, buyer, n=5, model="als", locale="ru")
    assert [p["sku"] for p in russian] == [p["sku"] for p in picks]
    # Tables work too (fitted in memory), and an unknown customer gets the bestsellers.
    cold = recommend_for(tables, "nobody", n=3)
    assert [p["reason_key"] for p in cold] == ["recommend.reason.popular"] * 3


@pytest.mark.parametrize("kind", ["cooccurrence", "als"])
def test_saved_recommenders_give_identical_lists(purchase_tables: AnalyticsTables, kind: str) -> None:
    model = fit_recommender(purchase_tables, kind)
    files = model.to_files()
    cls = CooccurrenceRecommender if kind == "cooccurrence" else ImplicitALS
    loaded = cls.from_files(files["model.npz"], files["model.json"])
    rows = purchases(purchase_tables)
    customers = sorted(rows["customer_id"].unique())[:200]
    matrix = PurchaseMatrix.build(rows, model.items_, rows["order_date"].max())
    before = model.recommend(matrix, customers, 10)
    after = loaded.recommend(matrix, customers, 10)
    assert before == after
    assert np.array_equal(loaded.popularity_, model.popularity_)


def test_cli_recommend_and_train(purchase_shop: Settings) -> None:
    from retentio.cli.app import app

    env = {"RETENTIO_HOME": str(purchase_shop.home), "NO_COLOR": "1", "RETENTIO_DATABASE_URL": None}
    runner = CliRunner()
    trained = runner.invoke(
        app, ["recommend", "train", "--model", "cooccurrence", "--format", "json"], env=env
    )
    assert trained.exit_code == 0, trained.output
    info = json.loads(trained.stdout)
    assert info["model"] == "cooccurrence" and info["version"] >= 1 and info["items"] > 100
    buyer = "C0000001"
    result = runner.invoke(app, ["recommend", buyer, "--n", "3", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["customer_id"] == buyer and body["version"] == info["version"]
    assert len(body["items"]) == 3
    table = runner.invoke(app, ["recommend", buyer, "--n", "2"], env=env)
    assert table.exit_code == 0 and body["items"][0]["sku"] in table.stdout
