"""``retentio segments`` end to end: ingest a small shop, define, refresh, inspect, export, delete."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from retentio.app import App
from retentio.cli import ingest as ingest_cli
from retentio.cli import segments as segments_cli
from retentio.config import Settings
from retentio.segments.features import FEATURES
from retentio.segments.service import member_ids

EXE = str(Path(sys.executable).with_name("retentio"))

CUSTOMERS = """customer_id,email,first_name,acquisition_channel,consent_email,city
c1,a@example.ru,Анна,ads,true,Москва
c2,b@example.ru,Борис,seo,false,Казань
c3,c@example.ru,Вера,,true,Москва
"""
ORDERS = """order_id,customer_id,ordered_at,total
o1,c1,2024-01-10T10:00:00,6000
o2,c1,2024-02-10T10:00:00,7000
o3,c2,2024-01-15T10:00:00,100
o4,c3,2024-03-20T10:00:00,300
"""
EVENTS = """event_id,customer_id,occurred_at,type
e1,c1,2024-01-10T09:00:00,visit
e2,c3,2024-03-01T09:30:00,visit
"""


@pytest.fixture
def cli(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RETENTIO_HOME", str(home))
    monkeypatch.delenv("RETENTIO_DATABASE_URL", raising=False)
    app = typer.Typer()
    for module in (ingest_cli, segments_cli):
        module.register(app)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))

    for table, text in (("customers", CUSTOMERS), ("orders", ORDERS), ("events", EVENTS)):
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        result = run("ingest", table, str(path), "--format", "json")
        assert result.exit_code == 0, result.output
    return run


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def test_define_refresh_inspect_export_delete(cli: Any, home: Path, tmp_path: Path) -> None:
    created = json.loads(ok(cli("segments", "init-defaults", "--format", "json")).stdout)
    assert created == {"created": ["vip", "at-risk", "new", "sleeping"]}
    ok(cli("segments", "create", "big", "net_revenue > 5000", "--description", "big spenders"))

    march = json.loads(ok(cli("segments", "refresh", "--as-of", "2024-03-01", "--format", "json")).stdout)
    assert march["as_of"] == "2024-03-01" and march["at"] == "2024-02-29T21:00:00+00:00"
    assert {s["name"]: s["size"] for s in march["segments"]} == {
        "at-risk": 0,
        "big": 1,
        "new": 0,
        "sleeping": 0,
        "vip": 0,
    }
    april = json.loads(ok(cli("segments", "refresh", "--as-of", "2024-04-01", "--format", "json")).stdout)
    sizes = {s["name"]: (s["size"], s["entered"], s["left"]) for s in april["segments"]}
    assert sizes["new"] == (1, 1, 0)  # c3's first order on 20 March
    assert sizes["at-risk"] == (1, 1, 0)  # c2: nothing since 15 January
    assert (april["customers"], april["categorised"], april["share"]) == (3, 3, 1.0)

    listed = json.loads(ok(cli("segments", "list", "--format", "json")).stdout)
    assert [s["name"] for s in listed["segments"]] == ["at-risk", "big", "new", "sleeping", "vip"]
    assert (listed["customers"], listed["categorised"], listed["share"]) == (3, 3, 1.0)

    shown = json.loads(ok(cli("segments", "show", "big", "--format", "json")).stdout)
    assert (shown["rule"], shown["description"], shown["size"]) == ("net_revenue > 5000", "big spenders", 1)
    assert shown["history"] == [{"at": "2024-02-29T21:00:00+00:00", "size": 1, "entered": 1, "left": 0}]
    assert "Size history" in ok(cli("segments", "show", "big")).stdout

    history = json.loads(ok(cli("segments", "history", "new", "--format", "json")).stdout)
    assert history["intervals"] == [
        {"customer_id": "c3", "entered_at": "2024-03-31T21:00:00+00:00", "left_at": None}
    ]

    out = tmp_path / "big.csv"
    assert "1 members" in ok(cli("segments", "members", "big", "--out", str(out))).stdout
    exported = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["customer_id"], r["email"], r["first_name"]) for r in exported] == [
        ("c1", "a@example.ru", "Анна")
    ]
    as_csv = list(
        csv.DictReader(io.StringIO(ok(cli("segments", "members", "big", "--format", "csv")).stdout))
    )
    assert [r["customer_id"] for r in as_csv] == ["c1"]
    assert member_ids(App(Settings(home=home)), "big") == ["c1"]

    check = json.loads(
        ok(cli("segments", "check", "city = 'Москва'", "--as-of", "2024-04-01", "--format", "json")).stdout
    )
    assert (check["matching"], check["customers"]) == (2, 3)

    ok(cli("segments", "delete", "big"))
    gone = cli("segments", "show", "big")
    assert gone.exit_code != 0 and "no segment 'big'" in str(gone.exception)


def test_features_command_lists_every_feature(cli: Any) -> None:
    listed = json.loads(ok(cli("segments", "features", "--format", "json")).stdout)
    assert [f["name"] for f in listed["features"]] == list(FEATURES)
    assert {f["name"]: f["type"] for f in listed["features"]}["first_order_date"] == "date"


def run_exe(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1")
    env.pop("RETENTIO_DATABASE_URL", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_bad_rules_show_a_caret_and_exit_2_without_traceback(home: Path) -> None:
    result = run_exe(home, "segments", "create", "x", "orders >= 2 and aov > 'abc'")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: type mismatch: aov is a number, 'abc' is a string (at column 23)"
    assert lines[1] == "  orders >= 2 and aov > 'abc'"
    assert lines[2] == "  " + " " * 22 + "^^^^^"
    assert lines[3] == "hint: numbers are written without quotes"
    assert "Traceback" not in result.stderr
