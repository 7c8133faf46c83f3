"""Streaming writers for the generated tables: CSV (pyarrow, RFC 4180) or Parquet, one file per table.

Columns follow :data:`retentio.contract.TABLES` exactly. Money arrives as int64 kopecks and is written as a
``decimal128(18, 2)`` (CSV text ``1234.50``); timestamps arrive as int64 UTC epoch seconds and are written
as ISO 8601 text with an explicit offset (``2024-03-01T10:15:00+00:00``) in CSV and as
``timestamp[us, UTC]`` in Parquet; dates as ``YYYY-MM-DD``; booleans as ``true``/``false``; missing
values as empty fields. Formatting timestamps through lookup tables of day and second-of-day strings is
~20× faster than ``pyarrow.compute.strftime`` and matters at 100M rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from retentio.contract import TABLES, Kind

MONEY_TYPE = pa.decimal128(18, 2)
_TIME_OF_DAY = np.array(
    [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in range(86_400)], dtype="S15"
)


def fixed_width_strings(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A pyarrow string array from a numpy ``S<n>`` array (all values the same width), without copies
    per value."""
    width = values.dtype.itemsize
    n = len(values)
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(values).view(np.uint8)
    validity = None
    if valid is not None and not bool(np.all(valid)):
        validity = pa.py_buffer(np.packbits(valid.astype(np.uint8), bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), validity)


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` (e.g. ``O000000001``), vectorised."""
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    if n and int(numbers.max()) >= 10**width:
        raise ValueError(f"id number {int(numbers.max())} does not fit in {width} digits")
    p = prefix.encode()
    buf = np.empty((n, len(p) + width), dtype=np.uint8)
    buf[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    rest = numbers.copy()
    for k in range(width - 1, -1, -1):
        buf[:, len(p) + k] = 48 + rest % 10
        rest //= 10
    return fixed_width_strings(buf.reshape(-1).view(f"S{len(p) + width}"))


def iso_timestamps(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """ISO 8601 UTC text for int64 epoch seconds, via day and time-of-day lookup tables."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if len(seconds) == 0:
        return pa.array([], type=pa.string())
    use = seconds if valid is None else np.where(valid, seconds, seconds[valid][0] if valid.any() else 0)
    days = use // 86_400
    first = int(days.min())
    table = np.datetime_as_string(np.arange(first, int(days.max()) + 1).astype("datetime64[D]")).astype("S10")
    out = np.empty(len(use), dtype=[("d", "S10"), ("t", "S15")])
    out["d"] = table[days - first]
    out["t"] = _TIME_OF_DAY[use - days * 86_400]
    return fixed_width_strings(out.view("S25"), valid)


def money(minor: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``decimal128(18, 2)`` from int64 minor units: the unscaled integer *is* the kopeck count."""
    arr = pa.array(np.asarray(minor, dtype=np.int64), mask=None if valid is None else ~valid)
    return arr.cast(pa.decimal128(19, 0)).view(MONEY_TYPE)


def _arrow_type(kind: Kind, fmt: str) -> pa.DataType:
    if kind is Kind.MONEY:
        return MONEY_TYPE
    if kind is Kind.TIMESTAMP:
        return pa.string() if fmt == "csv" else pa.timestamp("us", tz="UTC")
    if kind is Kind.DATE:
        return pa.date32()
    if kind is Kind.BOOL:
        return pa.bool_()
    if kind is Kind.FLOAT:
        return pa.float64()
    if kind in (Kind.INT, Kind.POSITIVE_INT, Kind.RATING, Kind.SCORE):
        return pa.int64()
    return pa.string()


def table_schema(table: str, fmt: str) -> pa.Schema:
    """The arrow schema of a contract table in the given output format."""
    spec = TABLES[table]
    return pa.schema(
        [pa.field(c.name, _arrow_type(c.kind, fmt), nullable=not c.required) for c in spec.columns]
    )


class TimestampColumn:
    """Epoch seconds (int64) with an optional validity mask, converted per output format."""

    def __init__(self, seconds: np.ndarray, valid: np.ndarray | None = None) -> None:
        self.seconds = np.asarray(seconds, dtype=np.int64)
        self.valid = valid

    def to_arrow(self, fmt: str) -> pa.Array:
        if fmt == "csv":
            return iso_timestamps(self.seconds, self.valid)
        mask = None if self.valid is None else ~self.valid
        return pa.array(self.seconds * 1_000_000, type=pa.int64(), mask=mask).cast(
            pa.timestamp("us", tz="UTC")
        )


class MoneyColumn:
    """Int64 kopecks with an optional validity mask."""

    def __init__(self, minor: np.ndarray, valid: np.ndarray | None = None) -> None:
        self.minor = np.asarray(minor, dtype=np.int64)
        self.valid = valid

    def to_arrow(self, fmt: str) -> pa.Array:
        return money(self.minor, self.valid)


def build_table(table: str, columns: dict[str, Any], fmt: str) -> pa.Table:
    """Assemble one block of a contract table; every contract column must be given, no other."""
    spec = TABLES[table]
    missing = set(spec.names) - set(columns)
    extra = set(columns) - set(spec.names)
    if missing or extra:
        raise ValueError(f"{table}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    schema = table_schema(table, fmt)
    arrays = []
    for field in schema:
        value = columns[field.name]
        if isinstance(value, TimestampColumn | MoneyColumn):
            arr = value.to_arrow(fmt)
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arr = value
        else:
            arr = pa.array(value, type=field.type, from_pandas=True)
        if arr.type != field.type:
            arr = arr.cast(field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


# A file per table holds at most this many rows; more go to ``<table>-2.<fmt>``, ``<table>-3.<fmt>``, ...
# Ingest reads one file whole (duplicate keys are found across all its rows) and one Arrow text column
# cannot exceed 2 GiB, which a million-customer shop's 73M events would; ``retentio demo --from`` and
# ``ingest_directory`` load the parts in order.
MAX_ROWS_PER_FILE = 10_000_000


class TableSink:
    """Appends blocks of one table to ``<dir>/<table>.<fmt>`` (then to numbered parts, see above)."""

    def __init__(self, out_dir: Path, table: str, fmt: str, max_rows_per_file: int | None = None) -> None:
        self.out_dir, self.table, self.fmt = out_dir, table, fmt
        self.max_rows_per_file = max_rows_per_file or MAX_ROWS_PER_FILE
        self.schema = table_schema(table, fmt)
        self.rows = 0
        self.paths: list[Path] = []
        self._rows_in_file = 0
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter = self._open()

    @property
    def path(self) -> Path:
        """The first (often the only) file."""
        return self.paths[0]

    def _open(self) -> pa_csv.CSVWriter | pq.ParquetWriter:
        part = len(self.paths) + 1
        name = f"{self.table}.{self.fmt}" if part == 1 else f"{self.table}-{part}.{self.fmt}"
        path = self.out_dir / name
        self.paths.append(path)
        self._rows_in_file = 0
        if self.fmt == "csv":
            return pa_csv.CSVWriter(
                str(path), self.schema, write_options=pa_csv.WriteOptions(quoting_style="needed")
            )
        return pq.ParquetWriter(str(path), self.schema, compression="zstd")

    def write(self, block: pa.Table) -> None:
        while block.num_rows:
            if self._rows_in_file >= self.max_rows_per_file:
                self._writer.close()
                self._writer = self._open()
            piece = block.slice(0, self.max_rows_per_file - self._rows_in_file)
            self._writer.write_table(piece)
            self._rows_in_file += piece.num_rows
            self.rows += piece.num_rows
            block = block.slice(piece.num_rows)

    def close(self) -> None:
        self._writer.close()
