"""``retentio ingest`` as a user runs it: JSON contract, exit codes, no tracebacks, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("retentio"))


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1")
    env.pop("RETENTIO_DATABASE_URL", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_json_summary_adds_up_and_reingest_changes_nothing(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id;customer_id;ordered_at;total\n"
        "1;a;01.01.2024;10,50\n2;a;02.01.2024;x\n3;b;03.01.2024;1 000\n",
        encoding="utf-8-sig",
    )
    first = run(home, "ingest", "orders", str(path), "--format", "json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("read", "loaded", "updated", "unchanged", "rejected")} == {
        "read": 3,
        "loaded": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert Path(summary["rejects_file"]).is_file()
    second = json.loads(run(home, "ingest", "orders", str(path), "--format", "json").stdout)
    assert (second["loaded"], second["updated"], second["unchanged"]) == (0, 0, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "no_such_table", "{file}"], "unknown table"),
        (["ingest", "orders", "{missing}"], "no such file"),
        (["ingest", "customers", "{file}", "--map", "customer_id=nope"], "has no column 'nope'"),
        (["ingest", "orders", "{file}", "--strict"], "--strict: 1 of 2 rows are invalid"),
        (["ingest", "orders", "{file}", "--encoding", "klingon"], "unknown encoding"),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,total\n1,a,2024-01-01,1\n2,a,2024-01-01,x\n", encoding="utf-8"
    )
    argv = [a.format(file=path, missing=tmp_path / "missing.csv") for a in args]
    result = run(home, *argv)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_killed_ingest_leaves_store_as_before_or_after(home: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of a large ingest: the store holds all rows or none, never some."""
    path = tmp_path / "orders.csv"
    rows = 300_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write("order_id,customer_id,ordered_at,total\n")
        for i in range(rows):
            handle.write(f"o{i},c{i % 5000},2024-01-{1 + i % 28:02d} 10:00,{i % 997}.50\n")
    env = dict(os.environ, RETENTIO_HOME=str(home))
    env.pop("RETENTIO_DATABASE_URL", None)
    proc = subprocess.Popen(
        [EXE, "ingest", "orders", str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    db = home / "retentio.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (home / "retentio.db-wal").exists():
        time.sleep(0.05)
    time.sleep(1.5)  # well into validation or the write transaction
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import sqlite3

    with sqlite3.connect(db) as con:
        try:
            n = con.execute("select count(*) from orders").fetchone()[0]
        except sqlite3.OperationalError:  # killed before the schema existed
            n = 0
    assert n in (0, rows)
    # And the next ingest completes the job, reporting honestly what it found.
    result = run(home, "ingest", "orders", str(path), "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["loaded"] + summary["unchanged"] == rows
    assert summary["unchanged"] == n
