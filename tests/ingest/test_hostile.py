"""Hostile input: every bad value is a row-level reject with its reason, every unreadable file one line.

Each test here failed on the code before issue 16: values were silently misread or lost, or the CLI
died with a traceback.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from retentio.ingest import parse

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
