"""Hostile input: every bad value is a row-level reject with its reason, every unreadable file one line.

Each test here failed on the code before issue 16: values were silently misread or lost, or the CLI
died with a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from retentio.app import App
from retentio.config import Settings
from retentio.errors import InputError
from retentio.ingest import ingest_file, parse
from retentio.store.schema import Customer

MSK = ZoneInfo("Europe/Moscow")
EXE = str(Path(sys.executable).with_name("retentio"))
ORDERS_HEADER = "order_id,customer_id,ordered_at,total\n"


def problems(parsed: parse.Parsed) -> dict[int, str]:
    out: dict[int, str] = {}
    for mask, reason in parsed.problems:
        for i in np.flatnonzero(mask):
            out.setdefault(int(i), reason)
    return out


def rejects(path: str | None) -> dict[str, dict[str, str]]:
    assert path is not None
    csv.field_size_limit(2**31 - 1)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return {row["line"]: row for row in csv.DictReader(handle)}


# ---------------------------------------------------------------- 1. dates out of range


@pytest.mark.parametrize(
    "good",
    [
        "2024-01-01T10:00:00+03:00",  # every value ISO with an offset: Arrow's fast path
        "01.01.2024 10:00",  # a local time in the column: the general path
    ],
)
def test_one_year_range_on_every_timestamp_path(good: str) -> None:
    raw = pa.array([good, "9999-12-31T10:00:00+03:00", "0001-01-01T10:00:00+00:00", "1899-12-31T12:00:00Z"])
    parsed = parse.parse_timestamp(raw, "ordered_at", MSK)
    assert parsed.values.to_pylist()[1:] == [None, None, None]
    assert parsed.values.to_pylist()[0] == datetime(2024, 1, 1, 7, tzinfo=UTC)
    reason = "ordered_at is outside the supported years 1900..2200"
    assert problems(parsed) == {1: reason, 2: reason, 3: reason}


def test_year_range_with_a_date_format_and_for_dates() -> None:
    parsed = parse.parse_timestamp(pa.array(["01/02/2024", "01/02/1850", "31/12/9999"]), "t", MSK, "%d/%m/%Y")
    assert parsed.values.to_pylist() == [datetime(2024, 1, 31, 21, tzinfo=UTC), None, None]
    assert set(problems(parsed)) == {1, 2}
    dates = parse.parse_date(pa.array(["1990-05-17", "0001-01-01", "31.12.9999"]), "birthday")
    assert dates.values.to_pylist() == [date(1990, 5, 17), None, None]
    assert problems(dates) == {
        1: "birthday is outside the supported years 1900..2200",
        2: "birthday is outside the supported years 1900..2200",
    }


def test_utc_offsets_beyond_14_hours_are_rejected() -> None:
    raw = pa.array(
        [
            "2024-01-01T10:00:00+14:00",  # Kiribati: real
            "2024-01-01T10:00:00-12:00",
            "2024-01-01T10:00:00+23:00",
            "2024-01-01T10:00:00-14:30",
            "2024-01-01T10:00:00+03:75",
        ]
    )
    parsed = parse.parse_timestamp(raw, "t", MSK)
    assert parsed.values.to_pylist()[:2] == [
        datetime(2023, 12, 31, 20, tzinfo=UTC),
        datetime(2024, 1, 1, 22, tzinfo=UTC),
    ]
    reason = "t has an impossible UTC offset (offsets run from -14:00 to +14:00)"
    assert problems(parsed) == {2: reason, 3: reason, 4: reason}


def test_epoch_seconds_date_format() -> None:
    parsed = parse.parse_timestamp(pa.array(["1704103200", "1704103200.5", "soon"]), "t", MSK, "%s")
    assert parsed.values.to_pylist()[:2] == [
        datetime(2024, 1, 1, 10, tzinfo=UTC),
        datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC),
    ]
    assert problems(parsed) == {2: "t does not match --date-format %s"}


def test_out_of_range_dates_do_not_reach_the_store(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        ORDERS_HEADER + "o1,c1,2024-01-01T10:00:00+03:00,10\n"
        "o2,c1,9999-12-31T10:00:00+03:00,10\no3,c1,0001-01-01T10:00:00+00:00,10\n",
        encoding="utf-8",
    )
    summary = ingest_file(app, "orders", path)
    assert (summary.read, summary.loaded, summary.rejected) == (3, 1, 2)
    assert set(rejects(summary.rejects_file)) == {"3", "4"}


# ---------------------------------------------------------------- 2. money styles


def test_money_that_does_not_fit_the_columns_style_is_rejected_not_misread() -> None:
    parsed = parse.parse_money(pa.array(["1,234.50", "2,50", "7.25", "1,000", "12,3456.00"]), "total")
    assert parsed.values.to_pylist() == [123450, None, 725, 100000, None]
    reason = "total does not fit the number style of the column (decimal point, ',' between thousands)"
    assert problems(parsed) == {1: reason, 4: reason}


def test_money_style_is_the_majority_and_rejects_the_stray_value() -> None:
    parsed = parse.parse_money(pa.array(["1 234,50", "2,50", "99,90", "1,234.50", "1.000"]), "total")
    assert parsed.values.to_pylist() == [123450, 250, 9990, None, 100000]
    assert problems(parsed) == {
        3: "total does not fit the number style of the column (decimal comma, '.' between thousands)"
    }


def test_an_explicit_decimal_separator_is_enforced_too() -> None:
    parsed = parse.parse_float(pa.array(["1,5", "1.234,5", "2.5"]), "duration_s", ",")
    assert parsed.values.to_pylist() == [1.5, 1234.5, None]
    assert set(problems(parsed)) == {2}


# ---------------------------------------------------------------- 3. mixed encodings


def test_a_utf8_row_in_a_cp1251_file_is_decoded_as_utf8(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    header = "customer_id;first_name;city\r\n"
    path.write_bytes(
        (header + "c1;Пётр;Москва\r\n").encode("cp1251")
        + "c2;Олег;Тверь\r\n".encode()
        + "c3;Сёма;Казань «центр»\r\n".encode("cp1251")
    )
    summary = ingest_file(app, "customers", path)
    assert (summary.read, summary.loaded, summary.rejected) == (3, 3, 0)
    assert summary.encoding == "cp1251+utf-8"
    with Session(app.engine) as session:
        rows = session.execute(select(Customer.customer_id, Customer.first_name, Customer.city)).all()
    names = {r.customer_id: r.first_name for r in rows}
    cities = {r.customer_id: r.city for r in rows}
    assert names == {"c1": "Пётр", "c2": "Олег", "c3": "Сёма"}
    assert cities["c3"] == "Казань «центр»"


def test_a_cp1251_row_in_a_utf8_file_is_rejected(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    rows = "".join(f"c{i},Анна,Москва\n" for i in range(20))
    path.write_bytes(("customer_id,first_name,city\n" + rows).encode() + "x1,Олег,Тверь\n".encode("cp1251"))
    summary = ingest_file(app, "customers", path)
    assert (summary.read, summary.loaded, summary.rejected) == (21, 20, 1)
    assert summary.encoding == "utf-8"
    bad = rejects(summary.rejects_file)
    assert list(bad) == ["22"]
    assert "bytes that are not valid utf-8" in bad["22"]["reason"]


# ---------------------------------------------------------------- 4. large fields


def test_a_field_over_128_kib_rejects_only_its_row(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    good = "".join(f"o{i},c{i % 7},2024-01-01,10\n" for i in range(3000))
    huge_multiline = '"' + "x\n" * 600_000 + '"'  # 1.2 MB over many lines: larger than Arrow's block
    path.write_text(
        ORDERS_HEADER
        + good
        + f"big1,{huge_multiline},2024-01-01,10\n"
        + "bad,c1,2024-01-01,abc\n"  # another reject, so the rejects file needs every line number
        + f"big2,c1,2024-01-01,{'9' * 200_000}\n"
        + good.replace("o", "p"),
        encoding="utf-8",
    )
    summary = ingest_file(app, "orders", path)
    assert (summary.read, summary.loaded, summary.rejected) == (6003, 6000, 3)
    bad = rejects(summary.rejects_file)
    assert set(bad) == {"3002", "603003", "603004"}  # big1 spans lines 3002..603002
    assert bad["3002"]["reason"] == "customer_id is too large (over 128 KiB, the limit for one field)"
    assert bad["603003"]["reason"] == "total is not a number"
    assert bad["603004"]["reason"].startswith("total is too large (over 128 KiB, the limit for one field)")
    assert bad["3002"]["customer_id"].endswith("… [truncated, 1200000 bytes]")


# ---------------------------------------------------------------- 5. NUL bytes


def test_nul_bytes_reject_the_row_on_every_backend(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,city\nc1,Тверь\nc\x002,Тверь\nc3,Тв\x00ерь\n", encoding="utf-8")
    summary = ingest_file(app, "customers", path)
    assert (summary.read, summary.loaded, summary.rejected) == (3, 1, 2)
    bad = rejects(summary.rejects_file)
    assert bad["3"]["reason"] == "customer_id contains a NUL byte (\\0), which text cannot hold"
    assert bad["4"]["reason"] == "city contains a NUL byte (\\0), which text cannot hold"
    with Session(app.engine) as session:
        assert list(session.scalars(select(Customer.customer_id))) == ["c1"]


def test_an_all_nul_file_is_one_clear_error(app: App, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(InputError, match="NUL bytes"):
        ingest_file(app, "orders", path)


# ---------------------------------------------------------------- 6. one line, exit 2, never a traceback


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RETENTIO_HOME=str(home), NO_COLOR="1")
    env.pop("RETENTIO_DATABASE_URL", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=120)


def _write_inputs(folder: Path) -> None:
    (folder / "orders.csv").write_text(ORDERS_HEADER + "o1,c1,2024-01-01,10\n", encoding="utf-8")
    (folder / "wide.csv").write_text(
        "order_id,customer_id,ordered_at,total," + "n" * 140_000 + "\no1,c1,2024-01-01,10,1\n",
        encoding="utf-8",
    )
    (folder / "nul.csv").write_bytes(b"\x00" * 3000)
    (folder / "bom.csv").write_bytes(
        b"\xef\xbb\xbf" + (ORDERS_HEADER + "o1,Олег,2024-01-01,10\n").encode("cp1251")
    )
    with zipfile.ZipFile(folder / "book.xlsx", "w") as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        book.writestr("xl/workbook.xml", "<workbook>" + "é" * 100 + "</workbook>")
    (folder / "book-saved-as.csv").write_bytes((folder / "book.xlsx").read_bytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["wide.csv"], "header line is longer than 128 KiB"),
        (["nul.csv"], "NUL bytes"),
        (["orders.csv", "--delimiter", ";;"], "delimiter must be one character"),
        (["orders.csv", "--delimiter", r"\s+"], "delimiter must be one character"),
        (["orders.csv", "--date-format", "%Y %s"], "%s (Unix seconds) must be the whole format"),
        (["orders.csv", "--date-format", "%Q"], "not a valid strptime format"),
        (["book.xlsx"], "not supported yet; save the sheet as CSV"),
        (["book.xlsx", "--encoding", "latin-1"], "not supported yet; save the sheet as CSV"),
        (["book-saved-as.csv", "--encoding", "latin-1"], "not supported yet; save the sheet as CSV"),
    ],
)
def test_hostile_files_and_options_are_one_line_exit_2(
    home: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    _write_inputs(tmp_path)
    result = run(home, "ingest", "orders", str(tmp_path / args[0]), *args[1:])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["bom.csv"], 1),  # a UTF-8 byte-order mark on cp1251 text: read as cp1251
        (["tabs.tsv", "--delimiter", "tab"], 1),
        (["tabs.tsv", "--delimiter", r"\t"], 1),
        (["epoch.csv", "--date-format", "%s"], 1),
    ],
)
def test_forms_that_used_to_crash_now_load(home: Path, tmp_path: Path, args: list[str], loaded: int) -> None:
    _write_inputs(tmp_path)
    (tmp_path / "tabs.tsv").write_text(ORDERS_HEADER.replace(",", "\t") + "o1\tc1\t2024-01-01\t10\n")
    (tmp_path / "epoch.csv").write_text(ORDERS_HEADER + "o1,c1,1704103200,10\n", encoding="utf-8")
    result = run(home, "ingest", "orders", str(tmp_path / args[0]), *args[1:], "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["loaded"] == loaded
