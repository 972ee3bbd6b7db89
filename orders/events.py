"""Activity: who did what to an order. One small function per kind of record, called by services inside
the transaction of the change (never from views, never through signals).

Event ``data`` has one shape for every event type, so that one template can render any of them:

    {"changes": {"<field>": {"before": …, "after": …}},
     "items": {"added": [item], "removed": [item], "changed": [{"key", "name", "<field>": {"before", "after"}}]},
     "metadata": {"set": {"<key>": {"before": …, "after": …}}, "removed": {"<key>": <old value>}},
     …extra keys of the event type (redemption id, reason, …)}

Empty sections are left out.
"""

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from .choices import ActorType, EventType
from .models import Order, OrderEvent

# Order fields whose before/after an event shows (derived amounts included: staff want to see them move).
TRACKED_FIELDS = (
    "source_id",
    "status",
    "customer_id",
    "referrer_id",
    "amount",
    "initial_amount",
    "discount_amount",
    "items_discount_amount",
    "total_discount_amount",
    "total_amount",
)
ITEM_FIELDS = ("quantity", "price", "amount", "discount_amount", "subtotal_amount", "metadata")


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a staff user, an API key (by its name) or the system (imports, commands)."""

    type: str
    name: str
    user: Any = None
    id: str = ""

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(type=ActorType.USER, name=user.get_username(), user=user, id=str(user.pk))

    @classmethod
    def for_api_key(cls, *, key_id: str, name: str) -> "Actor":
        return cls(type=ActorType.API_KEY, name=name, id=key_id)

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(type=ActorType.SYSTEM, name=name)


def order_snapshot(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in TRACKED_FIELDS}


def item_key(item: dict[str, Any]) -> str:
    """Identity of a cart line across a replacement: the catalog object it names."""
    if item.get("sku_id"):
        return f"sku:{item['sku_id']}"
    return f"product:{item.get('product_id') or item.get('product_source_id') or ''}"


def item_snapshot(item) -> dict[str, Any]:
    return {
        "key": item_key({"sku_id": item.sku_id, "product_id": item.product_id}),
        "name": item.display_name,
        "related_object": item.related_object,
        "product_id": item.product_id,
        "sku_id": item.sku_id,
        "source_id": item.source_id,
        **{name: getattr(item, name) for name in ITEM_FIELDS},
    }


@dataclass
class Diff:
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, list] = field(default_factory=dict)
    metadata: dict[str, dict] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.changes or self.items or self.metadata)

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.changes:
            data["changes"] = self.changes
        if self.items:
            data["items"] = self.items
        if self.metadata:
            data["metadata"] = self.metadata
        return data


def fields_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in after
        if before.get(name) != after.get(name)
    }


def metadata_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict]:
    set_ = {k: {"before": before.get(k), "after": v} for k, v in after.items() if before.get(k, ...) != v}
    removed = {k: v for k, v in before.items() if k not in after}
    diff: dict[str, dict] = {}
    if set_:
        diff["set"] = set_
    if removed:
        diff["removed"] = removed
    return diff


def items_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list]:
    """Lines matched by the catalog object they name; a line whose quantity/price/… moved is "changed"."""
    old = {item["key"]: item for item in before}
    new = {item["key"]: item for item in after}
    diff: dict[str, list] = {}
    added = [item for key, item in new.items() if key not in old]
    removed = [item for key, item in old.items() if key not in new]
    changed = []
    for key, item in new.items():
        if key in old:
            moved = {
                name: {"before": old[key][name], "after": item[name]}
                for name in ITEM_FIELDS
                if old[key][name] != item[name]
            }
            if moved:
                changed.append({"key": key, "name": item["name"], **moved})
    if added:
        diff["added"] = added
    if removed:
        diff["removed"] = removed
    if changed:
        diff["changed"] = changed
    # Two lines for the same catalog object collapse above; fall back to a positional comparison then.
    if (len(old) != len(before) or len(new) != len(after)) and before != after:
        diff = {"removed": before, "added": after}
    return diff


def record(order: Order, type_: str, actor: Actor, data: dict[str, Any] | None = None) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        type=type_,
        actor_type=actor.type,
        actor_user=actor.user if actor.type == ActorType.USER else None,
        actor_id=actor.id,
        actor_name=actor.name,
        data=_jsonable(data or {}),
        created_at=timezone.now(),
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def order_created(order: Order, actor: Actor, diff: Diff, *, imported: bool = False) -> OrderEvent:
    return record(order, EventType.ORDER_IMPORTED if imported else EventType.ORDER_CREATED, actor, diff.as_data())


def order_updated(order: Order, actor: Actor, diff: Diff) -> OrderEvent:
    return record(order, EventType.ORDER_UPDATED, actor, diff.as_data())


def order_status_changed(order: Order, actor: Actor, before: str, after: str, **extra) -> OrderEvent:
    from .choices import STATUS_EVENTS

    data = {"changes": {"status": {"before": before, "after": after}}, **extra}
    return record(order, STATUS_EVENTS[after], actor, data)


def redemption_succeeded(order: Order, actor: Actor, redemption, discount_before: int) -> OrderEvent:
    return record(
        order,
        EventType.REDEMPTION_SUCCEEDED,
        actor,
        {
            "redemption_id": redemption.id,
            "incentive": _incentive(redemption),
            "amount": redemption.amount,
            "changes": {"discount_amount": {"before": discount_before, "after": order.discount_amount}},
        },
    )


def redemption_failed(order: Order, actor: Actor, redemption) -> OrderEvent:
    return record(
        order,
        EventType.REDEMPTION_FAILED,
        actor,
        {
            "redemption_id": redemption.id,
            "incentive": _incentive(redemption),
            "failure_code": redemption.failure_code,
            "failure_message": redemption.failure_message,
        },
    )


def redemption_rolled_back(order: Order, actor: Actor, redemption, discount_before: int) -> OrderEvent:
    return record(
        order,
        EventType.REDEMPTION_ROLLBACK_SUCCEEDED,
        actor,
        {
            "redemption_id": redemption.id,
            "rollback_id": redemption.rollback_id,
            "reason": redemption.rollback_reason,
            "incentive": _incentive(redemption),
            "amount": redemption.amount,
            "changes": {"discount_amount": {"before": discount_before, "after": order.discount_amount}},
        },
    )


def _incentive(redemption) -> dict[str, str]:
    return {
        "kind": redemption.incentive_kind,
        "id": redemption.incentive_id,
        "code": redemption.incentive_code,
        "name": redemption.incentive_name,
    }
