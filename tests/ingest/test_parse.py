"""The vectorised parsers: every shape a real export uses, and clear reasons for the rest."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from retentio.ingest import parse

MSK = ZoneInfo("Europe/Moscow")


def problems(parsed: parse.Parsed) -> dict[int, str]:
    out: dict[int, str] = {}
    for mask, reason in parsed.problems:
        for i in np.flatnonzero(mask):
            out.setdefault(int(i), reason)
    return out


def test_money_handles_decimal_comma_thousands_and_currency() -> None:
    raw = pa.array(["1 234,50", "1\u00a0000", "99,9", "0,05", "12 345 678,00 ₽", "", None])
    parsed = parse.parse_money(raw, "total")
    assert parsed.values.to_pylist() == [123450, 100000, 9990, 5, 1234567800, None, None]
    assert problems(parsed) == {}


def test_money_with_point_and_comma_thousands() -> None:
    parsed = parse.parse_money(pa.array(["1,234.50", "7.5", "-3.00"]), "total")
    assert parsed.values.to_pylist() == [123450, 750, -300]


def test_money_rejects_text_extra_decimals_and_negatives() -> None:
    parsed = parse.parse_money(pa.array(["abc", "1.234", "1.230", "-5"]), "total", ".", non_negative=True)
    assert parsed.values.to_pylist() == [None, None, 123, None]
    assert problems(parsed) == {
        0: "total is not a number",
        1: "total has more than 2 decimal places",
        3: "total must not be negative",
    }


def test_money_is_exact_for_large_values() -> None:
    parsed = parse.parse_money(pa.array(["9999999999999.99"]), "total", ".")
    assert parsed.values.to_pylist() == [999999999999999]


def test_int_accepts_1c_quantities_and_checks_bounds() -> None:
    parsed = parse.parse_int(pa.array(["3", "2,000", "1.0", "0", "-1", "x", "2,5"]), "quantity", low=1)
    assert parsed.values.to_pylist() == [3, 2, 1, None, None, None, None]
    reasons = problems(parsed)
    assert reasons[3] == reasons[4] == "quantity must be greater than 0"
    assert reasons[5] == reasons[6] == "quantity is not a whole number"


def test_timestamps_dotted_iso_offsets_and_local_zone() -> None:
    raw = pa.array(
        [
            "31.01.2024 23:30",  # Moscow wall clock -> 20:30 UTC
            "01.02.2024",
            "2024-02-01T10:00:00Z",
            "2024-02-01 10:00:00+05:00",
            "2024-02-01T10:00:00.250+0300",
            "05.02.2024 9:05:07",
        ]
    )
    parsed = parse.parse_timestamp(raw, "ordered_at", MSK)
    assert problems(parsed) == {}
    got = parsed.values.to_pylist()
    assert got == [
        datetime(2024, 1, 31, 20, 30, tzinfo=UTC),
        datetime(2024, 1, 31, 21, 0, tzinfo=UTC),
        datetime(2024, 2, 1, 10, 0, tzinfo=UTC),
        datetime(2024, 2, 1, 5, 0, tzinfo=UTC),
        datetime(2024, 2, 1, 7, 0, 0, 250000, tzinfo=UTC),
        datetime(2024, 2, 5, 6, 5, 7, tzinfo=UTC),
    ]


def test_timestamps_reject_impossible_dates_and_garbage() -> None:
    parsed = parse.parse_timestamp(
        pa.array(["31.02.2024", "2024-13-01", "25:00", "2024-02-29 24:00"]), "t", MSK
    )
    assert parsed.values.null_count == 4
    reasons = problems(parsed)
    assert reasons[0] == "t is not a valid calendar date/time"
    assert reasons[1] == "t is not a valid calendar date/time"
    assert reasons[2].startswith("t is not a date/time")


def test_custom_date_format() -> None:
    parsed = parse.parse_timestamp(pa.array(["02/01/2024 10:00", "bad"]), "t", MSK, "%m/%d/%Y %H:%M")
    assert parsed.values.to_pylist()[0] == datetime(2024, 2, 1, 7, 0, tzinfo=UTC)
    assert problems(parsed) == {1: "t does not match --date-format %m/%d/%Y %H:%M"}


def test_dates() -> None:
    parsed = parse.parse_date(pa.array(["29.02.2024", "1990-05-17", "30.02.2023"]), "birthday")
    assert parsed.values.to_pylist() == [date(2024, 2, 29), date(1990, 5, 17), None]


@pytest.mark.parametrize(
    ("text", "value"),
    [("да", True), ("Нет", False), ("1", True), ("0", False), ("TRUE", True), ("no", False), ("", None)],
)
def test_booleans(text: str, value: bool | None) -> None:
    assert parse.parse_bool(pa.array([text]), "consent_email").values.to_pylist() == [value]


def test_order_status_synonyms() -> None:
    parsed = parse.parse_status(pa.array(["Выполнен", "Отменён", "", "cancelled", "lost"]), "status")
    assert parsed.values.to_pylist() == ["completed", "cancelled", "completed", "cancelled", None]
    assert problems(parsed) == {4: "status must be completed or cancelled"}
