"""The segment builder's rows: what people pick and type (attribute → operator → value) ↔ the filter language.

The builder form posts, for each row ``i`` listed in ``row``: ``attribute-i``, ``key-i`` (the metadata key,
for the "metadata" attribute), ``operator-i`` and ``value-i``. :func:`rows_from_post` reads them back,
:func:`build_filter` turns rows into a filter (typing each value: "150.00" → 15000 minor units, "90" days →
"90 days ago", metadata by the customer metadata schema) and checks it with ``segments.language``,
attaching every problem to its row; :func:`rows_from_filter` does the reverse for editing.

Lists (``is one of``) are typed comma-separated: "gold, silver".
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from orders.choices import MetadataType
from orders.metadata import parse_value
from orders.money import decimals, minor_to_input, to_minor

from . import language as lang

METADATA = "metadata"
MAX_ROWS = lang.MAX_CONDITIONS


@dataclass(frozen=True)
class Choice:
    """One operator of the builder: ``key`` is the form value; ``operator`` the language's; ``days``: the
    value is a number of days, sent as "N days ago"."""

    key: str
    label: str
    operator: str
    days: bool = False


def _c(operator: str, label: str, *, key: str | None = None, days: bool = False) -> Choice:
    return Choice(key or operator, label, operator, days)


NUMBER_CHOICES = (
    _c(lang.MORE, "more than"),
    _c(lang.MORE_EQ, "at least"),
    _c(lang.LESS, "less than"),
    _c(lang.LESS_EQ, "at most"),
    _c(lang.IS, "exactly"),
    _c(lang.IS_NOT, "not exactly"),
    _c(lang.IN, "one of"),
    _c(lang.NOT_IN, "none of"),
)
DATE_CHOICES = (
    _c(lang.AFTER, "within the last … days", key="within_days", days=True),
    _c(lang.BEFORE, "more than … days ago", key="older_days", days=True),
    _c(lang.AFTER, "after", key=lang.AFTER),
    _c(lang.BEFORE, "before", key=lang.BEFORE),
    _c(lang.IS, "on"),
    _c(lang.IS_NOT, "not on"),
)
KNOWN_CHOICES = (_c(lang.HAS_VALUE, "is known"), _c(lang.IS_UNKNOWN, "is unknown"))
TEXT_CHOICES = (
    _c(lang.CONTAINS, "contains"),
    _c(lang.IS, "is"),
    _c(lang.IS_NOT, "is not"),
    _c(lang.IN, "is one of"),
    _c(lang.NOT_IN, "is none of"),
    _c(lang.STARTS, "starts with"),
    _c(lang.ENDS, "ends with"),
    _c(lang.HAS_VALUE, "is known"),
    _c(lang.IS_UNKNOWN, "is empty"),
)
METADATA_CHOICES = (
    _c(lang.IS, "is"),
    _c(lang.IS_NOT, "is not"),
    _c(lang.IN, "is one of"),
    _c(lang.NOT_IN, "is none of"),
    *NUMBER_CHOICES[:4],
    *TEXT_CHOICES[0:1],
    *TEXT_CHOICES[5:7],
    *DATE_CHOICES[:4],
    *KNOWN_CHOICES,
)


def choices_for(attribute: str) -> tuple[Choice, ...]:
    if attribute == METADATA:
        return METADATA_CHOICES
    attr = lang.ATTRIBUTES[attribute]
    base = {lang.MONEY: NUMBER_CHOICES, lang.COUNT: NUMBER_CHOICES, lang.DATE: DATE_CHOICES}.get(
        attr.kind, TEXT_CHOICES
    )
    return base + KNOWN_CHOICES if attr.nullable else base


ATTRIBUTE_CHOICES = [(name, attr.label) for name, attr in lang.ATTRIBUTES.items()] + [(METADATA, "Metadata key")]
DEFAULT_ATTRIBUTE = "summary.orders.total_amount"


@dataclass
class Row:
    index: int
    attribute: str = DEFAULT_ATTRIBUTE
    key: str = ""
    operator: str = ""
    value: str = ""
    errors: list[str] = field(default_factory=list)
    metadata_type: str | None = None  # the schema type of ``key``, when defined

    def __post_init__(self):
        if self.attribute not in dict(ATTRIBUTE_CHOICES):
            self.attribute = DEFAULT_ATTRIBUTE
        if self.operator not in {choice.key for choice in self.choices}:
            self.operator = self.choices[0].key

    @property
    def choices(self) -> tuple[Choice, ...]:
        return choices_for(self.attribute)

    @property
    def choice(self) -> Choice:
        return next(choice for choice in self.choices if choice.key == self.operator)

    @property
    def kind(self) -> str:
        return lang.METADATA if self.attribute == METADATA else lang.ATTRIBUTES[self.attribute].kind

    @property
    def attribute_name(self) -> str:
        return f"{lang.METADATA_PREFIX}{self.key.strip()}" if self.attribute == METADATA else self.attribute

    @property
    def label(self) -> str:
        attribute = (
            f"Metadata “{self.key.strip()}”" if self.attribute == METADATA else lang.ATTRIBUTES[self.attribute].label
        )
        return f"{attribute} {self.choice.label}"

    @property
    def input(self) -> dict:
        """How to draw the value input: {"type", "placeholder", "inputmode", "suffix", "step", "options"}."""
        choice = self.choice
        if choice.operator in lang.NO_VALUE:
            return {"type": "none"}
        if choice.days:
            return {"type": "number", "min": "0", "step": "1", "suffix": "days", "placeholder": "90"}
        many = choice.operator in (lang.IN, lang.NOT_IN)
        kind = self.kind
        if kind == lang.MONEY:
            example = "150.00" if decimals() else "150"
            return {"type": "text", "inputmode": "decimal", "placeholder": f"{example}, 200.00" if many else example}
        if kind == lang.COUNT:
            return {"type": "text", "placeholder": "1, 2, 3"} if many else {"type": "number", "min": "0", "step": "1"}
        if kind == lang.DATE or choice.operator in (lang.BEFORE, lang.AFTER):
            looks_like_day = not self.value or len(self.value.strip()) == 10
            return {"type": "date" if looks_like_day else "text", "placeholder": "YYYY-MM-DD"}
        if kind == lang.METADATA and self.metadata_type == MetadataType.BOOLEAN and not many:
            return {"type": "select", "options": [("true", "true"), ("false", "false")]}
        if kind == lang.METADATA and self.metadata_type == MetadataType.NUMBER and not many:
            return {"type": "number", "step": "any"}
        if kind == lang.METADATA and choice.operator in lang.COMPARISONS:
            return {"type": "number", "step": "any"}
        return {"type": "text", "placeholder": "gold, silver" if many else ""}


def rows_from_post(data, metadata_types: Mapping[str, str] | None = None) -> list[Row]:
    """The rows a builder form posted (in the order of its ``row`` fields)."""
    rows = []
    for raw in data.getlist("row")[:MAX_ROWS]:
        try:
            index = int(raw)
        except ValueError:
            continue
        if index < 0 or index in {row.index for row in rows}:
            continue
        rows.append(
            Row(
                index=index,
                attribute=data.get(f"attribute-{index}", DEFAULT_ATTRIBUTE),
                key=data.get(f"key-{index}", "")[: lang.MAX_KEY_LENGTH + 1],
                operator=data.get(f"operator-{index}", ""),
                value=data.get(f"value-{index}", "")[:2000],
            )
        )
    _type_rows(rows, metadata_types)
    return rows


def _type_rows(rows: list[Row], metadata_types: Mapping[str, str] | None) -> None:
    for row in rows:
        if row.attribute == METADATA:
            row.metadata_type = (metadata_types or {}).get(row.key.strip())


def add_row(rows: list[Row]) -> list[Row]:
    if len(rows) >= MAX_ROWS:
        return rows
    index = max((row.index for row in rows), default=-1) + 1
    return [*rows, Row(index=index)]


def remove_row(rows: list[Row], index) -> list[Row]:
    kept = [row for row in rows if str(row.index) != str(index)]
    return kept or [Row(index=0)]


# --- rows → filter ------------------------------------------------------------------------------------------


def _parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _row_values(row: Row) -> list:
    """The typed values of a row (ValueError saying what is wrong)."""
    choice = row.choice
    if choice.operator in lang.NO_VALUE:
        return []
    text = row.value.strip()
    if not text:
        raise ValueError("enter a value")
    if choice.days:
        try:
            days = int(text)
        except ValueError:
            raise ValueError("enter a whole number of days") from None
        if not 0 <= days <= lang.MAX_DAYS:
            raise ValueError(f"enter between 0 and {lang.MAX_DAYS:,} days")
        return [f"{days} days ago"]
    many = choice.operator in (lang.IN, lang.NOT_IN)
    texts = _parts(text) if many else [text]
    if not texts:
        raise ValueError("enter at least one value")
    kind = row.kind
    if kind == lang.MONEY:
        values = []
        for part in texts:
            try:
                values.append(to_minor(part))
            except ValueError:
                example = "150.00" if decimals() else "150"
                raise ValueError(f"“{part}” is not an amount; write one like {example}") from None
        return values
    if kind == lang.COUNT:
        try:
            return [int(part) for part in texts]
        except ValueError:
            raise ValueError("enter whole numbers, e.g. 3") from None
    if kind == lang.DATE or choice.operator in (lang.BEFORE, lang.AFTER):
        return texts  # the language checks dates and says how to write them
    if kind == lang.METADATA:
        return [_metadata_value(row, part) for part in texts]
    return texts


def _metadata_value(row: Row, text: str):
    declared = row.metadata_type
    operator = row.choice.operator
    if operator in lang.COMPARISONS:
        return parse_value(MetadataType.NUMBER, text)
    if operator in lang.TEXT_MATCHES or declared is None:
        return text  # undefined keys compare as text, as in the orders list's metadata filter
    return parse_value(declared, text)


def build_filter(rows: list[Row], junction: str, metadata_types: Mapping[str, str] | None = None):
    """Rows → (the filter as canonical JSON, or None when something is wrong; problems not tied to a row).
    Problems tied to a row go into ``row.errors``."""
    data: dict = {"junction": junction if junction in lang.JUNCTIONS else "and"}
    owners: dict[str, Row] = {}
    broken = False
    for row in rows:
        row.errors = []
        if row.attribute == METADATA and not row.key.strip():
            row.errors.append("Enter the metadata key.")
        elif row.attribute == METADATA and len(row.key.strip()) > lang.MAX_KEY_LENGTH:
            row.errors.append(f"A metadata key has at most {lang.MAX_KEY_LENGTH} characters.")
        try:
            values = _row_values(row)
        except ValueError as problem:
            row.errors.append(f"{row.label}: {problem}.")
            values = None
        path = f"{row.attribute_name}.{row.choice.operator}"
        if path in owners:
            row.errors.append(f"{row.label}: this test is already used on the same attribute above; keep one.")
        else:
            owners[path] = row
        if not row.errors:
            # each row alone first, so that every row's problems show at once
            try:
                lang.parse(
                    {row.attribute_name: {"conditions": {row.choice.operator: values}}}, metadata_types=metadata_types
                )
            except lang.FilterError as problem:
                row.errors += [message for _path, message in problem.problems]
        if row.errors:
            broken = True
            continue
        conditions = data.setdefault(row.attribute_name, {"conditions": {}})["conditions"]
        conditions[row.choice.operator] = values
    if broken:
        return None, []
    try:
        definition = lang.parse(data, metadata_types=metadata_types)
    except lang.FilterError as problem:
        loose = []
        for path, message in problem.problems:
            if path in owners:
                owners[path].errors.append(message)
            else:
                loose.append(message)
        return None, loose
    return definition.to_json(), []


# --- filter → rows ------------------------------------------------------------------------------------------


def _shown(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_from_filter(data, metadata_types: Mapping[str, str] | None = None) -> tuple[str, list[Row]]:
    """A stored (canonical) filter → (junction, rows) for the builder."""
    definition = lang.parse(data)
    rows = []
    for index, condition in enumerate(definition.conditions):
        attr = condition.attribute
        attribute = METADATA if attr.kind == lang.METADATA else attr.name
        key = lang.metadata_key(attr.name) if attr.kind == lang.METADATA else ""
        values = condition.values
        operator = condition.operator
        if operator in (lang.AFTER, lang.BEFORE) and values[0].days_ago is not None:
            operator = "within_days" if operator == lang.AFTER else "older_days"
            text = str(values[0].days_ago)
        elif attr.kind == lang.MONEY:
            text = ", ".join(minor_to_input(v) for v in values)
        else:
            text = ", ".join(v.text if isinstance(v, lang.DateValue) else _shown(v) for v in values)
        rows.append(Row(index=index, attribute=attribute, key=key, operator=operator, value=text))
    _type_rows(rows, metadata_types)
    return definition.junction, rows
