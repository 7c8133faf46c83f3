"""Recommendations for callers: the CLI, campaigns (personalised content) and later the API.

:func:`recommend_for` is the one-call entry point; :func:`service_for` returns a reusable
:class:`RecommendationService` for many customers (a campaign send), so the model is loaded once.

With :class:`~retentio.config.Settings`, models come from the registry (names
``recommend-cooccurrence`` and ``recommend-als``): the latest saved version is used while it was
trained on the store's current data (its metadata records the store's ``data_version``); when the data
changed, or nothing is saved yet, the model is refitted on the snapshot and saved as a new version.
With :class:`~retentio.analytics.tables.AnalyticsTables`, the model is fitted in memory and kept for
the lifetime of that tables object. Customers' *current* purchases are read at recommendation time,
so reorder reminders and exclusions are always up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from retentio.analytics.tables import AnalyticsTables
from retentio.errors import UserError
from retentio.i18n import translate
from retentio.models import registry
from retentio.models.recommend.base import Recommendation, Recommender
from retentio.models.recommend.cooccurrence import CooccurrenceRecommender
from retentio.models.recommend.data import ItemIndex, PurchaseMatrix, catalogue, purchases
from retentio.models.recommend.implicit_mf import ImplicitALS

if TYPE_CHECKING:
    from retentio.app import App

MODEL_KINDS: dict[str, type[Recommender]] = {"cooccurrence": CooccurrenceRecommender, "als": ImplicitALS}
_CACHE_SIZE = 4


def registry_name(kind: str) -> str:
    """The registry name of a recommender kind (``recommend-cooccurrence``, ``recommend-als``)."""
    _check_kind(kind)
    return f"recommend-{kind}"


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise UserError(f"unknown recommender {kind!r}: use one of {', '.join(MODEL_KINDS)}")


def _data_end(tables: AnalyticsTables) -> date:
    last = tables.orders.order_date.max().to_pyarrow().as_py()
    if last is None:
        raise UserError("the store holds no orders: there is nothing to recommend from")
    return last + timedelta(days=1)


def fit_recommender(
    tables: AnalyticsTables, kind: str = "cooccurrence", as_of: date | None = None, **params: Any
) -> Recommender:
    """Fit a recommender of ``kind`` on every purchase before ``as_of`` (default: all of them)."""
    _check_kind(kind)
    day = as_of or _data_end(tables)
    rows = purchases(tables, before=day)
    if rows.empty:
        raise UserError(f"no purchases before {day}: there is nothing to learn from")
    names = catalogue(tables)
    items = ItemIndex.from_catalogue(names[names["sku"].isin(rows["sku"].unique())])
    matrix = PurchaseMatrix.build(rows, items, day)
    return MODEL_KINDS[kind](**params).fit(rows, items, matrix)


@dataclass
class RecommendationService:
    """A loaded model bound to the data it recommends from."""

    model: Recommender
    tables: AnalyticsTables
    kind: str
    version: int | None
    locale: str = "en"

    def recommend_many(
        self, customer_ids: list[str], n: int = 5, as_of: date | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Top-``n`` per customer: dicts of sku, product_name, category, score, reason (text), reason_key."""
        if n < 1:
            raise UserError("n must be at least 1")
        day = as_of or _data_end(self.tables)
        ids = [str(c) for c in customer_ids]
        rows = purchases(self.tables, before=day, customer_ids=ids)
        matrix = PurchaseMatrix.build(rows, self.model.items_, day)
        ranked = self.model.recommend(matrix, ids, n)
        return {cid: [self._as_dict(r) for r in ranked[cid]] for cid in ids}

    def recommend(self, customer_id: str, n: int = 5, as_of: date | None = None) -> list[dict[str, Any]]:
        """Top-``n`` for one customer (see :meth:`recommend_many`)."""
        return self.recommend_many([customer_id], n, as_of)[str(customer_id)]

    def _as_dict(self, rec: Recommendation) -> dict[str, Any]:
        return {
            "sku": rec.sku,
            "product_name": rec.product_name,
            "category": rec.category,
            "score": rec.score,
            "reason": translate(rec.reason_key, self.locale, **rec.reason_values),
            "reason_key": rec.reason_key,
            "reason_values": rec.reason_values,
        }


def _current_data_version(app: App) -> int:
    return app.store().data_version


def load_recommender(
    app: App, kind: str, version: int | None = None
) -> tuple[Recommender, registry.ModelRecord]:
    """A saved recommender of ``kind`` (latest version when None) and its record."""
    record = registry.load_model(app, registry_name(kind), version)
    model = MODEL_KINDS[kind].from_files(
        record.file("model.npz").read_bytes(), record.file("model.json").read_bytes()
    )
    return model, record


def train_and_save(
    app: App, kind: str = "cooccurrence", tables: AnalyticsTables | None = None, **params: Any
) -> tuple[Recommender, registry.ModelRecord]:
    """Fit on the store's snapshot and save as the next version, stamped with the data version."""

    version_of_data = _current_data_version(app)
    tables = tables or AnalyticsTables.from_backend(app.analytics_connection())
    as_of = _data_end(tables)
    model = fit_recommender(tables, kind, as_of, **params)
    metadata = {
        "kind": kind,
        "as_of": as_of.isoformat(),
        "data_version": version_of_data,
        "items": len(model.items_),
        "params": model.hyperparameters(),
        "training_customers": model.training_customers,
    }
    record = registry.save_model(
        app,
        registry_name(kind),
        model.to_files(),
        metadata,
        as_of=registry.local_midnight(as_of, app.settings.timezone),
    )
    return model, record


def service_for(
    app_or_tables: App | AnalyticsTables,
    kind: str = "cooccurrence",
    version: int | None = None,
    locale: str | None = None,
) -> RecommendationService:
    """A ready :class:`RecommendationService` (see the module docstring for where the model comes from).

    Over an application context the service is kept in the context's cache (keyed by model kind,
    version and the store's data version, so an ingest makes the next call use a current model);
    over bare tables the model is fitted on them.
    """
    _check_kind(kind)
    if isinstance(app_or_tables, AnalyticsTables):
        tables = app_or_tables
        return RecommendationService(fit_recommender(tables, kind), tables, kind, None, locale or "en")

    app = app_or_tables
    current = _current_data_version(app)
    key = ("recommendation-service", kind, version, current)
    cached: RecommendationService | None = app.cache.get(key)
    if cached is not None:
        cached.locale = locale or app.settings.locale
        return cached
    tables = app.analytics()
    record: registry.ModelRecord | None
    try:
        model, record = load_recommender(app, kind, version)
    except registry.ModelNotFound:
        if version is not None:
            raise
        record = None
    if version is None and (record is None or record.metadata.get("data_version") != current):
        model, record = train_and_save(app, kind, tables)
    assert record is not None
    service = RecommendationService(model, tables, kind, record.version, locale or app.settings.locale)
    for stale in [k for k in app.cache if k[:2] == key[:2]]:
        del app.cache[stale]  # one service per kind: older data versions are never asked for again
    app.cache[key] = service
    return service


def recommend_for(
    app_or_tables: App | AnalyticsTables,
    customer_id: str,
    n: int = 5,
    model: str = "cooccurrence",
    locale: str | None = None,
) -> list[dict[str, Any]]:
    """Top-``n`` products for one customer: ``[{sku, product_name, score, reason, ...}, ...]``.

    ``reason`` is a sentence in ``locale`` (default: the settings' locale, English for tables);
    ``reason_key`` and ``reason_values`` let templates word it themselves.
    """
    return service_for(app_or_tables, model, locale=locale).recommend(str(customer_id), n)
