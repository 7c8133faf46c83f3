"""Ingest one file into one table: read, validate, write atomically, report, keep analytics fresh.

``ingest_file`` is the Python API (the HTTP API will call it too); ``retentio ingest`` is a thin
wrapper. The store write is one transaction: a killed ingest leaves the store as before or as
after. The rejects file is written only after a successful commit (or in ``--strict`` mode, when
nothing is loaded).
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from retentio.config import Settings
from retentio.contract import TABLES
from retentio.errors import InputError, UserError
from retentio.ingest.readers import RawTable, read_any
from retentio.ingest.validate import IngestOptions, validate
from retentio.ingest.writer import write
from retentio.store import snapshot
from retentio.store.db import (
    bump_data_version,
    engine_for,
    lock_for_ingest,
    prepare_store,
    store_id,
    write_transaction,
)
from retentio.store.schema import IngestRun

Stage = Callable[[str, int], Callable[[int], None]]  # (description, total) -> advance(n)


@dataclass
class IngestSummary:
    """What became of every row read: ``read = loaded + updated + unchanged + rejected``."""

    table: str
    source: str
    read: int
    loaded: int
    updated: int
    unchanged: int
    rejected: int
    rejects_file: str | None
    placeholders_created: int = 0
    not_loaded_strict: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def adds_up(self) -> bool:
        return (
            self.read == self.loaded + self.updated + self.unchanged + self.rejected + self.not_loaded_strict
        )


class StrictRejected(UserError):
    """``--strict`` and at least one bad row: nothing was loaded."""

    def __init__(self, summary: IngestSummary) -> None:
        super().__init__(
            f"--strict: {summary.rejected} of {summary.read} rows are invalid, nothing was loaded "
            f"(reasons in {summary.rejects_file})"
        )
        self.summary = summary


def _rejects_path(settings: Settings, table: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.rejects_dir / f"{table}-{stamp}.csv"


def write_rejects(
    path: Path,
    raw: RawTable,
    rows: np.ndarray,
    columns: list[str],
    reasons: list[str],
) -> None:
    """CSV: the original line number, the column(s), the reason(s), then the original values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = raw.line_numbers()
    headers = list(raw.columns)
    label = "line" if raw.source_format == "csv" else "row"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([label, "column", "reason", *headers])
        source_values = {h: raw.columns[h].take(rows).to_pylist() for h in headers}
        for i, row in enumerate(rows.tolist()):
            writer.writerow(
                [int(lines[row]), columns[i], reasons[i], *(source_values[h][i] for h in headers)]
            )


def ingest_file(
    settings: Settings,
    table: str,
    path: Path | str,
    options: IngestOptions | None = None,
    rejects_path: Path | None = None,
    stage: Stage | None = None,
) -> IngestSummary:
    """Load ``path`` into ``table``; see the module docstring for the guarantees."""
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    options = options or IngestOptions()
    spec = TABLES.get(table)
    if spec is None:
        raise InputError(f"unknown table {table!r}: choose one of {', '.join(TABLES)}")
    path = Path(path)
    if stage:
        stage(f"reading {path.name}", 0)
    try:
        raw = read_any(path, options.encoding, options.delimiter)
        engine = engine_for(settings)
        prepare_store(settings, engine)
        if stage:
            stage(f"validating {raw.num_rows:,} rows of {path.name}", 0)
        validated = validate(raw, spec, options, settings.tz)
    except pa.ArrowCapacityError as exc:
        # A column with more than 2 GiB of text (tens of millions of rows) does not fit one Arrow
        # string array; the file is read whole so that duplicates are found across all its rows.
        raise InputError(
            f"{path.name} is too large to load in one piece ({exc}): split it into parts of a few "
            f"million rows ({table}-1{path.suffix}, {table}-2{path.suffix}, ...) and load them one after "
            "another — `retentio demo --from DIR` loads such parts in name order"
        ) from exc
    read = raw.num_rows

    reject_rows = validated.reject_rows
    reject_columns = list(validated.reject_columns)
    reject_reasons = list(validated.reject_reasons)

    def finish_rejects(extra_rows: np.ndarray, extra_reasons: list[str]) -> str | None:
        nonlocal reject_rows, reject_columns, reject_reasons
        if len(extra_rows):
            source_rows = validated.source_rows[extra_rows]
            column = validated.source_columns.get("order_id", "order_id")
            order = np.argsort(np.concatenate([reject_rows, source_rows]), kind="stable")
            reject_rows = np.concatenate([reject_rows, source_rows])[order]
            reject_columns = [(reject_columns + [column] * len(source_rows))[i] for i in order]
            reject_reasons = [(reject_reasons + extra_reasons)[i] for i in order]
        if not len(reject_rows):
            return None
        target = rejects_path or _rejects_path(settings, table)
        write_rejects(target, raw, reject_rows, reject_columns, reject_reasons)
        return str(target)

    def strict_rejected(extra_rows: np.ndarray, extra_reasons: list[str]) -> StrictRejected:
        """``--strict`` failure: write the rejects file; nothing is loaded (the caller raises this)."""
        rejects_file = finish_rejects(extra_rows, extra_reasons)
        summary = IngestSummary(
            table,
            str(path),
            read,
            0,
            0,
            0,
            len(reject_rows),
            rejects_file,
            not_loaded_strict=read - len(reject_rows),
            encoding=raw.encoding,
            delimiter=raw.delimiter,
        )
        return StrictRejected(summary)

    if options.strict and len(reject_rows):
        raise strict_rejected(np.zeros(0, np.int64), [])

    advance = stage(f"writing {table}", validated.table.num_rows) if stage else None
    # One transaction for the whole file, holding the write lock from its start (BEGIN IMMEDIATE on
    # SQLite). SQLite's per-row foreign-key check is off for it: the writer itself guarantees every
    # reference (placeholder customers; lines and refunds of unknown orders are rejected), and the
    # check costs a third of a bulk load. PostgreSQL keeps its constraints.
    with write_transaction(engine, foreign_keys=False) as conn:
        lock_for_ingest(conn)
        result = write(conn, spec, validated, advance)
        if options.strict and len(result.rejected_positions):  # raising rolls the write back
            raise strict_rejected(result.rejected_positions, result.rejected_reasons)
        changed = result.loaded + result.updated + len(result.placeholders) > 0
        # The atomic bump also serialises concurrent ingests on PostgreSQL from here to commit, so
        # versions are applied to the snapshot in the order the store committed them.
        after = bump_data_version(conn) if changed else 0
        identity = store_id(conn)
        rejected = len(reject_rows) + len(result.rejected_positions)
        summary = IngestSummary(
            table=table,
            source=str(path),
            read=read,
            loaded=result.loaded,
            updated=result.updated,
            unchanged=result.unchanged,
            rejected=rejected,
            rejects_file=None,
            placeholders_created=len(result.placeholders),
            ignored_columns=validated.ignored_columns,
            encoding=raw.encoding,
            delimiter=raw.delimiter,
        )
        conn.execute(
            IngestRun.__table__.insert(),  # type: ignore[attr-defined]
            {
                "table_name": table,
                "source": str(path),
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "read": read,
                "loaded": summary.loaded,
                "updated": summary.updated,
                "unchanged": summary.unchanged,
                "rejected": rejected,
                "placeholders_created": summary.placeholders_created,
                "rejects_file": None,
            },
        )
    summary.rejects_file = finish_rejects(result.rejected_positions, result.rejected_reasons)

    # Keep the analytics snapshot current: apply this change, or leave it to be rebuilt.
    if changed:
        if stage:
            stage("updating the analytics snapshot", 0)
        if result.written is not None:
            snapshot.Snapshot(settings).apply(
                table, result.written, result.placeholders, identity, after - 1, after
            )
    summary.seconds = time.perf_counter() - started
    assert summary.adds_up, summary
    return summary


# What a folder ingest recognises, in this order of preference. Not ``.txt`` or ``.json``: too many
# files that are not data share them ("orders-notes.txt", "events-schema.json").
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")


def table_files(directory: Path, table: str) -> list[Path]:
    """The files of ``table`` in ``directory``: ``<table>.<ext>``, or its parts ``<table>-<part>.<ext>``.

    One format per table (the first of :data:`DATA_SUFFIXES` that has files); parts load in natural name
    order (``events-2`` before ``events-10``) after the unsplit file, if any.
    """

    def natural(path: Path) -> list[Any]:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]

    for suffix in DATA_SUFFIXES:
        whole = directory / f"{table}{suffix}"
        parts = sorted((p for p in directory.glob(f"{table}-*{suffix}") if p.is_file()), key=natural)
        found = ([whole] if whole.is_file() else []) + parts
        if found:
            return found
    return []


def ingest_directory(
    settings: Settings, directory: Path, options: IngestOptions | None = None, stage: Stage | None = None
) -> list[IngestSummary]:
    """Ingest every file of :func:`table_files` found in ``directory``, tables in reference order."""
    from retentio.contract import LOAD_ORDER

    summaries = []
    for table in LOAD_ORDER:
        for candidate in table_files(directory, table):
            summaries.append(ingest_file(settings, table, candidate, options, stage=stage))
    if not summaries:
        raise InputError(f"{directory} holds no <table>{'/'.join(DATA_SUFFIXES)} file of the data contract")
    return summaries
