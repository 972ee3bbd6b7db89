"""Display helpers of the segment pages."""

import json

from django import template

register = template.Library()


@register.filter
def json_pretty(value) -> str:
    """A filter as indented JSON text (auto-escaped like any text: never marked safe)."""
    return json.dumps(value, indent=2, ensure_ascii=False)
