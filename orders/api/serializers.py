"""Serializers of the Orders API (Voucherify's field names and JSON types).

Requests (``*WriteSerializer``) check the shape and JSON types of a body — amounts, prices and quantities
are JSON integers, never strings or floats — and keep only the fields the services read; the services
then check everything else and compute every derived amount. Field paths in errors read like
``items[0].quantity`` either way.

Responses (``OrderSerializer``, ``CustomerSerializer``) read rows prepared by ``orders.api.selectors``
(items with their product/SKU, redemptions), so a page of orders costs a fixed number of queries.

Reusable by other API endpoints (bulk import, export jobs): ``validate_order`` checks one order of an
import (raising DRF's ValidationError; ``orders_dashboard.api.errors.flatten_errors`` gives its field
paths); ``order_write_kwargs`` turns its result into ``order_create`` keyword arguments;
``serialize_orders`` writes Order objects.

Speed: DRF builds a serializer's fields (deep copies of every declared field, nested ones included) each
time a serializer is instantiated, which cost more than the rest of validating or writing an order. The
functions below use one instance per class instead, made on first use: ``run_validation`` and
``to_representation`` keep no state on the serializer, so one instance serves every request.
"""

import datetime as dt
from functools import cache
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from orders.choices import OrderStatus, RedemptionStatus, RelatedObject
from orders.filters import MAX_AMOUNT
from orders.models import SKU, Customer, Order, OrderItem, Product, Redemption
from orders.services import UNSET

MAX_QUANTITY = 10**9  # what orders.services accepts


# --- fields ----------------------------------------------------------------------------------------------


class ConstantField(serializers.Field):
    """Always the same string (``"object": "order"``); documented as a one-value enum."""

    def __init__(self, value: str, **kwargs):
        self.value = value
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, instance) -> str:
        return self.value


class ConstantFieldSchema(OpenApiSerializerFieldExtension):
    target_class = ConstantField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "const": self.target.value}


class TimestampField(serializers.DateTimeField):
    """ISO 8601 in UTC with milliseconds, as Voucherify writes them: ``2022-09-09T09:20:01.660Z``."""

    def to_representation(self, value):
        if value is None:
            return None
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: refuses strings ("12"), floats (12.0, 12.5) and booleans, which DRF would coerce."""

    default_error_messages = {"invalid": "Must be a whole number (a JSON integer, in minor units such as cents)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def amount_field(**kwargs) -> StrictIntegerField:
    return StrictIntegerField(min_value=0, max_value=MAX_AMOUNT, required=False, allow_null=True, **kwargs)


def text_field(max_length: int = 255, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length, required=False, allow_null=True, allow_blank=True, trim_whitespace=False, **kwargs
    )


def object_field(**kwargs) -> serializers.DictField:
    """A JSON object of anything (metadata, address); what its values may be is the services' business."""
    return serializers.DictField(required=False, allow_null=True, **kwargs)


# --- requests --------------------------------------------------------------------------------------------


class CustomerWriteSerializer(serializers.Serializer):
    """A customer to upsert: named by ``id`` (must exist) or ``source_id`` (created when new)."""

    id = text_field(64)
    source_id = text_field()
    name = text_field()
    email = text_field(254)
    phone = text_field(64)
    description = text_field(5000)
    address = object_field()
    birthdate = text_field(10, help_text="YYYY-MM-DD")
    birthday = text_field(10, help_text="Alias of birthdate.")
    metadata = object_field()

    class Meta:
        ref_name = "CustomerWrite"


class ItemProductWriteSerializer(serializers.Serializer):
    id = text_field(64)
    source_id = text_field()
    name = text_field()
    price = amount_field()
    metadata = object_field()
    override = serializers.BooleanField(
        required=False, help_text="Update the existing catalog product with the values given."
    )

    class Meta:
        ref_name = "ItemProductWrite"


class ItemSkuWriteSerializer(serializers.Serializer):
    id = text_field(64)
    source_id = text_field()
    sku = text_field()
    price = amount_field()
    metadata = object_field()
    override = serializers.BooleanField(
        required=False, help_text="Update the existing catalog SKU with the values given."
    )

    class Meta:
        ref_name = "ItemSkuWrite"


class OrderItemWriteSerializer(serializers.Serializer):
    """A cart line naming a product or SKU by ``product_id`` / ``sku_id``, or by ``source_id`` with
    ``related_object``; unknown source ids are added to the catalog."""

    product_id = text_field(64)
    sku_id = text_field(64)
    source_id = text_field()
    related_object = serializers.ChoiceField(choices=RelatedObject.values, required=False)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)
    price = amount_field(help_text="Unit price; defaults to the SKU's or product's price.")
    amount = amount_field(help_text="Used only to find the unit price when none is known (amount / quantity).")
    discount_amount = amount_field()
    metadata = object_field()
    product = ItemProductWriteSerializer(required=False, allow_null=True)
    sku = ItemSkuWriteSerializer(required=False, allow_null=True)

    class Meta:
        ref_name = "OrderItemWrite"


class OrderWriteSerializer(serializers.Serializer):
    """``POST /v1/orders`` (create or upsert) and ``PUT /v1/orders/{id}`` (what is not sent is unchanged)."""

    id = text_field(64, help_text="Upsert: the order with this id is updated.")
    source_id = text_field(help_text="Your own id of the order; upsert: the order with this source id is updated.")
    status = serializers.ChoiceField(choices=OrderStatus.values, required=False)
    amount = amount_field(help_text="Only for an order without items; with items it is their sum.")
    initial_amount = amount_field()
    discount_amount = amount_field(help_text="Order-level discount.")
    metadata = object_field()
    items = OrderItemWriteSerializer(many=True, required=False, help_text="null: as if not sent.")
    customer = CustomerWriteSerializer(required=False, allow_null=True)
    customer_id = text_field(64)
    referrer = CustomerWriteSerializer(required=False, allow_null=True)
    referrer_id = text_field(64)

    class Meta:
        ref_name = "OrderWrite"

    def to_internal_value(self, data):
        items = data.get("items") if isinstance(data, dict) else None
        if isinstance(data, dict) and "items" in data and items is None:
            data = {key: value for key, value in data.items() if key != "items"}
        limit = self.context.get("max_items", settings.ORDERS_MAX_ITEMS)
        if isinstance(items, list) and len(items) > limit:
            # Said before the lines are checked one by one, and said plainly.
            raise serializers.ValidationError(
                {"items": [f"An order can have at most {limit} items; this one has {len(items)}."]}
            )
        return super().to_internal_value(data)


def _party(data: dict[str, Any], name: str):
    """The ``customer``/``referrer`` argument of the services: the inline object, or ``{"id": <name>_id}``;
    UNSET when neither was sent; None when sent as null."""
    obj = data.get(name, UNSET)
    given_id = data.get(f"{name}_id", UNSET)
    if obj is not UNSET and obj is not None:
        obj = dict(obj)
        if given_id and not obj.get("id") and not obj.get("source_id"):
            obj["id"] = given_id
        return obj
    if given_id is not UNSET:
        return {"id": given_id} if given_id else None
    return obj


def order_write_kwargs(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validated ``OrderWriteSerializer`` data → keyword arguments of ``order_create`` (or, with
    ``partial``, of ``order_update``: only what was sent)."""
    kwargs: dict[str, Any] = {}
    for name in ("status", "amount", "initial_amount", "discount_amount", "metadata"):
        if data.get(name) is not None:
            kwargs[name] = data[name]
    if "items" in data:
        kwargs["items"] = [dict(item) for item in data["items"]]
    if partial:
        if "source_id" in data:
            kwargs["source_id"] = data["source_id"]
    else:
        kwargs["id"] = data.get("id")
        kwargs["source_id"] = data.get("source_id")
    for name in ("customer", "referrer"):
        party = _party(data, name)
        if party is not UNSET:
            kwargs[name] = party
        elif not partial:
            kwargs[name] = None
    return kwargs


# --- responses -------------------------------------------------------------------------------------------


class CustomerRefSerializer(serializers.Serializer):
    """``{"id": "cust_…", "object": "customer"}``, made from the order's customer id (no join)."""

    id = serializers.CharField()
    object = ConstantField("customer")

    class Meta:
        ref_name = "CustomerRef"

    def to_representation(self, instance):
        return {"id": instance, "object": "customer"}


class ItemProductSerializer(serializers.Serializer):
    """The item's product: the catalog row, or what the item recorded of it when the row was deleted."""

    id = serializers.CharField(allow_null=True)
    source_id = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    price = serializers.IntegerField(allow_null=True)
    metadata = serializers.DictField()

    class Meta:
        ref_name = "OrderItemProduct"

    def to_representation(self, item: OrderItem):
        product: Product | None = item.product
        if product is not None:
            return {
                "id": product.pk,
                "source_id": product.source_id,
                "name": product.name,
                "price": product.price,
                "metadata": product.metadata,
            }
        if not (item.product_source_id or item.product_name):
            return None
        return {
            "id": None,
            "source_id": item.product_source_id or None,
            "name": item.product_name,
            "price": None,
            "metadata": {},
        }


class ItemSkuSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    source_id = serializers.CharField(allow_null=True)
    sku = serializers.CharField()
    price = serializers.IntegerField(allow_null=True)
    metadata = serializers.DictField()

    class Meta:
        ref_name = "OrderItemSku"

    def to_representation(self, item: OrderItem):
        sku: SKU | None = item.sku
        if sku is not None:
            return {
                "id": sku.pk,
                "source_id": sku.source_id,
                "sku": sku.sku,
                "price": sku.price,
                "metadata": sku.metadata,
            }
        if not (item.sku_source_id or item.sku_name):
            return None
        return {
            "id": None,
            "source_id": item.sku_source_id or None,
            "sku": item.sku_name,
            "price": None,
            "metadata": {},
        }


class OrderItemSerializer(serializers.Serializer):
    object = ConstantField("order_item")
    id = serializers.CharField()
    sku_id = serializers.CharField(allow_null=True)
    product_id = serializers.CharField(allow_null=True)
    related_object = serializers.ChoiceField(choices=RelatedObject.values)
    source_id = serializers.SerializerMethodField()
    quantity = serializers.IntegerField()
    price = serializers.IntegerField(help_text="Unit price.")
    amount = serializers.IntegerField(help_text="price × quantity.")
    discount_amount = serializers.IntegerField()
    subtotal_amount = serializers.IntegerField(help_text="amount − discount_amount.")
    product = ItemProductSerializer(source="*", allow_null=True)
    sku = ItemSkuSerializer(source="*", allow_null=True)
    metadata = serializers.DictField()

    class Meta:
        ref_name = "OrderItem"

    def get_source_id(self, item: OrderItem) -> str | None:
        """The source id of the SKU (``related_object: sku``) or product the line names."""
        return item.source_id or None


class RedemptionEntrySerializer(serializers.Serializer):
    date = TimestampField(source="created_at")
    related_object_type = serializers.CharField(source="incentive_kind", help_text="voucher or promotion_tier")
    related_object_id = serializers.CharField(source="incentive_id")
    rollback_id = serializers.CharField(required=False, help_text="Only when rolled back.")
    rollback_date = TimestampField(required=False, help_text="Only when rolled back.")

    class Meta:
        ref_name = "OrderRedemption"

    def to_representation(self, redemption: Redemption):
        entry = {
            "date": self.fields["date"].to_representation(redemption.created_at),
            "related_object_type": redemption.incentive_kind,
            "related_object_id": redemption.incentive_id,
        }
        if redemption.status == RedemptionStatus.ROLLED_BACK:
            entry["rollback_id"] = redemption.rollback_id
            entry["rollback_date"] = self.fields["rollback_date"].to_representation(redemption.rollback_date)
        return entry


class RedemptionsField(serializers.DictField):
    """``redemptions``: an object keyed by redemption id (never a list); failed attempts are left out."""

    def __init__(self, **kwargs):
        super().__init__(child=RedemptionEntrySerializer(), source="*", read_only=True, **kwargs)

    def to_representation(self, order: Order):
        return {
            redemption.pk: self.child.to_representation(redemption)
            for redemption in order.redemptions.all()
            if redemption.status != RedemptionStatus.FAILED
        }


class OrderSerializer(serializers.Serializer):
    """The Order object. The ``applied_*`` amounts equal their ``*_discount_amount`` counterparts: every
    discount an order carries here was applied to it."""

    id = serializers.CharField()
    source_id = serializers.CharField(allow_null=True)
    created_at = TimestampField()
    updated_at = TimestampField()
    status = serializers.ChoiceField(choices=OrderStatus.values)
    amount = serializers.IntegerField(help_text="Σ item amounts when the order has items.")
    initial_amount = serializers.IntegerField()
    discount_amount = serializers.IntegerField(help_text="Order-level discount.")
    items_discount_amount = serializers.IntegerField(help_text="Σ item discounts.")
    total_discount_amount = serializers.IntegerField(help_text="discount_amount + items_discount_amount.")
    total_amount = serializers.IntegerField(help_text="amount − total_discount_amount.")
    applied_discount_amount = serializers.IntegerField(source="discount_amount")
    items_applied_discount_amount = serializers.IntegerField(source="items_discount_amount")
    total_applied_discount_amount = serializers.IntegerField(source="total_discount_amount")
    items = OrderItemSerializer(many=True)
    metadata = serializers.DictField()
    customer = CustomerRefSerializer(source="customer_id", allow_null=True)
    customer_id = serializers.CharField(allow_null=True)
    referrer = CustomerRefSerializer(source="referrer_id", allow_null=True)
    referrer_id = serializers.CharField(allow_null=True)
    redemptions = RedemptionsField()
    object = ConstantField("order")

    class Meta:
        ref_name = "Order"


class CustomerOrdersSummarySerializer(serializers.Serializer):
    total_amount = serializers.IntegerField(source="orders_total_amount")
    total_count = serializers.IntegerField(source="orders_total_count")
    average_amount = serializers.IntegerField(source="orders_average_amount")
    last_order_amount = serializers.SerializerMethodField()
    last_order_date = TimestampField(allow_null=True)

    class Meta:
        ref_name = "CustomerOrdersSummary"

    def get_last_order_amount(self, customer: Customer) -> int:
        """Total of the latest PAID or FULFILLED order; 0 when there is none."""
        return customer.last_order_amount or 0


class CustomerSummarySerializer(serializers.Serializer):
    orders = CustomerOrdersSummarySerializer(source="*", help_text="Counts PAID and FULFILLED orders only.")

    class Meta:
        ref_name = "CustomerSummary"


class CustomerSerializer(serializers.Serializer):
    id = serializers.CharField()
    source_id = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    birthdate = serializers.DateField(allow_null=True)
    address = serializers.SerializerMethodField()
    summary = CustomerSummarySerializer(source="*")
    metadata = serializers.DictField()
    created_at = TimestampField()
    updated_at = TimestampField()
    object = ConstantField("customer")

    class Meta:
        ref_name = "Customer"

    def get_address(self, customer: Customer) -> dict[str, Any] | None:
        """The postal address object as given (city, state, line_1, line_2, country, postal_code), or null."""
        return customer.address or None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in ("name", "description", "email", "phone"):
            data[name] = data[name] or None  # Voucherify sends null, not "", for what was never given
        return data


class OrderListSerializer(serializers.Serializer):
    """Documentation only: the shape of ``GET /v1/orders``."""

    object = ConstantField("list")
    data_ref = ConstantField("orders")
    orders = OrderSerializer(many=True)
    total = serializers.IntegerField(
        help_text="How many orders match: exact up to 10,000 (the deepest row that paging reaches); past it, "
        "PostgreSQL's estimate."
    )

    class Meta:
        ref_name = "OrderList"


class CustomerListSerializer(serializers.Serializer):
    """Documentation only: the shape of ``GET /v1/customers``."""

    object = ConstantField("list")
    data_ref = ConstantField("customers")
    customers = CustomerSerializer(many=True)
    total = serializers.IntegerField(help_text="As for orders: exact up to 10,000, estimated past it.")

    class Meta:
        ref_name = "CustomerList"


# --- one instance per serializer class ------------------------------------------------------------------


@cache
def _shared(serializer_class) -> serializers.Serializer:
    return serializer_class()


def validate_order(data) -> dict[str, Any]:
    """A request body → validated data (the shape check of ``OrderWriteSerializer``); raises ValidationError."""
    return _shared(OrderWriteSerializer).run_validation(data)


def validate_customer(data) -> dict[str, Any]:
    return _shared(CustomerWriteSerializer).run_validation(data)


def serialize_order(order: Order) -> dict[str, Any]:
    """The Order object of ``order``, whose items (with product and SKU) and redemptions are prefetched."""
    return _shared(OrderSerializer).to_representation(order)


def serialize_orders(orders) -> list[dict[str, Any]]:
    serializer = _shared(OrderSerializer)
    return [serializer.to_representation(order) for order in orders]


def serialize_customer(customer: Customer) -> dict[str, Any]:
    return _shared(CustomerSerializer).to_representation(customer)


def serialize_customers(customers) -> list[dict[str, Any]]:
    serializer = _shared(CustomerSerializer)
    return [serializer.to_representation(customer) for customer in customers]
