"""Activity in words: what an OrderEvent says happened, who did it, and what changed (before → after).

``{% load activity_tags %}`` then ``{% describe_event event as ev %}`` gives an :class:`EventView` whose
parts are plain text (the template escapes them; nothing here is marked safe). The event ``data`` shape
is the one documented at the top of ``orders/events.py``. ``{{ value|json_compact }}`` shows a metadata
value: text as it is, anything else as compact JSON.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from django import template

from orders.choices import ActorType, EventType, IncentiveKind, OrderStatus
from orders.money import format_minor

register = template.Library()

FIELD_LABELS = {
    "source_id": "Source id",
    "status": "Status",
    "customer_id": "Customer",
    "referrer_id": "Referrer",
    "amount": "Amount",
    "initial_amount": "Initial amount",
    "discount_amount": "Order discount",
    "items_discount_amount": "Items discount",
    "total_discount_amount": "Total discount",
    "total_amount": "Total",
}
ITEM_FIELD_LABELS = {
    "quantity": "quantity",
    "price": "unit price",
    "amount": "amount",
    "discount_amount": "discount",
    "subtotal_amount": "subtotal",
    "metadata": "metadata",
}
MONEY_FIELDS = frozenset(
    {
        "amount",
        "initial_amount",
        "discount_amount",
        "items_discount_amount",
        "total_discount_amount",
        "total_amount",
        "price",
        "subtotal_amount",
    }
)
# Lines of a change: "set" (no value before), "changed" (before → after), "cleared" (no value after),
# "added"/"removed" (a cart line or a metadata key came or went).


@dataclass(frozen=True)
class Line:
    kind: str
    label: str
    before: str = ""
    after: str = ""


@dataclass
class EventView:
    id: int
    type: str
    title: str
    actor_kind: str  # user | api_key | system (the ActorType value)
    actor_kind_label: str  # "Staff user", "API key", "System"
    actor_name: str  # the person, the key's name, or the system process ("" for plain "System")
    created_at: Any
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, text): incentive, reason, failure…
    lines: list[Line] = field(default_factory=list)


def json_text(value: Any) -> str:
    """Text as it is; everything else (numbers, booleans, null, objects, lists) as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@register.filter
def json_compact(value: Any) -> str:
    return json_text(value)


def field_text(name: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if name in MONEY_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return format_minor(value)
    if name == "status" and value in OrderStatus.values:
        return OrderStatus(value).label
    return json_text(value)


def _change_line(label: str, name: str, before: Any, after: Any) -> Line:
    if before is None or before == "":
        return Line("set", label, after=field_text(name, after))
    if after is None or after == "":
        return Line("cleared", label, before=field_text(name, before))
    return Line("changed", label, before=field_text(name, before), after=field_text(name, after))


def item_text(item: dict[str, Any]) -> str:
    """2 × Blue shirt (shirt-1) at $10.00 = $20.00, discount $2.00"""
    name = item.get("name") or item.get("source_id") or "item"
    text = f"{item.get('quantity', 1)} × {name}"
    if item.get("source_id") and item.get("source_id") != name:
        text += f" ({item['source_id']})"
    if item.get("price") is not None:
        text += f" at {field_text('price', item['price'])}"
    if item.get("amount") is not None:
        text += f" = {field_text('amount', item['amount'])}"
    if item.get("discount_amount"):
        text += f", discount {field_text('discount_amount', item['discount_amount'])}"
    return text


def change_lines(data: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    changes = data.get("changes") or {}
    for name, change in changes.items():
        if not isinstance(change, dict):
            continue
        if change.get("before") is None and change.get("after") == 0 and name in MONEY_FIELDS:
            continue  # a new order's zero discounts say nothing
        lines.append(_change_line(FIELD_LABELS.get(name, name), name, change.get("before"), change.get("after")))
    items = data.get("items") or {}
    for item in items.get("added") or []:
        lines.append(Line("added", "Item added", after=item_text(item)))
    for item in items.get("removed") or []:
        lines.append(Line("removed", "Item removed", before=item_text(item)))
    for item in items.get("changed") or []:
        name = item.get("name") or item.get("key") or "item"
        for key, label in ITEM_FIELD_LABELS.items():
            moved = item.get(key)
            if isinstance(moved, dict) and ("before" in moved or "after" in moved):
                lines.append(_change_line(f"{name}: {label}", key, moved.get("before"), moved.get("after")))
    metadata = data.get("metadata") or {}
    for key, change in (metadata.get("set") or {}).items():
        before, after = (change.get("before"), change.get("after")) if isinstance(change, dict) else (None, change)
        if before is None:
            lines.append(Line("added", f"Metadata “{key}”", after=json_text(after)))
        else:
            lines.append(Line("changed", f"Metadata “{key}”", before=json_text(before), after=json_text(after)))
    for key, old in (metadata.get("removed") or {}).items():
        lines.append(Line("removed", f"Metadata “{key}”", before=json_text(old)))
    return lines


def incentive_text(incentive: dict[str, Any]) -> str:
    code, name = incentive.get("code") or "", incentive.get("name") or ""
    kind = incentive.get("kind")
    kind_label = IncentiveKind(kind).label if kind in IncentiveKind.values else (kind or "Incentive")
    label = " · ".join(part for part in (code, name) if part) or incentive.get("id") or "—"
    return f"{kind_label} {label}"


def facts(event_type: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(data.get("incentive"), dict):
        found.append(("Incentive", incentive_text(data["incentive"])))
    if data.get("amount") is not None and event_type.startswith("redemption."):
        found.append(("Discount", field_text("amount", data["amount"])))
    if data.get("redemption_id"):
        found.append(("Redemption", str(data["redemption_id"])))
    if data.get("rollback_id"):
        found.append(("Rollback", str(data["rollback_id"])))
    if data.get("reason"):
        found.append(("Reason", str(data["reason"])))
    if data.get("failure_code") or data.get("failure_message"):
        failure = ": ".join(str(part) for part in (data.get("failure_code"), data.get("failure_message")) if part)
        found.append(("Failure", failure))
    return found


def actor_parts(event) -> tuple[str, str]:
    """(kind label, name): ("Staff user", "Jane Doe"), ("API key", "Shop backend"), ("System", "")."""
    if event.actor_type == ActorType.USER:
        user = event.actor_user
        if user is not None:
            name = user.get_full_name() or user.get_username()
        else:
            name = f"{event.actor_name} (account removed)" if event.actor_name else "a removed account"
        return ActorType.USER.label, name
    if event.actor_type == ActorType.API_KEY:
        return ActorType.API_KEY.label, event.actor_name or event.actor_id or "unnamed key"
    name = event.actor_name if event.actor_name and event.actor_name.lower() != "system" else ""
    return ActorType.SYSTEM.label, name


def describe(event) -> EventView:
    data = event.data if isinstance(event.data, dict) else {}
    title = EventType(event.type).label if event.type in EventType.values else event.type
    kind_label, name = actor_parts(event)
    return EventView(
        id=event.id,
        type=event.type,
        title=title,
        actor_kind=event.actor_type,
        actor_kind_label=kind_label,
        actor_name=name,
        created_at=event.created_at,
        facts=facts(event.type, data),
        lines=change_lines(data),
    )


@register.simple_tag
def describe_event(event) -> EventView:
    return describe(event)
