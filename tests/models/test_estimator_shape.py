"""Every model follows scikit-learn's estimator shape (issue 16 §2, retentio.models.estimator).

For each model class: defaults construct, ``clone`` gives equal parameters, ``get_params`` /
``set_params`` round-trip, ``fit`` returns ``self``, what it learns ends in ``_`` and does not exist
before, a bad hyper-parameter is accepted by the constructor (stored as given) and rejected by
``fit`` with a message naming it, and two fits with the same ``random_state`` learn the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone

from retentio.models.btyd import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
    simulate,
)
from retentio.models.btyd import base as btyd_base
from retentio.models.churn.features import FEATURE_COLUMNS
from retentio.models.churn.model import ChurnModel
from retentio.models.estimator import InvalidParameterError
from retentio.models.recommend.cooccurrence import CooccurrenceRecommender
from retentio.models.recommend.data import ItemIndex, PurchaseMatrix
from retentio.models.recommend.implicit_mf import ImplicitALS

DAY = date(2024, 6, 1)


def _transaction_data() -> tuple[Any, ...]:
    rng = np.random.default_rng(1)
    big_t = rng.integers(140, 546, 3_000) / 7.0
    return simulate.simulate_beta_geo(rng, big_t, 0.5, 5.0, 0.8, 2.5, grid=1 / 7)


def _pareto_data() -> tuple[Any, ...]:
    rng = np.random.default_rng(2)
    big_t = rng.integers(140, 546, 3_000) / 7.0
    return simulate.simulate_pareto_nbd(rng, big_t, 0.6, 8.0, 0.7, 12.0)


def _bg_bb_data() -> tuple[Any, ...]:
    return simulate.simulate_bg_bb(np.random.default_rng(3), 3_000, 6, 1.2, 0.75, 0.65, 2.8)


def _gamma_gamma_data() -> tuple[Any, ...]:
    rng = np.random.default_rng(4)
    x = rng.integers(1, 8, 2_000).astype(float)
    return x, simulate.simulate_gamma_gamma(rng, x, 6.0, 4.0, 15.0)


def _sbg_data() -> tuple[Any, ...]:
    return (simulate.simulate_shifted_beta_geo(np.random.default_rng(5), 2_000, 8, 0.7, 1.2),)


def _churn_data() -> tuple[Any, ...]:
    rng = np.random.default_rng(6)
    n = 4_000
    frame = pd.DataFrame({name: rng.normal(size=n) for name in FEATURE_COLUMNS})
    frame.insert(0, "customer_id", [f"c{i}" for i in range(n)])
    signal = frame[FEATURE_COLUMNS[0]] - 0.5 * frame[FEATURE_COLUMNS[1]]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * signal))).astype(float)
    return frame, y.to_numpy() if hasattr(y, "to_numpy") else y


def _purchase_data() -> tuple[Any, ...]:
    rng = np.random.default_rng(7)
    skus = [f"S{i:02d}" for i in range(12)]
    catalogue = pd.DataFrame(
        {
            "sku": skus,
            "product_name": [f"Product {s}" for s in skus],
            "category": [f"k{i % 3}" for i in range(12)],
        }
    )
    rows = []
    for c in range(300):
        for o in range(int(rng.integers(1, 4))):
            basket = rng.choice(12, size=int(rng.integers(1, 4)), replace=False, p=np.linspace(2, 1, 12) / 18)
            day = DAY - timedelta(days=int(rng.integers(1, 200)))
            rows += [
                {"customer_id": f"c{c}", "order_id": f"o{c}-{o}", "order_date": day, "sku": skus[i]}
                for i in basket
            ]
    purchases = pd.DataFrame(rows)
    items = ItemIndex.from_catalogue(catalogue)
    return purchases, items, PurchaseMatrix.build(purchases, items, DAY)


@dataclass(frozen=True)
class Shape:
    cls: type[BaseEstimator]
    data: Callable[[], tuple[Any, ...]]
    invalid: dict[str, Any]  # one bad hyper-parameter
    changed: dict[str, Any]  # a valid non-default value, for set_params
    learned: Callable[[Any], Any]  # what two fits with one random_state must agree on

    @property
    def name(self) -> str:
        return self.cls.__name__


def _btyd_learned(model: Any) -> Any:
    return model.params_, model.loglik_


SHAPES = [
    Shape(BetaGeo, _transaction_data, {"penalizer": -0.5}, {"penalizer": 0.01}, _btyd_learned),
    Shape(
        ModifiedBetaGeo, _transaction_data, {"penalizer": float("nan")}, {"random_state": 3}, _btyd_learned
    ),
    Shape(ParetoNBD, _pareto_data, {"random_state": "seven"}, {"penalizer": 0.01}, _btyd_learned),
    Shape(BetaGeoBetaBinom, _bg_bb_data, {"penalizer": "high"}, {"penalizer": 0.01}, _btyd_learned),
    Shape(GammaGamma, _gamma_gamma_data, {"penalizer": -1}, {"penalizer": 0.01}, _btyd_learned),
    Shape(ShiftedBetaGeo, _sbg_data, {"penalizer": -1}, {"penalizer": 0.01}, _btyd_learned),
    Shape(
        ChurnModel,
        _churn_data,
        {"calibration_share": 1.5},
        {"max_rounds": 50},
        lambda m: (m.booster_.model_to_string(), m.calibrator_, m.reference_),
    ),
    Shape(
        CooccurrenceRecommender,
        _purchase_data,
        {"min_count": 0},
        {"min_support": 0.01},
        lambda m: (m.rules_.frame().to_dict(), m.popularity_.tolist()),
    ),
    Shape(
        ImplicitALS,
        _purchase_data,
        {"factors": 2.5},
        {"factors": 8},
        lambda m: (m.item_factors_.tolist(), m.user_factors_.tolist()),
    ),
]

_DATA_CACHE: dict[Callable[[], tuple[Any, ...]], tuple[Any, ...]] = {}


def _data(shape: Shape) -> tuple[Any, ...]:
    if shape.data not in _DATA_CACHE:
        _DATA_CACHE[shape.data] = shape.data()
    return _DATA_CACHE[shape.data]


def _equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)


@pytest.fixture(params=SHAPES, ids=[s.name for s in SHAPES])
def shape(request: pytest.FixtureRequest) -> Shape:
    return request.param  # type: ignore[no-any-return]


def test_every_model_class_is_covered() -> None:
    import retentio.models.btyd as btyd

    btyd_classes = {getattr(btyd, n) for n in btyd.__all__ if isinstance(getattr(btyd, n), type)}
    models = {
        c
        for c in btyd_classes
        if issubclass(c, BaseEstimator) and not getattr(c, "__abstractmethods__", None)
    }
    assert models | {ChurnModel, CooccurrenceRecommender, ImplicitALS} == {s.cls for s in SHAPES}


def test_defaults_clone_and_params_round_trip(shape: Shape) -> None:
    model = shape.cls()
    assert isinstance(model, BaseEstimator)
    params = model.get_params()
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    # Parameters are stored as given, under their own names.
    for name, value in params.items():
        assert getattr(model, name) is value
    assert model.set_params(**shape.changed) is model
    assert model.get_params() == {**params, **shape.changed}
    assert clone(model).get_params() == model.get_params()
    model.set_params(**params)
    assert model.get_params() == params


def test_fit_returns_self_and_learns_only_underscored_attributes(shape: Shape) -> None:
    model = shape.cls()
    before = set(vars(model))
    assert before == set(model.get_params()), "the constructor stores its parameters and nothing else"
    assert not any(name.endswith("_") for name in before)
    assert model.fit(*_data(shape)) is model
    learned = {name for name in set(vars(model)) - before if not name.startswith("_")}
    assert learned, "fit learns something"
    assert all(name.endswith("_") for name in learned), sorted(learned)
    # A clone of a fitted model is unfitted.
    assert not any(name.endswith("_") and not name.startswith("_") for name in vars(clone(model)))


def test_invalid_hyperparameter_is_rejected_by_fit_naming_it(shape: Shape) -> None:
    ((name, value),) = shape.invalid.items()
    model = shape.cls(**shape.invalid)  # the constructor does no work
    assert getattr(model, name) is value
    with pytest.raises(InvalidParameterError, match=name):
        model.fit(*_data(shape))


def test_same_random_state_gives_the_same_model(shape: Shape, monkeypatch: pytest.MonkeyPatch) -> None:
    if "random_state" not in shape.cls().get_params():
        pytest.skip(f"{shape.name} involves no randomness")
    # Make the BTYD warm start (a random subset, on large data only) run on this small sample.
    monkeypatch.setattr(btyd_base, "WARM_START_ROWS", 100)
    monkeypatch.setattr(btyd_base, "WARM_START_SAMPLE", 400)
    data = _data(shape)
    first = shape.learned(shape.cls(random_state=11).fit(*data))
    second = shape.learned(shape.cls(random_state=11).fit(*data))
    assert _equal(first, second)
    if shape.cls in (ChurnModel, ImplicitALS):  # the seed is really used (BTYD: same maximum, any seed)
        assert not _equal(first, shape.learned(shape.cls(random_state=12).fit(*data)))


def test_old_artifacts_still_load() -> None:
    """Files saved before the estimator shape (``seed`` in ALS headers, no churn hyper-parameters)."""
    purchases, items, matrix = _purchase_data()
    als = ImplicitALS(factors=4, iterations=2, random_state=5).fit(purchases, items, matrix)
    files = als.to_files()
    header = json.loads(files["model.json"])
    assert header["random_state"] == 5
    header["seed"] = header.pop("random_state")
    old = ImplicitALS.from_files(files["model.npz"], json.dumps(header).encode())
    assert old.get_params() == als.get_params()
    assert np.array_equal(old.item_factors_, als.item_factors_)

    frame, y = _churn_data()
    churn = ChurnModel(max_rounds=20).fit(frame, y)
    files = churn.to_files()
    spec = json.loads(files["model.json"])
    assert spec["hyperparameters"]["max_rounds"] == 20
    del spec["hyperparameters"]
    loaded = ChurnModel.from_files(files["model.txt"], json.dumps(spec).encode())
    assert loaded.features == loaded.features_ == tuple(FEATURE_COLUMNS)
    assert np.array_equal(loaded.predict_proba(frame), churn.predict_proba(frame))
