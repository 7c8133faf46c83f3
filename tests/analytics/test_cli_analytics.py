"""The kpi, cohorts and rfm commands: options, the three formats and clean errors.

The snapshot is the shared fixture's real DuckDB database, handed to the commands in place of
``App.analytics`` (the lead's end-to-end checks run them over an ingested store).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from retentio.app import App
from retentio.cli import cohorts as cohorts_cli
from retentio.cli import kpi as kpi_cli
from retentio.cli import rfm as rfm_cli
from retentio.config import Settings
from retentio.errors import UserError
from retentio.segments import service as segments


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, home: Path, duckdb_backend: Any, snapshot_rows: Any) -> Any:
    rows = snapshot_rows
    rows.customer("a", city="Moscow")
    rows.order("a1", "a", "2024-01-10T10:00:00Z", "100.10")
    rows.order("a2", "a", "2024-02-10T10:00:00Z", "50")
    rows.order("b1", "b", "2024-02-29T20:30:00Z", "30")
    rows.refund("r1", "a1", "2024-02-11T10:00:00Z", "20")
    rows.survey("s1", "a", "2024-02-12T10:00:00Z", "nps", 10)
    tables = duckdb_backend.load(rows)
    monkeypatch.setattr(App, "analytics", lambda self: tables)
    monkeypatch.setenv("RETENTIO_HOME", str(home))
    app = typer.Typer()
    for module in (kpi_cli, cohorts_cli, rfm_cli):
        module.register(app)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return run


def test_kpi_json_is_flat_with_the_design_keys(cli: Any) -> None:
    result = cli(
        "kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--as-of", "2024-03-05", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert {
        "S",
        "E",
        "N",
        "retention_rate",
        "nps",
        "csat",
        "from",
        "to",
        "counts",
        "previous",
        "change",
    } <= set(out)
    assert out["net_revenue"] == "60.00"  # exact decimal string: 50 + 30 − 20
    assert out["historical_clv"] == "80.05"  # (150.10 − 20 + 30) / 2
    assert out["N"] == 1 and out["S"] == 1 and out["E"] == 2
    assert out["retention_rate"] == 1.0
    assert out["previous"]["net_revenue"] == "100.10"


def test_kpi_period_last_benchmark_and_by(cli: Any) -> None:
    result = cli(
        "kpi",
        "--period",
        "month",
        "--last",
        "1",
        "--as-of",
        "2024-03-05",
        "--benchmark",
        "retention_rate=0.4",
        "--format",
        "json",
    )
    out = json.loads(result.stdout)
    assert (out["from"], out["to"]) == ("2024-02-01", "2024-03-01")
    assert out["benchmarks"]["retention_rate"]["difference"] == pytest.approx(0.6)
    grouped = json.loads(
        cli("kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--by", "city", "--format", "json").stdout
    )
    assert [g["group"] for g in grouped["groups"]] == ["Moscow", None]
    assert grouped["groups"][0]["net_revenue"] == "30.00"


def test_kpi_table_and_csv(cli: Any) -> None:
    table = cli("kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--benchmark", "aov=10")
    assert table.exit_code == 0, table.output
    assert "retention_rate" in table.stdout and "100.0%" in table.stdout
    assert "net profit per customer is missing" in table.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(cli("kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--format", "csv").stdout)
        )
    )
    by_kpi = {row["kpi"]: row for row in rows}
    assert by_kpi["net_revenue"]["value"] == "60.00"
    assert by_kpi["repeat_purchase_rate"]["numerator"] == "1"
    assert by_kpi["repeat_purchase_rate"]["denominator"] == "2"


def test_kpi_bad_input_is_a_user_error(cli: Any) -> None:
    for args in (
        ("kpi", "--from", "01.02.2024", "--to", "2024-03-01"),
        ("kpi", "--from", "2024-02-01"),
        ("kpi", "--from", "2024-03-01", "--to", "2024-02-01"),
        ("kpi", "--benchmark", "foo=1"),
        ("kpi", "--by", "tier"),
        ("kpi", "--period", "week"),
    ):
        result = cli(*args)
        assert isinstance(result.exception, UserError), (args, result.exception)
    assert cli("kpi", "--format", "xml").exit_code == 2  # click rejects the choice


def test_cohorts_formats_and_lifecycle(cli: Any) -> None:
    out = json.loads(
        cli(
            "cohorts", "--by", "month", "--metric", "customers", "--as-of", "2024-03-15", "--format", "json"
        ).stdout
    )
    assert [(c["cohort"], c["size"], c["values"][0]) for c in out["cohorts"]] == [
        ("2024-01", 1, 1.0),
        ("2024-02", 1, 1.0),
    ]
    assert out["cohorts"][0]["values"] == [1.0, 1.0, 0.0] and out["cohorts"][0]["partial"] == [
        False,
        False,
        True,
    ]
    revenue = json.loads(
        cli("cohorts", "--metric", "revenue", "--as-of", "2024-03-15", "--format", "json").stdout
    )
    assert revenue["cohorts"][0]["values"][:2] == ["100.10", "30.00"]
    text = cli("cohorts", "--as-of", "2024-03-15").stdout
    assert "2024-01" in text and "0%*" in text
    rows = list(
        csv.DictReader(io.StringIO(cli("cohorts", "--as-of", "2024-03-15", "--format", "csv").stdout))
    )
    assert rows[0] == {
        "cohort": "2024-01",
        "start": "2024-01-01",
        "size": "1",
        "k": "0",
        "value": "1.0",
        "customers": "1",
        "partial": "False",
    }
    life = json.loads(cli("cohorts", "--lifecycle", "--as-of", "2024-03-15", "--format", "json").stdout)
    assert len(life["periods"]) == 12 and life["periods"][-1]["period"] == "2024-03"
    assert life["periods"][-2] == {
        "period": "2024-02",
        "start": "2024-02-01",
        "end": "2024-03-01",
        "new": 1,
        "returning": 1,
        "resurrected": 0,
        "dormant": 0,
        "active": 2,
        "previous_active": 1,
        "partial": False,
    }
    assert "dormant" in cli("cohorts", "--lifecycle", "--as-of", "2024-03-15").stdout
    assert isinstance(cli("cohorts", "--by", "day").exception, UserError)


def test_rfm_formats_and_segment_map(cli: Any, tmp_path: Path) -> None:
    out = json.loads(cli("rfm", "--as-of", "2024-03-01", "--format", "json").stdout)
    assert out["as_of"] == "2024-03-01"
    assert [c["customer_id"] for c in out["customers"]] == ["a", "b"]
    assert out["customers"][0]["monetary"] == "130.10"
    assert sum(s["customers"] for s in out["segments"]) == 2
    rows = list(csv.DictReader(io.StringIO(cli("rfm", "--as-of", "2024-03-01", "--format", "csv").stdout)))
    assert rows[1]["recency_days"] == "1"  # b's 23:30 Moscow order on Feb 29
    assert "Champions" in cli("rfm", "--as-of", "2024-03-01").stdout
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps([{"segment": "Everyone", "r": [1, 5], "fm": [1, 5]}]), encoding="utf-8")
    custom = json.loads(
        cli("rfm", "--as-of", "2024-03-01", "--segment-map", str(mapping), "--format", "json").stdout
    )
    assert {c["segment"] for c in custom["customers"]} == {"Everyone"}
    assert isinstance(cli("rfm", "--segment-map", str(tmp_path / "none.yaml")).exception, UserError)


def test_segment_option_restricts_to_members(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def members(app: Any, name: str) -> list[str]:
        asked.append(name)
        return ["b"]

    monkeypatch.setattr(segments, "member_ids", members)
    out = json.loads(
        cli(
            "kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--segment", "vip", "--format", "json"
        ).stdout
    )
    assert asked == ["vip"] and out["segment"] == "vip"
    assert (out["S"], out["E"], out["N"], out["net_revenue"]) == (0, 1, 1, "30.00")
    rfm = json.loads(cli("rfm", "--as-of", "2024-03-01", "--segment", "vip", "--format", "json").stdout)
    assert [c["customer_id"] for c in rfm["customers"]] == ["b"]
    cohorts = json.loads(
        cli("cohorts", "--segment", "vip", "--as-of", "2024-03-15", "--format", "json").stdout
    )
    assert [c["cohort"] for c in cohorts["cohorts"]] == ["2024-02"]


def test_analytics_follow_an_analytics_url(tmp_path: Path, snapshot_rows: Any) -> None:
    import ibis

    snapshot_rows.order("o1", "a", "2024-01-10T10:00:00Z", "12.50")
    path = tmp_path / "elsewhere.duckdb"
    con = ibis.duckdb.connect(str(path))
    for name, table in snapshot_rows.arrow_tables().items():
        con.create_table(name, table)
    con.disconnect()

    app = App(Settings(home=tmp_path / "home", analytics_url=f"duckdb://{path}"))
    tables = app.analytics()
    assert tables.orders.total.sum().to_pyarrow().as_py() == Decimal("12.50")
    tables.backend.disconnect()


def test_kpi_on_data_that_ended_says_which_as_of_to_pass(cli: Any) -> None:
    # Default as-of is today: the fixture's data (early 2024) end long before the last month.
    result = cli("kpi", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["S"] == 0  # stdout stays pure JSON
    assert "2024-02-29" in result.stderr and "--as-of 2024-03-01" in result.stderr
    # With --as-of, or when the period has orders, there is nothing to say.
    quiet = cli("kpi", "--from", "2024-02-01", "--to", "2024-03-01", "--format", "json")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    explicit = cli("kpi", "--as-of", "2030-01-01", "--format", "json")
    assert explicit.exit_code == 0 and explicit.stderr == ""
