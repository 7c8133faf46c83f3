"""Hostile input: every bad value is a row-level reject with its reason, every unreadable file one line.

Each test here failed on the code before issue 16: values were silently misread or lost, or the CLI
died with a traceback.
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from retentio.config import Settings
from retentio.ingest import ingest_file, parse

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


def test_out_of_range_dates_do_not_reach_the_store(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        ORDERS_HEADER + "o1,c1,2024-01-01T10:00:00+03:00,10\n"
        "o2,c1,9999-12-31T10:00:00+03:00,10\no3,c1,0001-01-01T10:00:00+00:00,10\n",
        encoding="utf-8",
    )
    summary = ingest_file(settings, "orders", path)
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
