"""The segment filter language (DESIGN §4): what a filter may say, how it is checked, and how it reads.

A filter is a JSON object::

    {"junction": "and",
     "summary.orders.total_amount": {"conditions": {"$more_than": [15000]}},
     "summary.orders.total_count": {"conditions": {"$more_than_equal": [3]}},
     "summary.orders.last_order_date": {"conditions": {"$after": ["90 days ago"]}},
     "metadata.tier": {"conditions": {"$in": ["gold", "silver"]}}}

Every operator of every attribute is one condition, and ``junction`` ("and", the default, or "or") joins
all of them. Attributes and what their values are:

- ``summary.orders.total_amount`` / ``average_amount`` / ``last_order_amount``: amounts, whole numbers in
  minor units (cents), as everywhere in the API; ``summary.orders.total_count``: a whole number;
- ``summary.orders.last_order_date``, ``created_at``: a day (``"2026-01-31"``, meaning that whole UTC day),
  an instant (``"2026-01-31T12:00:00Z"``) or ``"N days ago"`` (the instant N × 24 hours before the query
  runs, so the segment moves with time);
- ``email``, ``name``: text, compared ignoring the case of the letters A–Z (other characters exactly, so
  that SQLite and PostgreSQL agree); an empty email or name is "unknown";
- ``metadata.<key>``: the JSON value under that key of the customer's metadata. ``$is``/``$in`` compare
  JSON scalars by type and value (5 matches 5.0, never "5"); ``$more_than`` … compare numbers;
  ``$contains``/``$starts_with``/``$ends_with`` compare text exactly (case matters); ``$before``/``$after``
  compare text holding ISO dates. A value of another type than the operator's never matches.

Operators, by what they take: ``$is``, ``$is_not``, ``$more_than``, ``$more_than_equal``, ``$less_than``,
``$less_than_equal``, ``$before``, ``$after``: one value; ``$in``, ``$not_in``: one or more;
``$contains``, ``$starts_with``, ``$ends_with``: one or more (any of them); ``$has_value``,
``$is_unknown``: none. ``$more_than_or_equal`` and ``$less_than_or_equal`` are accepted as aliases and
stored under the names above. Unknown values — a customer without orders has no last order date, a key
missing from the metadata — never satisfy a comparison; the negative operators ``$is_not`` and ``$not_in``
do include them ("not known to be X").

:func:`parse` checks a filter and returns a :class:`Definition` (typed, in a canonical order) or raises
:class:`FilterError` listing every problem, each naming its condition; ``Definition.to_json()`` is the
canonical form that is stored; :func:`describe` says it in words. ``segments.compiler`` turns a
definition into one ORM query.
"""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from orders.choices import MetadataType
from orders.money import format_minor

# --- vocabulary ----------------------------------------------------------------------------------------

MONEY, COUNT, DATE, TEXT, METADATA = "money", "count", "date", "text", "metadata"
METADATA_PREFIX = "metadata."
MAX_CONDITIONS = 50
MAX_VALUES = 1000
MAX_TEXT = 255
MAX_KEY_LENGTH = 100  # as orders.metadata.MAX_KEY_LENGTH
MAX_AMOUNT = 10**15
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    kind: str
    column: str | None = None  # the Customer field, for the attributes that are columns
    nullable: bool = False


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("summary.orders.total_amount", "Total spent", MONEY, "orders_total_amount"),
        Attribute("summary.orders.total_count", "Number of orders", COUNT, "orders_total_count"),
        Attribute("summary.orders.average_amount", "Average order", MONEY, "orders_average_amount"),
        Attribute("summary.orders.last_order_amount", "Last order amount", MONEY, "last_order_amount", True),
        Attribute("summary.orders.last_order_date", "Last order date", DATE, "last_order_date", True),
        Attribute("created_at", "Customer since", DATE, "created_at"),
        Attribute("email", "Email", TEXT, "email"),
        Attribute("name", "Name", TEXT, "name"),
    )
}

IS, IS_NOT, IN, NOT_IN = "$is", "$is_not", "$in", "$not_in"
MORE, MORE_EQ, LESS, LESS_EQ = "$more_than", "$more_than_equal", "$less_than", "$less_than_equal"
CONTAINS, STARTS, ENDS = "$contains", "$starts_with", "$ends_with"
HAS_VALUE, IS_UNKNOWN = "$has_value", "$is_unknown"
BEFORE, AFTER = "$before", "$after"

OPERATORS = (IS, IS_NOT, IN, NOT_IN, MORE, MORE_EQ, LESS, LESS_EQ, CONTAINS, STARTS, ENDS, BEFORE, AFTER)
OPERATORS += (HAS_VALUE, IS_UNKNOWN)
ALIASES = {"$more_than_or_equal": MORE_EQ, "$less_than_or_equal": LESS_EQ}
COMPARISONS = (MORE, MORE_EQ, LESS, LESS_EQ)
TEXT_MATCHES = (CONTAINS, STARTS, ENDS)
NO_VALUE = (HAS_VALUE, IS_UNKNOWN)
ONE_VALUE = (IS, IS_NOT, *COMPARISONS, BEFORE, AFTER)

OPERATORS_BY_KIND = {
    MONEY: (IS, IS_NOT, IN, NOT_IN, *COMPARISONS, *NO_VALUE),
    COUNT: (IS, IS_NOT, IN, NOT_IN, *COMPARISONS, *NO_VALUE),
    DATE: (IS, IS_NOT, BEFORE, AFTER, *NO_VALUE),
    TEXT: (IS, IS_NOT, IN, NOT_IN, *TEXT_MATCHES, *NO_VALUE),
    METADATA: OPERATORS,
}
JUNCTIONS = ("and", "or")


def attribute(name: str) -> Attribute | None:
    """The attribute named ``name`` (``metadata.<key>`` included), or None."""
    if name.startswith(METADATA_PREFIX):
        key = name.removeprefix(METADATA_PREFIX)
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        return Attribute(name, f"Metadata “{key}”", METADATA)
    return ATTRIBUTES.get(name)


def metadata_key(name: str) -> str:
    return name.removeprefix(METADATA_PREFIX)


# --- dates ---------------------------------------------------------------------------------------------

RELATIVE = re.compile(r"^\s*(\d{1,6})\s+days?\s+ago\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DateValue:
    """A day (the whole UTC day), an instant, or "N days ago" (resolved when the query runs)."""

    day: dt.date | None = None
    instant: dt.datetime | None = None
    days_ago: int | None = None

    @property
    def text(self) -> str:
        if self.days_ago is not None:
            return f"{self.days_ago} day{'' if self.days_ago == 1 else 's'} ago"
        if self.day is not None:
            return self.day.isoformat()
        return self.instant.isoformat().replace("+00:00", "Z")

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
        """(start, end): a day is [its start, the next day's start); an instant or a relative date is the
        single instant (end None)."""
        if self.day is not None:
            start = dt.datetime.combine(self.day, dt.time.min, tzinfo=timezone.get_current_timezone())
            return start, start + dt.timedelta(days=1)
        if self.days_ago is not None:
            return now - dt.timedelta(days=self.days_ago), None
        return self.instant, None


def parse_date(value) -> DateValue:
    """``"2026-01-31"`` | ``"2026-01-31T12:00:00Z"`` | ``"90 days ago"`` → DateValue; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be a date as text: 2026-01-31, 2026-01-31T12:00:00Z or “90 days ago”")
    text = value.strip()
    if match := RELATIVE.match(text):
        days = int(match.group(1))
        if days > MAX_DAYS:
            raise ValueError(f"must be at most {MAX_DAYS:,} days ago")
        return DateValue(days_ago=days)
    if len(text) == 10:
        try:
            return DateValue(day=dt.date.fromisoformat(text))
        except ValueError:
            pass
    else:
        try:
            instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            if timezone.is_naive(instant):
                instant = instant.replace(tzinfo=dt.UTC)
            return DateValue(instant=instant.astimezone(dt.UTC))
    raise ValueError(f"“{text}” is not a date: use 2026-01-31, 2026-01-31T12:00:00Z or “90 days ago”")


# --- the parsed form -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    attribute: Attribute
    operator: str
    values: tuple  # typed: int (money, count), str (text), DateValue, or JSON scalars (metadata)

    @property
    def path(self) -> str:
        """Where this condition is in the filter: what error messages and the builder refer to."""
        return f"{self.attribute.name}.{self.operator}"

    def json_values(self) -> list:
        return [value.text if isinstance(value, DateValue) else value for value in self.values]


@dataclass(frozen=True)
class Definition:
    junction: str
    conditions: tuple[Condition, ...]

    def to_json(self) -> dict[str, Any]:
        """The canonical filter: junction first, attributes in a fixed order, operators by their names."""
        data: dict[str, Any] = {"junction": self.junction}
        for condition in self.conditions:
            entry = data.setdefault(condition.attribute.name, {"conditions": {}})
            entry["conditions"][condition.operator] = condition.json_values()
        return data

    @property
    def attributes(self) -> list[str]:
        return list(dict.fromkeys(c.attribute.name for c in self.conditions))


class FilterError(ValueError):
    """Every problem found in a filter: ``problems`` is a list of (path, message); the path names the
    condition (``summary.orders.total_amount.$more_than``) or the part of the filter at fault."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))

    def as_dict(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for path, message in self.problems:
            errors.setdefault(path, []).append(message)
        return errors


def _order_key(condition: Condition) -> tuple:
    names = list(ATTRIBUTES)
    name = condition.attribute.name
    position = names.index(name) if name in names else len(names)
    return (position, name, OPERATORS.index(condition.operator))


def parse(data, *, metadata_types: Mapping[str, str] | None = None) -> Definition:
    """Check a filter (already decoded from JSON) and return its Definition; raise FilterError naming every
    bad condition. ``metadata_types`` (key → orders MetadataType of the customer metadata schema), when
    given, also refuses values that cannot match a defined key's type."""
    problems: list[tuple[str, str]] = []
    if not isinstance(data, Mapping):
        raise FilterError([("", "The filter must be a JSON object of attributes and their conditions.")])
    junction = data.get("junction", "and")
    if not isinstance(junction, str) or junction.strip().lower() not in JUNCTIONS:
        problems.append(("junction", f"must be “and” or “or”, not {_show(junction)}"))
        junction = "and"
    junction = junction.strip().lower()
    conditions: list[Condition] = []
    for name, entry in data.items():
        if name == "junction":
            continue
        found = attribute(name) if isinstance(name, str) else None
        if found is None:
            problems.append((str(name), _unknown_attribute(name)))
            continue
        if not isinstance(entry, Mapping) or not isinstance(entry.get("conditions"), Mapping):
            problems.append((name, 'must be an object like {"conditions": {"$is": [value]}}'))
            continue
        extra = sorted(set(entry) - {"conditions"})
        if extra:
            problems.append((name, f"has unknown fields: {', '.join(map(str, extra))} (only “conditions”)"))
        if not entry["conditions"]:
            problems.append((name, "has no conditions"))
        seen: set[str] = set()
        for raw_operator, raw_values in entry["conditions"].items():
            operator = ALIASES.get(raw_operator, raw_operator)
            path = f"{name}.{raw_operator}"
            if operator not in OPERATORS:
                problems.append((path, f"{found.label}: unknown operator {_show(raw_operator)}"))
                continue
            if operator not in OPERATORS_BY_KIND[found.kind]:
                allowed = ", ".join(OPERATORS_BY_KIND[found.kind])
                problems.append((path, f"{found.label} cannot use {operator}; it takes {allowed}"))
                continue
            if operator in seen:
                problems.append((path, f"{found.label}: {operator} is given twice (once under an alias)"))
                continue
            seen.add(operator)
            try:
                values = _values(found, operator, raw_values, metadata_types)
            except ValueError as problem:
                problems.append((f"{name}.{operator}", f"{found.label} {OPERATOR_WORDS[operator]}: {problem}"))
                continue
            conditions.append(Condition(found, operator, values))
    if not conditions and not problems:
        problems.append(("", "Add at least one condition."))
    if len(conditions) > MAX_CONDITIONS:
        problems.append(("", f"A filter has at most {MAX_CONDITIONS} conditions; this one has {len(conditions)}."))
    if problems:
        raise FilterError(problems)
    return Definition(junction=junction, conditions=tuple(sorted(conditions, key=_order_key)))


OPERATOR_WORDS = {
    IS: "is",
    IS_NOT: "is not",
    IN: "is one of",
    NOT_IN: "is none of",
    MORE: "more than",
    MORE_EQ: "at least",
    LESS: "less than",
    LESS_EQ: "at most",
    CONTAINS: "contains",
    STARTS: "starts with",
    ENDS: "ends with",
    BEFORE: "before",
    AFTER: "after",
    HAS_VALUE: "has a value",
    IS_UNKNOWN: "is unknown",
}


def _show(value) -> str:
    text = repr(value) if not isinstance(value, str) else f"“{value}”"
    return text if len(text) <= 60 else text[:57] + "…"


def _unknown_attribute(name) -> str:
    if isinstance(name, str) and name.startswith(METADATA_PREFIX):
        return f"a metadata key must have 1 to {MAX_KEY_LENGTH} characters after “metadata.”"
    known = ", ".join([*ATTRIBUTES, "metadata.<key>"])
    return f"unknown attribute {_show(name)}; use one of {known}"


def _values(attr: Attribute, operator: str, raw, metadata_types) -> tuple:
    if operator in NO_VALUE:
        if raw in (None, True, [], [True]):
            return ()
        raise ValueError("takes no value (give [] or leave it empty)")
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise ValueError("needs a value")
    if operator in ONE_VALUE and len(values) != 1:
        hint = (
            " (use $in for several)" if operator == IS else " (use $not_in for several)" if operator == IS_NOT else ""
        )
        raise ValueError(f"takes exactly one value, got {len(values)}{hint}")
    if len(values) > MAX_VALUES:
        raise ValueError(f"takes at most {MAX_VALUES} values")
    return tuple(_value(attr, operator, value, metadata_types) for value in values)


def _value(attr: Attribute, operator: str, value, metadata_types):
    if attr.kind in (MONEY, COUNT):
        if isinstance(value, bool) or not isinstance(value, int):
            if attr.kind == MONEY:
                raise ValueError(f"amounts are whole numbers in minor units (15000 for 150.00), not {_show(value)}")
            raise ValueError(f"must be a whole number, not {_show(value)}")
        if abs(value) > MAX_AMOUNT:
            raise ValueError("that number is too large")
        return value
    if attr.kind == DATE:
        return parse_date(value)
    if attr.kind == TEXT:
        return _text(value)
    return _metadata_value(metadata_key(attr.name), operator, value, metadata_types or {})


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {_show(value)}")
    if not value.strip():
        raise ValueError("must not be empty (use $is_unknown for “no value”)")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    return value.strip()


def _metadata_value(key: str, operator: str, value, types: Mapping[str, str]):
    declared = types.get(key)
    if declared == MetadataType.OBJECT:
        raise ValueError("holds objects, which cannot be compared with a value")
    if operator in (BEFORE, AFTER):
        if declared not in (None, MetadataType.DATE, MetadataType.DATETIME, MetadataType.STRING):
            raise ValueError(f"holds {declared} values in the customer metadata schema, not dates")
        return parse_date(value)
    if operator in TEXT_MATCHES:
        if declared not in (None, MetadataType.STRING, MetadataType.DATE, MetadataType.DATETIME):
            raise ValueError(f"holds {declared} values in the customer metadata schema, not text")
        return _text(value)
    if operator in COMPARISONS:
        if declared not in (None, MetadataType.NUMBER):
            raise ValueError(f"holds {declared} values in the customer metadata schema, not numbers")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {_show(value)}")
        return _finite(value)
    # $is, $is_not, $in, $not_in: a JSON scalar, of the declared type when the key is in the schema
    if isinstance(value, bool):
        expected = MetadataType.BOOLEAN
    elif isinstance(value, (int, float)):
        value, expected = _finite(value), MetadataType.NUMBER
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"must be at most {MAX_TEXT} characters")
        expected = MetadataType.STRING
    else:
        raise ValueError(f"must be text, a number or true/false, not {_show(value)}")
    text_types = (MetadataType.STRING, MetadataType.DATE, MetadataType.DATETIME)
    if declared is not None and not (
        declared == expected or (expected == MetadataType.STRING and declared in text_types)
    ):
        raise ValueError(f"holds {declared} values in the customer metadata schema; {_show(value)} is not one")
    return value


def _finite(value):
    if isinstance(value, float) and not Decimal(str(value)).is_finite():
        raise ValueError("must be a finite number")
    if abs(value) > MAX_AMOUNT:
        raise ValueError("that number is too large")
    return value


# --- in words --------------------------------------------------------------------------------------------


def _list(items: list[str], last: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


def _quoted(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:,}" if isinstance(value, int) else str(value)
    return f"“{value}”"


def _date_phrase(operator: str, value: DateValue, verb: str) -> str:
    """``verb``: "last ordered" / "joined"."""
    if value.days_ago is not None:
        days = f"{value.days_ago:,} day{'' if value.days_ago == 1 else 's'}"
        if operator == AFTER:
            return f"{verb} within the last {days}"
        if operator == BEFORE:
            return f"{verb} more than {days} ago"
        return f"{verb} {'on' if operator == IS else 'not on'} the day {days} ago"
    word = {AFTER: "after", BEFORE: "before", IS: "on", IS_NOT: "not on"}[operator]
    return f"{verb} {word} {value.text}"


def _phrase(condition: Condition) -> tuple[str, str]:
    """(relative pronoun, the rest): ("who", "spent more than $150.00"), ("whose", "email contains “x”")."""
    attr, op, values = condition.attribute, condition.operator, condition.values
    name = attr.name
    if name in ("summary.orders.total_amount", "summary.orders.total_count"):
        count = name.endswith("total_count")
        show = (lambda n: _times(n)) if count else format_minor
        verb, negative = ("ordered", "did not order") if count else ("spent", "did not spend")
        bare = [str(v) for v in values] if count else [format_minor(v) for v in values]
        if op in NO_VALUE:
            return ("who", "have an order total" if op == HAS_VALUE else "have no order total")
        if op == IN:
            return ("who", f"{verb} {_list(bare, 'or')}{' times' if count else ''}")
        if op == NOT_IN:
            return ("who", f"{verb} neither {_list(bare, 'nor')}{' times' if count else ''}")
        if op == IS_NOT:
            return ("who", f"{negative} exactly {show(values[0])}")
        word = {IS: "exactly", MORE: "more than", MORE_EQ: "at least", LESS: "less than", LESS_EQ: "at most"}[op]
        if count and op in (LESS, LESS_EQ) and word == "less than":
            word = "fewer than"
        return ("who", f"{verb} {word} {show(values[0])}")
    if name == "summary.orders.last_order_date":
        if op == HAS_VALUE:
            return ("who", "have ordered")
        if op == IS_UNKNOWN:
            return ("who", "have never ordered")
        return ("who", _date_phrase(op, values[0], "last ordered"))
    if name == "created_at":
        return ("who", _date_phrase(op, values[0], "joined"))
    subject = {
        "summary.orders.average_amount": "average order",
        "summary.orders.last_order_amount": "last order amount",
        "email": "email",
        "name": "name",
    }.get(name, f"metadata “{metadata_key(name)}”")
    if op == HAS_VALUE:
        return ("whose", f"{subject} is known")
    if op == IS_UNKNOWN:
        return ("whose", f"{subject} is unknown")
    if attr.kind == MONEY:
        shown = [format_minor(v) for v in values]
    elif attr.kind == METADATA and op in (BEFORE, AFTER):
        value = values[0]
        if value.days_ago is not None:
            days = f"{value.days_ago:,} day{'' if value.days_ago == 1 else 's'} ago"
            return ("whose", f"{subject} is {'after' if op == AFTER else 'before'} {days}")
        shown = [value.text]
    else:
        shown = [_quoted(v) for v in values]
    if op == IN:
        return ("whose", f"{subject} is {_list(shown, 'or')}")
    if op == NOT_IN:
        return ("whose", f"{subject} is neither {_list(shown, 'nor')}")
    word = OPERATOR_WORDS[op] if op not in (IS, IS_NOT) else ("is" if op == IS else "is not")
    if op in COMPARISONS:
        word = f"is {word}"
    if op in (BEFORE, AFTER):
        word = f"is {word}"
    return ("whose", f"{subject} {word} {_list(shown, 'or')}")


def describe(definition: Definition) -> str:
    """The filter in words: "Customers who spent more than $150.00 and ordered at least 3 times"."""
    parts = []
    previous = None
    for condition in definition.conditions:
        pronoun, rest = _phrase(condition)
        parts.append(rest if pronoun == previous == "who" else f"{pronoun} {rest}")
        previous = pronoun
    return "Customers " + f" {definition.junction} ".join(parts)
