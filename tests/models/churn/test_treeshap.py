"""TreeSHAP by decision pattern equals LightGBM's own ``pred_contrib``, whatever the splits look like."""

from __future__ import annotations

import json
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from retentio.models.churn.model import ChurnModel, fit_churn_model
from retentio.models.churn.treeshap import TABLE_BITS, shap_values, tree_splits


def _data(rows: int = 6_000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 6))
    x[:, 4] = rng.integers(0, 4, rows)  # a few distinct values, exact zeros among them
    logit = 3 * x[:, 0] - 2 * x[:, 1] * x[:, 2] + np.where(x[:, 3] > 0.7, 1.5, 0.0) + 0.4 * x[:, 4] - 2
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    x[rng.random(rows) < 0.15, 1] = np.nan  # missing values, learnt as their own direction
    x[rng.random(rows) < 0.30, 5] = 0.0
    return x, y


def _booster(x: np.ndarray, y: np.ndarray, rounds: int = 60, **params: Any) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "learning_rate": 0.2, "min_data_in_leaf": 20, "seed": 1}
    return lgb.train({**base, **params}, lgb.Dataset(x, y), num_boost_round=rounds)


def _exact(booster: lgb.Booster, x: np.ndarray, projection: np.ndarray | None = None) -> None:
    expected = np.asarray(booster.predict(x, pred_contrib=True))
    got = shap_values(booster, tree_splits(booster), x, projection)
    if projection is not None:
        expected = expected @ projection
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def _missing_types(booster: lgb.Booster) -> set[str]:
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" in node:
            found.add(node["missing_type"])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


def test_equals_pred_contrib_with_missing_values_and_zeros() -> None:
    x, y = _data()
    booster = _booster(x, y, max_depth=4, num_leaves=15)
    assert {"NaN", "None"} <= _missing_types(booster)
    # Rows the trees never saw, with NaN where training had none and values exactly on thresholds.
    fresh = _data(rows=3_000, seed=9)[0]
    fresh[::5, 0] = np.nan
    fresh[::7, 3] = tree_splits(booster)[0].splits[0].threshold  # type: ignore[index]
    _exact(booster, np.vstack([x, fresh]))


def test_equals_pred_contrib_when_zero_means_missing() -> None:
    x, y = _data()
    booster = _booster(x, y, max_depth=3, num_leaves=7, zero_as_missing=True)
    assert "Zero" in _missing_types(booster)
    x[::11, 4] = -0.0
    x[::13, 2] = 1e-40  # within LightGBM's zero threshold
    _exact(booster, x)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_values_within_lightgbms_zero_threshold_count_as_zero(zero_as_missing: bool) -> None:
    x, y = _data()
    x[: len(x) // 3, 0] = 0.0  # exact zeros: LightGBM puts thresholds at ±kZeroThreshold around them
    booster = _booster(x, y, max_depth=3, num_leaves=7, zero_as_missing=zero_as_missing)
    tiny = float(np.float32(1e-35))
    rows = np.tile(x[:1], (8, 1))
    rows[:, 0] = [-tiny, tiny, -1e-36, 1e-36, -1e-34, 1e-34, -0.0, -0.5]
    _exact(booster, np.vstack([rows, x]))


def test_deep_trees_sort_their_patterns_instead_of_indexing_them() -> None:
    x, y = _data(rows=8_000)
    booster = _booster(x, y, rounds=15, num_leaves=40, min_data_in_leaf=5, max_depth=-1)
    assert max(len(t.splits or ()) for t in tree_splits(booster)) > TABLE_BITS
    _exact(booster, x, projection=np.random.default_rng(0).random((x.shape[1] + 1, 3)))


def test_categorical_splits_and_single_leaf_trees_fall_back_exactly() -> None:
    x, y = _data()
    booster = _booster(x, y, rounds=30, max_depth=3, num_leaves=7, categorical_feature=[4])
    assert any(t.splits is None for t in tree_splits(booster))
    _exact(booster, x)
    flat = _booster(x, np.zeros(len(x)) + (np.arange(len(x)) % 2), rounds=3, min_gain_to_split=1e9)
    assert all(t.splits == () for t in tree_splits(flat))
    _exact(flat, x)
    assert shap_values(flat, tree_splits(flat), x[:0]).shape == (0, x.shape[1] + 1)


def test_the_churn_model_reasons_on_exact_shap_values() -> None:
    x, y = _data()
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame.insert(0, "customer_id", [f"C{i}" for i in range(len(x))])
    features = tuple(frame.columns[1:])
    model = fit_churn_model(frame, y, features)
    full = np.asarray(model.booster_.predict(x, pred_contrib=True))
    np.testing.assert_allclose(model.contributions(frame), full, atol=1e-10)
    relative = model.relative_contributions(frame)
    np.testing.assert_allclose(relative, full - np.asarray(model.reference_), atol=1e-10)
    np.testing.assert_allclose(relative.sum(axis=1), model.margin(frame) - sum(model.reference_), atol=1e-9)
    projection = np.eye(len(features) + 1)[:, [0, 2]]
    grouped = model.relative_contributions(frame, projection)
    np.testing.assert_allclose(grouped, relative[:, [0, 2]], atol=1e-12)
    files = model.to_files()
    assert "reference" in json.loads(files["model.json"])
    loaded = ChurnModel.from_files(files["model.txt"], files["model.json"])
    np.testing.assert_array_equal(loaded.relative_contributions(frame), relative)


@pytest.mark.parametrize("rows", [1, 2])
def test_a_handful_of_rows(rows: int) -> None:
    x, y = _data()
    booster = _booster(x, y, max_depth=4, num_leaves=15)
    _exact(booster, x[:rows])
