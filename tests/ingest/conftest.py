"""Fixtures for ingest: settings for a real store (SQLite or PostgreSQL) and export files."""

from __future__ import annotations

from pathlib import Path

import pytest

from retentio.config import Settings


@pytest.fixture
def settings(home: Path, store_url: str | None) -> Settings:
    return Settings(home=home, database_url=store_url)
