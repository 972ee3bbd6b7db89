"""Template filters of the rules pages."""

import json

from django import template

register = template.Library()


@register.filter
def json_pretty(value) -> str:
    """A stored JSON value, indented for reading (auto-escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
