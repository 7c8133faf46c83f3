"""Fitted models and their scores: artifacts by name and version, and per-customer predictions.

A saved model is a directory ``$RETENTIO_HOME/models/<name>/<version>/`` holding whatever files the
model needs (LightGBM text, ``.npz`` arrays, JSON: never pickles, so an artifact is portable and
safe to open), plus one row in ``model_versions`` with its metadata (features, training window,
metrics, library versions, ...). Versions count up from 1 per name. The directory is written under a
temporary name and renamed into place before the row commits, so a version that is listed always has
its files; a crash leaves at most an unreferenced temporary directory.

Scores live in ``customer_scores``, one row per (customer, model); :func:`write_scores` replaces a
model's rows in one transaction ("the latest scoring wins") and :func:`latest_scores` folds the rows of
every model into one row per customer, which is what rule segments take as ``scores=``. The writer is
:func:`retentio.models.scores_writer.write_scores`, re-exported here: the one code path that writes
``customer_scores`` (bulk, straight from Arrow to the driver), whichever model the scores come from.
"""

from __future__ import annotations

import json
import platform
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from retentio.errors import UserError
from retentio.models.scores_writer import FLOAT_SCORES as _FLOAT_SCORES
from retentio.models.scores_writer import SCORE_COLUMNS as SCORE_COLUMNS
from retentio.models.scores_writer import write_scores as write_scores

if TYPE_CHECKING:
    from retentio.app import App

_LIBRARIES = ("retentio", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "duckdb")


class ModelNotFound(UserError):
    """No saved model has the requested name (and version)."""


@dataclass(frozen=True)
class ModelRecord:
    """One saved model version: where its files are and what it was trained on."""

    name: str
    version: int
    created_at: datetime
    as_of: datetime | None
    metadata: dict[str, Any]
    path: Path

    def file(self, name: str) -> Path:
        """Path of one artifact file; a :class:`ModelNotFound` if it is missing."""
        path = self.path / name
        if not path.is_file():
            raise ModelNotFound(f"model {self.name} v{self.version} has no file {name!r} under {self.path}")
        return path


def local_midnight(day: date, timezone: str) -> datetime:
    """The start of local day ``day`` as an aware UTC datetime (how as-of dates are stamped)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def models_dir(app: App) -> Path:
    """The directory under which model artifacts are saved."""
    return app.settings.home / "models"


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model's numbers depend on (for its metadata)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _check_name(name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise UserError(f"model name {name!r} must be letters, digits, '-' or '_'")


def save_model(
    app: App,
    name: str,
    files: Mapping[str, bytes],
    metadata: Mapping[str, Any],
    as_of: datetime | None = None,
) -> ModelRecord:
    """Save ``files`` as the next version of model ``name``; returns the record of the new version.

    ``metadata`` must be JSON-serialisable; library versions are added under ``"libraries"`` unless
    given. ``as_of`` is the moment the model describes (e.g. the training cutoff), tz-aware.
    """
    from retentio.store.schema import ModelVersion

    _check_name(name)
    for file_name in files:
        if "/" in file_name or "\\" in file_name or file_name.startswith("."):
            raise UserError(f"artifact file name {file_name!r} must be a plain file name")
    meta = dict(metadata)
    meta.setdefault("libraries", library_versions())
    json.dumps(meta)  # fail before writing anything if the metadata cannot be stored
    app.store()
    root = models_dir(app) / name
    root.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    for _attempt in range(5):
        staging = root / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for file_name, content in files.items():
                (staging / file_name).write_bytes(content)
            with app.session() as session:
                current = session.scalar(
                    select(func.max(ModelVersion.version)).where(ModelVersion.name == name)
                )
                version = int(current or 0) + 1
                target = root / str(version)
                session.add(
                    ModelVersion(
                        name=name,
                        version=version,
                        created_at=created,
                        as_of=as_of,
                        metadata_json=meta,
                        artifact_path=str(target.resolve()),
                    )
                )
                session.flush()  # a concurrent save of the same version fails here, before the rename
                if target.exists():  # left over from a save whose row never committed
                    shutil.rmtree(target)
                staging.rename(target)
            return ModelRecord(name, version, created, as_of, meta, target.resolve())
        except IntegrityError:
            continue
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    raise UserError(f"could not allocate a version for model {name!r}: too many concurrent saves")


def _record(row: Any) -> ModelRecord:
    return ModelRecord(
        name=row.name,
        version=row.version,
        created_at=row.created_at,
        as_of=row.as_of,
        metadata=dict(row.metadata_json),
        path=Path(row.artifact_path) if row.artifact_path else Path(),
    )


def load_model(app: App, name: str, version: int | None = None) -> ModelRecord:
    """The record of model ``name`` at ``version`` (the latest when None)."""
    from retentio.store.schema import ModelVersion

    with app.read_session() as session:
        query = select(ModelVersion).where(ModelVersion.name == name)
        if version is None:
            query = query.order_by(ModelVersion.version.desc()).limit(1)
        else:
            query = query.where(ModelVersion.version == version)
        row = session.scalars(query).first()
        if row is None:
            which = f"version {version} of model {name!r}" if version is not None else f"model {name!r}"
            raise ModelNotFound(f"no saved {which}: train one first")
        return _record(row)


def list_models(app: App, name: str | None = None) -> list[ModelRecord]:
    """Every saved model version (of ``name`` when given), oldest first."""
    from retentio.store.schema import ModelVersion

    with app.read_session() as session:
        query = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
        if name is not None:
            query = query.where(ModelVersion.name == name)
        return [_record(row) for row in session.scalars(query)]


# --------------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------------


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise UserError(f"next_order_at values must be datetimes, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def latest_scores(app: App) -> pa.Table:
    """One row per scored customer: customer_id, churn_risk, clv, p_alive, expected_purchases, next_order_at.

    See :func:`fold_latest_scores`; an empty table when nothing is scored.
    """
    app.store()
    with app.engine.connect() as conn:
        return fold_latest_scores(conn)


def fold_latest_scores(conn: Any) -> pa.Table:
    """The latest score per customer, read through ``conn`` (a Connection or Session).

    Each model fills some of the columns (churn: ``churn_risk``; CLV models: the rest); for each column
    the value of the most recent scoring that set it (largest ``as_of``, then model name) wins. The one
    fold of ``customer_scores``: the scores export, rule segments and the demo all read it.
    """
    import pandas as pd

    from retentio.store.schema import CustomerScore

    query = select(
        CustomerScore.customer_id,
        CustomerScore.model,
        CustomerScore.as_of,
        *(getattr(CustomerScore, c) for c in SCORE_COLUMNS),
    ).order_by(CustomerScore.as_of, CustomerScore.model)
    rows = conn.execute(query).all()
    schema = pa.schema(
        [("customer_id", pa.string())]
        + [(c, pa.float64()) for c in _FLOAT_SCORES]
        + [("next_order_at", pa.timestamp("us", tz="UTC"))]
    )
    if not rows:
        return schema.empty_table()
    frame = pd.DataFrame(rows, columns=["customer_id", "model", "as_of", *SCORE_COLUMNS])
    # Rows are in scoring order; GroupBy.last takes each column's last non-null value per customer.
    folded = frame.groupby("customer_id", sort=True)[list(SCORE_COLUMNS)].last()
    next_order = [_as_utc(v) if not pd.isna(v) else None for v in folded["next_order_at"].tolist()]
    arrays = [pa.array(folded.index.tolist(), pa.string())]
    arrays += [
        pa.array(folded[c].astype("float64").to_numpy(), pa.float64(), from_pandas=True)
        for c in _FLOAT_SCORES
    ]
    arrays.append(pa.array(next_order, pa.timestamp("us", tz="UTC")))
    return pa.Table.from_arrays(arrays, schema=schema)
