"""A validation rule (``rules.language.RuleSet``) → one ``Q`` over ``orders.Order``: "the orders that pass".

It says in SQL what ``rules.evaluator`` says in Python — a property test (``tests/test_compiler.py``) holds
the two to the same answer on random orders for every condition and operator. Every condition compiles:

- amounts are comparisons of the order's own columns;
- ``order.items.count`` / ``order.items.quantity``: comparisons of the order's ``items_count`` /
  ``items_quantity`` columns, which the orders services keep with the lines (0 for a cart without lines) —
  a correlated COUNT per order would make a preview over a million orders take seconds;
  ``price_any`` / ``price_each``: EXISTS / NOT EXISTS over the lines;
- ``order.items.any|every|none``: EXISTS over the lines that match a listed product/SKU and pass the nested
  rules, the per-object aggregates (``aggregated_quantity``/``aggregated_amount``) being correlated sums over
  the same order's matching lines;
- metadata tests use the JSON expressions the orders list and the segments share
  (``orders.filters.JSONKeyMatches``, ``segments.compiler.JSONKeyTest``/``JSONKeyKnown``), which give the
  same rows on PostgreSQL and SQLite; ``customer.metadata`` tests select customers, and the orders of
  those customers (an order without a customer has no customer metadata);
- ``customer.segment`` selects the orders of the segments' customers (``segments.selectors``).

Negative operators (``$is_not``, ``$not_in``, ``$is_unknown``) are the SQL NOT of the positive test, so
that orders without a customer, a missing metadata key or a cart without lines fall where the evaluator
puts them.
"""

import datetime as dt
from functools import reduce
from operator import and_, or_

from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from orders.filters import JSONKeyMatches
from orders.models import Customer, Order, OrderItem
from segments.compiler import JSONKeyKnown, JSONKeyTest

from . import language as lang
from . import segments_bridge

_FIELD_LOOKUPS = {lang.MORE: "gt", lang.MORE_EQ: "gte", lang.LESS: "lt", lang.LESS_EQ: "lte"}
_ORDER_COLUMNS = {
    "order.amount": "amount",
    "order.total_amount": "total_amount",
    "order.initial_amount": "initial_amount",
    "order.items.count": "items_count",
    "order.items.quantity": "items_quantity",
}
_TEXT_TESTS = {lang.CONTAINS: "contains", lang.STARTS: "starts", lang.ENDS: "ends"}

FALSE = Q(pk__in=[])


def _all(parts: list[Q]) -> Q:
    return reduce(and_, parts) if parts else Q()


def _any(parts: list[Q]) -> Q:
    return reduce(or_, parts) if parts else FALSE


# --- numbers ----------------------------------------------------------------------------------------------


def _field_test(field: str, test: lang.Test) -> Q:
    """A number test on a (non-null) column."""
    op, values = test.operator, test.values
    if op == lang.IS:
        return Q(**{field: values[0]})
    if op == lang.IS_NOT:
        return ~Q(**{field: values[0]})
    if op == lang.IN:
        return Q(**{f"{field}__in": list(values)})
    if op == lang.NOT_IN:
        return ~Q(**{f"{field}__in": list(values)})
    return Q(**{f"{field}__{_FIELD_LOOKUPS[op]}": values[0]})


def _lines_of_order() -> QuerySet:
    return OrderItem.objects.filter(order_id=OuterRef("pk")).order_by()


# --- metadata ---------------------------------------------------------------------------------------------


def _metadata_positive(column: str, key: str, test: lang.Test) -> tuple[Q, bool]:
    """(the positive form of the test, whether the test is its negation)."""
    op, values = test.operator, test.values
    if op in (lang.HAS_VALUE, lang.IS_UNKNOWN):
        return Q(JSONKeyKnown(column, key)), op == lang.IS_UNKNOWN
    if op in (lang.IS, lang.IN, lang.IS_NOT, lang.NOT_IN):
        matched = _any([Q(JSONKeyMatches(column, key, value)) for value in values])
        return matched, op in (lang.IS_NOT, lang.NOT_IN)
    if op in lang.COMPARISONS:
        return Q(JSONKeyTest(column, key, "number", _FIELD_LOOKUPS[op], values[0])), False
    if op in lang.TEXT_MATCHES:
        return _any([Q(JSONKeyTest(column, key, "text", _TEXT_TESTS[op], value)) for value in values]), False
    lookup, bound = values[0].bound(op)  # $before / $after on ISO text
    return Q(JSONKeyTest(column, key, "text", lookup, bound)), False


def _metadata_q(condition: lang.Condition) -> Q:
    parts = []
    for test in condition.tests:
        positive, negated = _metadata_positive("metadata", condition.prop, test)
        if condition.spec.scope == "customer":
            positive = Q(customer_id__in=Customer.objects.filter(positive).order_by().values("pk"))
        parts.append(~positive if negated else positive)
    return _all(parts)


# --- customer segments ----------------------------------------------------------------------------------


def _segment_q(condition: lang.Condition) -> Q:
    parts = []
    for test in condition.tests:
        member = _any(
            [
                Q(customer_id__in=segments_bridge.customers_in_segment(segment_id).values("pk"))
                for segment_id in test.values
            ]
        )
        parts.append(member if test.operator == lang.IN else ~member)
    return _all(parts)


# --- items ------------------------------------------------------------------------------------------------


def _matches(ref: lang.CatalogRef) -> Q:
    return Q(sku_id=ref.id) if ref.object == "sku" else Q(product_id=ref.id)


_LINE_FIELDS = {"order.items.quantity": "quantity", "order.items.price": "price"}
_AGGREGATES = {"order.items.aggregated_quantity": ("quantity", "q"), "order.items.aggregated_amount": ("amount", "a")}


def _sub_condition_q(condition: lang.Condition, index: int) -> Q:
    name = condition.spec.name
    if name in _LINE_FIELDS:
        return _all([_field_test(_LINE_FIELDS[name], test) for test in condition.tests])
    alias = f"rules_{_AGGREGATES[name][1]}{index}"
    return _all([_field_test(alias, test) for test in condition.tests])


def _qualifying_lines(condition: lang.Condition) -> tuple[QuerySet, Q]:
    """The lines of the outer order, annotated with what the nested rules need, and the Q of a line that
    matches a listed object and passes the nested rules."""
    lines = _lines_of_order()
    parts = []
    for index, ref in enumerate(condition.objects):
        if condition.sub is None:
            parts.append(_matches(ref))
            continue
        used = {c.spec.name for c in condition.sub.conditions.values()}
        for name, (column, letter) in _AGGREGATES.items():
            if name in used:
                group = (
                    OrderItem.objects.filter(_matches(ref), order_id=OuterRef("order_id"))
                    .order_by()
                    .values("order_id")
                    .annotate(value=Sum(column))
                    .values("value")
                )
                lines = lines.annotate(
                    **{
                        f"rules_{letter}{index}": Coalesce(
                            Subquery(group, output_field=IntegerField()), 0, output_field=IntegerField()
                        )
                    }
                )
        parts_of_sub = {key: _sub_condition_q(c, index) for key, c in condition.sub.conditions.items()}
        sub_q = _logic_q(condition.sub.logic, parts_of_sub)
        parts.append(_matches(ref) & sub_q)
    return lines, _any(parts)


def _items_q(condition: lang.Condition) -> Q:
    lines, qualifies = _qualifying_lines(condition)
    name = condition.spec.name
    if name == "order.items.any":
        return Q(Exists(lines.filter(qualifies)))
    if name == "order.items.none":
        return ~Q(Exists(lines.filter(qualifies)))
    return Q(Exists(_lines_of_order())) & ~Q(Exists(lines.filter(~qualifies)))  # every


# --- conditions and logic -----------------------------------------------------------------------------------


def condition_q(condition: lang.Condition) -> Q:
    name, kind = condition.spec.name, condition.spec.kind
    if name in _ORDER_COLUMNS:
        return _all([_field_test(_ORDER_COLUMNS[name], test) for test in condition.tests])
    if name == "order.items.price_any":
        price = _all([_field_test("price", test) for test in condition.tests])
        return Q(Exists(_lines_of_order().filter(price)))
    if name == "order.items.price_each":
        price = _all([_field_test("price", test) for test in condition.tests])
        return Q(Exists(_lines_of_order())) & ~Q(Exists(_lines_of_order().filter(~price)))
    if kind == lang.METADATA:
        return _metadata_q(condition)
    if kind == lang.SEGMENT:
        return _segment_q(condition)
    return _items_q(condition)


def _logic_q(node: tuple, parts: dict[str, Q]) -> Q:
    kind = node[0]
    if kind == "ref":
        return parts[node[1]]
    if kind == "not":
        return ~_logic_q(node[1], parts)
    children = [_logic_q(child, parts) for child in node[1]]
    return _all(children) if kind == "and" else _any(children)


def to_q(ruleset: lang.RuleSet) -> Q:
    """The orders that pass ``ruleset``, as one Q over Order."""
    return _logic_q(ruleset.logic, {key: condition_q(condition) for key, condition in ruleset.conditions.items()})


def orders_passing(ruleset: lang.RuleSet, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Order.objects.all() if queryset is None else queryset
    return queryset.filter(to_q(ruleset))


def preview_count(
    ruleset: lang.RuleSet, *, created_from: dt.date | None = None, created_to: dt.date | None = None
) -> int:
    """How many orders pass, all time or created in [created_from, created_to] (whole days, both ends
    inclusive, as the orders list's date filter reads them)."""
    queryset = Order.objects.order_by()
    tz = timezone.get_current_timezone()
    if created_from is not None:
        queryset = queryset.filter(created_at__gte=dt.datetime.combine(created_from, dt.time.min, tzinfo=tz))
    if created_to is not None:
        end = dt.datetime.combine(created_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        queryset = queryset.filter(created_at__lt=end)
    return orders_passing(ruleset, queryset).count()
