"""Property tests of the rule language: no input crashes or hangs it, and Ibis agrees with the evaluator."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retentio.segments.rules import MAX_RULE_LENGTH, RuleError, parse_rule

FRAGMENTS = [
    "aov",
    "orders",
    "city",
    "consent_email",
    "first_order_date",
    "days_since_last_ordr",
    "and",
    "or",
    "not",
    "и",
    "или",
    "не",
    "in",
    "not in",
    "between",
    "is",
    "null",
    "true",
    "false",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "≥",
    "(",
    ")",
    "[",
    "]",
    ",",
    "-",
    "5000",
    "4.5",
    "0",
    "'Москва'",
    '"x"',
    "'",
    '"',
    "'2024-01-01'",
    " ",
    "\n",
    "\t",
    "&",
    "!",
    "«",
    "5.",
    "1e5",
    "_",
    "é",
    "²",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_only_ever_raises_rule_error(text: str) -> None:
    try:
        parse_rule(text)
    except RuleError as error:
        assert str(error)  # the message renders, whatever the input
        assert 0 <= error.position <= len(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(" ".join))
def test_token_soup_only_ever_raises_rule_error(text: str) -> None:
    try:
        rule = parse_rule(text)
    except RuleError as error:
        lines = str(error).splitlines()
        assert len(lines) in (3, 4)  # message, rule line, carets[, hint]: quoted text never adds lines
        assert lines[0].startswith(error.message)
        assert "^" in lines[2]
    else:
        rule.evaluate({})  # a valid rule evaluates over missing features (unknown) without error


def test_huge_inputs_fail_fast() -> None:
    started = time.perf_counter()
    for text in (
        "(" * 200_000,
        "aov > 1 and " * 900 + "aov > 1",
        "'" + "x" * 9_000,
        "a" * (MAX_RULE_LENGTH + 1),
    ):
        with contextlib.suppress(RuleError):
            parse_rule(text)
    assert time.perf_counter() - started < 2.0


# --- generated valid rules: DuckDB and the dict evaluator agree ---------------------------------

NUMBER_FEATURES = {
    "orders": [0, 1, 2, 5],
    "aov": [0.5, 10.25, 99.75, 5000.0],
    "net_revenue": ["0", "10.5", "5000.01"],
}
CITIES = ["Москва", "Казань", "O'Hara"]


def _feature_table(seed: int = 7, n: int = 60) -> pa.Table:
    rng = random.Random(seed)

    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.2 else value

    rows = []
    for i in range(n):
        rows.append(
            {
                "customer_id": f"c{i}",
                "orders": maybe(rng.choice([0, 1, 2, 3, 5, 8])),
                "aov": maybe(rng.choice([0.5, 10.25, 50.0, 99.75, 5000.0, 7000.5])),
                "net_revenue": maybe(Decimal(rng.choice(["0.00", "10.50", "99.99", "5000.01", "12000.00"]))),
                "city": maybe(rng.choice(CITIES)),
                "consent_email": maybe(rng.random() < 0.5),
                "last_order_date": maybe(date(2024, 1, 1) + timedelta(days=rng.randrange(0, 90))),
            }
        )
    schema = pa.schema(
        [
            ("customer_id", pa.string()),
            ("orders", pa.int64()),
            ("aov", pa.float64()),
            ("net_revenue", pa.decimal128(18, 2)),
            ("city", pa.string()),
            ("consent_email", pa.bool_()),
            ("last_order_date", pa.date32()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _number_literal() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["0", "1", "2", "5", "10.25", "50", "99.75", "100", "5000", "5000.01", "-1", "0.5"]
    )


def _atom() -> st.SearchStrategy[str]:
    number_feature = st.sampled_from(sorted(NUMBER_FEATURES))
    op = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    city = st.sampled_from(CITIES).map(lambda c: "'" + c.replace("'", "''") + "'")
    day = st.dates(date(2023, 12, 20), date(2024, 4, 10)).map(lambda d: f"'{d.isoformat()}'")
    return st.one_of(
        st.tuples(number_feature, op, _number_literal()).map(" ".join),
        st.tuples(number_feature, _number_literal(), _number_literal()).map(
            lambda t: f"{t[0]} between {min(t[1:], key=Decimal)} and {max(t[1:], key=Decimal)}"
        ),
        st.tuples(number_feature, st.sampled_from(["orders", "aov"]), op).map(
            lambda t: f"{t[0]} {t[2]} {t[1]}"
        ),
        st.tuples(st.sampled_from(["=", "!="]), city).map(lambda t: f"city {t[0]} {t[1]}"),
        st.tuples(st.sampled_from(["in", "not in"]), st.lists(city, min_size=1, max_size=3)).map(
            lambda t: f"city {t[0]} [{', '.join(t[1])}]"
        ),
        st.tuples(op, day).map(lambda t: f"last_order_date {t[0]} {t[1]}"),
        st.sampled_from(["consent_email", "consent_email = false", "city is null", "aov is not null"]),
    )


rules = st.recursive(
    _atom(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "и", "OR"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda r: f"not ({r})"),
    ),
    max_leaves=6,
)


def test_generated_rules_compile_to_the_same_answer_as_the_evaluator() -> None:
    data = _feature_table()
    con = ibis.duckdb.connect()
    try:
        con.create_table("features", data)
        table = con.table("features")
        rows = data.to_pylist()

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(rules)
        def check(text: str) -> None:
            rule = parse_rule(text)
            in_engine = set(rule.filter(table).customer_id.to_pyarrow().to_pylist())
            in_python = {row["customer_id"] for row in rows if rule.matches(row)}
            assert in_engine == in_python, text

        check()
    finally:
        con.disconnect()
