"""Upsert validated rows into the store, inside the caller's transaction.

Classifies every row as *loaded* (new key), *updated* (key known, values changed) or *unchanged*
(same ``row_hash``), resolves references (unknown customers become placeholders; rows pointing at
unknown orders are rejected) and writes with the fastest bulk path each backend has: ``executemany``
on SQLite, ``COPY`` into a temporary table and one ``INSERT ... ON CONFLICT`` on PostgreSQL.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, insert

from retentio.contract import TableSpec
from retentio.ingest.validate import Validated, row_hashes
from retentio.store.schema import Customer

BATCH = 50_000
CUSTOMER_REFERENCING = {"orders", "events", "reviews", "tickets", "survey_responses"}
ORDER_REFERENCING = {"order_lines", "refunds"}

Progress = Callable[[int], None]


@dataclass
class WriteResult:
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    placeholders: list[str] = field(default_factory=list)
    # Rows of the validated table rejected here (unknown order, impossible refund), with the
    # contract column(s) at fault and the reason.
    rejected_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rejected_reasons: list[str] = field(default_factory=list)
    rejected_columns: list[str] = field(default_factory=list)
    written: pa.Table | None = None  # rows inserted or updated, full width (for the snapshot)


# ---------------------------------------------------------------- value conversion per backend
def _sqlite_column(array: pa.Array) -> list[Any]:
    if pa.types.is_timestamp(array.type):
        text = pc.strftime(array.cast(pa.timestamp("us", "UTC")), "%Y-%m-%d %H:%M:%S")
        return text.to_pylist()
    if pa.types.is_date(array.type):
        return pc.strftime(array, "%Y-%m-%d").to_pylist()
    if pa.types.is_boolean(array.type):
        return pc.cast(array, pa.int8()).to_pylist()
    return array.to_pylist()


def _sqlite_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [_sqlite_column(table.column(i).combine_chunks()) for i in range(table.num_columns)]
    return list(zip(*columns, strict=True))


def _copy_csv(conn: Connection, target: str, table: pa.Table) -> None:
    """COPY an Arrow table into ``target`` (same column names) on PostgreSQL."""
    columns = []
    for name in table.column_names:
        array = table.column(name)
        if pa.types.is_timestamp(array.type):
            array = pc.strftime(array, "%Y-%m-%d %H:%M:%S+00:00")
        columns.append(array)
    table = pa.table(columns, names=table.column_names)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    sql = f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
        for start in range(0, table.num_rows, BATCH):
            buffer = io.BytesIO()
            pacsv.write_csv(
                table.slice(start, BATCH),
                buffer,
                pacsv.WriteOptions(include_header=False, quoting_style="needed"),
            )
            copy.write(buffer.getvalue())


# ---------------------------------------------------------------- lookups through a temp table
def _lookup(
    conn: Connection, table_name: str, key: Sequence[str], keys: pa.Table, extra: Sequence[str]
) -> pa.Table:
    """Rows of ``table_name`` whose key is in ``keys``: ``_pos`` (row of ``keys``) + key + ``extra``."""
    dialect = conn.dialect.name
    temp = "_retentio_keys"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {temp}")
    key_defs = ", ".join(f'"{k}" TEXT' for k in key)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {temp} (_pos BIGINT, {key_defs})")
    staged = pa.table(
        {"_pos": pa.array(np.arange(keys.num_rows), pa.int64()), **{k: keys.column(k) for k in key}}
    )
    if dialect == "postgresql":
        _copy_csv(conn, temp, staged)
    else:
        marks = ", ".join("?" * (len(key) + 1))
        staged_rows = _sqlite_rows(staged)
        for start in range(0, len(staged_rows), BATCH):
            conn.exec_driver_sql(f"INSERT INTO {temp} VALUES ({marks})", staged_rows[start : start + BATCH])
    on = " AND ".join(f't."{k}" = s."{k}"' for k in key)
    wanted = ", ".join(["s._pos"] + [f't."{c}"' for c in extra])
    result = conn.exec_driver_sql(f"SELECT {wanted} FROM {temp} s JOIN {table_name} t ON {on}")
    rows = result.fetchall()
    conn.exec_driver_sql(f"DROP TABLE {temp}")
    names = ["_pos", *extra]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table(
        {n: pa.array(list(c)) if c else pa.array([], pa.int64()) for n, c in zip(names, columns, strict=True)}
    )


def _table_is_empty(conn: Connection, table_name: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {table_name} LIMIT 1").first() is None


# ---------------------------------------------------------------- the write
def write(
    conn: Connection,
    spec: TableSpec,
    validated: Validated,
    progress: Progress | None = None,
) -> WriteResult:
    result = WriteResult()
    table = validated.table
    # 1. References. Rows pointing at an unknown order cannot be placed: reject them.
    if spec.name in ORDER_REFERENCING and table.num_rows:
        order_ids = pc.unique(table.column("order_id").combine_chunks())
        known = _lookup(conn, "orders", ["order_id"], pa.table({"order_id": order_ids}), [])
        known_mask = np.zeros(len(order_ids), bool)
        known_mask[known.column("_pos").to_numpy()] = True
        unknown_ids = pc.filter(order_ids, pa.array(~known_mask))
        if len(unknown_ids):
            bad = np.asarray(pc.is_in(table.column("order_id"), unknown_ids).to_numpy(zero_copy_only=False))
            result.rejected_positions = np.flatnonzero(bad)
            result.rejected_reasons = [
                f"order_id {v} is not in the store (ingest its order first)"
                for v in pc.filter(table.column("order_id"), pa.array(bad)).to_pylist()
            ]
            result.rejected_columns = ["order_id"] * len(result.rejected_positions)
            table = table.filter(pa.array(~bad))

    # Refunds must fit their order: not before it, only its SKUs, in total at most its total.
    if spec.name == "refunds" and table.num_rows:
        kept = np.flatnonzero(~np.isin(np.arange(validated.table.num_rows), result.rejected_positions))
        bad, columns, reasons = _impossible_refunds(conn, table)
        if bad.any():
            positions = np.concatenate([result.rejected_positions, kept[bad]])
            order = np.argsort(positions, kind="stable")
            result.rejected_positions = positions[order]
            result.rejected_reasons = [(result.rejected_reasons + reasons)[i] for i in order]
            result.rejected_columns = [(result.rejected_columns + columns)[i] for i in order]
            table = table.filter(pa.array(~bad))

    # Unknown customers get a placeholder record (counted), so nothing that names them is lost.
    if spec.name in CUSTOMER_REFERENCING and table.num_rows:
        customer_ids = pc.unique(table.column("customer_id").combine_chunks())
        known = _lookup(conn, "customers", ["customer_id"], pa.table({"customer_id": customer_ids}), [])
        known_mask = np.zeros(len(customer_ids), bool)
        known_mask[known.column("_pos").to_numpy()] = True
        missing = pc.filter(customer_ids, pa.array(~known_mask)).to_pylist()
        if missing:
            rows = [{"customer_id": c, "is_placeholder": True, "row_hash": 0} for c in missing]
            if conn.dialect.name == "postgresql":
                # Another writer (an API call, a loyalty enrolment) may create the same customer
                # at the same moment: theirs stands, ours is not counted as created.
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                statement = pg_insert(Customer).on_conflict_do_nothing().returning(Customer.customer_id)
                created = set(conn.execute(statement, rows).scalars())
                missing = [c for c in missing if c in created]
            else:
                conn.execute(insert(Customer), rows)
            result.placeholders = missing

    # 2. Classify against what the store holds.
    key = list(spec.key)
    n = table.num_rows
    existing_hash = np.zeros(n, np.int64)
    exists = np.zeros(n, bool)
    placeholder = np.zeros(n, bool)
    absent = [c for c in validated.absent_columns]
    if n and not _table_is_empty(conn, spec.name):
        extra = ["row_hash", *absent] + (["is_placeholder"] if spec.name == "customers" else [])
        found = _lookup(conn, spec.name, key, table.select(key), extra)
        pos = found.column("_pos").to_numpy()
        exists[pos] = True
        existing_hash[pos] = found.column("row_hash").to_numpy(zero_copy_only=False)
        if spec.name == "customers":
            placeholder[pos] = np.asarray(found.column("is_placeholder").to_pylist(), dtype=bool)
        if absent and len(pos):
            table = _fill_absent(table, pos, found, absent)
    if spec.name == "orders":
        status = pc.fill_null(table.column("status"), "completed")
        table = table.set_column(table.schema.get_field_index("status"), "status", status)
    hashes = row_hashes(table)
    table = table.append_column("row_hash", pa.array(hashes, pa.int64()))

    new = ~exists | placeholder
    changed = exists & ~placeholder & (existing_hash != hashes)
    result.loaded = int(new.sum())
    result.updated = int(changed.sum())
    result.unchanged = int((exists & ~placeholder & ~changed).sum())

    if spec.name == "customers":
        table = table.append_column("is_placeholder", pa.array(np.zeros(n, bool)))
    # Brand-new keys take a plain INSERT (the fast path of a first load); the rest an upsert.
    fresh = table.filter(pa.array(~exists))
    if fresh.num_rows:
        _write_rows(conn, spec, fresh, progress, upsert=False)
    replacing = table.filter(pa.array(changed | placeholder))
    if replacing.num_rows:
        _write_rows(conn, spec, replacing, progress, upsert=True)
    result.written = table.filter(pa.array(new | changed))
    return result


def _epoch_seconds(values: Sequence[Any]) -> np.ndarray:
    """Stored timestamps (text on SQLite, datetime on PostgreSQL) as whole UTC epoch seconds."""
    target = pa.timestamp("us", "UTC")
    return np.array([int(_coerce_time(v, target).timestamp() // 1) for v in values], np.int64)


def _money(minor: int) -> str:
    return str(Decimal(minor).scaleb(-2))


def _impossible_refunds(conn: Connection, table: pa.Table) -> tuple[np.ndarray, list[str], list[str]]:
    """Refunds (of known orders) that cannot be right: a mask and, for the bad rows, column(s) and reason.

    - dated before their order (compared to the second, as both are stored);
    - naming a SKU that is not one of the order's lines (an order with no lines loaded yet cannot be
      checked and is accepted);
    - bringing the order's refunds above its total: the refunds already stored (other than those
      this file replaces, by refund_id) plus this file's, taken in file order, each accepted while
      the sum stays within the total.
    """
    n = table.num_rows
    order_col = table.column("order_id").combine_chunks()
    order_ids = pc.unique(order_col)
    row_order = np.asarray(pc.index_in(order_col, order_ids).to_numpy(zero_copy_only=False), np.int64)
    keys = pa.table({"order_id": order_ids})
    orders = _lookup(conn, "orders", ["order_id"], keys, ["ordered_at", "total_minor"])
    ordered_at = np.zeros(len(order_ids), np.int64)
    total = np.zeros(len(order_ids), np.int64)
    pos = orders.column("_pos").to_numpy()
    ordered_at[pos] = _epoch_seconds(orders.column("ordered_at").to_pylist())
    total[pos] = np.asarray(orders.column("total_minor").to_pylist(), np.int64)

    problems: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    ids = order_col.to_pylist()

    # 1. Not before the order.
    refunded = table.column("refunded_at").combine_chunks().cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    refunded_s = np.floor_divide(refunded.to_numpy(zero_copy_only=False), 1_000_000)
    for i in np.flatnonzero(refunded_s < ordered_at[row_order]).tolist():
        when = datetime.fromtimestamp(int(ordered_at[row_order[i]]), UTC).strftime("%Y-%m-%d %H:%M:%S")
        problems[i].append(("refunded_at", f"refunded_at is before order {ids[i]} was placed ({when} UTC)"))

    # 2. Only the order's SKUs (when its lines are known).
    skus = table.column("sku").to_pylist() if "sku" in table.column_names else [None] * n
    if any(s is not None for s in skus):
        lines = _lookup(conn, "order_lines", ["order_id"], keys, ["sku"])
        on_order: dict[int, set[str]] = {}
        for p, sku in zip(lines.column("_pos").to_pylist(), lines.column("sku").to_pylist(), strict=True):
            on_order.setdefault(p, set()).add(sku)
        for i, sku in enumerate(skus):
            known = on_order.get(int(row_order[i]))
            if sku is not None and known is not None and sku not in known:
                shown = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
                problems[i].append(("sku", f"sku {sku} is not on order {ids[i]} (its lines: {shown})"))

    # 3. In total at most the order's total.
    amounts = np.asarray(table.column("amount_minor").to_numpy(zero_copy_only=False), np.int64)
    stored = _lookup(conn, "refunds", ["order_id"], keys, ["refund_id", "amount_minor"])
    replaced = set(table.column("refund_id").to_pylist())
    already = np.zeros(len(order_ids), np.int64)
    for p, refund_id, amount in zip(
        stored.column("_pos").to_pylist(),
        stored.column("refund_id").to_pylist(),
        stored.column("amount_minor").to_pylist(),
        strict=True,
    ):
        if refund_id not in replaced:
            already[p] += int(amount)
    fine = np.array([not p for p in problems], bool)
    asked = np.bincount(row_order[fine], weights=amounts[fine], minlength=len(order_ids))
    over = np.flatnonzero(already + asked > total)
    if len(over):
        running = already.copy()
        for i in np.flatnonzero(fine & np.isin(row_order, over)).tolist():
            o = int(row_order[i])
            if running[o] + amounts[i] > total[o]:
                after = _money(int(running[o] + amounts[i]))
                problems[i].append(
                    (
                        "amount",
                        f"amount {_money(int(amounts[i]))} would bring the refunds of order {ids[i]} to "
                        f"{after}, more than its total {_money(int(total[o]))}",
                    )
                )
            else:
                running[o] += amounts[i]

    bad = np.array([bool(p) for p in problems], bool)
    columns = [", ".join(dict.fromkeys(c for c, _ in problems[i])) for i in np.flatnonzero(bad).tolist()]
    reasons = ["; ".join(r for _, r in problems[i]) for i in np.flatnonzero(bad).tolist()]
    return bad, columns, reasons


def _fill_absent(table: pa.Table, pos: np.ndarray, found: pa.Table, absent: list[str]) -> pa.Table:
    """Take columns the file lacks from the stored rows, so a narrower file never erases data."""
    for name in absent:
        index = table.schema.get_field_index(name)
        target_type = table.schema.field(index).type
        stored = found.column(name).to_pylist()
        if pa.types.is_date(target_type) or pa.types.is_timestamp(target_type):
            stored = [_coerce_time(v, target_type) for v in stored]
        values = table.column(name).to_pylist()
        for p, v in zip(pos.tolist(), stored, strict=True):
            values[p] = v
        table = table.set_column(index, name, pa.array(values, target_type))
    return table


def _coerce_time(value: Any, target: pa.DataType) -> Any:
    """Values read back by the raw driver: SQLite gives text, PostgreSQL gives datetime/date."""
    from datetime import UTC, date, datetime

    if value is None or not isinstance(value, str):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    if pa.types.is_date(target):
        return date.fromisoformat(value[:10])
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _write_rows(
    conn: Connection, spec: TableSpec, rows: pa.Table, progress: Progress | None, upsert: bool
) -> None:
    key = ", ".join(f'"{k}"' for k in spec.key)
    cols = rows.column_names
    col_list = ", ".join(f'"{c}"' for c in cols)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in spec.key)
    conflict = f" ON CONFLICT ({key}) DO UPDATE SET {updates}" if upsert else ""
    if conn.dialect.name == "postgresql":
        stage = "_retentio_stage"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} AS SELECT {col_list} FROM {spec.name} WITH NO DATA"
        )
        _copy_csv(conn, stage, rows)
        conn.exec_driver_sql(f"INSERT INTO {spec.name} ({col_list}) SELECT {col_list} FROM {stage}{conflict}")
        conn.exec_driver_sql(f"DROP TABLE {stage}")
        if progress:
            progress(rows.num_rows)
        return
    marks = ", ".join("?" * len(cols))
    sql = f"INSERT INTO {spec.name} ({col_list}) VALUES ({marks}){conflict}"
    for start in range(0, rows.num_rows, BATCH):
        chunk = rows.slice(start, BATCH)
        conn.exec_driver_sql(sql, _sqlite_rows(chunk))
        if progress:
            progress(chunk.num_rows)
