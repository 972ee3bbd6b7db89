"""The rule builder's rows: what people pick and type (condition → operator → value) ↔ the stored JSON.

The builder form posts, for every condition row listed in ``row`` (its value is the condition's number):
``name-<n>``, ``property-<n>`` (metadata key), ``operator-<n>``, ``value-<n>``, ``vtype-<n>`` (how to read a
metadata value: text, number or yes/no), ``message-<n>``, ``object-<n>`` (repeated ``product:prod_…`` /
``sku:sku_…`` picks of the items conditions), ``search-<n>`` (the catalog or segment search box), and for
the nested conditions of an items row, ``sub-<n>`` (their numbers) with ``sub-<n>-<m>-name``,
``sub-<n>-<m>-operator``, ``sub-<n>-<m>-value`` and ``sublogic-<n>``. Then ``name``, ``error_message`` and
``logic``.

Values are typed as people write them: amounts in currency units ("50.00" → 5000), counts as whole
numbers, lists separated by commas ("web, app"; "50.00, 70.00"), segments by their ids.
:func:`build` turns rows into the rule's JSON, attaching typing problems to their rows; the language and
the service check the rest (``rules.services.rule_check``), and :func:`attach_errors` puts those problems
back on the rows they name. :func:`rows_from_rules` reads a stored rule back into rows for editing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from orders.money import decimals, minor_to_input, to_minor

from . import language as lang
from . import logic

MAX_ROWS = lang.MAX_CONDITIONS
MAX_SUB_ROWS = 5
DEFAULT_NAME = "order.amount"
DEFAULT_SUB_NAME = "order.items.quantity"
VALUE_TYPES = (("text", "text"), ("number", "number"), ("boolean", "yes/no"))

CONDITION_CHOICES = [(spec.name, spec.label) for spec in lang.CONDITIONS.values()]
SUB_CONDITION_CHOICES = [(spec.name, spec.label) for spec in lang.ITEM_CONDITIONS.values()]


def operator_choices(spec: lang.Spec) -> list[tuple[str, str]]:
    if spec.kind == lang.ITEMS:
        return [(lang.IS, "is one of")]
    return [(op, lang.OPERATOR_LABELS[op]) for op in spec.operators]


@dataclass
class SubRow:
    index: int
    name: str = DEFAULT_SUB_NAME
    operator: str = ""
    value: str = ""
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.name not in lang.ITEM_CONDITIONS:
            self.name = DEFAULT_SUB_NAME
        if self.operator not in dict(self.choices):
            self.operator = self.choices[0][0]

    @property
    def spec(self) -> lang.Spec:
        return lang.ITEM_CONDITIONS[self.name]

    @property
    def choices(self) -> list[tuple[str, str]]:
        return operator_choices(self.spec)


@dataclass
class Row:
    key: str
    name: str = DEFAULT_NAME
    prop: str = ""
    operator: str = ""
    value: str = ""
    vtype: str = "text"
    message: str = ""
    objects: list[tuple[str, str]] = field(default_factory=list)  # (object, id) of items rows
    sub: list[SubRow] = field(default_factory=list)
    sub_logic: str = ""
    search: str = ""
    matches: list = field(default_factory=list)  # search results, filled by the view
    names: dict = field(default_factory=dict)  # (object, id) → display name, filled by the view
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.name not in lang.CONDITIONS:
            self.name = DEFAULT_NAME
        if self.operator not in dict(self.choices):
            self.operator = self.choices[0][0]
        if self.vtype not in dict(VALUE_TYPES):
            self.vtype = "text"

    @property
    def spec(self) -> lang.Spec:
        return lang.CONDITIONS[self.name]

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def choices(self) -> list[tuple[str, str]]:
        return operator_choices(self.spec)

    @property
    def takes_value(self) -> bool:
        return self.kind != lang.ITEMS and self.operator not in lang.NO_VALUE

    @property
    def many(self) -> bool:
        return self.operator in lang.MANY_VALUES

    @property
    def placeholder(self) -> str:
        example = "50.00" if decimals() else "50"
        if self.kind == lang.MONEY:
            return f"{example}, 70.00" if self.many else example
        if self.kind == lang.COUNT:
            return "1, 2" if self.many else "2"
        if self.kind == lang.SEGMENT:
            return "seg_…, seg_…"
        if self.operator in (lang.BEFORE, lang.AFTER):
            return "2026-01-31"
        return "web, app" if self.many else ""

    @property
    def picked(self) -> list[dict]:
        return [{"object": o, "id": i, "name": self.names.get((o, i), i)} for o, i in self.objects]

    @property
    def segment_ids(self) -> list[str]:
        return _parts(self.value) if self.kind == lang.SEGMENT else []


def _parts(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def default_logic(rows: list[Row]) -> str:
    return logic.conjunction(row.key for row in rows)


# --- form data ↔ rows ------------------------------------------------------------------------------------


def _key(raw) -> str | None:
    raw = (raw or "").strip()
    return raw if lang.CONDITION_KEY.match(raw) else None


def rows_from_post(data) -> list[Row]:
    rows: list[Row] = []
    for raw in data.getlist("row")[:MAX_ROWS]:
        key = _key(raw)
        if key is None or key in {row.key for row in rows}:
            continue
        objects = []
        for picked in data.getlist(f"object-{key}"):
            object_, _, ref = picked.partition(":")
            if object_ in lang.CATALOG_OBJECTS and ref and (object_, ref) not in objects:
                objects.append((object_, ref[:64]))
        sub = []
        for raw_sub in data.getlist(f"sub-{key}")[:MAX_SUB_ROWS]:
            sub_key = _key(raw_sub)
            if sub_key is None or int(sub_key) in {s.index for s in sub}:
                continue
            prefix = f"sub-{key}-{sub_key}"
            sub.append(
                SubRow(
                    index=int(sub_key),
                    name=data.get(f"{prefix}-name", DEFAULT_SUB_NAME),
                    operator=data.get(f"{prefix}-operator", ""),
                    value=data.get(f"{prefix}-value", "")[:200],
                )
            )
        rows.append(
            Row(
                key=key,
                name=data.get(f"name-{key}", DEFAULT_NAME),
                prop=data.get(f"property-{key}", "")[: lang.MAX_KEY_LENGTH + 1],
                operator=data.get(f"operator-{key}", ""),
                value=data.get(f"value-{key}", "")[:2000],
                vtype=data.get(f"vtype-{key}", "text"),
                message=data.get(f"message-{key}", "")[: lang.MAX_MESSAGE + 1],
                objects=objects,
                sub=sub,
                sub_logic=data.get(f"sublogic-{key}", "")[:200],
                search=data.get(f"search-{key}", "")[:100],
            )
        )
    return rows


def add_row(rows: list[Row], logic_text: str) -> tuple[list[Row], str]:
    """A new row (the next free number); a logic that was the default "all of them" follows."""
    if len(rows) >= MAX_ROWS:
        return rows, logic_text
    follows = not logic_text.strip() or logic_text.strip() == default_logic(rows)
    key = str(max((int(row.key) for row in rows), default=0) + 1)
    rows = [*rows, Row(key=key)]
    return rows, default_logic(rows) if follows else logic_text


def remove_row(rows: list[Row], key: str, logic_text: str) -> tuple[list[Row], str]:
    follows = not logic_text.strip() or logic_text.strip() == default_logic(rows)
    kept = [row for row in rows if row.key != key] or [Row(key="1")]
    return kept, default_logic(kept) if follows else logic_text


def add_sub_row(row: Row) -> None:
    if len(row.sub) < MAX_SUB_ROWS:
        row.sub.append(SubRow(index=max((s.index for s in row.sub), default=0) + 1))
        row.sub_logic = logic.conjunction(s.index for s in row.sub)


def remove_sub_row(row: Row, index: str) -> None:
    row.sub = [s for s in row.sub if str(s.index) != index]
    row.sub_logic = logic.conjunction(s.index for s in row.sub)


# --- rows → JSON ---------------------------------------------------------------------------------------------


def _amount(text: str) -> int:
    try:
        return to_minor(text)
    except ValueError:
        example = "50.00" if decimals() else "50"
        raise ValueError(f"“{text}” is not an amount; write one like {example}") from None


def _count(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"“{text}” is not a whole number") from None


def _number_values(kind: str, text: str, many: bool) -> list[int]:
    texts = _parts(text) if many else [text.strip()]
    if not texts or not texts[0]:
        raise ValueError("enter a value")
    read = _amount if kind == lang.MONEY else _count
    return [read(part) for part in texts]


def _metadata_value(text: str, vtype: str, operator: str):
    if operator in lang.COMPARISONS or vtype == "number":
        try:
            number = float(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"“{text}” is not a number") from None
        return int(number) if number.is_integer() and "." not in text else number
    if vtype == "boolean" and operator in (lang.IS, lang.IS_NOT, lang.IN, lang.NOT_IN):
        lowered = text.lower()
        if lowered in ("true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
        raise ValueError(f"“{text}” is not yes or no")
    return text


def _row_values(row: Row) -> list:
    if row.kind == lang.ITEMS:
        if not row.objects:
            raise ValueError("pick at least one product or SKU")
        return [{"id": ref, "object": object_} for object_, ref in row.objects]
    if row.operator in lang.NO_VALUE:
        return []
    if row.kind in (lang.MONEY, lang.COUNT):
        return _number_values(row.kind, row.value, row.many)
    if row.kind == lang.SEGMENT:
        ids = _parts(row.value)
        if not ids:
            raise ValueError("pick at least one segment")
        return ids
    texts = _parts(row.value) if row.many else [row.value.strip()]
    if not texts or not texts[0]:
        raise ValueError("enter a value")
    return [_metadata_value(text, row.vtype, row.operator) for text in texts]


def _sub_rules(row: Row) -> dict | None:
    if not row.sub:
        return None
    nested: dict = {}
    for sub in row.sub:
        sub.errors = []
        try:
            values = _number_values(sub.spec.kind, sub.value, sub.operator in lang.MANY_VALUES)
        except ValueError as problem:
            sub.errors.append(f"{sub.spec.label}: {problem}.")
            continue
        nested[str(sub.index)] = {"name": sub.name, "conditions": {sub.operator: values}}
    nested["logic"] = row.sub_logic.strip() or logic.conjunction(s.index for s in row.sub)
    return nested


def build(rows: list[Row], logic_text: str) -> tuple[dict | None, bool]:
    """Rows → (the rule's JSON, whether a row could not be read: its ``errors`` say why)."""
    data: dict = {}
    broken = False
    for row in rows:
        row.errors = []
        condition: dict = {"name": row.name}
        if row.spec.has_property:
            condition["property"] = row.prop.strip()
        try:
            values = _row_values(row)
        except ValueError as problem:
            row.errors.append(f"Condition {row.key}: {problem}.")
            broken = True
            continue
        condition["conditions"] = {row.operator: values}
        if row.kind == lang.ITEMS:
            nested = _sub_rules(row)
            if any(sub.errors for sub in row.sub):
                broken = True
            if nested:
                condition["rules"] = nested
        if row.message.strip():
            condition["error"] = {"message": row.message.strip()}
        data[row.key] = condition
    data["logic"] = logic_text.strip() or default_logic(rows)
    return data, broken


def logic_problems(logic_text: str, keys: list[str]) -> list[str]:
    """What is wrong with the logic alone (it parses, it names the rows there are and uses all of them), for
    the live check while some row cannot be read yet: the language says the same once every row reads."""
    problems: list[tuple[str, str]] = []
    rows = {key: {"name": DEFAULT_NAME, "conditions": {lang.IS: [0]}} for key in keys}
    try:
        lang.parse({**rows, "logic": logic_text})
    except lang.RuleError as error:
        problems = [(path, message) for path, message in error.problems if path == "logic"]
    return [message for _, message in problems]


def attach_errors(rows: list[Row], errors: Mapping[str, list[str]], *, prefix: str = "rules.") -> list[str]:
    """Put each problem on the row its path names (``rules.3.…`` → row 3); returns the others (the logic,
    the rule as a whole)."""
    by_key = {row.key: row for row in rows}
    loose = []
    for path, messages in errors.items():
        rest = path.removeprefix(prefix) if path.startswith(prefix) else path
        key = rest.split(".")[0]
        row = by_key.get(key)
        if row is not None and path.startswith(prefix):
            row.errors.extend(messages)
        else:
            loose.extend(messages)
    return loose


# --- JSON → rows ------------------------------------------------------------------------------------------


def _shown(kind: str, value) -> str:
    if kind == lang.MONEY:
        return minor_to_input(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _vtype(values: list) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return "text"


def rows_from_rules(data: Mapping) -> tuple[list[Row], str]:
    """A stored (canonical) rule → (rows, logic text) for the builder."""
    ruleset = lang.parse(data)
    rows = []
    for key, condition in ruleset.conditions.items():
        test = condition.tests[0]
        kind = condition.spec.kind
        values = test.json_values()
        row = Row(
            key=key,
            name=condition.spec.name,
            prop=condition.prop or "",
            operator=test.operator,
            message=condition.message,
            vtype=_vtype(values) if kind == lang.METADATA else "text",
        )
        if kind == lang.ITEMS:
            row.objects = [(ref.object, ref.id) for ref in condition.objects]
            if condition.sub is not None:
                row.sub = [
                    SubRow(
                        index=int(sub_key),
                        name=sub.spec.name,
                        operator=sub.tests[0].operator,
                        value=", ".join(_shown(sub.spec.kind, v) for v in sub.tests[0].values),
                    )
                    for sub_key, sub in condition.sub.conditions.items()
                ]
                row.sub_logic = condition.sub.logic_text
        else:
            row.value = ", ".join(_shown(kind, v) for v in values)
        if len(condition.tests) > 1:  # possible through the API; the builder edits one test per condition
            others = ", ".join(test.operator for test in condition.tests[1:])
            row.errors.append(
                f"Condition {key} also tests {others}: the builder shows only its first test, and saving "
                "keeps only that one — add a condition for each of the others."
            )
        rows.append(row)
    return rows, ruleset.logic_text
