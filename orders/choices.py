"""Enumerations of the orders domain and the order status transition table."""

from django.db import models


class OrderStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    PAID = "PAID", "Paid"
    CANCELED = "CANCELED", "Canceled"
    FULFILLED = "FULFILLED", "Fulfilled"


# Allowed moves: CANCELED is final; every other move is allowed (and recorded). Staying in the same
# status is not a move and is never recorded as one.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.CREATED: frozenset({OrderStatus.PAID, OrderStatus.CANCELED, OrderStatus.FULFILLED}),
    OrderStatus.PAID: frozenset({OrderStatus.CREATED, OrderStatus.CANCELED, OrderStatus.FULFILLED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.CREATED, OrderStatus.PAID, OrderStatus.CANCELED}),
    OrderStatus.CANCELED: frozenset(),
}

# Orders that count in a customer's order summary (DESIGN §3).
SUMMARY_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


def can_transition(current: str, new: str) -> bool:
    return new in STATUS_TRANSITIONS[OrderStatus(current)]


class RelatedObject(models.TextChoices):
    PRODUCT = "product", "Product"
    SKU = "sku", "SKU"


class RedemptionStatus(models.TextChoices):
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    ROLLED_BACK = "ROLLED_BACK", "Rolled back"


class IncentiveKind(models.TextChoices):
    VOUCHER = "voucher", "Voucher"
    PROMOTION_TIER = "promotion_tier", "Promotion"


class EventType(models.TextChoices):
    ORDER_CREATED = "order.created", "Order created"
    ORDER_IMPORTED = "order.imported", "Order imported"
    ORDER_UPDATED = "order.updated", "Order updated"
    ORDER_PAID = "order.paid", "Order paid"
    ORDER_CANCELED = "order.canceled", "Order canceled"
    ORDER_FULFILLED = "order.fulfilled", "Order fulfilled"
    ORDER_STATUS_RESET = "order.status_reset", "Order moved back to created"
    REDEMPTION_SUCCEEDED = "redemption.succeeded", "Redemption succeeded"
    REDEMPTION_FAILED = "redemption.failed", "Redemption failed"
    REDEMPTION_ROLLBACK_SUCCEEDED = "redemption.rollback.succeeded", "Redemption rolled back"


# The event recorded when an order enters a status.
STATUS_EVENTS = {
    OrderStatus.CREATED: EventType.ORDER_STATUS_RESET,
    OrderStatus.PAID: EventType.ORDER_PAID,
    OrderStatus.CANCELED: EventType.ORDER_CANCELED,
    OrderStatus.FULFILLED: EventType.ORDER_FULFILLED,
}


class ActorType(models.TextChoices):
    USER = "user", "Staff user"
    API_KEY = "api_key", "API key"
    SYSTEM = "system", "System"


class MetadataObject(models.TextChoices):
    ORDER = "order", "Order"
    ORDER_ITEM = "order_item", "Order item"
    CUSTOMER = "customer", "Customer"


class MetadataType(models.TextChoices):
    STRING = "string", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes/no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    OBJECT = "object", "Object"
