"""Ingest one file into one table: read, validate, write atomically, report, keep analytics fresh.

``ingest_file`` is the Python API (the HTTP API will call it too); ``retentio ingest`` is a thin
wrapper. The store write is one transaction: a killed ingest leaves the store as before or as
after.

The rejects file cannot fail after the commit: its place is checked (and a temporary file beside it
created) before anything is read into the store, the rows are written and flushed to that temporary
file inside the transaction, and it gets its final name (a hard link, so an existing file is never
replaced) just before the commit. A rejects file that cannot be written fails the ingest with
nothing loaded. In ``--strict`` mode it is written and nothing is loaded.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from retentio.analytics.render import CsvWriter
from retentio.config import Settings

if TYPE_CHECKING:
    from retentio.app import App
from retentio.contract import TABLES
from retentio.errors import InputError, UserError
from retentio.ingest.readers import RawTable, read_any
from retentio.ingest.validate import IngestOptions, validate
from retentio.ingest.writer import write
from retentio.store.db import bump_data_version, lock_for_ingest, prepare_home, store_id, write_transaction
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
    handle: IO[str],
    raw: RawTable,
    rows: np.ndarray,
    columns: list[str],
    reasons: list[str],
) -> None:
    """CSV: the original line number, the column(s), the reason(s), then the original values.

    Through the one CSV writer of every export, so a value a shop's customer typed
    (``=HYPERLINK(...)``) is never run as a formula by the spreadsheet that opens the file.
    """
    lines = raw.line_numbers()
    headers = list(raw.columns)
    label = "line" if raw.source_format == "csv" else "row"
    writer = CsvWriter(handle, lineterminator="\r\n")
    writer.writerow([label, "column", "reason", *headers])
    source_values = {h: raw.columns[h].take(rows).to_pylist() for h in headers}
    for i, row in enumerate(rows.tolist()):
        writer.writerow([int(lines[row]), columns[i], reasons[i], *(source_values[h][i] for h in headers)])


class RejectsFile:
    """The rejects file of one ingest: checked before the store is touched, named before the commit.

    :meth:`prepare` refuses a path that exists (``--rejects input.csv`` would replace the input; a
    folder or a device is no rejects file) or whose folder is missing or not writable (it creates
    and removes a temporary file there). :meth:`write` writes the rows to a new temporary file beside
    the target, flushes it to disk and links it to the target: a link never replaces a file that
    appeared meanwhile (the default, timestamped name then takes a ``-2``, ``-3``... suffix).
    Every failure is a one-line :class:`UserError`, raised inside the store transaction so that it
    rolls the load back; :meth:`guard` removes the file again if the transaction fails after it.
    """

    def __init__(self, target: Path, explicit: bool) -> None:
        self.target = target
        self._explicit = explicit
        self.published: Path | None = None

    @classmethod
    def prepare(cls, settings: Settings, table: str, path: Path | None) -> RejectsFile:
        if path is not None:
            target = Path(path)
            if os.path.lexists(target):
                what = "a folder" if target.is_dir() else "a file"
                raise UserError(
                    f"the rejects file {target} is {what} that exists already: name a new file "
                    "(a rejects file never replaces anything)"
                )
            if not target.parent.is_dir():
                raise UserError(
                    f"cannot write the rejects file {target}: the folder {target.parent} does not exist"
                )
        else:
            target = _rejects_path(settings, table)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create the rejects folder {target.parent}: {_why(exc)}") from None
        rejects = cls(target, explicit=path is not None)
        temp, handle = rejects._open_temp()  # proves the folder writable
        handle.close()
        temp.unlink()
        return rejects

    def _open_temp(self) -> tuple[Path, IO[str]]:
        temp = self.target.with_name(f".{self.target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise UserError(f"cannot write the rejects file {self.target}: {_why(exc)}") from None
        return temp, os.fdopen(fd, "w", encoding="utf-8-sig", newline="")

    def write(self, raw: RawTable, rows: np.ndarray, columns: list[str], reasons: list[str]) -> str:
        """Write the rejected rows, flushed to disk, under the final name; returns that name."""
        temp, handle = self._open_temp()
        try:
            try:
                with handle:
                    write_rejects(handle, raw, rows, columns, reasons)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:  # a full disk fails here, before the commit
                raise UserError(f"cannot write the rejects file {self.target}: {_why(exc)}") from None
            self.published = self._link(temp)
        finally:
            with suppress(OSError):
                temp.unlink(missing_ok=True)
        return str(self.published)

    def _link(self, temp: Path) -> Path:
        candidates = [self.target]
        if not self._explicit:
            stem, suffix = self.target.stem, self.target.suffix
            candidates += [self.target.with_name(f"{stem}-{n}{suffix}") for n in range(2, 100)]
        for candidate in candidates:
            try:
                os.link(temp, candidate)
            except FileExistsError:
                continue
            except OSError as exc:  # a file system without hard links: rename, checked just before
                if os.path.lexists(candidate):
                    continue
                try:
                    os.rename(temp, candidate)
                except OSError:
                    raise UserError(f"cannot write the rejects file {candidate}: {_why(exc)}") from None
            return candidate
        raise UserError(
            f"the rejects file {self.target} exists already: name a new file (a rejects file never "
            "replaces anything)"
        )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Around the store transaction: a load that fails (commit included) leaves no rejects file,
        except a ``--strict`` refusal, whose rejects file says why nothing was loaded."""
        try:
            yield
        except StrictRejected:
            raise
        except BaseException:
            if self.published is not None:
                with suppress(OSError):
                    self.published.unlink()
                self.published = None
            raise


def _why(exc: OSError) -> str:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"read-only or not writable ({exc.strerror})"
    return exc.strerror or str(exc)


def ingest_file(
    app: App,
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
    settings = app.settings
    prepare_home(settings)  # a one-line error for a home that is a file or read-only, before anything
    rejects = RejectsFile.prepare(settings, table, rejects_path)  # fails now, before the store is touched
    if stage:
        stage(f"reading {path.name}", 0)
    try:
        raw = read_any(path, options.encoding, options.delimiter)
        app.prepare_store()
        engine = app.engine
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

    def finish_rejects(
        extra_rows: np.ndarray, extra_reasons: list[str], extra_columns: list[str]
    ) -> str | None:
        nonlocal reject_rows, reject_columns, reject_reasons
        if len(extra_rows):
            source_rows = validated.source_rows[extra_rows]
            named = [
                ", ".join(validated.source_columns.get(c, c) for c in columns.split(", "))
                for columns in extra_columns
            ]
            order = np.argsort(np.concatenate([reject_rows, source_rows]), kind="stable")
            reject_rows = np.concatenate([reject_rows, source_rows])[order]
            reject_columns = [(reject_columns + named)[i] for i in order]
            reject_reasons = [(reject_reasons + extra_reasons)[i] for i in order]
        if not len(reject_rows):
            return None
        return rejects.write(raw, reject_rows, reject_columns, reject_reasons)

    def strict_rejected(
        extra_rows: np.ndarray, extra_reasons: list[str], extra_columns: list[str]
    ) -> StrictRejected:
        """``--strict`` failure: write the rejects file; nothing is loaded (the caller raises this)."""
        rejects_file = finish_rejects(extra_rows, extra_reasons, extra_columns)
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
        raise strict_rejected(np.zeros(0, np.int64), [], [])

    advance = stage(f"writing {table}", validated.table.num_rows) if stage else None
    # One transaction for the whole file, holding the write lock from its start (BEGIN IMMEDIATE on
    # SQLite). SQLite's per-row foreign-key check is off for it: the writer itself guarantees every
    # reference (placeholder customers; lines and refunds of unknown orders are rejected), and the
    # check costs a third of a bulk load. PostgreSQL keeps its constraints.
    with rejects.guard(), write_transaction(engine, foreign_keys=False) as conn:
        lock_for_ingest(conn)
        result = write(conn, spec, validated, advance)
        if options.strict and len(result.rejected_positions):  # raising rolls the write back
            raise strict_rejected(result.rejected_positions, result.rejected_reasons, result.rejected_columns)
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
            # Last before the commit: a rejects file that cannot be written rolls the load back.
            rejects_file=finish_rejects(
                result.rejected_positions, result.rejected_reasons, result.rejected_columns
            ),
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
                "rejects_file": summary.rejects_file,
            },
        )

    # Keep the analytics snapshot current: apply this change, or leave it to be rebuilt.
    if changed:
        if stage:
            stage("updating the analytics snapshot", 0)
        if result.written is not None:
            app.snapshot.apply(
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
    app: App, directory: Path, options: IngestOptions | None = None, stage: Stage | None = None
) -> list[IngestSummary]:
    """Ingest every file of :func:`table_files` found in ``directory``, tables in reference order."""
    from retentio.contract import LOAD_ORDER

    summaries = []
    for table in LOAD_ORDER:
        for candidate in table_files(directory, table):
            summaries.append(ingest_file(app, table, candidate, options, stage=stage))
    if not summaries:
        raise InputError(f"{directory} holds no <table>{'/'.join(DATA_SUFFIXES)} file of the data contract")
    return summaries
