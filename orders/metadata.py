"""Metadata validation: size limits for every object, and types from the MetadataSchema when one exists."""

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from .choices import MetadataType

MAX_KEYS = 100
MAX_KEY_LENGTH = 100
MAX_DEPTH = 5
MAX_BYTES = 16 * 1024


TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


def parse_value(type_: str, text: str):
    """The JSON value that ``text`` (what a person typed) stands for under a schema type, or ValueError
    saying what is wrong. Numbers stay integers when whole (metadata numbers, never money, may be
    fractional); dates come back as ISO text, as metadata stores them. Lists are the caller's business."""
    text = text.strip()
    if type_ == MetadataType.NUMBER:
        try:
            number = Decimal(text.replace(",", "").replace("_", ""))
        except InvalidOperation:
            raise ValueError("must be a number") from None
        if not number.is_finite():
            raise ValueError("must be a number")
        return int(number) if number == number.to_integral_value() else float(number)
    if type_ == MetadataType.BOOLEAN:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError("must be true or false (yes/no)")
    if type_ in (MetadataType.DATE, MetadataType.DATETIME):
        if problem := _type_error(type_, text):
            raise ValueError(problem)
        return text
    if type_ == MetadataType.OBJECT:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object, like {"size": "M"}')
        return value
    return text


def _depth(value, level: int = 1) -> int:
    if isinstance(value, dict):
        return max([level] + [_depth(v, level + 1) for v in value.values()])
    if isinstance(value, list):
        return max([level] + [_depth(v, level) for v in value])
    return level - 1


def _type_error(type_: str, value) -> str | None:
    """Why ``value`` is not of the schema type ``type_``, or None when it is."""
    if type_ == MetadataType.STRING:
        return None if isinstance(value, str) else "must be a text value"
    if type_ == MetadataType.NUMBER:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if type_ == MetadataType.BOOLEAN:
        return None if isinstance(value, bool) else "must be true or false"
    if type_ == MetadataType.DATE:
        if isinstance(value, str):
            try:
                dt.date.fromisoformat(value)
                if len(value) == 10:
                    return None
            except ValueError:
                pass
        return "must be a date in the form YYYY-MM-DD"
    if type_ == MetadataType.DATETIME:
        if isinstance(value, str):
            try:
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return None
            except ValueError:
                pass
        return "must be an ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z"
    if type_ == MetadataType.OBJECT:
        return None if isinstance(value, dict) else "must be an object"
    return f"has unknown schema type {type_!r}"


def metadata_errors(metadata, *, path: str = "metadata", schema=None) -> dict[str, list[str]]:
    """All problems of ``metadata`` as {field path: [messages]}; empty when it is valid.

    ``schema`` is a ``MetadataSchema`` with its properties prefetched, or None (limits only).
    """
    if not isinstance(metadata, Mapping):
        return {path: ["must be a JSON object of key/value pairs"]}
    errors: dict[str, list[str]] = {}

    def add(key_path: str, message: str) -> None:
        errors.setdefault(key_path, []).append(message)

    if len(metadata) > MAX_KEYS:
        add(path, f"has {len(metadata)} keys; at most {MAX_KEYS} are allowed")
    for key in metadata:
        if not isinstance(key, str) or not key.strip():
            add(path, "keys must be non-empty text")
        elif len(key) > MAX_KEY_LENGTH:
            add(f"{path}.{key[:20]}…", f"key is longer than {MAX_KEY_LENGTH} characters")
    if _depth(dict(metadata)) > MAX_DEPTH:
        add(path, f"is nested more than {MAX_DEPTH} levels deep")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        add(path, "must contain only JSON values")
        return errors
    if size > MAX_BYTES:
        add(path, f"is {size} bytes; at most {MAX_BYTES} bytes are allowed")

    if schema is None:
        return errors
    properties = {p.key: p for p in schema.properties.all()}
    for key, value in metadata.items():
        prop = properties.get(key)
        if prop is None:
            if schema.allow_defined_only:
                add(f"{path}.{key}", "is not a defined metadata key (this schema allows only defined keys)")
            continue
        if value is None:
            continue  # an explicit null is "no value"; required keys are checked below
        if prop.is_array:
            if not isinstance(value, list):
                add(f"{path}.{key}", "must be a list")
                continue
            for index, item in enumerate(value):
                if problem := _type_error(prop.type, item):
                    add(f"{path}.{key}[{index}]", problem)
        elif problem := _type_error(prop.type, value):
            add(f"{path}.{key}", problem)
    for key, prop in properties.items():
        if not prop.optional and metadata.get(key) is None:
            add(f"{path}.{key}", "is required")
    return errors
