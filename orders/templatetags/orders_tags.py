"""Display helpers shared by every orders page: money from minor units, ISO dates with relative hints."""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.html import format_html

from orders.money import format_minor

register = template.Library()


@register.filter
def money(value, currency=None):
    """{{ order.total_amount|money }} → $1,234.56 (the configured currency)."""
    return format_minor(value, currency)


def relative(value: dt.datetime, now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    seconds = int((now - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600), (86400 * 60, "d", 86400)):
        if seconds < limit:
            amount = f"{seconds // size} {unit}"
            break
    else:
        months = seconds // (86400 * 30)
        amount = f"{months // 12} y" if months >= 24 else f"{months} mo"
    if seconds < 10:
        return "just now"
    return f"in {amount}" if future else f"{amount} ago"


@register.filter
def when(value):
    """<time> with the ISO date (UTC) and a relative hint: 2026-11-27 09:14 · 3 h ago."""
    if not value:
        return "—"
    value = timezone.localtime(value, dt.UTC)
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <span class="rel">{}</span>',
        value.isoformat(),
        value.isoformat(),
        value.strftime("%Y-%m-%d %H:%M"),
        relative(value),
    )
