"""Reading request bodies and choosing the response format.

``StrictJSONParser`` accepts only what every part of the system can store: a body of at most the view's
``max_body_bytes`` (413 past it), valid UTF-8 JSON without NaN/Infinity, numbers that fit a float, no
NUL characters nor lone surrogates in any string or key (PostgreSQL refuses both), nesting of at most
MAX_DEPTH levels. Anything else is a 400 ``malformed_payload`` instead of a database error later.
"""

import json
import math

from django.conf import settings
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser

from .exceptions import MalformedPayload, PayloadTooLarge

MAX_DEPTH = 32


def max_body_bytes(view) -> int:
    return getattr(view, "max_body_bytes", None) or settings.API_MAX_BODY_BYTES


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 40:
        raise ValueError("a number has too many digits")
    return int(text)


def check_storable(value, path: str = "", depth: int = 0) -> None:
    """ValueError naming the first place where ``value`` holds what cannot be stored."""
    if depth > MAX_DEPTH:
        raise ValueError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        _check_text(value, path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{path}.{key}" if path else key)
            check_storable(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]", depth + 1)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise ValueError(f"{_printable(path)}: text cannot contain NUL (\\u0000) characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{_printable(path)}: text contains an unpaired surrogate (\\ud800–\\udfff)") from None


def _printable(path: str) -> str:
    """The path as the message may quote it: what cannot be sent back as UTF-8 text is escaped."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = max_body_bytes(parser_context.get("view"))
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = parser_context.get("encoding") or "utf-8"
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise MalformedPayload("The request body is not valid UTF-8 text.") from None
        if not text.strip():
            return {}
        try:
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int)
            check_storable(data)
        except RecursionError:
            raise MalformedPayload(f"Malformed JSON: nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise MalformedPayload(f"Malformed JSON: {exc}") from None
        return data


class JSONOnlyNegotiation(BaseContentNegotiation):
    """The API speaks JSON only: every response is JSON whatever ``Accept`` says (an error is still
    readable by a client that asked for HTML), and bodies are parsed as JSON when they are declared so."""

    def select_parser(self, request, parsers):
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        for parser in parsers:
            if parser.media_type == content_type or content_type.endswith("+json"):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type
