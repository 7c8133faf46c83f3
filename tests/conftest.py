"""Shared fixtures: real stores on SQLite (a temp file) and PostgreSQL (a fresh schema per test).

PostgreSQL tests run against 127.0.0.1:5432 (override with ``RETENTIO_TEST_PG_URL``). Without a
server they skip, unless ``REQUIRE_POSTGRES=1`` (set by ``.ci/run``), when they fail instead.
Slow scale tests are marked ``slow`` and run only with ``--runslow``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_BASE_URL = os.environ.get("RETENTIO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def _pg_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The base URL of a reachable PostgreSQL, or skip (fail under REQUIRE_POSTGRES=1)."""
    problem = _pg_available()
    if problem:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at {PG_BASE_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_BASE_URL}")
    return PG_BASE_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema; dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    sep = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty RETENTIO_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, home: Path) -> str | None:
    """Run a test once on the embedded SQLite store (None = default) and once on PostgreSQL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def app(settings: Any) -> Iterator[Any]:
    """The application context over the test's ``settings`` (closed afterwards)."""
    from retentio.app import App

    context = App(settings)
    yield context
    context.close()
