"""``retentio demo`` end to end on a small shop: data in, KPIs, segments and model scores out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retentio.app import App
from retentio.config import Settings
from retentio.demo.generator import generate
from retentio.demo.job import headline_period, run_demo
from retentio.errors import InputError


def test_demo_runs_every_stage_on_its_own_files(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    generate(shop, customers=1500, seed=5)
    settings = Settings(home=tmp_path / "home")
    app = App(settings)
    report = run_demo(app, source=shop, quiet=True)

    meta = json.loads((shop / "metadata.json").read_text(encoding="utf-8"))
    ingest = {s["table"]: s for s in report["ingest"]}
    assert set(ingest) == set(meta["rows"])
    for table, summary in ingest.items():
        assert summary["read"] == meta["rows"][table] == summary["loaded"], table
        assert summary["rejected"] == 0

    kpis = report["kpis"]
    assert (kpis["from"], kpis["to"]) == ("2025-01-01", "2026-01-01")
    assert kpis["S"] > 0 and kpis["E"] > 0 and 0 <= kpis["cohort_retention"] <= 1
    assert kpis["retention_rate"] == (kpis["E"] - kpis["N"]) / kpis["S"]

    sizes = {s["name"]: s["size"] for s in report["segments"]["segments"]}
    assert set(sizes) == {"vip", "at-risk", "new", "sleeping"}
    assert 0 < report["segments"]["share"] <= 1

    models = report["models"]
    assert models["clv"]["score"]["customers"] > 0
    assert models["churn"]["customers"] > 0
    at_risk = models["valuable_at_risk"]
    assert at_risk, "the demo shop always has valuable customers at risk"
    assert all(row["churn_risk"] >= 0.5 and row["reasons"] for row in at_risk)
    assert [row["clv"] for row in at_risk] == sorted((row["clv"] for row in at_risk), reverse=True)

    # A second run over the same files changes nothing in the store.
    again = run_demo(app, source=shop, quiet=True)
    assert all(s["loaded"] == s["updated"] == 0 for s in again["ingest"])
    assert again["kpis"]["retention_rate"] == kpis["retention_rate"]


def test_demo_refuses_a_folder_without_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        run_demo(App(Settings(home=tmp_path / "h")), source=tmp_path / "missing", quiet=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no <table>"):
        run_demo(App(Settings(home=tmp_path / "h")), source=tmp_path / "empty", quiet=True)


def test_headline_period_is_the_last_twelve_full_months() -> None:
    from datetime import date

    assert headline_period(date(2025, 12, 31)) == (date(2025, 1, 1), date(2026, 1, 1))
    assert headline_period(date(2024, 3, 5)) == (date(2023, 4, 1), date(2024, 4, 1))
