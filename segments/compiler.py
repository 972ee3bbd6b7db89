"""A segment Definition (``segments.language``) → one ``Q`` over ``orders.Customer``.

The order summary attributes are plain comparisons on the indexed summary columns, so ``Customer.objects
.filter(to_q(definition))`` is one query that the database answers from its indexes (on PostgreSQL the
segments migration adds a covering index for counts). Text and metadata tests are small SQL expressions
written for PostgreSQL and SQLite separately so that both return the same rows:

- name/email compare after folding A–Z to a–z only (``translate`` on PostgreSQL, ``lower`` on SQLite,
  which folds only ASCII), so "É" is not "é" anywhere, rather than on one database only;
- metadata equality uses ``orders.filters.JSONKeyMatches`` (``@>`` and the GIN index on PostgreSQL,
  ``json_each`` on SQLite); other metadata tests read the key's value only when it has the JSON type the
  test needs (a number for comparisons, a string for text and dates), so "5" is never more than 4.
"""

import datetime as dt
from decimal import Decimal
from functools import reduce
from operator import and_, or_

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F, Q
from django.utils import timezone

from orders.filters import JSONKeyMatches

from . import language as lang

ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ASCII_FOLD = str.maketrans(ASCII_UPPER, ASCII_UPPER.lower())


def fold(text: str) -> str:
    """Python's side of the text comparison: A–Z → a–z, nothing else."""
    return text.translate(ASCII_FOLD)


class _Condition(Expression):
    conditional = True
    output_field = BooleanField()

    def __init__(self, expression):
        super().__init__()
        self.expression = F(expression) if isinstance(expression, str) else expression

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"Segment filters support PostgreSQL and SQLite, not {connection.vendor}.")


class FoldedText(_Condition):
    """``column`` (text) after A–Z folding: equals / contains / starts with / ends with ``value``."""

    def __init__(self, expression, test: str, value: str):
        super().__init__(expression)
        self.test, self.value = test, fold(value)

    def _render(self, sql: str, vendor: str) -> tuple[str, list]:
        if vendor == "postgresql":
            folded = f"translate({sql}, '{ASCII_UPPER}', '{ASCII_UPPER.lower()}')"
            contains, ends = f"strpos({folded}, %s) > 0", f"right({folded}, %s) = %s"
        else:
            folded = f"lower({sql})"
            contains, ends = f"instr({folded}, %s) > 0", f"substr({folded}, -%s) = %s"
        length = len(self.value)
        return {
            "is": (f"{folded} = %s", [self.value]),
            "contains": (contains, [self.value]),
            "starts": (f"substr({folded}, 1, %s) = %s", [length, self.value]),
            "ends": (ends, [length, self.value]),
        }[self.test]

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        test, test_params = self._render(sql, "postgresql")
        return f"({test})", (*params, *test_params)

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        test, test_params = self._render(sql, "sqlite")
        return f"({test})", (*params, *test_params)


class JSONKeyTest(_Condition):
    """``metadata[key]``, when it holds a number (``kind="number"``) or a string (``kind="text"``), passes
    ``test`` against ``value``: lt/lte/gt/gte (numbers, or ISO date text), contains/starts/ends (text, case
    matters). Any other type, a missing key or null: false."""

    SQL_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

    def __init__(self, expression, key: str, kind: str, test: str, value):
        super().__init__(expression)
        self.key, self.kind, self.test, self.value = key, kind, test, value

    def _test(self, operand: str, vendor: str) -> tuple[str, list]:
        if self.test in self.SQL_OPS:
            value = self.value
            if self.kind == "number" and vendor == "postgresql":
                return f"{operand} {self.SQL_OPS[self.test]} %s::numeric", [Decimal(str(value))]
            return f"{operand} {self.SQL_OPS[self.test]} %s", [value]
        if self.test == "contains":
            function = "strpos" if vendor == "postgresql" else "instr"
            return f"{function}({operand}, %s) > 0", [self.value]
        if self.test == "starts":
            return f"substr({operand}, 1, %s) = %s", [len(self.value), self.value]
        if vendor == "postgresql":
            return f"right({operand}, %s) = %s", [len(self.value), self.value]
        return f"substr({operand}, -%s) = %s", [len(self.value), self.value]

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        json_type, cast = ("number", "::numeric") if self.kind == "number" else ("string", "")
        operand = f"(CASE WHEN jsonb_typeof({sql} -> %s::text) = '{json_type}' THEN ({sql} ->> %s::text){cast} END)"
        test, test_params = self._test(operand, "postgresql")
        return f"COALESCE({test}, false)", (*params, self.key, *params, self.key, *test_params)

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        types = "('integer', 'real')" if self.kind == "number" else "('text')"
        test, test_params = self._test("je.value", "sqlite")
        return (
            f"EXISTS (SELECT 1 FROM json_each({sql}) AS je WHERE je.key = %s AND je.type IN {types} AND {test})",
            (*params, self.key, *test_params),
        )


class JSONKeyKnown(_Condition):
    """``metadata`` has ``key`` with a value other than null."""

    def __init__(self, expression, key: str):
        super().__init__(expression)
        self.key = key

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return (
            f"COALESCE(jsonb_typeof({sql} -> %s::text) <> 'null', false)",
            (*params, self.key),
        )

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return (
            f"EXISTS (SELECT 1 FROM json_each({sql}) AS je WHERE je.key = %s AND je.type <> 'null')",
            (*params, self.key),
        )


COMPARISON_LOOKUPS = {lang.MORE: "gt", lang.MORE_EQ: "gte", lang.LESS: "lt", lang.LESS_EQ: "lte"}
TEXT_TESTS = {lang.IS: "is", lang.CONTAINS: "contains", lang.STARTS: "starts", lang.ENDS: "ends"}


def _any(parts: list[Q]) -> Q:
    return reduce(or_, parts)


def _column_q(condition: lang.Condition, now: dt.datetime) -> Q:
    attr, op, values = condition.attribute, condition.operator, condition.values
    column = attr.column
    if op == lang.HAS_VALUE:
        return ~Q(**{column: ""}) if attr.kind == lang.TEXT else Q(**{f"{column}__isnull": False})
    if op == lang.IS_UNKNOWN:
        return Q(**{column: ""}) if attr.kind == lang.TEXT else Q(**{f"{column}__isnull": True})
    if attr.kind == lang.TEXT:
        if op in (lang.IN, lang.NOT_IN):
            matched = _any([Q(FoldedText(column, "is", v)) for v in values])
            return matched if op == lang.IN else ~matched
        if op == lang.IS_NOT:
            return ~Q(FoldedText(column, "is", values[0]))
        return _any([Q(FoldedText(column, TEXT_TESTS[op], v)) for v in values])
    if attr.kind == lang.DATE:
        return _date_q(column, op, values[0], now)
    # money and counts
    if op == lang.IS:
        return Q(**{column: values[0]})
    if op == lang.IS_NOT:
        return ~Q(**{column: values[0]})
    if op == lang.IN:
        return Q(**{f"{column}__in": values})
    if op == lang.NOT_IN:
        return ~Q(**{f"{column}__in": values})
    return Q(**{f"{column}__{COMPARISON_LOOKUPS[op]}": values[0]})


def _date_q(column: str, op: str, value: lang.DateValue, now: dt.datetime) -> Q:
    start, end = value.bounds(now)
    if op == lang.AFTER:
        return Q(**{f"{column}__gte": end}) if end else Q(**{f"{column}__gt": start})
    if op == lang.BEFORE:
        return Q(**{f"{column}__lt": start})
    on = Q(**{f"{column}__gte": start, f"{column}__lt": end}) if end else Q(**{column: start})
    return on if op == lang.IS else ~on


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _metadata_q(condition: lang.Condition, now: dt.datetime) -> Q:
    key = lang.metadata_key(condition.attribute.name)
    op, values = condition.operator, condition.values
    if op == lang.HAS_VALUE:
        return Q(JSONKeyKnown("metadata", key))
    if op == lang.IS_UNKNOWN:
        return ~Q(JSONKeyKnown("metadata", key))
    if op in (lang.IS, lang.IS_NOT, lang.IN, lang.NOT_IN):
        matched = _any([Q(JSONKeyMatches("metadata", key, value)) for value in values])
        return matched if op in (lang.IS, lang.IN) else ~matched
    if op in lang.COMPARISONS:
        return Q(JSONKeyTest("metadata", key, "number", COMPARISON_LOOKUPS[op], values[0]))
    if op in lang.TEXT_MATCHES:
        return _any([Q(JSONKeyTest("metadata", key, "text", TEXT_TESTS[op], value)) for value in values])
    # $before / $after on ISO date text: a day is its own text ("2026-01-31"), so a date-time of that day
    # ("2026-01-31T10:00") sorts after it and before the next day; instants compare at the second, in UTC.
    value = values[0]
    if value.day is not None:
        if op == lang.AFTER:
            return Q(JSONKeyTest("metadata", key, "text", "gte", (value.day + dt.timedelta(days=1)).isoformat()))
        return Q(JSONKeyTest("metadata", key, "text", "lt", value.day.isoformat()))
    moment = _iso(value.bounds(now)[0])
    return Q(JSONKeyTest("metadata", key, "text", "gt" if op == lang.AFTER else "lt", moment))


def condition_q(condition: lang.Condition, *, now: dt.datetime) -> Q:
    if condition.attribute.kind == lang.METADATA:
        return _metadata_q(condition, now)
    return _column_q(condition, now)


def to_q(definition: lang.Definition, *, now: dt.datetime | None = None) -> Q:
    """The customers the definition selects, as one Q (relative dates resolved against ``now``)."""
    now = now or timezone.now()
    parts = [condition_q(condition, now=now) for condition in definition.conditions]
    return reduce(and_ if definition.junction == "and" else or_, parts)
