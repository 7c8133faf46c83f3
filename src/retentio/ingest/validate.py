"""Row-level validation against the data contract: good rows typed, bad rows explained.

Pure: a :class:`~retentio.ingest.readers.RawTable` and a :class:`~retentio.contract.TableSpec` in,
a :class:`Validated` out. Missing required *columns* make the whole file unreadable
(:class:`~retentio.errors.InputError`); everything else is per row: a row with any problem is
rejected with every reason found, and the rest load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retentio.contract import ARROW_TYPES, SCORE_RANGES, Column, Kind, TableSpec
from retentio.errors import InputError
from retentio.ingest import parse
from retentio.ingest.readers import FIELD_LIMIT, FIELD_LIMIT_TEXT, RawTable

# What a rejected row keeps of an oversized value in the rejects file.
_TRUNCATED_TO = 200


@dataclass(frozen=True)
class IngestOptions:
    """How to read a source: column mapping and the dialect knobs of ``retentio ingest``."""

    mapping: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    delimiter: str | None = None
    encoding: str | None = None
    decimal: str | None = None  # "," or "."; None = detect per column
    date_format: str | None = None  # strptime format; None = ISO or dd.mm.yyyy
    strict: bool = False


@dataclass
class Validated:
    """Typed good rows (every stored column, full width) and the reasons for the bad ones."""

    table: pa.Table
    source_rows: np.ndarray  # index into the raw table of each good row
    reject_rows: np.ndarray  # index into the raw table of each rejected row
    reject_columns: list[str]
    reject_reasons: list[str]
    source_columns: dict[str, str]  # canonical -> source header actually used
    ignored_columns: list[str]

    @property
    def absent_columns(self) -> list[str]:
        """Stored names of contract columns the file does not carry."""
        return [c for c in self.table.column_names if c not in self._present_stored]

    @property
    def _present_stored(self) -> set[str]:
        return {self.stored_names[c] for c in self.source_columns}

    stored_names: dict[str, str] = field(default_factory=dict)



def resolve_columns(spec: TableSpec, headers: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Match source headers to canonical columns (case-insensitive; ``--map`` first)."""
    by_lower = {h.strip().lower(): h for h in headers}
    unknown = [c for c in mapping if c not in spec.names]
    if unknown:
        raise InputError(
            f"--map names unknown column(s) {', '.join(unknown)} for table {spec.name}; "
            f"its columns are: {', '.join(spec.names)}"
        )
    resolved: dict[str, str] = {}
    for canonical, source in mapping.items():
        header = by_lower.get(source.strip().lower())
        if header is None:
            raise InputError(f"--map {canonical}={source}: the file has no column {source!r}")
        resolved[canonical] = header
    taken = set(resolved.values())
    for column in spec.columns:
        if column.name in resolved:
            continue
        header = by_lower.get(column.name)
        if header is not None and header not in taken:
            resolved[column.name] = header
    missing = [c for c in spec.required if c not in resolved]
    if missing:
        raise InputError(
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} for table "
            f"{spec.name} (the file has: {', '.join(headers)}; map one with --map {missing[0]}=<column>)"
        )
    return resolved


def _parse_column(column: Column, raw: pa.Array, options: IngestOptions, tz: ZoneInfo) -> parse.Parsed:
    name = column.name
    if column.kind is Kind.MONEY:
        return parse.parse_money(raw, name, options.decimal, column.non_negative)
    if column.kind is Kind.INT:
        return parse.parse_int(raw, name)
    if column.kind is Kind.POSITIVE_INT:
        return parse.parse_int(raw, name, low=1)
    if column.kind is Kind.RATING:
        return parse.parse_int(raw, name, low=1, high=5)
    if column.kind is Kind.SCORE:
        return parse.parse_int(raw, name, low=0, high=10)
    if column.kind is Kind.FLOAT:
        return parse.parse_float(raw, name, options.decimal, column.non_negative)
    if column.kind is Kind.BOOL:
        return parse.parse_bool(raw, name)
    if column.kind is Kind.TIMESTAMP:
        return parse.parse_timestamp(raw, name, tz, options.date_format)
    if column.kind is Kind.DATE:
        return parse.parse_date(raw, name, options.date_format)
    if column.kind is Kind.JSON:
        return parse.parse_json(raw, name)
    if column.choices == ("completed", "cancelled"):
        return parse.parse_status(raw, name)
    values = parse.clean_text(raw)
    if column.kind is Kind.ID:
        missing = ~np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
        return parse.Parsed(values, [(missing, f"{name} is missing")])
    return parse.Parsed(values)


def _check_raw_text(raw: RawTable, source: str, record: Callable[[np.ndarray, str, str], None]) -> None:
    """Reject, on every backend alike, values no store should hold: NUL bytes and oversized fields.

    PostgreSQL refuses a NUL in text (SQLite would store it), and a field over the limit is a broken
    quote or a pasted blob. Both are one vectorised pass; an oversized value is cut short in place
    so the rejects file stays readable.
    """
    values = raw.columns[source]
    nul = np.asarray(pc.fill_null(pc.match_substring(values, "\x00"), False).to_numpy(zero_copy_only=False))
    if nul.any():
        record(nul, source, f"{source} contains a NUL byte (\\0), which text cannot hold")
    sizes = pc.fill_null(pc.binary_length(values), 0)
    large = np.asarray(pc.greater(sizes, FIELD_LIMIT).to_numpy(zero_copy_only=False), dtype=bool)
    if large.any():
        record(large, source, f"{source} is too large (over {FIELD_LIMIT_TEXT}, the limit for one field)")
        cut = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, _TRUNCATED_TO),
            pc.binary_join_element_wise("… [truncated, ", pc.cast(sizes, pa.string()), " bytes]", ""),
            "",
        )
        raw.columns[source] = pc.if_else(pa.array(large), cut, values)


def row_hashes(table: pa.Table) -> np.ndarray:
    """A stable signed 64-bit digest of each row's normalised values (for unchanged/updated)."""
    frame = table.to_pandas(types_mapper=None)
    hashed = pd.util.hash_pandas_object(frame, index=False, categorize=False).to_numpy()
    return hashed.view(np.int64)


def validate(raw: RawTable, spec: TableSpec, options: IngestOptions, tz: ZoneInfo) -> Validated:
    headers = list(raw.columns)
    resolved = resolve_columns(spec, headers, options.mapping)
    if options.date_format:
        parse.check_date_format(options.date_format)  # a bad format fails the file, not every row
    n = raw.num_rows
    reasons_by_row: dict[int, list[tuple[str, str]]] = {}

    def record(mask: np.ndarray, column: str, reason: str) -> None:
        for i in np.flatnonzero(mask):
            reasons_by_row.setdefault(int(i), []).append((column, reason))

    if raw.wrong_field_rows is not None and len(raw.wrong_field_rows):
        wrong = np.zeros(n, bool)
        wrong[raw.wrong_field_rows] = True
        record(wrong, "", f"wrong number of fields (expected {len(headers)})")

    if raw.undecodable_lines is not None and len(raw.undecodable_lines):
        # Lines with bytes that are not valid in the file's encoding: their text is a guess, so the
        # rows that contain them are rejected rather than loaded as mojibake.
        lines = raw.line_numbers()
        rows = np.searchsorted(lines, raw.undecodable_lines, side="right") - 1
        undecodable = np.zeros(n, bool)
        undecodable[rows[(rows >= 0) & (rows < n)]] = True
        record(
            undecodable,
            "",
            f"the row has bytes that are not valid {raw.encoding or 'text'} (the rest of the file is); "
            "re-export it in one encoding",
        )

    for source in dict.fromkeys(resolved.values()):
        _check_raw_text(raw, source, record)

    typed: dict[str, pa.Array] = {}
    for column in spec.columns:
        if column.name not in resolved:
            continue
        parsed = _parse_column(column, raw.columns[resolved[column.name]], options, tz)
        for mask, reason in parsed.problems:
            record(mask, resolved[column.name], reason)
        if column.required:
            missing = ~np.asarray(pc.is_valid(parsed.values).to_numpy(zero_copy_only=False), dtype=bool)
            already = np.zeros(n, bool)
            for mask, _reason in parsed.problems:
                already |= mask
            record(missing & ~already, resolved[column.name], f"{column.name} is missing")
        typed[column.stored_name] = parsed.values

    if spec.name == "survey_responses" and "score" in typed and "survey" in typed:
        surveys = pc.utf8_lower(typed["survey"])
        typed["survey"] = surveys
        scores = typed["score"]
        for survey, (low, high) in SCORE_RANGES.items():
            is_survey = np.asarray(
                pc.fill_null(pc.equal(surveys, survey), False).to_numpy(zero_copy_only=False)
            )
            out = pc.fill_null(pc.or_(pc.less(scores, low), pc.greater(scores, high)), False)
            record(
                is_survey & np.asarray(out.to_numpy(zero_copy_only=False)),
                resolved["score"],
                f"score for a {survey} survey must be between {low} and {high}",
            )

    bad = np.zeros(n, bool)
    if reasons_by_row:
        bad[np.fromiter(reasons_by_row, dtype=np.int64)] = True

    # Duplicate keys inside one file: the first good occurrence wins, later ones are rejected.
    key_cols = [typed[k] for k in spec.key]
    if len(spec.key) == 1 and pc.count_distinct(key_cols[0], mode="all").as_py() == n:
        dup = np.zeros(n, bool)  # the common case, found with one hash pass
    else:
        key_frame = pd.DataFrame({k: c.to_pandas() for k, c in zip(spec.key, key_cols, strict=True)})
        dup = key_frame.duplicated(keep="first").to_numpy() & ~bad
    if dup.any():
        good_first = key_frame[~bad].drop_duplicates(keep="first")
        first_index = {
            tuple(r): int(i)
            for i, r in zip(good_first.index, good_first.itertuples(index=False), strict=True)
        }
        lines = raw.line_numbers()
        label = "row" if raw.source_format != "csv" else "line"
        for i in np.flatnonzero(dup):
            first = first_index.get(tuple(key_frame.iloc[i]))
            where = f" (first on {label} {lines[first]})" if first is not None else ""
            reasons_by_row.setdefault(int(i), []).append(
                (
                    resolved[spec.key[0]],
                    f"duplicate {'/'.join(spec.key)} {'/'.join(map(str, key_frame.iloc[i]))}{where}",
                )
            )
        bad |= dup

    good = np.flatnonzero(~bad)
    # Full width: columns the file does not carry are null here; the writer fills them from the
    # store for rows that already exist, so a narrower file never erases what we hold.
    table = pa.table(
        {
            c.stored_name: (
                typed[c.stored_name].take(pa.array(good))
                if c.stored_name in typed
                else pa.nulls(len(good), ARROW_TYPES[c.kind])
            )
            for c in spec.columns
        }
    )
    reject_rows = np.array(sorted(reasons_by_row), dtype=np.int64)
    reject_columns = [", ".join(dict.fromkeys(c for c, _ in reasons_by_row[i] if c)) for i in reject_rows]
    reject_reasons = ["; ".join(r for _, r in reasons_by_row[i]) for i in reject_rows]
    ignored = [h for h in headers if h not in resolved.values()]
    stored_names = {c.name: c.stored_name for c in spec.columns}
    return Validated(
        table, good, reject_rows, reject_columns, reject_reasons, resolved, ignored, stored_names
    )
