"""A brute-force, pure-Python reading of the segment filter language, for tests to compare the compiled query
with. It works from the orders themselves (not the customer summary columns the query reads) and from the
language's documented rules (segments/language.py), one customer at a time — exactly what the compiled
query must never do."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from orders.choices import SUMMARY_STATUSES
from segments import language as lang

MISSING = object()


@dataclass
class OrderRow:
    id: str
    status: str
    total_amount: int
    created_at: dt.datetime


@dataclass
class CustomerRow:
    id: str
    name: str
    email: str
    created_at: dt.datetime
    metadata: dict[str, Any]
    orders: list[OrderRow] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counted = [o for o in self.orders if o.status in SUMMARY_STATUSES]
        total = sum(o.total_amount for o in counted)
        last = max(counted, key=lambda o: (o.created_at, o.id), default=None)
        return {
            "summary.orders.total_amount": total,
            "summary.orders.total_count": len(counted),
            "summary.orders.average_amount": total // len(counted) if counted else 0,
            "summary.orders.last_order_amount": last.total_amount if last else None,
            "summary.orders.last_order_date": last.created_at if last else None,
        }


def ascii_fold(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def json_equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return isinstance(a, str) and isinstance(b, str) and a == b


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _instant(value: lang.DateValue, now: dt.datetime) -> dt.datetime:
    if value.days_ago is not None:
        return now - dt.timedelta(days=value.days_ago)
    return value.instant


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _date_test(op: str, actual: dt.datetime | None, value: lang.DateValue, now: dt.datetime) -> bool:
    if value.day is not None:
        start = _day_start(value.day)
        end = start + dt.timedelta(days=1)
        on = actual is not None and start <= actual < end
        if op == lang.AFTER:
            return actual is not None and actual >= end
        if op == lang.BEFORE:
            return actual is not None and actual < start
    else:
        moment = _instant(value, now)
        on = actual is not None and actual == moment
        if op == lang.AFTER:
            return actual is not None and actual > moment
        if op == lang.BEFORE:
            return actual is not None and actual < moment
    return on if op == lang.IS else not on


def _compare(op: str, actual, expected) -> bool:
    return {
        lang.MORE: actual > expected,
        lang.MORE_EQ: actual >= expected,
        lang.LESS: actual < expected,
        lang.LESS_EQ: actual <= expected,
    }[op]


def _column(condition: lang.Condition, actual, now) -> bool:
    op, values = condition.operator, condition.values
    kind = condition.attribute.kind
    if kind == lang.TEXT:
        known = actual != ""
        if op == lang.HAS_VALUE:
            return known
        if op == lang.IS_UNKNOWN:
            return not known
        folded = ascii_fold(actual)
        wanted = [ascii_fold(v) for v in values]
        if op in (lang.IS, lang.IN):
            return folded in wanted
        if op in (lang.IS_NOT, lang.NOT_IN):
            return folded not in wanted
        if op == lang.CONTAINS:
            return any(w in folded for w in wanted)
        if op == lang.STARTS:
            return any(folded.startswith(w) for w in wanted)
        return any(folded.endswith(w) for w in wanted)
    if op == lang.HAS_VALUE:
        return actual is not None
    if op == lang.IS_UNKNOWN:
        return actual is None
    if kind == lang.DATE:
        return _date_test(op, actual, values[0], now)
    if op in (lang.IS, lang.IN):
        return actual is not None and actual in values
    if op in (lang.IS_NOT, lang.NOT_IN):
        return actual is None or actual not in values
    return actual is not None and _compare(op, actual, values[0])


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _metadata(condition: lang.Condition, metadata: dict, now) -> bool:
    key = lang.metadata_key(condition.attribute.name)
    op, values = condition.operator, condition.values
    actual = metadata.get(key, MISSING) if isinstance(metadata, dict) else MISSING
    known = actual is not MISSING and actual is not None
    if op == lang.HAS_VALUE:
        return known
    if op == lang.IS_UNKNOWN:
        return not known
    if op in (lang.IS, lang.IN, lang.IS_NOT, lang.NOT_IN):
        matched = known and any(json_equal(actual, v) for v in values)
        return matched if op in (lang.IS, lang.IN) else not matched
    if op in lang.COMPARISONS:
        return _number(actual) and _compare(op, actual, values[0])
    if not isinstance(actual, str):
        return False
    if op == lang.CONTAINS:
        return any(v in actual for v in values)
    if op == lang.STARTS:
        return any(actual.startswith(v) for v in values)
    if op == lang.ENDS:
        return any(actual.endswith(v) for v in values)
    value = values[0]
    if value.day is not None:
        if op == lang.AFTER:
            return actual >= (value.day + dt.timedelta(days=1)).isoformat()
        return actual < value.day.isoformat()
    moment = _iso(_instant(value, now))
    return actual > moment if op == lang.AFTER else actual < moment


def matches(definition: lang.Definition, customer: CustomerRow, now: dt.datetime) -> bool:
    summary = customer.summary()
    results = []
    for condition in definition.conditions:
        name = condition.attribute.name
        if condition.attribute.kind == lang.METADATA:
            results.append(_metadata(condition, customer.metadata, now))
        elif name in summary:
            results.append(_column(condition, summary[name], now))
        else:
            results.append(_column(condition, getattr(customer, name), now))
    return all(results) if definition.junction == "and" else any(results)


def select(definition: lang.Definition, customers: list[CustomerRow], now: dt.datetime) -> set[str]:
    return {customer.id for customer in customers if matches(definition, customer, now)}
