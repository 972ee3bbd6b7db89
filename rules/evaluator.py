"""The one evaluator: does an order pass a validation rule, and if not, which conditions failed and why.

:func:`evaluate` is a pure function of a parsed rule (``rules.language.RuleSet``), an :class:`OrderSnapshot`
and the ids of the segments the order's customer is in. It reads nothing from the database; callers load
the snapshot (``rules.selectors.order_snapshot``: the order and its lines) and, only when the rule names
segments, the customer's segment ids. ``rules.compiler`` says the same thing in SQL, for counting the
orders that pass; a property test holds the two to the same answers.

What each condition means is written in ``rules.language``. The result::

    {"valid": false, "failed": [{"condition": "1", "name": "order.amount", "message": "…"}]}

``failed`` lists the conditions responsible for the failure (``rules.logic.blame``: for "1 and 2" the
ones that fail, for "1 or 2" all of them, under a "not" the ones that hold). A condition's own error
message wins over the rule's message, which wins over a generated one.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import language as lang
from . import logic


@dataclass(frozen=True, slots=True)
class Line:
    """One cart line, as the evaluator reads it."""

    product_id: str | None
    sku_id: str | None
    quantity: int
    price: int
    amount: int


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    amount: int = 0
    total_amount: int = 0
    initial_amount: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    lines: tuple[Line, ...] = ()
    customer_id: str | None = None
    customer_metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Failure:
    condition: str
    name: str
    message: str
    customer: bool = False  # a customer.* condition (the API's customer_rules_violated)

    def as_dict(self) -> dict[str, str]:
        return {"condition": self.condition, "name": self.name, "message": self.message}


@dataclass(frozen=True)
class Result:
    valid: bool
    failed: tuple[Failure, ...] = ()
    conditions: Mapping[str, bool] = field(default_factory=dict)  # each condition's own outcome

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "failed": [failure.as_dict() for failure in self.failed]}

    @property
    def message(self) -> str:
        return self.failed[0].message if self.failed else ""


# --- tests of values ----------------------------------------------------------------------------------


def _number_test(operator: str, values: tuple, value: int) -> bool:
    if operator == lang.IS:
        return value == values[0]
    if operator == lang.IS_NOT:
        return value != values[0]
    if operator == lang.IN:
        return value in values
    if operator == lang.NOT_IN:
        return value not in values
    if operator == lang.MORE:
        return value > values[0]
    if operator == lang.MORE_EQ:
        return value >= values[0]
    if operator == lang.LESS:
        return value < values[0]
    return value <= values[0]  # LESS_EQ


def _number_tests(tests: tuple, value: int) -> bool:
    return all(_number_test(test.operator, test.values, value) for test in tests)


def json_equal(stored, wanted) -> bool:
    """JSON scalars equal by type and value: 5 is 5.0, true is not 1, "5" is not 5."""
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(wanted, (int, float)):
        return isinstance(stored, (int, float)) and lang.decimal(stored) == lang.decimal(wanted)
    return isinstance(stored, str) and stored == wanted


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metadata_test(metadata: Mapping[str, Any], key: str, operator: str, values: tuple) -> bool:
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    if operator == lang.HAS_VALUE:
        return value is not None
    if operator == lang.IS_UNKNOWN:
        return value is None
    if operator in (lang.IS, lang.IN):
        return value is not None and any(json_equal(value, wanted) for wanted in values)
    if operator in (lang.IS_NOT, lang.NOT_IN):
        return value is None or not any(json_equal(value, wanted) for wanted in values)
    if operator in lang.COMPARISONS:
        if not _is_number(value):
            return False
        return _number_test(operator, (lang.decimal(values[0]),), lang.decimal(value))
    if not isinstance(value, str):
        return False
    if operator == lang.CONTAINS:
        return any(wanted in value for wanted in values)
    if operator == lang.STARTS:
        return any(value.startswith(wanted) for wanted in values)
    if operator == lang.ENDS:
        return any(value.endswith(wanted) for wanted in values)
    test, bound = values[0].bound(operator)  # $before / $after
    if test == "gte":
        return value >= bound
    if test == "gt":
        return value > bound
    return value < bound


# --- conditions ------------------------------------------------------------------------------------------


def _matches(line: Line, ref: lang.CatalogRef) -> bool:
    if ref.object == "sku":
        return line.sku_id is not None and line.sku_id == ref.id
    return line.product_id is not None and line.product_id == ref.id


_ITEM_VALUES = {
    "order.items.quantity": lambda line, group: line.quantity,
    "order.items.price": lambda line, group: line.price,
    "order.items.aggregated_quantity": lambda line, group: group[0],
    "order.items.aggregated_amount": lambda line, group: group[1],
}


def _line_passes(sub: lang.RuleSet, line: Line, group: tuple[int, int]) -> bool:
    outcomes = {
        key: _number_tests(condition.tests, _ITEM_VALUES[condition.spec.name](line, group))
        for key, condition in sub.conditions.items()
    }
    return logic.evaluate(sub.logic, outcomes)


def _items_condition(condition: lang.Condition, lines: tuple[Line, ...]) -> bool:
    refs = condition.objects
    groups = {}
    for ref in refs:
        quantity = amount = 0
        for line in lines:
            if _matches(line, ref):
                quantity += line.quantity
                amount += line.amount
        groups[ref] = (quantity, amount)
    sub = condition.sub

    def qualifies(line: Line) -> bool:
        return any(_matches(line, ref) and (sub is None or _line_passes(sub, line, groups[ref])) for ref in refs)

    name = condition.spec.name
    if name == "order.items.any":
        return any(qualifies(line) for line in lines)
    if name == "order.items.every":
        return bool(lines) and all(qualifies(line) for line in lines)
    return not any(qualifies(line) for line in lines)  # order.items.none


_ORDER_NUMBERS = {
    "order.amount": lambda order: order.amount,
    "order.total_amount": lambda order: order.total_amount,
    "order.initial_amount": lambda order: order.initial_amount,
    "order.items.count": lambda order: len(order.lines),
    "order.items.quantity": lambda order: sum(line.quantity for line in order.lines),
}


def condition_holds(condition: lang.Condition, order: OrderSnapshot, segment_ids: Collection[str]) -> bool:
    name, kind, tests = condition.spec.name, condition.spec.kind, condition.tests
    if name in _ORDER_NUMBERS:
        return _number_tests(tests, _ORDER_NUMBERS[name](order))
    if name == "order.items.price_any":
        return any(_number_tests(tests, line.price) for line in order.lines)
    if name == "order.items.price_each":
        return bool(order.lines) and all(_number_tests(tests, line.price) for line in order.lines)
    if kind == lang.METADATA:
        metadata = order.metadata if condition.spec.scope == "order" else order.customer_metadata
        return all(metadata_test(metadata, condition.prop, test.operator, test.values) for test in tests)
    if kind == lang.SEGMENT:
        inside = segment_ids if order.customer_id else ()
        for test in tests:
            member = any(segment in inside for segment in test.values)
            if member != (test.operator == lang.IN):
                return False
        return True
    return _items_condition(condition, order.lines)


# --- rules -----------------------------------------------------------------------------------------------


def default_message(condition: lang.Condition, *, negated: bool = False) -> str:
    text = condition.describe()
    return f"Must not hold: {text}." if negated else f"Not met: {text}."


def evaluate(
    ruleset: lang.RuleSet,
    order: OrderSnapshot,
    segment_ids: Collection[str] = frozenset(),
    *,
    message: str = "",
) -> Result:
    """Does ``order`` pass ``ruleset``? ``segment_ids``: the segments of the order's customer (needed only
    when ``ruleset.uses_segments``); ``message``: the rule's own error message."""
    outcomes = {key: condition_holds(condition, order, segment_ids) for key, condition in ruleset.conditions.items()}
    if logic.evaluate(ruleset.logic, outcomes):
        return Result(valid=True, conditions=outcomes)
    failed = []
    for key in logic.blame(ruleset.logic, outcomes):
        condition = ruleset.conditions[key]
        text = condition.message or message or default_message(condition, negated=outcomes[key])
        customer = condition.spec.is_customer
        failed.append(Failure(condition=key, name=condition.spec.name, message=text, customer=customer))
    return Result(valid=False, failed=tuple(failed), conditions=outcomes)
