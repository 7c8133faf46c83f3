"""Bulk writing of per-customer scores to ``customer_scores``: COPY on PostgreSQL, executemany on SQLite.

Same contract as :func:`retentio.models.registry.write_scores` — one transaction deletes every row of
the model and inserts the new ones, so readers see the old scoring or the new one, never a mix — but
without building a Python dict (and running SQLAlchemy's per-value type processing) for every row:
the columns go from numpy/Arrow straight to the driver. At a million customers that is the difference
between a few seconds and most of a minute (see ``benchmarks/bench_clv_pipeline.py``).

The values written are exactly what the ORM would write: timestamps as UTC (``timestamptz`` on
PostgreSQL; on SQLite the ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text that SQLAlchemy's DateTime stores,
so :class:`retentio.store.schema.CustomerScore` reads them back as aware datetimes), non-finite floats
as NULL, ``reasons`` NULL.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from retentio.config import Settings
from retentio.errors import UserError

_FLOAT_COLUMNS = ("clv", "p_alive", "expected_purchases")
_COLUMNS = ("customer_id", "model", "model_version", "as_of", *_FLOAT_COLUMNS, "next_order_at")
_SQLITE_ROWS_PER_STATEMENT = 100  # 5 parameters a row: far below SQLite's limit of 32,766


@dataclass(frozen=True)
class ScoreColumns:
    """The columns of one scoring, aligned by row; ``next_order_at`` is a UTC timestamp array (nullable)."""

    customer_id: pa.Array
    clv: NDArray[np.float64]
    p_alive: NDArray[np.float64]
    expected_purchases: NDArray[np.float64]
    next_order_at: pa.Array

    def __post_init__(self) -> None:
        n = len(self.customer_id)
        lengths = {len(self.clv), len(self.p_alive), len(self.expected_purchases), len(self.next_order_at)}
        if lengths != {n}:
            raise UserError(f"score columns have different lengths: {sorted(lengths | {n})}")


def _floats_or_null(values: NDArray[np.float64]) -> pa.Array:
    array = np.asarray(values, dtype=np.float64)
    return pa.array(array, pa.float64(), mask=~np.isfinite(array))


def _utc_micros(stamps: pa.Array) -> pa.Array:
    return pc.cast(stamps, pa.timestamp("us", tz="UTC"))


def _timestamp_text(stamps: pa.Array) -> pa.Array:
    """UTC instants as ``2024-01-31 00:00:00.000000`` text (nulls stay null).

    Arrow's cast of a naive microsecond timestamp prints exactly this, always with six fraction
    digits, which is SQLAlchemy's SQLite DateTime storage format (and ~20× faster than strftime).
    """
    return pc.cast(pc.cast(_utc_micros(stamps), pa.timestamp("us")), pa.string())


def _has_duplicates(ids: pa.Array) -> bool:
    n = len(ids)
    if n < 2:
        return False
    # Scores usually arrive sorted by customer: strictly increasing ids are unique (one O(n) pass).
    if pc.all(pc.less(ids.slice(0, n - 1), ids.slice(1))).as_py():
        return False
    return bool(pc.count_distinct(ids).as_py() != n)


def write_score_columns(
    settings: Settings, model: str, version: int, as_of: datetime, scores: ScoreColumns
) -> int:
    """Replace every ``customer_scores`` row of ``model`` with ``scores`` in one transaction; rows written."""
    from retentio.store.db import engine_for, ensure_schema

    if as_of.tzinfo is None:
        raise UserError("as_of must be timezone-aware")
    if _has_duplicates(scores.customer_id):
        raise UserError("scores must have one row per customer_id")
    ensure_schema(settings)
    engine = engine_for(settings)
    stamp = as_of.astimezone(UTC)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM customer_scores WHERE model = %s" if _is_pg(engine) else
                             "DELETE FROM customer_scores WHERE model = ?", (model,))  # fmt: skip
        raw = conn.connection.dbapi_connection
        if _is_pg(engine):
            _copy_postgres(raw, model, version, stamp, scores)
        else:
            _executemany_sqlite(raw, model, version, stamp, scores)
    return len(scores.customer_id)


def _is_pg(engine: Any) -> bool:
    return bool(engine.dialect.name == "postgresql")


def _copy_postgres(raw: Any, model: str, version: int, stamp: datetime, scores: ScoreColumns) -> None:
    n = len(scores.customer_id)
    table = pa.table(
        {
            "customer_id": scores.customer_id,
            "model": pa.repeat(pa.scalar(model, pa.string()), n),
            "model_version": pa.repeat(pa.scalar(version, pa.int64()), n),
            "as_of": pa.repeat(pa.scalar(stamp.isoformat(), pa.string()), n),
            **{name: _floats_or_null(getattr(scores, name)) for name in _FLOAT_COLUMNS},
            # Text with an explicit UTC offset: unambiguous whatever the session time zone.
            "next_order_at": pc.binary_join_element_wise(
                _timestamp_text(scores.next_order_at), pa.scalar("+00:00"), ""
            ),
        }
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    columns = ", ".join(_COLUMNS)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY customer_scores ({columns}) FROM STDIN (FORMAT csv)") as copy,
    ):
        view = buffer.getbuffer()
        for start in range(0, len(view), 1 << 22):
            copy.write(view[start : start + (1 << 22)])


def _executemany_sqlite(raw: Any, model: str, version: int, stamp: datetime, scores: ScoreColumns) -> None:
    """Multi-row INSERTs of :data:`_SQLITE_ROWS_PER_STATEMENT` rows through one prepared statement.

    sqlite3's ``executemany`` pays a statement step and a parameter round per row; batching rows into one
    ``VALUES (...), (...), ...`` statement whose constant columns are bound once per statement saves
    most of that.
    """
    n = len(scores.customer_id)
    per_row = 2 + len(_FLOAT_COLUMNS)  # customer_id, floats, next_order_at
    flat: list[Any] = [None] * (n * per_row)
    flat[0::per_row] = scores.customer_id.to_pylist()
    for offset, name in enumerate(_FLOAT_COLUMNS, start=1):
        values = np.asarray(getattr(scores, name), dtype=np.float64)
        plain: list[float] = values.tolist()
        flat[offset::per_row] = (
            plain if np.isfinite(values).all() else [v if math.isfinite(v) else None for v in plain]
        )
    flat[per_row - 1 :: per_row] = _timestamp_text(scores.next_order_at).to_pylist()
    constants = (model, version, stamp.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))
    columns = ("customer_id", *_FLOAT_COLUMNS, "next_order_at", "model", "model_version", "as_of")
    cursor = raw.cursor()
    try:
        batch = _SQLITE_ROWS_PER_STATEMENT
        full = n // batch
        if full:
            sql = _multi_row_sql(columns, per_row, batch)
            step = batch * per_row
            cursor.executemany(sql, ((*constants, *flat[i : i + step]) for i in range(0, full * step, step)))
        rest = n - full * batch
        if rest:
            cursor.execute(
                _multi_row_sql(columns, per_row, rest), (*constants, *flat[full * batch * per_row :])
            )
    finally:
        cursor.close()


def _multi_row_sql(columns: tuple[str, ...], per_row: int, rows: int) -> str:
    """``INSERT ... VALUES (?4, ?5, ..., ?1, ?2, ?3), ...``: parameters 1-3 are the constant columns."""
    tuples = []
    for r in range(rows):
        first = 4 + r * per_row
        numbered = ", ".join(f"?{first + k}" for k in range(per_row))
        tuples.append(f"({numbered}, ?1, ?2, ?3)")
    return f"INSERT INTO customer_scores ({', '.join(columns)}) VALUES {', '.join(tuples)}"
