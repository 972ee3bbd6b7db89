"""Reads for the order page: one order with what its tabs show, its activity, the metadata schema.

Every function here issues a fixed number of queries, whatever the number of items, redemptions or events
of the order (the detail page asserts it).
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef, Prefetch, Q, Value

from .choices import MetadataObject
from .models import MetadataSchema, MetadataSchemaProperty, Order, OrderEvent, OrderItem, Redemption

ACTIVITY_PAGE_SIZE = 100

_MODEL_BACKEND_ONLY = ["django.contrib.auth.backends.ModelBackend"]


def order_get(order_id: str, *, with_lines: bool = False) -> Order | None:
    """The order with its customer and referrer (one query); ``with_lines`` also loads its items (in
    cart order) and redemptions (oldest first): two more queries, whatever their number."""
    queryset = Order.objects.select_related("customer", "referrer").filter(pk=order_id)
    if with_lines:
        queryset = queryset.prefetch_related(
            Prefetch("items", queryset=OrderItem.objects.order_by("position", "id")),
            Prefetch("redemptions", queryset=Redemption.objects.order_by("created_at", "id")),
        )
    return queryset.first()


def order_exists(order_id: str) -> bool:
    return Order.objects.filter(pk=order_id).exists()


def order_redemption(order_id: str, redemption_id: str) -> Redemption | None:
    return Redemption.objects.filter(pk=redemption_id, order_id=order_id).first()


def metadata_schema(related_object: str = MetadataObject.ORDER) -> MetadataSchema | None:
    """The metadata schema of an object kind with its properties (two queries), or None."""
    return MetadataSchema.objects.filter(related_object=related_object).prefetch_related("properties").first()


def schema_properties(schema: MetadataSchema | None) -> dict[str, MetadataSchemaProperty]:
    return {prop.key: prop for prop in schema.properties.all()} if schema is not None else {}


@dataclass(frozen=True)
class EventPage:
    events: list[OrderEvent]
    older_than: int | None  # the id to pass as ``before`` for the next (older) page; None: no older events


def order_events(order_id: str, *, before: int | None = None, limit: int = ACTIVITY_PAGE_SIZE) -> EventPage:
    """Newest first, ``limit`` at a time, keyset on the event id (index (order, id)); one query."""
    queryset = OrderEvent.objects.filter(order_id=order_id).select_related("actor_user").order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    events = list(queryset[: limit + 1])
    older_than = events[limit - 1].id if len(events) > limit else None
    return EventPage(events=events[:limit], older_than=older_than)


def order_events_after(order_id: str, after: int, *, limit: int = ACTIVITY_PAGE_SIZE) -> list[OrderEvent]:
    """Events newer than ``after``, newest first; at most ``limit`` of the oldest of them, so that a
    poller moving its cursor to the newest returned id never skips any."""
    events = list(
        OrderEvent.objects.filter(order_id=order_id, id__gt=after).select_related("actor_user").order_by("id")[:limit]
    )
    events.reverse()
    return events


def _has_perm_expression(user, perm: str):
    """``user.has_perm(perm)`` as a SQL expression, for ``ModelBackend`` (the project's only backend):
    a direct or group permission, for an active user; superusers have them all."""
    if not user.is_active:
        return Value(False)
    if user.is_superuser:
        return Value(True)
    app_label, codename = perm.split(".", 1)
    granted = Permission.objects.filter(content_type__app_label=app_label, codename=codename).filter(
        Q(user=user.pk) | Q(group__user=user.pk)
    )
    return Exists(granted)


@dataclass(frozen=True)
class PollState:
    order: Order
    has_new: bool
    can_view: bool
    can_change: bool


def activity_poll(order_id: str, after: int, *, user) -> PollState | None:
    """ "Is there anything newer than event ``after``?" for the Activity poller, cheaply: ONE query reads
    the order row (primary key), probes the (order, id) event index, and checks the user's view/change
    permissions. None when there is no such order.

    With an authentication backend other than ModelBackend the permissions are asked of the backends
    instead (more queries, same answer)."""
    newer = OrderEvent.objects.filter(order=OuterRef("pk"), id__gt=after)
    queryset = Order.objects.filter(pk=order_id).annotate(has_new=Exists(newer))
    in_sql = list(getattr(settings, "AUTHENTICATION_BACKENDS", _MODEL_BACKEND_ONLY)) == _MODEL_BACKEND_ONLY
    if in_sql:
        queryset = queryset.annotate(
            can_view=_has_perm_expression(user, "orders.view_order"),
            can_change=_has_perm_expression(user, "orders.change_order"),
        )
    order = queryset.first()
    if order is None:
        return None
    if in_sql:
        can_view, can_change = bool(order.can_view), bool(order.can_change)
    else:
        can_view, can_change = user.has_perm("orders.view_order"), user.has_perm("orders.change_order")
    return PollState(order=order, has_new=bool(order.has_new), can_view=can_view, can_change=can_change)
