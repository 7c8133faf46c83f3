"""``retentio journey`` and ``retentio engagement``: formats, options and clean errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from retentio.app import App
from retentio.cli import journey as journey_cli
from retentio.config import Settings
from retentio.errors import UserError
from retentio.segments.service import create_segment
from retentio.store.db import migrate


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, home: Path, duckdb_backend: Any, snapshot_rows: Any) -> Any:
    rows = snapshot_rows
    rows.customer("a", acquisition_channel="ads", consent_email=True)
    rows.customer("b", acquisition_channel="seo", consent_email=True)
    rows.event("a1", "a", "2024-01-01T10:00:00Z", "visit", duration_s=60.0)
    rows.event("a2", "a", "2024-01-01T11:00:00Z", "product_view")
    rows.event("a3", "a", "2024-01-01T11:10:00Z", "email_open")
    rows.order("oa", "a", "2024-01-01T12:00:00Z", "10")
    rows.event("b1", "b", "2024-01-02T10:00:00Z", "visit")
    tables = duckdb_backend.load(rows)
    # The commands read the shared fixture's snapshot instead of an ingested store.
    monkeypatch.setattr(App, "analytics", lambda self: tables)
    monkeypatch.setenv("RETENTIO_HOME", str(home))
    monkeypatch.delenv("RETENTIO_DATABASE_URL", raising=False)
    app = typer.Typer()
    journey_cli.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_journey_json_csv_and_table(cli: Any) -> None:
    result = cli(
        "journey", "--as-of", "2024-02-01", "--steps", "visit,product_view,first_order", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(s["step"], s["customers"]) for s in data["steps"]] == [
        ("visit", 2),
        ("product_view", 1),
        ("first_order", 1),
    ]
    assert data["steps"][1]["conversion_from_previous"] == 0.5
    assert data["steps"][1]["median_hours_from_previous"] == 1.0
    assert data["as_of"] == "2024-02-01" and data["excluded_prior_buyers"] == 0

    result = cli("journey", "--as-of", "2024-02-01", "--by", "channel", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["channel"], r["step"]): r["customers"] for r in rows}[("seo", "visit")] == "1"
    assert {r["channel"] for r in rows} == {"all", "ads", "seo"}
    assert len(rows) == 3 * 7

    table = cli("journey", "--as-of", "2024-02-01", "--from", "2024-01-01", "--to", "2024-01-02")
    assert table.exit_code == 0, table.output
    assert "Journey (2024-01-01 – 2024-01-02" in table.stdout and "product_view" in table.stdout


def test_journey_rejects_bad_options(cli: Any) -> None:
    result = cli("journey", "--by", "city")
    assert isinstance(result.exception, UserError) and "--by 'city'" in str(result.exception)
    result = cli("journey", "--steps", "visit")
    assert isinstance(result.exception, UserError) and "two steps" in str(result.exception)
    result = cli("journey", "--from", "01.02.2024")
    assert isinstance(result.exception, UserError) and "YYYY-MM-DD" in str(result.exception)


def test_engagement_by_channel_rfm_and_stored_segments(cli: Any, home: Path) -> None:
    result = cli(
        "engagement", "--from", "2024-01-01", "--to", "2024-02-01", "--by", "channel", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["customers"] == 2 and data["overall"]["open_rate"] == 0.5
    assert [g["group"] for g in data["groups"]] == ["ads", "seo"]
    assert data["groups"][0]["session_seconds_median"] == 60.0

    result = cli("engagement", "--from", "2024-01-01", "--to", "2024-02-01", "--by", "rfm", "--format", "csv")
    assert result.exit_code == 0, result.output
    groups = [r["group"] for r in csv.DictReader(io.StringIO(result.stdout))]
    assert groups[0] == "all" and len(groups) == 2  # everyone, then a's RFM segment

    settings = Settings(home=home)

    app = App(settings)
    migrate(settings)
    with app.session() as session:
        create_segment(session, "buyers", "orders >= 1")
    result = cli("engagement", "--from", "2024-01-01", "--to", "2024-02-01", "--by", "segment")
    assert result.exit_code == 0, result.output
    assert "by segment" in result.stdout and "buyers" in result.stdout

    result = cli("engagement", "--by", "weather")
    assert isinstance(result.exception, UserError)
