"""Readers: a file on disk to raw text columns, whatever dialect the shop's export speaks.

CSV (``,`` ``;`` tab or ``|``; UTF-8, UTF-8 with BOM, UTF-16 with BOM or cp1251, detected; quoted
fields with newlines), Parquet and JSON Lines. Every value comes out as text so that one set of
validators (``parse.py``) serves every format; the original physical line of each CSV record is
recoverable for the rejects file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from retentio.errors import InputError

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


@dataclass
class RawTable:
    """Source columns as text, in file order, with what is needed to point at a row later."""

    columns: dict[str, pa.Array]
    source_format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Rows (0-based) that had the wrong number of fields; they are rejected whole.
    wrong_field_rows: np.ndarray | None = None
    _line_numbers: np.ndarray | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def line_numbers(self) -> np.ndarray:
        """Physical line (CSV, 1-based, header = 1) or record number (Parquet/JSON Lines) per row."""
        if self._line_numbers is None:
            if self._text is not None:
                self._line_numbers = _csv_line_numbers(self._text, self.delimiter or ",", len(self.columns))
            else:
                self._line_numbers = np.arange(1, self.num_rows + 1)
            self._text = None
        return self._line_numbers


def decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Bytes to text; returns (text, encoding used). Detects BOMs, UTF-8, then cp1251."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"cannot decode the file as {encoding} (byte {exc.start})") from exc
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"unreadable encoding: the file is neither UTF-8 nor cp1251 (byte {exc.start}); pass --encoding"
        ) from exc
    # cp1251 decodes almost anything; insist the text looks like text (no C0 controls but tab/CR/LF).
    controls = sum(text.count(chr(c)) for c in range(32) if chr(c) not in "\t\r\n")
    if controls > max(5, len(text) // 1000):
        raise InputError("unreadable encoding: the file looks binary; pass --encoding if it is text")
    return text, "cp1251"


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most fields (outside quotes)."""
    counts = {}
    for delim in (";", ",", "\t", "|"):
        try:
            counts[delim] = len(next(csv.reader([header_line], delimiter=delim)))
        except StopIteration:
            counts[delim] = 0
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 1 else ","


def _first_line(text: str) -> str:
    end = text.find("\n")
    return text if end < 0 else text[:end]


def read_csv(path: Path, encoding: str | None = None, delimiter: str | None = None) -> RawTable:
    data = path.read_bytes()
    text, used = decode(data, encoding)
    if not text.strip():
        raise InputError(f"{path.name} is empty")
    delim = delimiter or sniff_delimiter(_first_line(text))
    if delim == "\\t":
        delim = "\t"
    header = next(csv.reader([_first_line(text).rstrip("\r")], delimiter=delim))
    names = [h.strip().lstrip("\ufeff") for h in header]
    if len(set(n.lower() for n in names)) != len(names):
        raise InputError(f"{path.name}: the header repeats a column name: {names}")
    bad_rows: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.number or -1)
        return "skip"

    if any(n == "" for n in names):
        raise InputError(f"{path.name}: the header has an empty column name: {names}")
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=True),
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, ValueError) as exc:
        raise InputError(f"{path.name}: cannot parse as CSV: {exc}") from exc
    if bad_rows:
        # Rows with the wrong number of fields: rare, so the slow exact path is fine.
        return _read_csv_slow(path, text, used, delim, names)
    columns = {n: table.column(n).combine_chunks() for n in names}
    return RawTable(columns, "csv", encoding=used, delimiter=delim, _text=text)


def _read_csv_slow(path: Path, text: str, used: str, delim: str, names: list[str]) -> RawTable:
    """Python's csv module: keeps rows with a wrong field count so they can be rejected by line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    next(reader)
    rows: list[list[str]] = []
    lines: list[int] = []
    wrong: list[int] = []
    start = reader.line_num + 1
    for row in reader:
        if row:
            if len(row) != len(names):
                wrong.append(len(rows))
                row = (row + [""] * len(names))[: len(names)]
            rows.append(row)
            lines.append(start)
        start = reader.line_num + 1
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    columns = {n: pa.array(list(c), pa.string()) for n, c in zip(names, cols, strict=True)}
    return RawTable(
        columns,
        "csv",
        encoding=used,
        delimiter=delim,
        wrong_field_rows=np.array(wrong, dtype=np.int64),
        _line_numbers=np.array(lines, dtype=np.int64),
    )


def _csv_line_numbers(text: str, delim: str, ncols: int) -> np.ndarray:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    next(reader)
    lines = []
    start = reader.line_num + 1
    for row in reader:
        if row:
            lines.append(start)
        start = reader.line_num + 1
    return np.array(lines, dtype=np.int64)


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    array = column.combine_chunks()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    if pa.types.is_timestamp(array.type):
        if array.type.tz is None:
            return pc.strftime(array, "%Y-%m-%dT%H:%M:%S")
        return pc.strftime(array.cast(pa.timestamp("us", "UTC")), "%Y-%m-%dT%H:%M:%S+00:00")
    if pa.types.is_date(array.type):
        return pc.strftime(array, "%Y-%m-%d")
    if pa.types.is_struct(array.type) or pa.types.is_list(array.type) or pa.types.is_map(array.type):
        import json

        return pa.array([None if v is None else json.dumps(v, default=str) for v in array.to_pylist()])
    return array.cast(pa.string())


def read_parquet(path: Path) -> RawTable:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path.name}: cannot read as Parquet: {exc}") from exc
    return RawTable({n: _as_text(table.column(n)) for n in table.column_names}, "parquet")


def read_jsonl(path: Path, encoding: str | None = None) -> RawTable:
    import json

    text, used = decode(path.read_bytes(), encoding)
    records = []
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path.name} line {number}: not JSON ({exc.args[0]})") from exc
        if not isinstance(value, dict):
            raise InputError(f"{path.name} line {number}: each line must be a JSON object")
        records.append(value)
        lines.append(number)
    names: list[str] = []
    for record in records:
        for key in record:
            if key not in names:
                names.append(key)

    def text_of(value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    columns = {n: pa.array([text_of(r.get(n)) for r in records], pa.string()) for n in names}
    return RawTable(columns, "jsonl", encoding=used, _line_numbers=np.array(lines, dtype=np.int64))


def read_any(path: Path, encoding: str | None = None, delimiter: str | None = None) -> RawTable:
    """Pick the reader by file extension (CSV for anything unknown)."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    if suffix in JSONL_SUFFIXES:
        return read_jsonl(path, encoding)
    return read_csv(path, encoding, delimiter)
