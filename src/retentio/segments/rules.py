"""The rule language of segments: a small, safe boolean language over customer features.

A rule such as ``aov > 5000 and orders >= 5 and positive_reviews >= 2`` is tokenised and parsed by
hand (recursive descent) into a typed syntax tree; it is never passed to ``eval`` and never pasted
into SQL. The tree compiles to an Ibis boolean expression (so the same rule runs on DuckDB,
PostgreSQL, ...) and can be evaluated over a plain ``dict`` (tests, previews).

Grammar (keywords are case-insensitive; ``и``/``или``/``не`` are accepted for ``and``/``or``/``not``)::

    rule       := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | predicate
    predicate  := "(" or_expr ")"
                | operand ( cmp_op operand
                          | ["not"] "in" list
                          | ["not"] "between" operand "and" operand
                          | "is" ["not"] "null" )
                | operand                      -- a boolean feature or true/false on its own
    cmp_op     := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "≠" | "≤" | "≥"
    list       := "[" literal ("," literal)* "]"  |  "(" literal ("," literal)* ")"
    operand    := feature | literal
    literal    := ["-"] number | 'string' | "string" | true | false
    number     := digits ["." digits]            (plain: no thousands separators)

Strings take either quote; a quote inside is written twice (``'O''Brien'``). A date feature compares
with a string in ISO form (``first_order_date >= '2024-01-01'``).

Types are checked against the feature schema (:data:`retentio.segments.features.FEATURE_TYPES`):
both sides of a comparison have one type; strings and booleans take only equality, ``in`` and
``is null`` (ordering of strings depends on each database's collation, so it would not give the same
answer everywhere); ``between`` takes numbers or dates, bounds included.

Nulls follow SQL: a comparison with a missing value is unknown, ``not unknown`` is unknown, and a
customer matches only when the whole rule is true. The dict evaluator implements the same
three-valued logic, so both paths agree.

Size is capped: at most :data:`MAX_RULE_LENGTH` characters, :data:`MAX_CONDITIONS` conditions and
:data:`MAX_NESTING` levels of parentheses or ``not``; the compiled expression combines the terms of
an ``and``/``or`` as a balanced tree, so its depth grows with the logarithm of their number.

Every problem raises :class:`RuleError` whose message names the problem, shows the rule with a caret
under the offending token and, where we can guess, a hint (``did you mean days_since_last_order?``).
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from retentio.errors import UserError
from retentio.segments.features import FEATURE_TYPES, ValueType

MAX_RULE_LENGTH = 10_000
MAX_NESTING = 64
# Conditions (comparisons, in, between, is null, boolean features) in one rule. A segment is a few
# conditions; thousands are a generated rule gone wrong, whose SQL no engine plans quickly.
MAX_CONDITIONS = 256
MAX_ABS_NUMBER = Decimal(10) ** 15
MAX_FRACTION_DIGITS = 6
FEATURES_HINT = "run 'retentio segments features' for the list of features"


class RuleError(UserError):
    """A rule cannot be parsed or type-checked; ``str()`` shows where and why."""

    def __init__(self, message: str, rule: str, start: int, end: int | None = None, hint: str | None = None):
        # Messages quote the user's text: keep them on one line whatever it contains.
        self.message = printable(message)
        self.rule = rule
        self.position = max(0, min(start, len(rule)))
        self.end = max(self.position + 1, end if end is not None else self.position + 1)
        self.hint = printable(hint) if hint is not None else None
        line_start = rule.rfind("\n", 0, self.position) + 1
        line_end = rule.find("\n", self.position)
        self.line = rule.count("\n", 0, self.position) + 1
        self.column = self.position - line_start + 1
        self._source_line = rule[line_start : line_end if line_end >= 0 else len(rule)]
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if "\n" in self.rule else f"column {self.column}"
        # Tabs and other control characters would shift the caret: show them as spaces.
        shown = "".join(ch if ch.isprintable() else " " for ch in self._source_line)
        width = max(1, min(self.end - self.position, len(shown) - self.column + 1))
        lines = [f"{self.message} (at {where})", f"  {shown}", "  " + " " * (self.column - 1) + "^" * width]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


def printable(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``), letters kept as they are."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# ---------------------------------------------------------------------------------------------
# Tokens


KEYWORDS = {
    "and": "and",
    "or": "or",
    "not": "not",
    "in": "in",
    "between": "between",
    "is": "is",
    "null": "null",
    "true": "true",
    "false": "false",
    # Russian synonyms (Cyrillic): и = and, или = or, не = not.
    "и": "and",
    "или": "or",
    "не": "not",
}
OPERATORS = {
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<=": "<=",
    ">=": ">=",
    "=": "=",
    "<": "<",
    ">": ">",
    "≠": "!=",
    "≤": "<=",
    "≥": ">=",
}
PUNCTUATION = {"(": "lparen", ")": "rparen", "[": "lbracket", "]": "rbracket", ",": "comma", "-": "minus"}


@dataclass(frozen=True)
class Token:
    """One token: its kind, canonical value and span ``[start, end)`` in the rule text."""

    kind: str  # number | string | ident | keyword | op | lparen | ... | eof
    value: Any
    start: int
    end: int
    text: str

    def describe(self) -> str:
        return "the end of the rule" if self.kind == "eof" else repr(self.text)


def tokenize(rule: str) -> list[Token]:
    """Split a rule into tokens (the last is ``eof``); raises :class:`RuleError` on a bad character."""
    tokens: list[Token] = []
    i, n = 0, len(rule)
    while i < n:
        ch = rule[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "'\"":
            i, text = _read_string(rule, i)
            tokens.append(Token("string", text, start, i, rule[start:i]))
            continue
        if "0" <= ch <= "9":
            i, number = _read_number(rule, i)
            tokens.append(Token("number", number, start, i, rule[start:i]))
            continue
        if ch.isalpha() or ch == "_":
            while i < n and (rule[i].isalnum() or rule[i] == "_"):
                i += 1
            word = rule[start:i]
            keyword = KEYWORDS.get(word.lower())
            if keyword is not None:
                tokens.append(Token("keyword", keyword, start, i, word))
            else:
                tokens.append(Token("ident", word.lower(), start, i, word))
            continue
        two = rule[i : i + 2]
        if two in OPERATORS:
            tokens.append(Token("op", OPERATORS[two], start, i + 2, two))
            i += 2
            continue
        if ch in OPERATORS:
            tokens.append(Token("op", OPERATORS[ch], start, i + 1, ch))
            i += 1
            continue
        if ch in PUNCTUATION:
            tokens.append(Token(PUNCTUATION[ch], ch, start, i + 1, ch))
            i += 1
            continue
        hint = "this is not part of the rule language"
        if ch == "!":
            hint = "write 'not' for negation and '!=' for not equal"
        elif ch in "&|":
            hint = "write 'and' / 'or'"
        elif ch in "«»“”„‘’`":  # typographic quotes pasted from documents
            hint = "quote strings with ' or \""
        raise RuleError(f"unexpected character {ch!r}", rule, start, hint=hint)
    tokens.append(Token("eof", None, n, n, ""))
    return tokens


def _read_string(rule: str, i: int) -> tuple[int, str]:
    quote, start = rule[i], i
    i += 1
    parts: list[str] = []
    while True:
        end = rule.find(quote, i)
        if end < 0:
            raise RuleError("unclosed string", rule, start, hint=f"close it with {quote}")
        parts.append(rule[i:end])
        if rule[end + 1 : end + 2] == quote:  # a doubled quote stands for one quote
            parts.append(quote)
            i = end + 2
            continue
        return end + 1, "".join(parts)


def _read_number(rule: str, i: int) -> tuple[int, Decimal]:
    start, n = i, len(rule)
    while i < n and "0" <= rule[i] <= "9":
        i += 1
    if i + 1 < n and rule[i] == "." and "0" <= rule[i + 1] <= "9":
        i += 1
        while i < n and "0" <= rule[i] <= "9":
            i += 1
    if i < n and (rule[i].isalnum() or rule[i] in "_."):
        end = i
        while end < n and (rule[end].isalnum() or rule[end] in "_."):
            end += 1
        hint = "numbers are plain: 5000 or 4.5 (no separators or units)"
        raise RuleError(f"invalid number {rule[start:end]!r}", rule, start, end, hint=hint)
    text = rule[start:i]
    value = Decimal(text)
    if abs(value) >= MAX_ABS_NUMBER:
        raise RuleError(f"number {text} is too large", rule, start, i, hint="numbers must be below 10^15")
    if "." in text and len(text.split(".")[1]) > MAX_FRACTION_DIGITS:
        hint = f"use at most {MAX_FRACTION_DIGITS} digits after the point"
        raise RuleError(f"number {text} is too precise", rule, start, i, hint=hint)
    return i, value


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class FeatureRef:
    name: str
    type: ValueType
    start: int
    end: int

    def describe(self) -> str:
        return f"{self.name} is a {self.type.value}"


@dataclass(frozen=True)
class Literal:
    value: Any  # Decimal | str | bool | date | None (null)
    type: ValueType | None  # None for null
    start: int
    end: int
    text: str

    def describe(self) -> str:
        kind = self.type.value if self.type else "null"
        return f"{self.text} is a {kind}" if kind != "null" else "null is no value"


Operand = FeatureRef | Literal


@dataclass(frozen=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class InList:
    operand: Operand
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand
    negated: bool


@dataclass(frozen=True)
class IsNull:
    operand: Operand
    negated: bool


@dataclass(frozen=True)
class Truth:
    """A boolean operand used as a condition on its own (``consent_email``)."""

    operand: Operand


@dataclass(frozen=True)
class Not:
    term: Node


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


Node = Compare | InList | Between | IsNull | Truth | Not | And | Or


@dataclass(frozen=True)
class Rule:
    """A parsed, type-checked rule; compile with :meth:`to_ibis`, evaluate with :meth:`matches`."""

    source: str
    node: Node
    features: frozenset[str] = field(default_factory=frozenset)

    def to_ibis(self, table: ir.Table) -> ir.BooleanValue:
        """The rule as an Ibis boolean over ``table`` (which must have the referenced features)."""
        return _compile(self.node, table)

    def filter(self, table: ir.Table) -> ir.Table:
        """The rows of ``table`` for which the rule is true (unknown counts as false, as in SQL)."""
        return table.filter(self.to_ibis(table))

    def evaluate(self, row: Mapping[str, Any]) -> bool | None:
        """Three-valued result over one row of features: True, False or None (unknown)."""
        return _evaluate(self.node, row)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether the customer ``row`` is in the segment (unknown means no)."""
        return self.evaluate(row) is True


def parse_rule(rule: str, schema: Mapping[str, ValueType] | None = None) -> Rule:
    """Parse and type-check ``rule`` against ``schema`` (default: the customer feature schema)."""
    if not isinstance(rule, str):
        raise TypeError("rule must be a string")
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleError(f"rule is longer than {MAX_RULE_LENGTH} characters", rule[:80], 0)
    if not rule.strip():
        raise RuleError("the rule is empty", rule, 0, hint="for example: orders >= 2 and aov > 1000")
    parser = _Parser(rule, tokenize(rule), FEATURE_TYPES if schema is None else schema)
    node = parser.parse()
    return Rule(source=rule, node=node, features=frozenset(parser.used))


def validate_rule(rule: str, schema: Mapping[str, ValueType] | None = None) -> None:
    """Raise :class:`RuleError` if ``rule`` is not a valid rule."""
    parse_rule(rule, schema)


# ---------------------------------------------------------------------------------------------
# Parser


_CONNECTIVES = ("and", "or", "not", "in", "between", "is")


class _Parser:
    def __init__(self, rule: str, tokens: list[Token], schema: Mapping[str, ValueType]):
        self.rule = rule
        self.tokens = tokens
        self.pos = 0
        self.schema = {name.lower(): type_ for name, type_ in schema.items()}
        self.depth = 0
        self.conditions = 0
        self.used: set[str] = set()

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def error(self, message: str, token: Token | None = None, hint: str | None = None) -> RuleError:
        token = token or self.tok
        return RuleError(message, self.rule, token.start, token.end, hint)

    def error_at(self, message: str, start: int, end: int, hint: str | None = None) -> RuleError:
        return RuleError(message, self.rule, start, end, hint)

    # -- grammar
    def parse(self) -> Node:
        node = self.or_expr()
        if self.tok.kind != "eof":
            token = self.tok
            if token.kind == "rparen":
                raise self.error("unexpected ')'", hint="there is no '(' for it to close")
            hint = "join conditions with 'and' or 'or'"
            if token.kind == "ident":
                guess = difflib.get_close_matches(token.value, _CONNECTIVES, n=1, cutoff=0.6)
                if guess:
                    hint = f"did you mean '{guess[0]}'?"
            raise self.error(f"unexpected {token.describe()} after a complete condition", hint=hint)
        return node

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"the rule nests deeper than {MAX_NESTING} levels")

    def or_expr(self) -> Node:
        self.nested()
        terms = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            terms.append(self.and_expr())
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Node:
        terms = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def not_expr(self) -> Node:
        if self.at_keyword("not"):
            self.advance()
            self.nested()
            term = self.not_expr()
            self.depth -= 1
            return Not(term)
        return self.predicate()

    def predicate(self) -> Node:
        if self.tok.kind != "lparen":
            self.conditions += 1
            if self.conditions > MAX_CONDITIONS:
                raise self.error(
                    f"the rule has more than {MAX_CONDITIONS} conditions",
                    hint="split it into several segments, or use 'in [...]' for a list of values",
                )
        if self.tok.kind == "lparen":
            opening = self.advance()
            node = self.or_expr()
            if self.tok.kind != "rparen":
                if self.tok.kind == "eof":
                    raise self.error("unclosed parenthesis", opening, hint="add ')' to close it")
                raise self.error(
                    f"expected ')' or 'and'/'or', got {self.tok.describe()}",
                    hint=f"the '(' at column {opening.start + 1} is still open",
                )
            self.advance()
            return node
        operand = self.operand()
        token = self.tok
        if token.kind == "op":
            self.advance()
            right = self.operand()
            return self.check_compare(token, operand, right)
        negated = False
        if self.at_keyword("not"):
            following = self.tokens[self.pos + 1]
            if following.kind == "keyword" and following.value in ("in", "between"):
                self.advance()
                negated = True
            else:
                raise self.error("'not' cannot follow a value here", hint="write 'not in', 'not between'")
        if self.at_keyword("in"):
            self.advance()
            return self.in_list(operand, negated)
        if self.at_keyword("between"):
            self.advance()
            return self.between(operand, negated)
        if self.at_keyword("is"):
            self.advance()
            is_negated = False
            if self.at_keyword("not"):
                self.advance()
                is_negated = True
            if not self.at_keyword("null"):
                raise self.error(
                    f"expected 'null' after 'is', got {self.tok.describe()}", hint="is [not] null"
                )
            self.advance()
            if isinstance(operand, Literal) and operand.type is None:
                raise self.error_at(
                    "'null is [not] null' tests nothing: test a feature", operand.start, operand.end
                )
            return IsNull(operand, is_negated)
        return self.truth(operand)

    def truth(self, operand: Operand) -> Node:
        if operand.type is ValueType.BOOLEAN:
            return Truth(operand)
        if self.tok.kind in ("eof", "rparen") or self.at_keyword("and", "or"):
            if isinstance(operand, Literal) and operand.type is None:
                raise self.error_at("null is not a condition", operand.start, operand.end)
            example = _example(operand)
            raise self.error_at(
                f"{operand.describe()}, not a condition", operand.start, operand.end, hint=f"e.g. {example}"
            )
        hint = "compare with =, !=, <, <=, >, >=, or use in, between, is null"
        if self.tok.kind == "ident":
            guess = difflib.get_close_matches(self.tok.value, _CONNECTIVES, n=1, cutoff=0.6)
            if guess:
                hint = f"did you mean '{guess[0]}'?"
        raise self.error(
            f"expected a comparison after {_text(self.rule, operand)}, got {self.tok.describe()}", hint=hint
        )

    def operand(self) -> Operand:
        token = self.tok
        if token.kind == "ident":
            self.advance()
            type_ = self.schema.get(token.value)
            if type_ is None:
                guess = difflib.get_close_matches(token.value, list(self.schema), n=1, cutoff=0.6)
                hint = f"did you mean {guess[0]}?" if guess else FEATURES_HINT
                raise self.error(f"unknown feature {token.text!r}", token, hint=hint)
            self.used.add(token.value)
            return FeatureRef(token.value, type_, token.start, token.end)
        if token.kind in ("number", "string", "minus") or self.at_keyword("true", "false", "null"):
            return self.literal()
        if token.kind == "eof":
            raise self.error("the rule ends too early: expected a feature or a value")
        if token.kind == "rparen":
            raise self.error("expected a feature or a value before ')'")
        if token.kind == "keyword":
            raise self.error(
                f"expected a feature or a value, got the keyword {token.describe()}",
                hint="a condition starts with a feature name, e.g. orders >= 2",
            )
        raise self.error(f"expected a feature or a value, got {token.describe()}")

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "minus":
            number = self.tok
            if number.kind != "number":
                raise self.error("'-' must be followed by a number", token)
            self.advance()
            return Literal(-number.value, ValueType.NUMBER, token.start, number.end, f"-{number.text}")
        if token.kind == "number":
            return Literal(token.value, ValueType.NUMBER, token.start, token.end, token.text)
        if token.kind == "string":
            return Literal(token.value, ValueType.STRING, token.start, token.end, token.text)
        if token.kind == "keyword" and token.value in ("true", "false"):
            return Literal(token.value == "true", ValueType.BOOLEAN, token.start, token.end, token.text)
        if token.kind == "keyword" and token.value == "null":
            return Literal(None, None, token.start, token.end, token.text)
        raise self.error(f"expected a value, got {token.describe()}", token)

    def in_list(self, operand: Operand, negated: bool) -> Node:
        opening = self.tok
        closers = {"lbracket": "rbracket", "lparen": "rparen"}
        if opening.kind not in closers:
            raise self.error(
                f"expected '[' after 'in', got {opening.describe()}", hint="e.g. city in ['Москва', 'Казань']"
            )
        self.advance()
        closer = closers[opening.kind]
        values: list[Literal] = []
        while True:
            if self.tok.kind == closer and not values:
                raise self.error("the list is empty", hint="put at least one value between the brackets")
            if self.tok.kind == "ident" or (
                self.tok.kind == "keyword" and self.tok.value not in ("true", "false", "null")
            ):
                raise self.error(
                    f"a list holds values only, got {self.tok.describe()}", hint="quote strings: 'text'"
                )
            if self.tok.kind == "eof":
                raise self.error(
                    "unclosed list", opening, hint=f"add '{']' if closer == 'rbracket' else ')'}'"
                )
            value = self.literal()
            if value.type is None:
                raise self.error_at("null cannot be in a list", value.start, value.end, hint="use 'is null'")
            coerced = self.coerce(value, operand)
            assert isinstance(coerced, Literal)  # coerce() maps a literal to a literal
            values.append(coerced)
            if self.tok.kind == "comma":
                self.advance()
                continue
            if self.tok.kind == closer:
                self.advance()
                break
            if self.tok.kind == "eof":
                raise self.error(
                    "unclosed list", opening, hint=f"add '{']' if closer == 'rbracket' else ')'}'"
                )
            raise self.error(f"expected ',' or the end of the list, got {self.tok.describe()}")
        if operand.type is ValueType.BOOLEAN:
            raise self.error_at(f"{operand.describe()}: use = true / = false", _start(operand), _end(operand))
        if isinstance(operand, Literal) and operand.type is None:
            raise self.error_at(
                "null cannot be tested with 'in'", operand.start, operand.end, hint="use 'is null'"
            )
        return InList(operand, tuple(values), negated)

    def between(self, operand: Operand, negated: bool) -> Node:
        low = self.operand()
        if not self.at_keyword("and"):
            raise self.error(
                f"expected 'and' in 'between', got {self.tok.describe()}", hint="between 90 and 180"
            )
        self.advance()
        high = self.operand()
        for bound in (low, high):
            self.check_same_type(operand, bound)
        low, high = self.coerce(low, operand), self.coerce(high, operand)
        if operand.type not in (ValueType.NUMBER, ValueType.DATE):
            raise self.error_at(
                f"{operand.describe()}: 'between' needs numbers or dates", _start(operand), _end(operand)
            )
        if isinstance(low, Literal) and isinstance(high, Literal) and low.value > high.value:
            raise self.error_at(
                f"the lower bound {low.text} is above the upper bound {high.text}",
                low.start,
                high.end,
                hint=f"write between {high.text} and {low.text}",
            )
        return Between(operand, low, high, negated)

    # -- type checking
    def coerce(self, value: Operand, against: Operand) -> Operand:
        """Turn an ISO string into a date where it meets a date; check types otherwise."""
        if isinstance(value, Literal) and value.type is ValueType.STRING and against.type is ValueType.DATE:
            try:
                day = date.fromisoformat(value.value)
            except ValueError:
                raise self.error_at(
                    f"{against.describe() if isinstance(against, FeatureRef) else 'a date'}, "
                    f"{value.text} is not a date",
                    value.start,
                    value.end,
                    hint="write dates as 'YYYY-MM-DD'",
                ) from None
            if len(value.value) != 10:
                raise self.error_at(
                    f"{value.text} is not a date", value.start, value.end, hint="'YYYY-MM-DD'"
                )
            return Literal(day, ValueType.DATE, value.start, value.end, value.text)
        self.check_same_type(against, value)
        return value

    def check_same_type(self, left: Operand, right: Operand) -> None:
        for side in (left, right):
            if isinstance(side, Literal) and side.type is None:
                raise self.error_at(
                    "null cannot be compared", side.start, side.end, hint="use 'is null' / 'is not null'"
                )
        if left.type == right.type:
            return
        dates = {left.type, right.type} == {ValueType.DATE, ValueType.STRING}
        if dates and (isinstance(left, Literal) or isinstance(right, Literal)):
            return  # coerce() turns the string into a date
        culprit = right if isinstance(right, Literal) or isinstance(left, FeatureRef) else left
        hint = None
        if isinstance(left, FeatureRef) and left.type is ValueType.NUMBER and right.type is ValueType.STRING:
            hint = "numbers are written without quotes"
        elif (
            isinstance(left, FeatureRef) and left.type is ValueType.STRING and right.type is ValueType.NUMBER
        ):
            hint = f"quote the value: {left.name} = '...'"
        raise self.error_at(
            f"type mismatch: {left.describe()}, {right.describe()}", _start(culprit), _end(culprit), hint=hint
        )

    def check_compare(self, op_token: Token, left: Operand, right: Operand) -> Node:
        if _is_null_literal(left) or _is_null_literal(right):
            negation = "not " if op_token.value == "!=" else ""
            raise self.error("null cannot be compared", op_token, hint=f"use 'is {negation}null'")
        if left.type is ValueType.DATE:
            right = self.coerce(right, left)
        elif right.type is ValueType.DATE:
            left = self.coerce(left, right)
        else:
            self.check_same_type(left, right)
        op = op_token.value
        if op not in ("=", "!=") and left.type in (ValueType.STRING, ValueType.BOOLEAN):
            allowed = "=, !=, in, is null" if left.type is ValueType.STRING else "= and !="
            raise self.error(
                f"{op_token.text!r} does not apply to {left.type.value}s",
                op_token,
                hint=f"{left.type.value}s take {allowed}",
            )
        return Compare(op, left, right)


def _is_null_literal(operand: Operand) -> bool:
    return isinstance(operand, Literal) and operand.type is None


def _start(operand: Operand) -> int:
    return operand.start


def _end(operand: Operand) -> int:
    return operand.end


def _text(rule: str, operand: Operand) -> str:
    return rule[operand.start : operand.end]


def _example(operand: Operand) -> str:
    name = operand.name if isinstance(operand, FeatureRef) else operand.text
    if operand.type is ValueType.NUMBER:
        return f"{name} > 0"
    if operand.type is ValueType.DATE:
        return f"{name} >= '2024-01-01'"
    return f"{name} = 'value'"


# ---------------------------------------------------------------------------------------------
# Ibis compilation


def _ibis_value(operand: Operand, table: ir.Table) -> ir.Value:
    if isinstance(operand, FeatureRef):
        return table[operand.name]
    value = operand.value
    if operand.type is ValueType.NUMBER:
        if value == value.to_integral_value():
            return ibis.literal(int(value), type=dt.int64)
        return ibis.literal(value, type=dt.Decimal(24, MAX_FRACTION_DIGITS))
    if operand.type is ValueType.DATE:
        return ibis.literal(value, type=dt.date)
    if operand.type is ValueType.BOOLEAN:
        return ibis.literal(value, type=dt.boolean)
    return ibis.literal(value, type=dt.string)


def _ibis_literals(values: Iterable[Literal], table: ir.Table) -> list[ir.Value]:
    return [_ibis_value(v, table) for v in values]


_IBIS_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compile(node: Node, table: ir.Table) -> ir.BooleanValue:
    if isinstance(node, Compare):
        return _IBIS_COMPARE[node.op](_ibis_value(node.left, table), _ibis_value(node.right, table))
    if isinstance(node, InList):
        operand = _ibis_value(node.operand, table)
        values = _ibis_literals(node.values, table)
        return operand.notin(values) if node.negated else operand.isin(values)
    if isinstance(node, Between):
        operand = _ibis_value(node.operand, table)
        inside = operand.between(_ibis_value(node.low, table), _ibis_value(node.high, table))
        return ~inside if node.negated else inside
    if isinstance(node, IsNull):
        operand = _ibis_value(node.operand, table)
        return operand.notnull() if node.negated else operand.isnull()
    if isinstance(node, Truth):
        return _ibis_value(node.operand, table)
    if isinstance(node, Not):
        return ~_compile(node.term, table)
    terms = [_compile(term, table) for term in node.terms]
    return _balanced(terms, operator.and_ if isinstance(node, And) else operator.or_)


def _balanced(terms: list[ir.BooleanValue], combine: Callable[[Any, Any], Any]) -> ir.BooleanValue:
    """``t0 op t1 op ...`` as a balanced tree: depth log2(n), not n (a left-deep chain of a thousand
    terms overflows the recursion of every SQL compiler)."""
    while len(terms) > 1:
        pairs = [combine(terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


# ---------------------------------------------------------------------------------------------
# Evaluation over a dict (SQL three-valued logic)


def _py_value(operand: Operand, row: Mapping[str, Any]) -> Any:
    if isinstance(operand, FeatureRef):
        value = row.get(operand.name)
        if operand.type is ValueType.DATE and isinstance(value, datetime):
            value = value.date()  # pandas timestamps of a date column
        return value
    return operand.value


_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _same_number_kind(a: Any, b: Any) -> tuple[Any, Any]:
    """Compare a float with a decimal as a float, as SQL engines do (DOUBLE vs DECIMAL → DOUBLE).

    Python compares them exactly, so ``0.1 > Decimal('0.1')`` would be true here and false in SQL.
    """
    if isinstance(a, float) and isinstance(b, Decimal):
        return a, float(b)
    if isinstance(a, Decimal) and isinstance(b, float):
        return float(a), b
    return a, b


def _is_missing(value: Any) -> bool:
    # NaN, pd.NA and NaT from a pandas frame stand for missing values.
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def _evaluate(node: Node, row: Mapping[str, Any]) -> bool | None:
    if isinstance(node, Compare):
        left, right = _same_number_kind(_py_value(node.left, row), _py_value(node.right, row))
        if _is_missing(left) or _is_missing(right):
            return None
        return _PY_COMPARE[node.op](left, right)
    if isinstance(node, InList):
        value = _py_value(node.operand, row)
        if _is_missing(value):
            return None
        found = any(operator.eq(*_same_number_kind(value, v.value)) for v in node.values)
        return not found if node.negated else found
    if isinstance(node, Between):
        value = _py_value(node.operand, row)
        value, low = _same_number_kind(value, _py_value(node.low, row))
        value, high = _same_number_kind(value, _py_value(node.high, row))
        # SQL: x between a and b = (x >= a) and (x <= b), with unknowns propagated by Kleene logic.
        inside = _and3(
            None if _is_missing(value) or _is_missing(low) else bool(value >= low),
            None if _is_missing(value) or _is_missing(high) else bool(value <= high),
        )
        return _not3(inside) if node.negated else inside
    if isinstance(node, IsNull):
        missing = _is_missing(_py_value(node.operand, row))
        return not missing if node.negated else missing
    if isinstance(node, Truth):
        value = _py_value(node.operand, row)
        return None if _is_missing(value) else bool(value)
    if isinstance(node, Not):
        return _not3(_evaluate(node.term, row))
    if isinstance(node, And):
        result: bool | None = True
        for term in node.terms:
            result = _and3(result, _evaluate(term, row))
        return result
    either: bool | None = False
    for term in node.terms:
        either = _or3(either, _evaluate(term, row))
    return either


def _not3(value: bool | None) -> bool | None:
    return None if value is None else not value


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False
