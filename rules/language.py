"""The validation rule language (DESIGN §4): what a rule may say, how it is checked, and its canonical form.

A rule's conditions are stored in the public Voucherify shape::

    {"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]},
           "error": {"message": "Spend at least 50.00"}},
     "2": {"name": "order.metadata", "property": "channel", "conditions": {"$is": ["web"]}},
     "3": {"name": "order.items.any",
           "conditions": {"$is": [{"id": "prod_…", "object": "product"}]},
           "rules": {"1": {"name": "order.items.aggregated_quantity", "conditions": {"$more_than": [1]}},
                     "logic": "1"}},
     "logic": "1 and (2 or 3)"}

Condition names and what their values are (amounts are whole numbers in minor units, as everywhere):

- ``order.amount``, ``order.total_amount``, ``order.initial_amount``: amounts of the order;
- ``order.items.count``: the number of lines; ``order.items.quantity``: the number of units (Σ quantity);
- ``order.items.price_any`` / ``order.items.price_each``: the unit price of some line / of every line (a cart
  without lines has no line to satisfy either);
- ``order.metadata`` / ``customer.metadata`` with ``property`` (the key): the JSON value under that key;
  ``$is``/``$in`` compare JSON scalars by type and value (5 matches 5.0, never "5"), the comparisons take
  numbers, ``$contains``/``$starts_with``/``$ends_with`` text (case matters), ``$before``/``$after`` ISO
  dates held as text (a day ``2026-01-31`` or an instant ``2026-01-31T12:00:00Z``). A key that is missing
  or null is unknown: it satisfies no positive test, and ``$is_not``/``$not_in``/``$is_unknown`` hold for it.
  An order without a customer has empty customer metadata;
- ``customer.segment``: ``$in``/``$not_in`` segment ids (an order without a customer is in no segment);
- ``order.items.any`` / ``order.items.every`` / ``order.items.none`` with ``$is`` (or ``$in``) and a list of
  ``{"id": "prod_…"|"sku_…", "object": "product"|"sku"}``: some line / every line (of a cart with at least
  one line) / no line is one of those catalog objects and passes the nested ``rules``. A line matches a
  product when it names that product, also through one of its SKUs; a SKU when it names that SKU. The
  nested rules (their own numbered conditions and logic) are read per line and per listed object:
  ``order.items.quantity`` and ``order.items.price`` are the line's own quantity and unit price,
  ``order.items.aggregated_quantity`` and ``order.items.aggregated_amount`` the sums over all the order's
  lines that match the same listed object.

Operators: ``$is``, ``$is_not``, ``$in``, ``$not_in``, ``$more_than``, ``$more_than_or_equal``,
``$less_than``, ``$less_than_or_equal``, ``$contains``, ``$starts_with``, ``$ends_with``, ``$has_value``,
``$is_unknown``, ``$before``, ``$after``. One value for ``$is``, ``$is_not``, the comparisons and the dates;
one or more for ``$in``/``$not_in`` and the text tests (any of them); none for ``$has_value``/
``$is_unknown``. ``$more_than_equal``/``$less_than_equal`` (the segment language's spelling) are accepted and
stored as ``…_or_equal``. Several operators in one condition must all hold.

:func:`parse` checks a rule and returns a :class:`RuleSet` or raises :class:`RuleError` listing every
problem, each with a path that names its condition (``"2.conditions"``, ``"3.rules.1.conditions"``,
``"logic"``). ``RuleSet.to_json()`` is the canonical form that is stored. Whether the products, SKUs and
segments named exist is for the service to check (:func:`catalog_refs`, :func:`segment_ids`).
"""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from orders.money import format_minor

from . import logic as logic_

# --- vocabulary ----------------------------------------------------------------------------------------

IS, IS_NOT, IN, NOT_IN = "$is", "$is_not", "$in", "$not_in"
MORE, MORE_EQ, LESS, LESS_EQ = "$more_than", "$more_than_or_equal", "$less_than", "$less_than_or_equal"
CONTAINS, STARTS, ENDS = "$contains", "$starts_with", "$ends_with"
HAS_VALUE, IS_UNKNOWN = "$has_value", "$is_unknown"
BEFORE, AFTER = "$before", "$after"

OPERATORS = (IS, IS_NOT, IN, NOT_IN, MORE, MORE_EQ, LESS, LESS_EQ, CONTAINS, STARTS, ENDS, HAS_VALUE, IS_UNKNOWN)
OPERATORS += (BEFORE, AFTER)
ALIASES = {"$more_than_equal": MORE_EQ, "$less_than_equal": LESS_EQ}
COMPARISONS = (MORE, MORE_EQ, LESS, LESS_EQ)
TEXT_MATCHES = (CONTAINS, STARTS, ENDS)
NO_VALUE = (HAS_VALUE, IS_UNKNOWN)
MANY_VALUES = (IN, NOT_IN, *TEXT_MATCHES)
NEGATIVE = (IS_NOT, NOT_IN, IS_UNKNOWN)

OPERATOR_LABELS = {
    IS: "is",
    IS_NOT: "is not",
    IN: "is one of",
    NOT_IN: "is none of",
    MORE: "is more than",
    MORE_EQ: "is at least",
    LESS: "is less than",
    LESS_EQ: "is at most",
    CONTAINS: "contains",
    STARTS: "starts with",
    ENDS: "ends with",
    HAS_VALUE: "is known",
    IS_UNKNOWN: "is unknown",
    BEFORE: "is before",
    AFTER: "is after",
}

MONEY, COUNT, METADATA, SEGMENT, ITEMS = "money", "count", "metadata", "segment", "items"
NUMBER_OPERATORS = (IS, IS_NOT, IN, NOT_IN, *COMPARISONS)
ITEM_OBJECT_OPERATORS = (IS, IN)

MAX_CONDITIONS = 50
MAX_SUB_CONDITIONS = 20
MAX_VALUES = 500
MAX_TEXT = 255
MAX_KEY_LENGTH = 100  # as orders.metadata.MAX_KEY_LENGTH
MAX_MESSAGE = 500
MAX_AMOUNT = 10**15
MAX_COUNT = 10**9
CONDITION_KEY = re.compile(r"^[1-9][0-9]{0,3}$")
CONDITION_FIELDS = frozenset({"name", "property", "conditions", "rules", "error"})


@dataclass(frozen=True)
class Spec:
    """One condition name: ``kind`` says what its values are; ``scope``: what it reads (``order``,
    ``customer`` or ``item`` for the nested conditions of ``order.items.any|every|none``)."""

    name: str
    label: str
    kind: str
    scope: str
    operators: tuple[str, ...]
    has_property: bool = False

    @property
    def is_customer(self) -> bool:
        return self.scope == "customer"


_SPECS = (
    Spec("order.amount", "Order amount", MONEY, "order", NUMBER_OPERATORS),
    Spec("order.total_amount", "Order total (after discounts)", MONEY, "order", NUMBER_OPERATORS),
    Spec("order.initial_amount", "Order initial amount", MONEY, "order", NUMBER_OPERATORS),
    Spec("order.items.count", "Number of lines", COUNT, "order", NUMBER_OPERATORS),
    Spec("order.items.quantity", "Number of units", COUNT, "order", NUMBER_OPERATORS),
    Spec("order.items.price_any", "Unit price of any line", MONEY, "order", NUMBER_OPERATORS),
    Spec("order.items.price_each", "Unit price of each line", MONEY, "order", NUMBER_OPERATORS),
    Spec("order.metadata", "Order metadata", METADATA, "order", OPERATORS, has_property=True),
    Spec("order.items.any", "Any line is", ITEMS, "order", ITEM_OBJECT_OPERATORS),
    Spec("order.items.every", "Every line is", ITEMS, "order", ITEM_OBJECT_OPERATORS),
    Spec("order.items.none", "No line is", ITEMS, "order", ITEM_OBJECT_OPERATORS),
    Spec("customer.segment", "Customer segment", SEGMENT, "customer", (IN, NOT_IN)),
    Spec("customer.metadata", "Customer metadata", METADATA, "customer", OPERATORS, has_property=True),
)
CONDITIONS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}

_ITEM_SPECS = (
    Spec("order.items.quantity", "Line quantity", COUNT, "item", NUMBER_OPERATORS),
    Spec("order.items.aggregated_quantity", "Units of this product in the order", COUNT, "item", NUMBER_OPERATORS),
    Spec("order.items.price", "Line unit price", MONEY, "item", NUMBER_OPERATORS),
    Spec("order.items.aggregated_amount", "Amount of this product in the order", MONEY, "item", NUMBER_OPERATORS),
)
ITEM_CONDITIONS: dict[str, Spec] = {spec.name: spec for spec in _ITEM_SPECS}

CATALOG_OBJECTS = ("product", "sku")


# --- values --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateValue:
    """A day (``2026-01-31``) or an instant (``2026-01-31T12:00:00Z``, kept in UTC), as typed."""

    text: str
    day: dt.date | None = None
    instant: dt.datetime | None = None

    def bound(self, operator: str) -> tuple[str, str]:
        """How a text value compares to be ``$after``/``$before`` this date: (``"gt"``/``"gte"``/``"lt"``,
        ISO text). Dates are compared as the text metadata holds, so a day's own date-times
        ("2026-01-31T10:00") sort after the day and before the next one: neither before nor after it."""
        if self.day is not None:
            if operator == AFTER:
                return "gte", (self.day + dt.timedelta(days=1)).isoformat()
            return "lt", self.day.isoformat()
        moment = self.instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return ("gt" if operator == AFTER else "lt"), moment


def parse_date(value) -> DateValue:
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return DateValue(text=text, day=dt.date.fromisoformat(text))
            except ValueError:
                pass
        elif len(text) > 10:
            try:
                instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                pass
            else:
                if timezone.is_naive(instant):
                    instant = instant.replace(tzinfo=dt.UTC)
                return DateValue(text=text, instant=instant.astimezone(dt.UTC))
    raise ValueError(f"{_show(value)} is not a date: write 2026-01-31 or 2026-01-31T12:00:00Z")


@dataclass(frozen=True)
class CatalogRef:
    id: str
    object: str  # "product" | "sku"

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "object": self.object}


# --- the parsed form -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    operator: str
    values: tuple

    def json_values(self) -> list:
        return [
            value.text if isinstance(value, DateValue) else value.to_json() if isinstance(value, CatalogRef) else value
            for value in self.values
        ]


@dataclass(frozen=True)
class Condition:
    key: str
    spec: Spec
    tests: tuple[Test, ...]
    prop: str | None = None  # the metadata key ("property" in the JSON)
    message: str = ""
    sub: "RuleSet | None" = None  # the nested rules of order.items.any|every|none

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def objects(self) -> tuple[CatalogRef, ...]:
        return self.tests[0].values if self.spec.kind == ITEMS else ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.spec.name}
        if self.prop is not None:
            data["property"] = self.prop
        data["conditions"] = {test.operator: test.json_values() for test in self.tests}
        if self.sub is not None:
            data["rules"] = self.sub.to_json()
        if self.message:
            data["error"] = {"message": self.message}
        return data

    def describe(self) -> str:
        """In words, for people: "Order amount is at least $50.00"."""
        label = self.spec.label
        if self.prop is not None:
            label = f"{label} “{self.prop}”"
        parts = []
        for test in self.tests:
            words = OPERATOR_LABELS[test.operator]
            if self.spec.kind == ITEMS:
                shown = ", ".join(ref.id for ref in test.values)
                parts.append(f"{label} {shown}" + (f" with {self.sub.describe()}" if self.sub else ""))
                continue
            shown = ", ".join(self._show_value(value) for value in test.values)
            parts.append(f"{label} {words}{' ' + shown if shown else ''}")
        return "; ".join(parts)

    def _show_value(self, value) -> str:
        if isinstance(value, DateValue):
            return value.text
        if self.spec.kind == MONEY:
            return format_minor(value)
        if isinstance(value, str):
            return f"“{value}”"
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


@dataclass(frozen=True)
class RuleSet:
    """Numbered conditions and the logic that joins them (a rule, or the nested rules of an items test)."""

    conditions: dict[str, Condition]
    logic: tuple
    logic_text: str
    uses_segments: bool = field(default=False, compare=False)
    uses_customer: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: condition.to_json() for key, condition in self.conditions.items()}
        data["logic"] = self.logic_text
        return data

    def describe(self) -> str:
        if len(self.conditions) == 1 and self.logic[0] == "ref":
            return next(iter(self.conditions.values())).describe()
        parts = [f"[{key}] {condition.describe()}" for key, condition in self.conditions.items()]
        return "; ".join(parts) + f" (logic: {self.logic_text})"


class RuleError(ValueError):
    """Every problem of a rule: ``problems`` is a list of (path, message); a path names its condition
    (``"2.conditions"``, ``"3.rules.1.conditions"``), ``"logic"``, or ``""`` for the rule as a whole."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    def as_dict(self, prefix: str = "") -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for path, message in self.problems:
            full = f"{prefix}.{path}" if prefix and path else (prefix or path)
            errors.setdefault(full, []).append(message)
        return errors


# --- checking ------------------------------------------------------------------------------------------


def _show(value) -> str:
    text = repr(value) if not isinstance(value, str) else f"“{value}”"
    return text if len(text) <= 60 else text[:57] + "…"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed_value(spec: Spec, operator: str, value, where: str):
    """One value of a test, typed; ValueError saying what is wrong (``where`` names the condition)."""
    if spec.kind in (MONEY, COUNT):
        limit = MAX_AMOUNT if spec.kind == MONEY else MAX_COUNT
        noun = "an amount: a whole number in minor units (cents), e.g. 5000" if spec.kind == MONEY else "a whole number"
        if not _is_int(value):
            raise ValueError(f"{where}: {_show(value)} is not {noun}")
        if not 0 <= value <= limit:
            raise ValueError(f"{where}: {value} is out of range (0 to {limit:,})")
        return value
    if spec.kind == SEGMENT:
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise ValueError(f"{where}: {_show(value)} is not a segment id (seg_…)")
        return value.strip()
    if spec.kind == ITEMS:
        if not isinstance(value, Mapping):
            example = '{"id": "prod_…", "object": "product"}'
            raise ValueError(f"{where}: {_show(value)} is not a catalog object: write {example}")
        object_ = value.get("object")
        ref_id = value.get("id")
        if object_ not in CATALOG_OBJECTS:
            raise ValueError(f"{where}: “object” must be “product” or “sku”, not {_show(object_)}")
        if not isinstance(ref_id, str) or not ref_id.strip() or len(ref_id) > 64:
            prefix = "prod" if object_ == "product" else "sku"
            raise ValueError(f"{where}: “id” must be the {object_}'s id ({prefix}_…)")
        return CatalogRef(id=ref_id.strip(), object=object_)
    # metadata
    if operator in COMPARISONS:
        if not _is_number(value):
            raise ValueError(f"{where}: {OPERATOR_LABELS[operator]} compares numbers; {_show(value)} is not one")
        return value
    if operator in TEXT_MATCHES:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}: {OPERATOR_LABELS[operator]} takes text; {_show(value)} is not")
        if len(value) > MAX_TEXT:
            raise ValueError(f"{where}: a value has at most {MAX_TEXT} characters")
        return value
    if operator in (BEFORE, AFTER):
        try:
            return parse_date(value)
        except ValueError as problem:
            raise ValueError(f"{where}: {problem}") from None
    if not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"{where}: {_show(value)} is not text, a number or true/false")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError(f"{where}: a value has at most {MAX_TEXT} characters")
    return value


def _check_test(spec: Spec, operator: str, raw, where: str, problems: list, path: str) -> Test | None:
    if operator not in spec.operators:
        allowed = ", ".join(spec.operators)
        if operator in OPERATORS:
            problems.append((path, f"{where}: {spec.name} does not take {operator}; use one of {allowed}."))
        else:
            problems.append((path, f"{where}: unknown operator {_show(operator)}; {spec.name} takes {allowed}."))
        return None
    if operator in NO_VALUE:
        if raw not in (None, [], ()):
            problems.append((path, f"{where}: {operator} takes no values (write [])."))
            return None
        return Test(operator, ())
    if not isinstance(raw, (list, tuple)):
        problems.append((path, f"{where}: the values of {operator} must be a list, e.g. [{_example(spec)}]."))
        return None
    if not raw:
        problems.append((path, f"{where}: {operator} needs a value."))
        return None
    if operator not in MANY_VALUES and spec.kind != ITEMS and len(raw) != 1:
        problems.append((path, f"{where}: {operator} takes exactly one value, not {len(raw)}."))
        return None
    if len(raw) > MAX_VALUES:
        problems.append((path, f"{where}: at most {MAX_VALUES} values."))
        return None
    values = []
    broken = False
    for value in raw:
        try:
            values.append(_typed_value(spec, operator, value, where))
        except ValueError as problem:
            problems.append((path, f"{problem}."))
            broken = True
    if broken:
        return None
    return Test(operator, tuple(dict.fromkeys(values)) if spec.kind != METADATA else tuple(values))


def _example(spec: Spec) -> str:
    return {MONEY: "5000", COUNT: "2", SEGMENT: '"seg_…"', ITEMS: '{"id": "prod_…", "object": "product"}'}.get(
        spec.kind, '"web"'
    )


def _check_condition(key: str, data, *, specs: Mapping[str, Spec], path: str, problems: list, depth: int):
    where = f"Condition {path.replace('.rules.', ' › ')}"
    if not isinstance(data, Mapping):
        problems.append((path, f"{where}: must be an object with a name and conditions."))
        return None
    name = data.get("name")
    spec = specs.get(name) if isinstance(name, str) else None
    if spec is None:
        if depth and isinstance(name, str) and name in CONDITIONS:
            allowed = ", ".join(specs)
            problems.append((f"{path}.name", f"{where}: {name} cannot be nested; inside items use {allowed}."))
        elif not depth and isinstance(name, str) and name in ITEM_CONDITIONS:
            problems.append(
                (f"{path}.name", f"{where}: {name} belongs inside order.items.any/every/none (under “rules”).")
            )
        else:
            listing = ", ".join(specs)
            problems.append((f"{path}.name", f"{where}: unknown condition name {_show(name)}; use one of {listing}."))
        return None
    where = f"{where} ({spec.name})"
    unknown = data.keys() - CONDITION_FIELDS
    if unknown:
        problems.append((path, f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}."))
    prop = data.get("property")
    if spec.has_property:
        if not isinstance(prop, str) or not prop.strip():
            problems.append((f"{path}.property", f"{where}: name the metadata key in “property”."))
            prop = None
        elif len(prop.strip()) > MAX_KEY_LENGTH:
            problems.append((f"{path}.property", f"{where}: a metadata key has at most {MAX_KEY_LENGTH} characters."))
            prop = None
        else:
            prop = prop.strip()
    elif prop not in (None, ""):
        problems.append((f"{path}.property", f"{where}: takes no “property” (only metadata conditions do)."))
    message = ""
    error = data.get("error")
    if error is not None:
        text = error.get("message") if isinstance(error, Mapping) else None
        if not isinstance(error, Mapping) or not isinstance(text, (str, type(None))):
            problems.append((f"{path}.error", f'{where}: “error” must be {{"message": "…"}}.'))
        elif text and len(text) > MAX_MESSAGE:
            problems.append((f"{path}.error", f"{where}: the message has at most {MAX_MESSAGE} characters."))
        else:
            message = (text or "").strip()
    conditions = data.get("conditions")
    tests: list[Test] = []
    if not isinstance(conditions, Mapping) or not conditions:
        example = f'{{"$is": [{_example(spec)}]}}'
        problems.append((f"{path}.conditions", f"{where}: “conditions” must name an operator, e.g. {example}."))
    else:
        for operator, raw in conditions.items():
            canonical = ALIASES.get(operator, operator)
            test = _check_test(spec, canonical, raw, where, problems, f"{path}.conditions")
            if test is not None:
                tests.append(test)
        if spec.kind == ITEMS and len(conditions) > 1:
            problems.append((f"{path}.conditions", f"{where}: give the products/SKUs under one operator ($is)."))
    sub = None
    nested = data.get("rules")
    if spec.kind == ITEMS:
        if nested not in (None, {}) and not (isinstance(nested, Mapping) and set(nested) <= {"logic"}):
            sub = _check_ruleset(nested, specs=ITEM_CONDITIONS, prefix=f"{path}.rules", problems=problems, depth=1)
    elif nested not in (None, {}):
        problems.append((f"{path}.rules", f"{where}: only order.items.any/every/none take nested “rules”."))
    if not tests or any(p[0] == path or p[0].startswith(f"{path}.") for p in problems):
        return None
    return Condition(key=key, spec=spec, tests=tuple(tests), prop=prop, message=message, sub=sub)


def _check_ruleset(data, *, specs, prefix: str, problems: list, depth: int) -> RuleSet | None:
    at = f"{prefix}." if prefix else ""
    if not isinstance(data, Mapping):
        problems.append((prefix, "The rules must be an object of numbered conditions and a “logic” expression."))
        return None
    keys = [key for key in data if key != "logic"]
    limit = MAX_SUB_CONDITIONS if depth else MAX_CONDITIONS
    if not keys:
        problems.append((prefix, "Add at least one condition."))
    if len(keys) > limit:
        problems.append((prefix, f"At most {limit} conditions."))
        return None
    conditions: dict[str, Condition] = {}
    for key in keys:
        if not isinstance(key, str) or not CONDITION_KEY.match(key):
            problems.append((f"{at}{key}", f"Condition keys are numbers (1, 2, 3 …), not {_show(key)}."))
            continue
        condition = _check_condition(key, data[key], specs=specs, path=f"{at}{key}", problems=problems, depth=depth)
        if condition is not None:
            conditions[key] = condition
    raw_logic = data.get("logic")
    if raw_logic in (None, ""):
        raw_logic = logic_.conjunction(sorted((k for k in keys if isinstance(k, str)), key=_key_order))
    tree = None
    try:
        tree = logic_.parse(raw_logic)
    except logic_.LogicError as problem:
        problems.append((f"{at}logic", f"Logic: {problem.message}"))
    if tree is not None:
        named = logic_.references(tree)
        missing = [key for key in named if key not in keys]
        if missing:
            many = len(missing) > 1
            message = f"Logic names condition{'s' if many else ''} {', '.join(missing)}, which the rule does not have."
            problems.append((f"{at}logic", message))
        unused = [key for key in keys if isinstance(key, str) and key not in named]
        if unused:
            many = len(unused) > 1
            verb = "are" if many else "is"
            message = f"Condition{'s' if many else ''} {', '.join(unused)} {verb} not used in the logic expression."
            problems.append((f"{at}logic", message))
    if tree is None or len(conditions) != len(keys) or any(p[0].startswith(at) or p[0] == prefix for p in problems):
        return None
    values = conditions.values()
    return RuleSet(
        conditions={key: conditions[key] for key in sorted(conditions, key=_key_order)},
        logic=tree,
        logic_text=logic_.to_text(tree),
        uses_segments=any(c.spec.kind == SEGMENT for c in values),
        uses_customer=any(c.spec.is_customer for c in values),
    )


def _key_order(key: str):
    return (len(key), key)


def parse(data) -> RuleSet:
    """A rule's stored JSON → RuleSet; RuleError listing every problem."""
    problems: list[tuple[str, str]] = []
    ruleset = _check_ruleset(data, specs=CONDITIONS, prefix="", problems=problems, depth=0)
    if problems or ruleset is None:
        raise RuleError(problems or [("", "The rule is not valid.")])
    return ruleset


# --- what a rule refers to ------------------------------------------------------------------------------


def catalog_refs(ruleset: RuleSet) -> list[tuple[str, CatalogRef]]:
    """(condition path, ref) for every product/SKU the rule names."""
    return [
        (f"{key}.conditions", ref)
        for key, condition in ruleset.conditions.items()
        if condition.spec.kind == ITEMS
        for ref in condition.objects
    ]


def segment_ids(ruleset: RuleSet) -> list[tuple[str, str]]:
    """(condition path, segment id) for every segment the rule names."""
    return [
        (f"{key}.conditions", value)
        for key, condition in ruleset.conditions.items()
        if condition.spec.kind == SEGMENT
        for test in condition.tests
        for value in test.values
    ]


def decimal(value) -> Decimal:
    """Numbers compared exactly, as PostgreSQL's numeric does (0.1 is 0.1, not 0.1000000000000000055…)."""
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
