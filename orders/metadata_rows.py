"""Metadata as rows people edit: key + value, typed by the metadata schema where the key is defined.

Reads what a form posted (``key-<n>``, ``value-<n>``, ``type-<n>`` for each ``row=<n>``), turns it into the
metadata object the services take, and puts the errors of that write (``InvalidInput.errors`` paths
``metadata.<key>``) back next to the row that caused them. Values stay as typed, so a failed submit shows
exactly what was entered.

Value rules: a defined key is read as its schema type (number, true/false, date, …; lists and objects as
JSON); an undefined key is text, or JSON when its row says so — or when the text is a JSON object or list.
An empty value means "no value": the key is not kept.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .choices import MetadataType
from .metadata import parse_value


@dataclass
class Row:
    index: int
    key: str = ""
    value: str = ""
    as_json: bool = False  # undefined keys only: the value is JSON, not text
    prop: Any = None  # the MetadataSchemaProperty of the key, when defined
    errors: list[str] = field(default_factory=list)

    @property
    def input_kind(self) -> str:
        """Which control edits the value: text, number, boolean, date, datetime or json."""
        if self.prop is None:
            return "json" if self.as_json else "text"
        if self.prop.is_array or self.prop.type == MetadataType.OBJECT:
            return "json"
        if self.prop.type == MetadataType.STRING:
            return "text"
        return self.prop.type

    @property
    def type_label(self) -> str:
        if self.prop is None:
            return ""
        label = MetadataType(self.prop.type).label if self.prop.type in MetadataType.values else self.prop.type
        return f"list of {label.lower()}" if self.prop.is_array else label

    @property
    def is_blank(self) -> bool:
        return not self.key.strip() and not self.value.strip()


def value_text(value: Any, prop=None) -> tuple[str, bool]:
    """(text shown in the input, whether it is JSON) for a stored value."""
    if value is None:
        return "", False
    if prop is not None and not prop.is_array and prop.type not in (MetadataType.OBJECT,):
        if isinstance(value, bool):
            return ("true" if value else "false"), False
        if isinstance(value, str | int | float):
            return str(value), False
    if isinstance(value, str):
        return value, False
    return json.dumps(value, ensure_ascii=False), True


def rows_from_metadata(metadata: Mapping[str, Any], properties: Mapping[str, Any]) -> list[Row]:
    """The rows of a stored metadata object (by key), then one empty row for each defined key it lacks, then a
    blank row to add a key."""
    rows = []
    # Sorted: PostgreSQL's jsonb does not keep the order keys were written in, so no order is "the" order.
    for key, value in sorted((metadata or {}).items()):
        prop = properties.get(key)
        text, as_json = value_text(value, prop)
        rows.append(Row(index=len(rows), key=key, value=text, as_json=as_json and prop is None, prop=prop))
    for key, prop in properties.items():
        if key not in (metadata or {}):
            rows.append(Row(index=len(rows), key=key, prop=prop))
    rows.append(Row(index=len(rows)))
    return rows


def rows_from_post(data, properties: Mapping[str, Any]) -> list[Row]:
    rows = []
    seen: set[int] = set()
    for raw in data.getlist("row"):
        try:
            index = int(raw)
        except ValueError:
            continue
        if index in seen or index < 0:
            continue
        seen.add(index)
        key = data.get(f"key-{index}", "").strip()
        rows.append(
            Row(
                index=index,
                key=key,
                value=data.get(f"value-{index}", ""),
                as_json=data.get(f"type-{index}") == "json",
                prop=properties.get(key),
            )
        )
    return rows


def add_row(rows: list[Row]) -> list[Row]:
    return [*rows, Row(index=max((row.index for row in rows), default=-1) + 1)]


def remove_row(rows: list[Row], index: str | None) -> list[Row]:
    return [row for row in rows if str(row.index) != index]


def _parse_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"is not valid JSON ({exc.msg} at character {exc.pos + 1})"


def _parse(row: Row) -> tuple[Any, str | None]:
    """The stored value of a row, or an error. Values that do not fit a schema type are passed on as
    typed: the schema check (the same one the service runs) then says what is wrong with them."""
    text = row.value.strip()
    prop = row.prop
    if prop is None:
        if row.as_json:
            return _parse_json(text)
        if text[:1] in "{[":
            parsed, error = _parse_json(text)
            if error is None and isinstance(parsed, dict | list):
                return parsed, None
        return row.value, None
    if prop.is_array or prop.type == MetadataType.OBJECT:
        return _parse_json(text)
    if prop.type in (MetadataType.NUMBER, MetadataType.BOOLEAN):
        try:
            return parse_value(prop.type, text), None
        except ValueError:
            return text, None
    if prop.type == MetadataType.STRING:
        return row.value, None
    return text, None  # date, datetime: checked by the schema


def rows_to_metadata(rows: list[Row]) -> tuple[dict[str, Any], bool]:
    """The metadata object the rows describe, and whether any row has an error of its own (a missing
    key, a key given twice, JSON that does not parse). Errors are attached to the rows."""
    metadata: dict[str, Any] = {}
    has_errors = False
    seen: set[str] = set()
    for row in rows:
        row.errors = []
        if row.is_blank:
            continue
        if not row.key:
            row.errors.append("needs a key")
        elif row.key in seen:
            row.errors.append("this key is given twice; keep one row per key")
        seen.add(row.key)
        if row.errors:
            has_errors = True
            continue
        if not row.value.strip():
            continue  # no value: the key is not kept
        value, error = _parse(row)
        if error:
            row.errors.append(error)
            has_errors = True
            continue
        metadata[row.key] = value
    return metadata, has_errors


def attach_errors(rows: list[Row], errors: Mapping[str, list[str]], *, prefix: str = "metadata") -> list[str]:
    """Put each ``<prefix>.<key>…`` error next to the row of that key; return the errors that belong to no
    row (about the metadata as a whole, or about a key no row shows)."""
    general: list[str] = []
    for path, messages in errors.items():
        row = None
        if path.startswith(f"{prefix}."):
            rest = path[len(prefix) + 1 :]
            row = next((r for r in rows if r.key and (rest == r.key or rest.startswith(f"{r.key}["))), None)
            if row is None and rest.endswith("…"):
                row = next((r for r in rows if r.key and r.key.startswith(rest[:-1])), None)
            if row is not None and rest != row.key and rest.startswith(f"{row.key}["):
                messages = [f"item {rest[len(row.key) :]} {message}" for message in messages]
        target = row.errors if row is not None else general
        for message in messages:
            if message not in target:
                target.append(message if row is not None or path == prefix else f"{path}: {message}")
    return general
