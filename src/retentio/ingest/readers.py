"""Readers: a file on disk to raw text columns, whatever dialect the shop's export speaks.

CSV (``,`` ``;`` tab or ``|``; UTF-8, UTF-8 with BOM, UTF-16 with BOM or cp1251, detected; quoted
fields with newlines), Parquet and JSON Lines. Every value comes out as text so that one set of
validators (``parse.py``) serves every format; the original physical line of each CSV record is
recoverable for the rejects file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
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
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
# ZIP (xlsx, ods) and OLE2 (xls) signatures: a workbook saved under another name is still not a CSV.
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

# The largest field we accept (and Python's csv default limit): a value over 128 KiB in a shop export
# is a broken quote or a pasted blob, never a name or an amount. Such a row is rejected, not the file.
FIELD_LIMIT = 128 * 1024
FIELD_LIMIT_TEXT = "128 KiB"

_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass
class RawTable:
    """Source columns as text, in file order, with what is needed to point at a row later."""

    columns: dict[str, pa.Array]
    source_format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Rows (0-based) that had the wrong number of fields; they are rejected whole.
    wrong_field_rows: np.ndarray | None = None
    # Physical lines (1-based) whose bytes are not valid in the file's encoding (shown as U+FFFD).
    undecodable_lines: np.ndarray | None = None
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


@dataclass
class Decoded:
    text: str
    encoding: str
    # 1-based physical lines whose bytes were not valid in ``encoding`` (replaced by U+FFFD).
    undecodable_lines: np.ndarray | None = None


def decode_text(data: bytes, encoding: str | None) -> Decoded:
    """Bytes to text: an explicit encoding, else BOMs, UTF-8, then cp1251, line by line if they mix.

    A file is mostly one encoding, but exports get concatenated: a cp1251 file with a row pasted
    from a UTF-8 source, or the reverse. Lines are decoded on their own only in that rare case:

    * mostly cp1251: a line that is valid UTF-8 with multi-byte sequences is decoded as UTF-8
      (unambiguous: Cyrillic cp1251 text is practically never valid UTF-8);
    * mostly UTF-8: bytes that are not UTF-8 are replaced by U+FFFD and their lines are listed in
      ``undecodable_lines``, for the validator to reject those rows (their encoding is a guess).
    """
    if encoding:
        try:
            return Decoded(data.decode(encoding), encoding)
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise InputError(f"cannot decode the file as {encoding} (byte {exc.start})") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return Decoded(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"the file starts with a UTF-16 mark but is not UTF-16 (byte {exc.start})"
            ) from exc
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    try:
        return Decoded(body.decode("utf-8"), "utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError:
        pass
    # Not all UTF-8. Which encoding does most of the file speak? Count the bytes that are not valid
    # UTF-8 against all non-ASCII bytes (both in C, no per-line Python).
    escaped = body.decode("utf-8", errors="surrogateescape")
    invalid = len(body) - len(escaped.encode("utf-8", errors="ignore"))
    non_ascii = int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) >= 0x80))
    if invalid * 4 < non_ascii:
        return _mostly_utf8(escaped, "utf-8-sig" if bom else "utf-8")
    try:
        text = body.decode("cp1251")
    except UnicodeDecodeError as exc:
        raise InputError(
            "unreadable encoding: the file is neither UTF-8 nor cp1251 "
            f"(byte {exc.start + (3 if bom else 0)}); pass --encoding"
        ) from exc
    # cp1251 decodes almost anything; insist the text looks like text (no C0 controls but tab/CR/LF).
    # cp1251 is one byte per character, so the bytes tell (one vectorised pass).
    octets = np.frombuffer(body, dtype=np.uint8)
    controls = int(np.count_nonzero(octets < 32)) - sum(body.count(c) for c in (b"\t", b"\r", b"\n"))
    if controls > max(5, len(text) // 1000):
        raise InputError("unreadable encoding: the file looks binary; pass --encoding if it is text")
    return _utf8_lines_in_cp1251(body, text, escaped)


# A line of the surrogate-escaped decoding that is valid UTF-8 (no escaped byte) and not plain ASCII.
_UTF8_LINE = re.compile("^[^\n\udc80-\udcff]*[^\x00-\x7f\udc80-\udcff][^\n\udc80-\udcff]*$", re.MULTILINE)
_ESCAPED = re.compile("[\udc80-\udcff]+")


def _utf8_lines_in_cp1251(body: bytes, text: str, escaped: str) -> Decoded:
    """A cp1251 file: decode the lines that are valid UTF-8 multi-byte text as UTF-8 instead.

    One regex pass (in C) finds those lines in the surrogate-escaped UTF-8 decoding, where they are
    already decoded; cp1251 is one byte per character, so a line's byte span is its span in ``text``.
    """
    found = _UTF8_LINE.finditer(escaped)
    first = next(found, None)
    if first is None:
        return Decoded(text, "cp1251")
    newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0x0A)
    pieces = []
    done = line = counted = 0
    for match in (first, *found):
        line += escaped.count("\n", counted, match.start())
        counted = match.start()
        start = 0 if line == 0 else int(newlines[line - 1]) + 1
        end = int(newlines[line]) if line < len(newlines) else len(body)
        pieces.append(text[done:start])
        pieces.append(match.group())
        done = end
    pieces.append(text[done:])
    return Decoded("".join(pieces), "cp1251+utf-8")


def _mostly_utf8(escaped: str, encoding: str) -> Decoded:
    """A UTF-8 file with some invalid bytes: replace them with U+FFFD and note their lines."""
    lines: list[int] = []
    line, counted = 1, 0
    for match in _ESCAPED.finditer(escaped):
        line += escaped.count("\n", counted, match.start())
        counted = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    text = _ESCAPED.sub("\ufffd", escaped)
    return Decoded(text, encoding, np.array(lines, dtype=np.int64))


def normalise_delimiter(delimiter: str | None) -> str | None:
    """``tab``/``\\t`` to a tab; anything but one character that can delimit is an InputError."""
    if delimiter is None:
        return None
    delim = _DELIMITER_NAMES.get(delimiter.lower(), delimiter) if len(delimiter) > 1 else delimiter
    if len(delim) != 1:
        raise InputError(
            f"the delimiter must be one character (got {delimiter!r}); for a tab write tab or \\t"
        )
    if delim in '"\r\n' or delim.isalnum():
        raise InputError(f"{delimiter!r} cannot be a delimiter: use , ; | or tab")
    return delim


@contextmanager
def _any_field_size() -> Iterator[None]:
    """Let Python's csv module read fields of any size (the limit is enforced per row, later)."""
    previous = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


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
    if data.startswith(_SPREADSHEET_MAGIC):
        raise InputError(_spreadsheet_message(path))
    delim_given = normalise_delimiter(delimiter)
    decoded = decode_text(data, encoding)
    text, used = decoded.text, decoded.encoding
    if not text.strip():
        raise InputError(f"{path.name} is empty")
    first = _first_line(text).rstrip("\r")
    if "\x00" in first:
        raise InputError(
            f"{path.name}: the header line contains NUL bytes: this is not a text CSV file "
            "(UTF-16 without a byte-order mark? pass --encoding utf-16)"
        )
    if len(first.encode("utf-8")) > FIELD_LIMIT:
        raise InputError(
            f"{path.name}: the header line is longer than {FIELD_LIMIT_TEXT}: this is not a CSV header "
            "(a missing line break or an unclosed quote?)"
        )
    delim = delim_given or sniff_delimiter(first)
    try:
        header = next(csv.reader([first], delimiter=delim))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"{path.name}: cannot read the header line: {exc}") from exc
    names = [h.strip().lstrip("\ufeff") for h in header]
    if len(set(n.lower() for n in names)) != len(names):
        raise InputError(f"{path.name}: the header repeats a column name: {names}")
    bad_rows: list[int] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row.number or -1)
        return "skip"

    if any(n == "" for n in names):
        raise InputError(f"{path.name}: the header has an empty column name: {names}")
    encoded = text.encode("utf-8")

    def arrow_read(block_size: int | None) -> pa.Table:
        read_options = pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=True)
        if block_size is not None:
            read_options.block_size = block_size
        return pacsv.read_csv(
            pa.BufferReader(encoded),
            read_options=read_options,
            parse_options=pacsv.ParseOptions(
                delimiter=delim, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )

    try:
        try:
            table = arrow_read(None)
        except pa.ArrowInvalid as exc:
            # A row larger than Arrow's block (a huge field): read the file as one block instead,
            # still in C++; the validator then rejects the rows whose fields are over the limit.
            if "straddl" not in str(exc) and "block size" not in str(exc):
                raise
            if len(encoded) >= 2**31 - 1:
                return _read_csv_slow(path, text, used, delim, names, decoded.undecodable_lines)
            bad_rows.clear()
            table = arrow_read(len(encoded) + 1)
    except (pa.ArrowInvalid, ValueError) as exc:
        raise InputError(f"{path.name}: cannot parse as CSV: {exc}") from exc
    if bad_rows:
        # Rows with the wrong number of fields: rare, so the slow exact path is fine.
        return _read_csv_slow(path, text, used, delim, names, decoded.undecodable_lines)
    columns = {n: table.column(n).combine_chunks() for n in names}
    return RawTable(
        columns,
        "csv",
        encoding=used,
        delimiter=delim,
        undecodable_lines=decoded.undecodable_lines,
        _text=text,
    )


def _spreadsheet_message(path: Path) -> str:
    return (
        f"{path.name} is a spreadsheet workbook: Excel/ODS files are not supported yet; "
        "save the sheet as CSV (UTF-8) and ingest that file"
    )


def _read_csv_slow(
    path: Path, text: str, used: str, delim: str, names: list[str], undecodable: np.ndarray | None = None
) -> RawTable:
    """Python's csv module: keeps rows with a wrong field count so they can be rejected by line."""
    rows: list[list[str]] = []
    lines: list[int] = []
    wrong: list[int] = []
    with _any_field_size():
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        try:
            next(reader)
            start = reader.line_num + 1
            for row in reader:
                if row:
                    if len(row) != len(names):
                        wrong.append(len(rows))
                        row = (row + [""] * len(names))[: len(names)]
                    rows.append(row)
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise InputError(f"{path.name}: cannot parse as CSV (line {reader.line_num}): {exc}") from exc
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    columns = {n: pa.array(list(c), pa.string()) for n, c in zip(names, cols, strict=True)}
    return RawTable(
        columns,
        "csv",
        encoding=used,
        delimiter=delim,
        wrong_field_rows=np.array(wrong, dtype=np.int64),
        undecodable_lines=undecodable,
        _line_numbers=np.array(lines, dtype=np.int64),
    )


def _csv_line_numbers(text: str, delim: str, ncols: int) -> np.ndarray:
    lines = []
    with _any_field_size():  # a row with a huge field is rejected, and needs its line number too
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        next(reader)
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

    decoded = decode_text(path.read_bytes(), encoding)
    text, used = decoded.text, decoded.encoding
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
    return RawTable(
        columns,
        "jsonl",
        encoding=used,
        undecodable_lines=decoded.undecodable_lines,
        _line_numbers=np.array(lines, dtype=np.int64),
    )


def read_any(path: Path, encoding: str | None = None, delimiter: str | None = None) -> RawTable:
    """Pick the reader by file extension (CSV for anything unknown)."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    suffix = path.suffix.lower()
    if suffix in SPREADSHEET_SUFFIXES:
        raise InputError(_spreadsheet_message(path))
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    if suffix in JSONL_SUFFIXES:
        return read_jsonl(path, encoding)
    return read_csv(path, encoding, delimiter)
