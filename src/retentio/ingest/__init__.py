"""Ingest: read shop exports (CSV dialects, Parquet, JSON Lines), validate row by row, upsert.

Public API: :func:`ingest_file`, :func:`ingest_directory`, :class:`IngestOptions`, :class:`IngestSummary`.
"""

from retentio.ingest.service import IngestSummary, StrictRejected, ingest_directory, ingest_file
from retentio.ingest.validate import IngestOptions

__all__ = ["IngestOptions", "IngestSummary", "StrictRejected", "ingest_directory", "ingest_file"]
