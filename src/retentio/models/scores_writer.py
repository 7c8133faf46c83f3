"""The one writer of ``customer_scores``, for every model: COPY on PostgreSQL, multi-row INSERTs on SQLite.

Churn (``churn_risk`` + a JSON ``reasons`` object per customer) and CLV (``clv``, ``p_alive``,
``expected_purchases``, ``next_order_at``) write the same table with the same contract, so they share
this code path: :func:`retentio.models.registry.write_scores` *is* :func:`write_scores` (re-exported
there, next to the reader :func:`~retentio.models.registry.latest_scores`), and both services call it.
It lives in a module of its own rather than in the registry because it talks to the drivers directly
(COPY, numbered SQLite parameters), which would bury the registry's artifact bookkeeping.

The contract: one transaction deletes every row of the model and inserts the new ones, so readers see
the old scoring or the new one, never a mix. Input is checked before anything is written (one row per
customer, known columns, an aware ``as_of``); a customer id the store does not know fails the foreign
key, the transaction rolls back and a :class:`~retentio.errors.UserError` names the ids.

Why not the ORM: building a dict per row and running SQLAlchemy's per-value type processing costs most
of a minute at a million customers; here the columns go from Arrow/numpy straight to the driver, a few
seconds (see ``benchmarks/bench_clv_pipeline.py``). The values stored are exactly what the ORM would
store, so :class:`retentio.store.schema.CustomerScore` reads them back unchanged:

- timestamps as UTC instants: ``timestamptz`` on PostgreSQL; on SQLite the ``YYYY-MM-DD
  HH:MM:SS.ffffff`` UTC text of SQLAlchemy's DateTime, which
  :class:`retentio.store.types.UTCDateTime` reads back as aware datetimes;
- floats as float8/REAL, non-finite values (and nulls) as NULL;
- ``reasons`` as ``json.dumps`` text (what SQLAlchemy's JSON type binds, with its default serialiser):
  stored verbatim in SQLite's TEXT column and in PostgreSQL's ``json`` column (which keeps the input
  text). A row without reasons gets SQL NULL, where the ORM would have stored the JSON text ``null``;
  both read back as ``None``, and NULL is what ``reasons IS NULL`` means.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import Engine, delete, select

from retentio.errors import UserError

if TYPE_CHECKING:
    from retentio.app import App

SCORE_COLUMNS = ("churn_risk", "clv", "p_alive", "expected_purchases", "next_order_at")
FLOAT_SCORES = ("churn_risk", "clv", "p_alive", "expected_purchases")
_UTC_MICROS = pa.timestamp("us", tz="UTC")
_SQLITE_ROWS_PER_STATEMENT = 100  # ≤ 7 parameters a row + 3: far below SQLite's old limit of 999
_COPY_BLOCK = 1 << 22
_FOREIGN_KEY_VIOLATION = "23503"  # PostgreSQL SQLSTATE


def write_scores(
    app: App,
    model: str,
    version: int,
    as_of: datetime,
    scores: pa.Table,
    reasons: Sequence[dict[str, Any] | None] | None = None,
) -> int:
    """Replace every ``customer_scores`` row of ``model`` with ``scores``; returns the rows written.

    ``scores`` has ``customer_id`` and any of :data:`SCORE_COLUMNS`: numbers for the scores,
    timestamps for ``next_order_at`` (naive = UTC; any unit, nanoseconds truncated to the stored
    microseconds), all-null columns allowed. Columns left out stay NULL. ``reasons`` is an optional
    JSON object (or None) per row. ``as_of`` is the aware instant the scoring describes.
    """
    from retentio.store.schema import CustomerScore

    if as_of.tzinfo is None:
        raise UserError("as_of must be timezone-aware")
    ids, values = _score_columns(scores)
    reasons_text = _reasons_text(reasons, len(ids))
    if reasons_text is not None:
        values["reasons"] = reasons_text
    app.store()
    engine = app.engine
    if engine.dialect.name not in ("postgresql", "sqlite"):
        raise UserError(f"scores can be written to PostgreSQL or SQLite, not {engine.dialect.name}")
    stamp = as_of.astimezone(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(delete(CustomerScore).where(CustomerScore.model == model))
            raw = conn.connection.dbapi_connection
            if engine.dialect.name == "postgresql":
                _copy_postgres(raw, model, version, stamp, ids, values)
            else:
                _insert_sqlite(raw, model, version, stamp, ids, values)
    except Exception as exc:
        if not _is_foreign_key_violation(exc):
            raise
        examples = _unknown_customers(engine, ids)
        raise UserError(
            f"scores of model {model!r} name customers the store does not have "
            f"(e.g. {', '.join(map(repr, examples)) or 'unknown'}); nothing was written"
        ) from exc
    return len(ids)


# --------------------------------------------------------------------------------------------------
# Checking and normalising the input (before anything is written)
# --------------------------------------------------------------------------------------------------


def _score_columns(scores: pa.Table) -> tuple[pa.Array, dict[str, pa.Array]]:
    """The customer ids (strings, unique, no nulls) and each given score column in its stored form."""
    names = scores.column_names
    if "customer_id" not in names:
        raise UserError("scores need a customer_id column")
    if len(set(names)) != len(names):
        raise UserError(f"score columns appear more than once: {sorted(names)}")
    unknown = set(names) - {"customer_id", *SCORE_COLUMNS}
    if unknown:
        raise UserError(f"unknown score columns {sorted(unknown)}; expected some of {list(SCORE_COLUMNS)}")
    ids = _customer_ids(scores.column("customer_id").combine_chunks())
    values: dict[str, pa.Array] = {}
    for name in SCORE_COLUMNS:  # a fixed order, whatever the table's
        if name in names:
            column = scores.column(name).combine_chunks()
            values[name] = _timestamps(column) if name == "next_order_at" else _floats(name, column)
    return ids, values


def _customer_ids(ids: pa.Array) -> pa.Array:
    if pa.types.is_integer(ids.type) or pa.types.is_large_string(ids.type):
        ids = pc.cast(ids, pa.string())
    if not pa.types.is_string(ids.type):
        raise UserError(f"customer_id must be text, got {ids.type}")
    if ids.null_count:
        raise UserError("customer_id must not be null")
    if _has_duplicates(ids):
        raise UserError("scores must have one row per customer_id")
    return ids


def _has_duplicates(ids: pa.Array) -> bool:
    n = len(ids)
    if n < 2:
        return False
    # Scores usually arrive sorted by customer: strictly increasing ids are unique (one O(n) pass).
    if pc.all(pc.less(ids.slice(0, n - 1), ids.slice(1))).as_py():
        return False
    return bool(pc.count_distinct(ids).as_py() != n)


def _floats(name: str, column: pa.Array) -> pa.Array:
    """float64 with NULL for nulls and non-finite values (what the ORM would store for None)."""
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.float64())
    kind = column.type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_decimal(kind)):
        raise UserError(f"score column {name} must be numbers, got {kind}")
    floats = pc.cast(column, pa.float64())
    values = floats.to_numpy(zero_copy_only=False)  # nulls become NaN
    finite = np.isfinite(values)
    if finite.all():
        return floats
    return pa.array(values, pa.float64(), mask=~finite)


def _timestamps(column: pa.Array) -> pa.Array:
    """UTC microsecond timestamps; naive input is UTC (Arrow stores UTC either way, so this relabels)."""
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), _UTC_MICROS)
    if not pa.types.is_timestamp(column.type):
        raise UserError(f"next_order_at must be timestamps, got {column.type}")
    # Nanoseconds are truncated (a datetime, and the store, hold microseconds); coarser units widen.
    return pc.cast(column, _UTC_MICROS, safe=column.type.unit != "ns")


def _reasons_text(reasons: Sequence[dict[str, Any] | None] | None, rows: int) -> pa.Array | None:
    if reasons is None:
        return None
    if len(reasons) != rows:
        raise UserError(f"reasons has {len(reasons)} rows for {rows} scores")
    try:
        # json.dumps with its defaults is what SQLAlchemy's JSON type binds.
        text = [None if value is None else json.dumps(value) for value in reasons]
    except (TypeError, ValueError) as exc:
        raise UserError(f"reasons must be JSON-serialisable: {exc}") from exc
    return pa.array(text, pa.string())


def _timestamp_text(stamps: pa.Array) -> pa.Array:
    """UTC instants as ``2024-01-31 00:00:00.000000`` text (nulls stay null).

    Arrow's cast of a naive microsecond timestamp prints exactly this, always with six fraction
    digits, which is SQLAlchemy's SQLite DateTime storage format (and ~20× faster than strftime).
    """
    return pc.cast(pc.cast(stamps, pa.timestamp("us")), pa.string())


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _copy_postgres(
    raw: Any, model: str, version: int, stamp: datetime, ids: pa.Array, values: dict[str, pa.Array]
) -> None:
    """One ``COPY ... FROM STDIN (FORMAT csv)`` of the rows, written as CSV by Arrow.

    Arrow quotes every string (so an empty string is ``""``) and leaves nulls as empty fields, which
    is exactly how PostgreSQL's CSV format tells the two apart; floats are printed in their shortest
    round-trip form, so float8 gets the same double back.
    """
    n = len(ids)
    if n == 0:
        return
    columns: dict[str, pa.Array] = {
        "customer_id": ids,
        "model": pa.repeat(pa.scalar(model, pa.string()), n),
        "model_version": pa.repeat(pa.scalar(version, pa.int64()), n),
        "as_of": pa.repeat(pa.scalar(stamp.isoformat(), pa.string()), n),
    }
    for name, array in values.items():
        if name == "next_order_at":
            # Text with an explicit UTC offset: unambiguous whatever the session time zone.
            array = pc.binary_join_element_wise(_timestamp_text(array), pa.scalar("+00:00"), "")
        columns[name] = array
    buffer = io.BytesIO()
    pa_csv.write_csv(
        pa.table(columns), buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    )
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY customer_scores ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy,
    ):
        view = buffer.getbuffer()
        for start in range(0, len(view), _COPY_BLOCK):
            copy.write(view[start : start + _COPY_BLOCK])


def _python_values(name: str, array: pa.Array) -> list[Any]:
    """A column as the Python values sqlite3 binds (None for NULL), without per-value Arrow scalars."""
    if name in FLOAT_SCORES:
        plain: list[Any] = array.to_numpy(zero_copy_only=False).tolist()
        return [v if v == v else None for v in plain] if array.null_count else plain  # NaN → NULL
    if name == "next_order_at":
        return list(_timestamp_text(array).to_pylist())
    return list(array.to_pylist())


def _insert_sqlite(
    raw: Any, model: str, version: int, stamp: datetime, ids: pa.Array, values: dict[str, pa.Array]
) -> None:
    """Multi-row INSERTs of :data:`_SQLITE_ROWS_PER_STATEMENT` rows through one prepared statement.

    sqlite3's ``executemany`` pays a statement step and a parameter round per row; batching rows into one
    ``VALUES (...), (...), ...`` statement whose constant columns are bound once per statement saves
    most of that.
    """
    n = len(ids)
    if n == 0:
        return
    names = list(values)
    per_row = 1 + len(names)
    flat: list[Any] = [None] * (n * per_row)
    flat[0::per_row] = ids.to_pylist()
    for offset, name in enumerate(names, start=1):
        flat[offset::per_row] = _python_values(name, values[name])
    constants = (model, version, stamp.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"))
    columns = ("customer_id", *names, "model", "model_version", "as_of")
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


# --------------------------------------------------------------------------------------------------
# Unknown customers
# --------------------------------------------------------------------------------------------------


def _is_foreign_key_violation(exc: BaseException) -> bool:
    """The drivers' own exceptions (the rows go to the raw connection, so SQLAlchemy does not wrap them)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "FOREIGN KEY" in str(exc)
    return getattr(exc, "sqlstate", None) == _FOREIGN_KEY_VIOLATION


def _unknown_customers(engine: Engine, ids: pa.Array, limit: int = 5, chunk: int = 500) -> list[str]:
    """Up to ``limit`` of ``ids`` that ``customers`` lacks (only run after a failed write: it is slow)."""
    from retentio.store.schema import Customer

    found: list[str] = []
    plain = ids.to_pylist()
    with engine.connect() as conn:
        for start in range(0, len(plain), chunk):
            wanted = plain[start : start + chunk]
            known = set(
                conn.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(wanted))).all()
            )
            found.extend(c for c in wanted if c not in known)
            if len(found) >= limit:
                break
    return found[:limit]
