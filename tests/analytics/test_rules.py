"""The rule language: grammar, types, null logic, error positions, and compiling to Ibis on both backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from retentio.errors import UserError
from retentio.segments.features import customer_features
from retentio.segments.rules import RuleError, parse_rule, tokenize, validate_rule


def matches(rule: str, **row: Any) -> bool:
    return parse_rule(rule).matches(row)


# --- grammar and evaluation -------------------------------------------------------------------


def test_seed_rules_evaluate_as_written() -> None:
    vip = "aov > 5000 and orders >= 5 and positive_reviews >= 2"
    assert matches(vip, aov=5000.01, orders=5, positive_reviews=2)
    assert not matches(vip, aov=5000, orders=5, positive_reviews=2)  # strictly greater
    assert not matches(vip, aov=9000, orders=4, positive_reviews=9)
    at_risk = "days_since_last_activity > 60 or negative_reviews >= 2"
    assert matches(at_risk, days_since_last_activity=61, negative_reviews=0)
    assert matches(at_risk, days_since_last_activity=3, negative_reviews=2)
    assert not matches(at_risk, days_since_last_activity=60, negative_reviews=1)


def test_and_binds_tighter_than_or_and_parentheses_override() -> None:
    row = {"orders": 0, "aov": 10, "tickets": 5}
    # orders >= 1 and aov > 5 or tickets > 3  ==  (orders >= 1 and aov > 5) or tickets > 3
    assert matches("orders >= 1 and aov > 5 or tickets > 3", **row)
    assert not matches("orders >= 1 and (aov > 5 or tickets > 3)", **row)


def test_not_in_between_and_null_tests() -> None:
    row = {"city": "Казань", "days_since_last_order": 120, "avg_rating": None, "orders": 3}
    assert matches("city in ['Москва', 'Казань']", **row)
    assert matches('city in ("Москва", "Казань")', **row)  # SQL-style list too
    assert not matches("city not in ['Москва', 'Казань']", **row)
    assert matches("days_since_last_order between 90 and 180", **row)
    assert matches("days_since_last_order between 120 and 120", **row)  # bounds included
    assert not matches("days_since_last_order not between 90 and 180", **row)
    assert matches("avg_rating is null and orders is not null", **row)
    assert matches("not orders = 2", **row)
    assert matches("not not orders = 3", **row)


def test_keywords_are_case_insensitive_and_have_russian_synonyms() -> None:
    row = {"orders": 2, "consent_email": False, "city": "Москва"}
    assert matches("ORDERS >= 2 And NOT consent_email", **row)
    assert matches("orders >= 2 и не consent_email", **row)
    assert matches("orders > 5 ИЛИ city = 'Москва'", **row)
    assert matches("Orders = 2", **row)  # feature names too


def test_operator_spellings() -> None:
    row = {"orders": 2}
    for rule in (
        "orders = 2",
        "orders == 2",
        "orders != 3",
        "orders <> 3",
        "orders ≥ 2",
        "orders ≤ 2",
        "orders ≠ 1",
    ):
        assert matches(rule, **row), rule


def test_literals_numbers_strings_booleans_dates() -> None:
    assert matches("avg_rating >= 4.5", avg_rating=4.5)
    assert matches("net_revenue > -1", net_revenue=Decimal("0.00"))
    assert matches("city = 'O''Brien'", city="O'Brien")  # a doubled quote is one quote
    assert matches("consent_email = true", consent_email=True)
    assert matches("consent_email", consent_email=True)
    assert not matches("consent_email = false", consent_email=True)
    assert matches("first_order_date >= '2024-01-01'", first_order_date=date(2024, 1, 1))
    assert matches("'2024-02-01' > first_order_date", first_order_date=date(2024, 1, 31))
    assert matches("last_order_date between '2024-01-01' and '2024-01-31'", last_order_date=date(2024, 1, 31))
    assert matches("positive_reviews > negative_reviews", positive_reviews=2, negative_reviews=1)


def test_nulls_follow_sql_three_valued_logic() -> None:
    rule = parse_rule("aov > 100")
    assert rule.evaluate({"aov": None}) is None
    assert parse_rule("not aov > 100").evaluate({"aov": None}) is None  # not unknown = unknown
    assert not parse_rule("not aov > 100").matches({"aov": None})
    assert parse_rule("aov > 100 or orders >= 1").evaluate({"aov": None, "orders": 1}) is True
    assert parse_rule("aov > 100 and orders >= 1").evaluate({"aov": None, "orders": 0}) is False
    assert parse_rule("city not in ['a']").evaluate({"city": None}) is None
    assert parse_rule("aov between 1 and 2").evaluate({"aov": float("nan")}) is None  # pandas NaN = missing


def test_referenced_features_are_reported() -> None:
    assert parse_rule("aov > 5 and (city = 'x' or not consent_email)").features == {
        "aov",
        "city",
        "consent_email",
    }


def test_custom_schema() -> None:
    from retentio.segments.features import ValueType

    rule = parse_rule("score > 3", {"score": ValueType.NUMBER})
    assert rule.matches({"score": 4})
    with pytest.raises(RuleError, match="unknown feature 'aov'"):
        parse_rule("aov > 3", {"score": ValueType.NUMBER})


# --- errors point at the offending token -------------------------------------------------------


def error_of(rule: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        validate_rule(rule)
    return caught.value


def caret_line(error: RuleError) -> tuple[str, str]:
    lines = str(error).splitlines()
    return lines[1], lines[2]


@pytest.mark.parametrize(
    ("rule", "column", "message", "hint"),
    [
        (
            "days_since_last_ordr > 30",
            1,
            "unknown feature 'days_since_last_ordr'",
            "did you mean days_since_last_order?",
        ),
        (
            "orders >= 2 and aov > 'abc'",
            23,
            "type mismatch: aov is a number, 'abc' is a string",
            "without quotes",
        ),
        ("city = 5", 8, "type mismatch: city is a string, 5 is a number", "quote the value"),
        ("(aov > 5 and orders > 2", 1, "unclosed parenthesis", "add ')'"),
        ("aov > 5)", 8, "unexpected ')'", "no '('"),
        ("aov > 5 adn orders > 2", 9, "unexpected 'adn'", "did you mean 'and'?"),
        ("aov > 5 orders > 2", 9, "unexpected 'orders'", "join conditions with 'and' or 'or'"),
        ("aov = null", 5, "null cannot be compared", "use 'is null'"),
        ("aov != null", 5, "null cannot be compared", "use 'is not null'"),
        ("city < 'Москва'", 6, "'<' does not apply to strings", "=, !=, in, is null"),
        ("consent_email > true", 15, "'>' does not apply to booleans", None),
        ("first_order_date > '2024-13-01'", 20, "'2024-13-01' is not a date", "YYYY-MM-DD"),
        ("aov", 1, "aov is a number, not a condition", "aov > 0"),
        ("orders between 5 and 2", 16, "lower bound 5 is above the upper bound 2", "between 2 and 5"),
        ("city between 'a' and 'b'", 1, "'between' needs numbers or dates", None),
        ("city in []", 10, "the list is empty", None),
        ("city in ['a', moscow]", 15, "a list holds values only", "quote strings"),
        ("city in ['a'", 9, "unclosed list", None),
        ("city = 'Москва", 8, "unclosed string", "close it with '"),
        ("aov > 5000руб", 7, "invalid number '5000руб'", "no separators or units"),
        ("aov > 5 000", 9, "unexpected '000'", None),
        ("aov > 5 && orders > 1", 9, "unexpected character '&'", "'and' / 'or'"),
        ("aov >", 6, "the rule ends too early", None),
        ("and aov > 5", 1, "expected a feature or a value, got the keyword 'and'", None),
        ("aov is 5", 8, "expected 'null' after 'is'", None),
        ("aov > 1e5", 7, "invalid number '1e5'", None),
        ("orders > 10000000000000000", 10, "too large", None),
        ("   ", 1, "the rule is empty", None),
    ],
)
def test_errors_name_the_problem_and_put_the_caret_under_it(
    rule: str, column: int, message: str, hint: str | None
) -> None:
    error = error_of(rule)
    assert isinstance(error, UserError)
    assert message in error.message
    assert error.column == column
    shown, carets = caret_line(error)
    assert shown == f"  {rule}"
    assert carets.index("^") == 2 + column - 1  # under the offending token
    if hint is not None:
        assert error.hint is not None and hint in error.hint


def test_caret_spans_the_whole_token() -> None:
    error = error_of("orders >= 2 and days_since_last_ordr > 30")
    _, carets = caret_line(error)
    assert carets.strip() == "^" * len("days_since_last_ordr")
    assert str(error).endswith("hint: did you mean days_since_last_order?")


def test_multiline_rules_report_line_and_column() -> None:
    error = error_of("orders >= 2\n  and aov > 'x'")
    assert (error.line, error.column) == (2, 13)
    assert "(at line 2, column 13)" in str(error)
    assert str(error).splitlines()[1] == "    and aov > 'x'"


def test_tabs_do_not_shift_the_caret() -> None:
    error = error_of("aov\t> 'x'")
    shown, carets = caret_line(error)
    assert shown[2 + error.column - 1] == "'" and carets[2 + error.column - 1] == "^"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    error = error_of("(" * 500 + "aov > 1" + ")" * 500)
    assert "nests deeper" in error.message
    error = error_of("not " * 500 + "aov > 1")
    assert "nests deeper" in error.message


def test_tokens_carry_positions() -> None:
    tokens = tokenize("aov >= 5 и city = 'Мск'")
    assert [(t.kind, t.value, t.start, t.end) for t in tokens] == [
        ("ident", "aov", 0, 3),
        ("op", ">=", 4, 6),
        ("number", Decimal("5"), 7, 8),
        ("keyword", "and", 9, 10),
        ("ident", "city", 11, 15),
        ("op", "=", 16, 17),
        ("string", "Мск", 18, 23),
        ("eof", None, 23, 23),
    ]


# --- compiled to Ibis: same answers as the dict evaluator, on DuckDB and PostgreSQL -------------

RULES = [
    "aov > 50 and orders >= 2",
    "city in ['Москва', 'Казань'] or consent_email",
    "not consent_email",
    "days_since_last_order between 10 and 40",
    "avg_rating is null",
    "last_order_date >= '2024-02-01'",
    "city not in ['Москва']",
    "net_revenue >= 100.5",
    "avg_rating > 3.5 и не (city = 'Казань')",
]


def test_compiled_rules_select_the_same_customers_as_the_evaluator(
    analytics_backend: Any, snapshot_rows: Any
) -> None:
    rows = snapshot_rows
    rows.customer("a", city="Москва", consent_email=True)
    rows.customer("b", city="Казань", consent_email=False)
    rows.customer("c", city=None, consent_email=None)
    rows.customer("d", city="Омск", consent_email=False)
    rows.order("a1", "a", "2024-01-05T10:00:00Z", "60.00")
    rows.order("a2", "a", "2024-02-10T10:00:00Z", "80.00")
    rows.order("b1", "b", "2024-02-20T10:00:00Z", "100.50")
    rows.order("d1", "d", "2023-12-20T10:00:00Z", "30.00")
    rows.review("r1", "b", "2024-02-21T10:00:00Z", 5)
    rows.review("r2", "d", "2024-01-21T10:00:00Z", 3)
    tables = analytics_backend.load(rows)
    features = customer_features(tables, date(2024, 3, 1))
    feature_rows = features.to_pyarrow().to_pylist()
    expected_by_rule = {
        "aov > 50 and orders >= 2": {"a"},
        "city in ['Москва', 'Казань'] or consent_email": {"a", "b"},
        "not consent_email": {"b", "d"},
        "days_since_last_order between 10 and 40": {"a", "b"},
        "avg_rating is null": {"a", "c"},
        "last_order_date >= '2024-02-01'": {"a", "b"},
        "city not in ['Москва']": {"b", "d"},
        "net_revenue >= 100.5": {"a", "b"},
        "avg_rating > 3.5 и не (city = 'Казань')": set(),
    }
    for text in RULES:
        rule = parse_rule(text)
        in_engine = set(rule.filter(features).customer_id.to_pyarrow().to_pylist())
        in_python = {row["customer_id"] for row in feature_rows if rule.matches(row)}
        assert in_engine == in_python == expected_by_rule[text], text
