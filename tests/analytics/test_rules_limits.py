"""Rule size limits, and a refresh that one bad segment never stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from retentio.config import normalise_database_url
from retentio.segments import rules as rules_module
from retentio.segments import service
from retentio.segments.rules import MAX_CONDITIONS, MAX_RULE_LENGTH, RuleError, parse_rule
from retentio.store.schema import Base, Segment

TZ = "Europe/Moscow"
AS_OF = date(2024, 3, 20)
EXE = str(Path(sys.executable).with_name("retentio"))
# ~1,100 terms that fit the length limit: parsed flat, but a left-deep chain of ORs when compiled.
HUGE = " or ".join(["aov>1"] * 1100)


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else normalise_database_url(str(request.getfixturevalue("pg_url")))
    )
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def shop(rows: Any) -> Any:
    rows.order("x1", "x", "2024-03-10T10:00:00Z", "6000")
    rows.order("y1", "y", "2023-01-15T10:00:00Z", "100")
    rows.customer("z")
    return rows


def test_a_rule_of_a_thousand_terms_is_refused_with_the_limit() -> None:
    assert len(HUGE) < MAX_RULE_LENGTH
    with pytest.raises(RuleError, match=f"more than {MAX_CONDITIONS} conditions") as caught:
        parse_rule(HUGE)
    assert caught.value.column == len(" or ".join(["aov>1"] * MAX_CONDITIONS)) + len(" or ") + 1
    with pytest.raises(RuleError, match=f"more than {MAX_CONDITIONS} conditions"):
        parse_rule(" and ".join(f"(orders >= {i} or aov > {i})" for i in range(MAX_CONDITIONS)))


@pytest.mark.parametrize("joiner", [" or ", " and "])
def test_the_largest_rule_allowed_compiles_and_runs(
    joiner: str, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    rule = joiner.join([f"aov > {i}" for i in range(MAX_CONDITIONS)])
    members, customers = service.evaluate_segments(tables, AS_OF, {"big": rule})
    assert customers == 3
    assert members["big"] == ({"x", "y"} if joiner == " or " else {"x"})
    # Nested as deep as allowed (64 levels of parentheses and not), too.
    deep = "aov > 0"
    for i in range(15):
        deep = f"not (aov < {i} or not ({deep}))"
    members, _ = service.evaluate_segments(tables, AS_OF, {"deep": deep})
    assert members["deep"] == {"x", "y"}


def test_create_refuses_an_oversized_rule(any_store: Session) -> None:
    with pytest.raises(RuleError, match="conditions"):
        service.create_segment(any_store, "huge", HUGE)


def save_unchecked(session: Session, name: str, rule: str) -> None:
    """A segment saved before a limit existed (or written by hand): no validation."""
    session.add(Segment(name=name, rule=rule, created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    session.flush()


def test_one_bad_segment_never_stops_the_refresh_of_the_others(
    any_store: Session, duckdb_backend: Any, snapshot_rows: Any
) -> None:
    tables = duckdb_backend.load(shop(snapshot_rows))
    service.create_segment(any_store, "buyers", "orders >= 1")
    service.create_segment(any_store, "vip", "aov > 5000")
    save_unchecked(any_store, "huge", HUGE)
    save_unchecked(any_store, "broken", "orders >>= 1")
    result = service.refresh_segments(any_store, tables, AS_OF, TZ)
    any_store.commit()
    assert {c.name: c.size for c in result.segments} == {"buyers": 2, "vip": 1}
    failed = {f.name: f.reason for f in result.failed}
    assert set(failed) == {"huge", "broken"}
    assert f"more than {MAX_CONDITIONS} conditions" in failed["huge"]
    assert failed["broken"].startswith("invalid rule:")
    assert all("\n" not in reason for reason in failed.values())
    assert service.current_members(any_store, "buyers") == ["x", "y"]
    assert service.segment_info(any_store, "huge").refreshed_at is None
    data = result.as_dict()
    assert [f["name"] for f in data["failed"]] == ["broken", "huge"]


def test_a_rule_whose_query_fails_is_isolated(
    any_store: Session, duckdb_backend: Any, snapshot_rows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures past parsing (compiling or running one rule's query) are reported for that segment."""
    tables = duckdb_backend.load(shop(snapshot_rows))
    service.create_segment(any_store, "buyers", "orders >= 1")
    service.create_segment(any_store, "deep", "aov > 1")
    service.create_segment(any_store, "runtime", "aov > 2")
    original = rules_module.Rule.to_ibis

    def to_ibis(self: rules_module.Rule, table: Any) -> Any:
        if self.source == "aov > 1":
            raise RecursionError("maximum recursion depth exceeded")
        if self.source == "aov > 2":  # fails only when the query runs: 6000 does not fit int8
            return table.aov.cast("int8") > 2
        return original(self, table)

    monkeypatch.setattr(rules_module.Rule, "to_ibis", to_ibis)
    result = service.refresh_segments(any_store, tables, AS_OF, TZ)
    assert {c.name: c.size for c in result.segments} == {"buyers": 2}
    failed = {f.name: f.reason for f in result.failed}
    assert failed["deep"].startswith("RecursionError")
    assert set(failed) == {"deep", "runtime"}


def test_cli_refresh_reports_the_failed_segment_and_exits_non_zero(home: Path, tmp_path: Path) -> None:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1")
    env.pop("RETENTIO_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=120)

    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ordered_at,total\n1,a,2024-01-01,10\n", encoding="utf-8")
    assert run("ingest", "orders", str(orders)).returncode == 0
    assert run("segments", "create", "good", "orders >= 1").returncode == 0
    refused = run("segments", "create", "huge", HUGE)
    assert refused.returncode == 2 and "conditions" in refused.stderr and "Traceback" not in refused.stderr
    # A rule saved before the limit existed.
    from retentio.app import App
    from retentio.config import Settings

    with App(Settings(home=home)) as app, app.session() as session:
        save_unchecked(session, "huge", HUGE)

    result = run("segments", "refresh", "--as-of", "2024-03-01", "--format", "json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: segment 'huge' was not refreshed: invalid rule: the rule has more than {MAX_CONDITIONS} "
        f"conditions (at column {len(' or '.join(['aov>1'] * MAX_CONDITIONS)) + 5})"
    ]
    data = json.loads(result.stdout)
    assert [s["name"] for s in data["segments"]] == ["good"] and data["segments"][0]["size"] == 1
    assert [f["name"] for f in data["failed"]] == ["huge"]
    table = run("segments", "refresh", "--as-of", "2024-03-01")
    assert table.returncode == 2 and "good" in table.stdout
    # Engagement by segment leaves the unusable saved rule out, with a warning, and groups the rest.
    engagement = run("engagement", "--by", "segment", "--from", "2024-01-01", "--to", "2024-03-01")
    assert engagement.returncode == 0, engagement.stderr
    assert "warning: segment 'huge' left out" in engagement.stderr
    assert "good" in engagement.stdout and "Traceback" not in engagement.stderr
