"""Every write to orders, customers and the catalog. Views, forms, the API, the admin, imports and commands
call these functions; nothing else saves an Order.

Contract of every order service:
- runs in one transaction (``@transaction.atomic``); the activity event(s) describing the change and the
  customer order summaries are written in that same transaction, so a failure anywhere leaves neither
  the change nor its history;
- locks the order row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers with IMMEDIATE
  transactions) so concurrent changes of one order queue instead of overwriting each other;
- accepts ``version`` (optimistic locking): when given and stale, raises ``VersionConflict``, changes nothing;
- computes every derived amount itself (DESIGN §3); amounts given for them are ignored;
- raises ``InvalidInput`` (with field paths) for bad input, before writing anything that would survive.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DataError, IntegrityError, connection, models, transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import events
from .choices import (
    SUMMARY_STATUSES,
    ActorType,
    EventType,
    IncentiveKind,
    MetadataObject,
    OrderStatus,
    RedemptionStatus,
    RelatedObject,
    can_transition,
)
from .events import Actor, Diff
from .exceptions import (
    InvalidInput,
    InvalidStatusTransition,
    NotFound,
    RedemptionNotRollbackable,
    VersionConflict,
)
from .ids import PREFIXES, looks_like, new_id
from .metadata import metadata_errors
from .models import SKU, Customer, MetadataSchema, Order, OrderEvent, OrderItem, Product, Redemption

__all__ = [
    "UNSET",
    "Actor",
    "ImportResult",
    "customer_summaries_rebuild",
    "customer_upsert",
    "order_create",
    "order_set_status",
    "order_update",
    "orders_import",
    "redemption_record",
    "redemption_rollback",
]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()  # "not given", as opposed to None ("clear it")

CUSTOMER_FIELDS = ("name", "email", "phone", "description", "address", "birthdate", "metadata")


# --- small validation helpers -------------------------------------------------------------------------


class _Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)

    def merge(self, other: Mapping[str, list[str]]) -> None:
        for path, messages in other.items():
            for message in messages:
                self.add(path, message)

    def raise_if_any(self) -> None:
        if self:
            raise InvalidInput(dict(self))


def _int(value, path: str, errors: _Errors, *, minimum: int = 0, maximum: int = 10**15) -> int | None:
    """An integer amount/quantity; floats, numeric strings and booleans are refused (minor units only)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a whole number (amounts are integers in minor units, e.g. cents)")
        return None
    if value < minimum:
        errors.add(path, f"must be at least {minimum}")
        return None
    if value > maximum:
        errors.add(path, f"must be at most {maximum}")
        return None
    return value


def _str(value, path: str, errors: _Errors, *, max_length: int = 255, blank: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(path, "must be text")
        return None
    value = value.strip()
    if not blank and not value:
        errors.add(path, "must not be empty")
        return None
    if len(value) > max_length:
        errors.add(path, f"must be at most {max_length} characters")
        return None
    return value


def _schemas() -> dict[str, MetadataSchema]:
    return {s.related_object: s for s in MetadataSchema.objects.prefetch_related("properties")}


def _source_id(value, path: str, errors: _Errors) -> str | None:
    value = _str(value, path, errors, max_length=255)
    return value or None


# --- customers ---------------------------------------------------------------------------------------


def _customer_input(
    data: Mapping[str, Any], path: str, errors: _Errors, schemas
) -> tuple[dict[str, Any], str | None, str | None]:
    """A customer object's fields as ``customer_upsert`` reads them: the values to set, the ``id`` and the
    ``source_id`` (problems go to ``errors``, paths under ``path``). The bulk import reads them the same way."""
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _str(data["name"], f"{path}.name", errors) or ""
    if "email" in data:
        email = _str(data["email"], f"{path}.email", errors, max_length=254) or ""
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors.add(f"{path}.email", "must be a valid email address")
        values["email"] = email
    if "phone" in data:
        values["phone"] = _str(data["phone"], f"{path}.phone", errors, max_length=64) or ""
    if "description" in data:
        values["description"] = _str(data["description"], f"{path}.description", errors, max_length=5000) or ""
    if "address" in data:
        if data["address"] is not None and not isinstance(data["address"], Mapping):
            errors.add(f"{path}.address", "must be an object")
        values["address"] = dict(data["address"]) if isinstance(data["address"], Mapping) else {}
    birthdate = data.get("birthdate", data.get("birthday"))
    if birthdate:
        try:
            values["birthdate"] = dt.date.fromisoformat(birthdate) if isinstance(birthdate, str) else None
        except ValueError:
            values["birthdate"] = None
        if values["birthdate"] is None:
            errors.add(f"{path}.birthdate", "must be a date in the form YYYY-MM-DD")
    if "metadata" in data:
        metadata = data["metadata"] if data["metadata"] is not None else {}
        errors.merge(metadata_errors(metadata, path=f"{path}.metadata", schema=schemas.get(MetadataObject.CUSTOMER)))
        values["metadata"] = metadata
    customer_id = _str(data.get("id"), f"{path}.id", errors)
    source_id = _source_id(data.get("source_id"), f"{path}.source_id", errors)
    return values, customer_id, source_id


@transaction.atomic
def customer_upsert(*, data: Mapping[str, Any] | Customer, path: str = "customer", schemas=None) -> Customer:
    """Find a customer by ``id`` or ``source_id`` and update the fields given, or create one.

    Raises ``InvalidInput`` (paths under ``path``) or ``NotFound`` for an unknown ``id``, before writing.
    """
    if isinstance(data, Customer):
        return data
    errors = _Errors()
    if not isinstance(data, Mapping):
        errors.add(path, "must be an object with an id or a source_id")
        errors.raise_if_any()
    schemas = _schemas() if schemas is None else schemas
    values, customer_id, source_id = _customer_input(data, path, errors, schemas)
    errors.raise_if_any()

    now = timezone.now()
    if customer_id:
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            raise NotFound("customer", customer_id)
        if source_id and source_id != customer.source_id:
            values["source_id"] = source_id
    elif source_id:
        customer = Customer.objects.select_for_update().filter(source_id=source_id).first()
        if customer is None:
            # get_or_create: another request may create the same source id meanwhile.
            customer, created = Customer.objects.get_or_create(source_id=source_id, defaults=values)
            if created:
                return customer
            customer = Customer.objects.select_for_update().get(pk=customer.pk)
    else:
        return Customer.objects.create(**values)

    changed = [name for name, value in values.items() if getattr(customer, name) != value]
    if changed:
        for name in changed:
            setattr(customer, name, values[name])
        customer.updated_at = now
        customer.save(update_fields=[*changed, "updated_at"])
    return customer


# --- catalog -----------------------------------------------------------------------------------------


def _catalog_values(kind: str, data: Mapping[str, Any], path: str, errors: _Errors) -> dict[str, Any]:
    values: dict[str, Any] = {}
    name_field = "sku" if kind == "sku" else "name"
    if data.get(name_field) is not None:
        values[name_field] = _str(data[name_field], f"{path}.{name_field}", errors) or ""
    if data.get("price") is not None:
        values["price"] = _int(data["price"], f"{path}.price", errors)
    if data.get("metadata") is not None:
        errors.merge(metadata_errors(data["metadata"], path=f"{path}.metadata"))
        values["metadata"] = data["metadata"]
    return values


class _CatalogRows:
    """The products and SKUs that an order's items name, read up front in at most two queries (one per
    model) instead of one or two per item. ``_catalog_get`` looks here first and, on a miss, runs exactly
    the queries it ran before (an unknown id, a new source id, an odd value), so it returns the same rows
    and creates the same ones either way."""

    def __init__(self):
        self.by_pk: dict[type, dict] = {Product: {}, SKU: {}}
        self.by_source_id: dict[type, dict] = {Product: {}, SKU: {}}

    @classmethod
    def load(cls, items: list) -> "_CatalogRows":
        rows = cls()
        wanted = {Product: (set(), set()), SKU: (set(), set())}  # model → (ids, source ids)

        def want(model, ids=(), source_ids=()):
            wanted[model][0].update(v for v in ids if isinstance(v, str) and v)
            wanted[model][1].update(v for v in source_ids if isinstance(v, str) and v)

        for data in items:
            if not isinstance(data, Mapping):
                continue
            # The same reading of an item as _resolve_item's.
            product_data = data.get("product") or {}
            sku_data = data.get("sku") or {}
            product_data = product_data if isinstance(product_data, Mapping) else {}
            sku_data = sku_data if isinstance(sku_data, Mapping) else {}
            related = data.get("related_object")
            if related is None:
                related = RelatedObject.SKU if (data.get("sku_id") or sku_data) else RelatedObject.PRODUCT
            is_sku = related == RelatedObject.SKU
            source_id = data.get("source_id")
            source_id = source_id.strip() if isinstance(source_id, str) else None
            want(
                Product,
                ids=[data.get("product_id") or product_data.get("id")],
                source_ids=[product_data.get("source_id") or (None if is_sku else source_id)],
            )
            if is_sku or data.get("sku_id") or sku_data.get("id"):
                want(
                    SKU,
                    ids=[data.get("sku_id") or sku_data.get("id")],
                    source_ids=[sku_data.get("source_id") or (source_id if is_sku else None)],
                )
        for model, (ids, source_ids) in wanted.items():
            if ids or source_ids:
                for obj in model.objects.filter(models.Q(pk__in=ids) | models.Q(source_id__in=source_ids)):
                    rows.add(obj)
        # _resolve_item reads sku.product: the SKUs' products join the same rows (one instance per row, so
        # an override saved through one item is what every later item sees, as a fresh read would be).
        skus = list(rows.by_pk[SKU].values())
        missing = {sku.product_id for sku in skus if sku.product_id} - set(rows.by_pk[Product])
        if missing:
            for product in Product.objects.filter(pk__in=missing):
                rows.add(product)
        for sku in skus:
            if sku.product_id in rows.by_pk[Product]:
                SKU.product.field.set_cached_value(sku, rows.by_pk[Product][sku.product_id])
        return rows

    def add(self, obj) -> None:
        self.by_pk[type(obj)][obj.pk] = obj
        if obj.source_id:
            self.by_source_id[type(obj)][obj.source_id] = obj

    def get(self, model, *, pk=None, source_id=None):
        if pk is not None:
            return self.by_pk[model].get(pk) if isinstance(pk, str) else None
        return self.by_source_id[model].get(source_id) if isinstance(source_id, str) else None


def _catalog_get(
    model,
    kind: str,
    object_id,
    data,
    source_id,
    path: str,
    errors: _Errors,
    extra=None,
    rows: _CatalogRows | None = None,
):
    """A Product or SKU named by id, or upserted by source id (created when unknown; updated only when
    the input says ``override: true``, as the Voucherify contract does). ``rows``: what was read up front."""
    if isinstance(rows, _PlannedCatalog):  # a bulk import: the same decisions, written later in bulk
        return rows.catalog_get(model, kind, object_id, data, source_id, path, errors, extra)
    data = data if isinstance(data, Mapping) else {}
    values = _catalog_values(kind, data, path, errors)
    if errors:
        return None
    if object_id:
        obj = rows.get(model, pk=object_id) if rows is not None else None
        if obj is None:
            obj = model.objects.filter(pk=object_id).first()
        if obj is None:
            errors.add(f"{path}.id" if data.get("id") else f"{path}_id", f"no {kind} with id {object_id}")
        return obj
    if not source_id:
        return None
    values.update(extra or {})
    obj = rows.get(model, source_id=source_id) if rows is not None else None
    if obj is not None:
        created = False
    else:
        obj, created = model.objects.get_or_create(source_id=source_id, defaults=values)
        if rows is not None:
            rows.add(obj)
    if not created and data.get("override") is True:
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.updated_at = timezone.now()
            obj.save(update_fields=[*changed, "updated_at"])
    return obj


def _resolve_items(items, errors: _Errors, schemas, rows: _CatalogRows | None = None) -> list[OrderItem]:
    if not isinstance(items, list):
        errors.add("items", "must be a list of items")
        return []
    if len(items) > settings.ORDERS_MAX_ITEMS:
        errors.add("items", f"has {len(items)} items; an order may have at most {settings.ORDERS_MAX_ITEMS}")
        return []
    item_schema = schemas.get(MetadataObject.ORDER_ITEM)
    rows = _CatalogRows.load(items) if rows is None else rows
    resolved = []
    for index, data in enumerate(items):
        path = f"items[{index}]"
        if not isinstance(data, Mapping):
            errors.add(path, "must be an object")
            continue
        line_errors = _Errors()
        item = _resolve_item(data, path, line_errors, item_schema, rows)
        errors.merge(line_errors)
        if item is not None and not line_errors:
            item.position = index
            resolved.append(item)
    return resolved


def _resolve_item(
    data: Mapping[str, Any], path: str, errors: _Errors, item_schema, rows: _CatalogRows | None = None
) -> OrderItem | None:
    product_data = data.get("product") or {}
    sku_data = data.get("sku") or {}
    for key, value in (("product", product_data), ("sku", sku_data)):
        if not isinstance(value, Mapping):
            errors.add(f"{path}.{key}", "must be an object")
    related = data.get("related_object")
    if related is None:
        related = RelatedObject.SKU if (data.get("sku_id") or sku_data) else RelatedObject.PRODUCT
    if related not in RelatedObject.values:
        errors.add(f"{path}.related_object", "must be 'product' or 'sku'")
    quantity = _int(data.get("quantity", 1), f"{path}.quantity", errors, minimum=1, maximum=10**9)
    price = _int(data.get("price"), f"{path}.price", errors)
    given_amount = _int(data.get("amount"), f"{path}.amount", errors)
    discount = _int(data.get("discount_amount", 0) or 0, f"{path}.discount_amount", errors)
    source_id = _source_id(data.get("source_id"), f"{path}.source_id", errors)
    metadata = data.get("metadata") or {}
    errors.merge(metadata_errors(metadata, path=f"{path}.metadata", schema=item_schema))
    if errors:
        return None

    is_sku = related == RelatedObject.SKU
    product = _catalog_get(
        Product,
        "product",
        data.get("product_id") or product_data.get("id"),
        product_data,
        product_data.get("source_id") or (None if is_sku else source_id),
        f"{path}.product",
        errors,
        rows=rows,
    )
    sku = None
    if is_sku or data.get("sku_id") or sku_data.get("id"):
        sku = _catalog_get(
            SKU,
            "sku",
            data.get("sku_id") or sku_data.get("id"),
            sku_data,
            sku_data.get("source_id") or (source_id if is_sku else None),
            f"{path}.sku",
            errors,
            extra={"product": product} if product else None,
            rows=rows,
        )
    if errors:
        return None
    if is_sku and sku is None:
        errors.add(path, "names no SKU: give sku_id, or source_id with related_object 'sku'")
        return None
    if not is_sku and product is None:
        errors.add(path, "names no product: give product_id, or source_id with related_object 'product'")
        return None
    if sku is not None and product is None and sku.product_id:
        product = sku.product

    if price is None:
        price = next((p for p in (sku and sku.price, product and product.price) if p is not None), None)
    if price is None and given_amount is not None and given_amount % quantity == 0:
        price = given_amount // quantity
    if price is None:
        errors.add(f"{path}.price", "is required: neither the item nor its product/SKU has a price")
        return None
    amount = price * quantity
    if discount > amount:
        errors.add(f"{path}.discount_amount", f"({discount}) cannot exceed the line amount ({amount})")
        return None
    return OrderItem(
        related_object=related,
        product=product,
        sku=sku,
        product_source_id=(product.source_id or "") if product else "",
        product_name=product.name if product else "",
        sku_source_id=(sku.source_id or "") if sku else "",
        sku_name=sku.sku if sku else "",
        quantity=quantity,
        price=price,
        amount=amount,
        discount_amount=discount,
        subtotal_amount=amount - discount,
        metadata=metadata,
    )


# --- orders ------------------------------------------------------------------------------------------


def _lock_order(order: Order | str, version: int | None) -> Order:
    order_id = order.pk if isinstance(order, Order) else order
    locked = Order.objects.select_for_update().filter(pk=order_id).first()
    if locked is None:
        raise NotFound("order", str(order_id))
    if version is not None and version != locked.version:
        raise VersionConflict(locked.pk, version, locked.version)
    return locked


def _contribution(order: Order) -> tuple[str, int] | None:
    """What the order adds to its customer's summary: only PAID and FULFILLED orders count."""
    if order.customer_id and order.status in SUMMARY_STATUSES:
        return (order.customer_id, order.total_amount)
    return None


def _move_customer_summaries(before: tuple[str, int] | None, after: tuple[str, int] | None) -> None:
    """Apply one order's change of contribution to the summaries it touches (customer rows locked in id
    order, so two orders moving between the same customers cannot deadlock)."""
    if before == after:
        return
    affected = sorted({c[0] for c in (before, after) if c})
    for customer in Customer.objects.select_for_update().filter(pk__in=affected).order_by("pk"):
        for contribution, sign in ((before, -1), (after, 1)):
            if contribution and contribution[0] == customer.pk:
                customer.orders_total_amount += sign * contribution[1]
                customer.orders_total_count += sign
        count = customer.orders_total_count
        customer.orders_average_amount = customer.orders_total_amount // count if count else 0
        last = (
            Order.objects.filter(customer=customer, status__in=SUMMARY_STATUSES)
            .order_by("-created_at", "-id")
            .values_list("total_amount", "created_at")
            .first()
        )
        customer.last_order_amount, customer.last_order_date = last or (None, None)
        customer.save(
            update_fields=[
                "orders_total_amount",
                "orders_total_count",
                "orders_average_amount",
                "last_order_amount",
                "last_order_date",
            ]
        )


def _apply_totals(order: Order, items: list[OrderItem] | None, errors: _Errors) -> None:
    """Derived amounts (DESIGN §3): amount = Σ item amounts when there are items; total discount =
    order discount + item discounts; total = amount − total discount. ``items`` (None: the cart is not
    changing) also gives the cart's size: its line count and its units."""
    if items is not None:
        order.items_count = len(items)
        order.items_quantity = sum(item.quantity for item in items)
    if items is not None and items:
        order.amount = sum(item.amount for item in items)
        order.items_discount_amount = sum(item.discount_amount for item in items)
    elif items is not None:
        order.items_discount_amount = 0
    order.total_discount_amount = order.discount_amount + order.items_discount_amount
    if order.total_discount_amount > order.amount:
        errors.add(
            "discount_amount",
            f"the total discount ({order.total_discount_amount}) cannot exceed the order amount ({order.amount})",
        )
    order.total_amount = order.amount - order.total_discount_amount


def _find_existing(order_id: str | None, source_id: str | None) -> Order | None:
    if order_id:
        found = Order.objects.filter(pk=order_id).first()
        if found is not None:
            return found
    if source_id:
        return Order.objects.filter(source_id=source_id).first()
    return None


def _check_source_id_free(source_id: str | None, order_id: str | None) -> None:
    if source_id:
        other = Order.objects.filter(source_id=source_id).exclude(pk=order_id).values_list("pk", flat=True).first()
        if other:
            raise DuplicateSourceId(source_id, other)


class DuplicateSourceId(InvalidInput):
    def __init__(self, source_id: str, existing_id: str):
        super().__init__({"source_id": [f"order {existing_id} already has the source id {source_id!r}"]})
        self.existing_id = existing_id


def _parse_created_at(value, errors: _Errors) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        errors.add("created_at", "must be an ISO 8601 date and time")
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


@transaction.atomic
def order_create(
    *,
    actor: Actor,
    id: str | None = None,
    source_id: str | None = None,
    status: str | None = None,
    customer: Mapping[str, Any] | Customer | None = None,
    referrer: Mapping[str, Any] | Customer | None = None,
    items: list[Mapping[str, Any]] | None = None,
    amount: int | None = None,
    initial_amount: int | None = None,
    discount_amount: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    created_at: dt.datetime | str | None = None,
    imported: bool = False,
) -> Order:
    """Create an order, or update the existing one that ``id`` or ``source_id`` names (an upsert: what is
    not given stays as it is). Records ``order.created`` (``order.imported`` when ``imported``), or for an
    upsert the events of ``order_update``. Customer and referrer given inline are upserted."""
    errors = _Errors()
    order_id = _str(id, "id", errors, max_length=64) or None
    source_id = _source_id(source_id, "source_id", errors)
    errors.raise_if_any()
    existing = _find_existing(order_id, source_id)
    if existing is not None:
        if order_id and existing.pk != order_id:
            raise NotFound("order", order_id)
        return order_update(
            order=existing,
            actor=actor,
            source_id=source_id if source_id else UNSET,
            status=status,
            customer=customer if customer is not None else UNSET,
            referrer=referrer if referrer is not None else UNSET,
            items=items,
            amount=amount,
            initial_amount=initial_amount,
            discount_amount=discount_amount,
            metadata=metadata,
        )
    if order_id and not looks_like("order", order_id):
        errors.add("id", f"must look like '{PREFIXES['order']}_' followed by letters and digits")
    order = Order(id=order_id or new_id(PREFIXES["order"]), source_id=source_id)
    order.status = status or OrderStatus.CREATED
    if order.status not in OrderStatus.values:
        errors.add("status", f"must be one of {', '.join(OrderStatus.values)}")
    now = timezone.now()
    order.created_at = _parse_created_at(created_at, errors) or now
    order.updated_at = now
    order.metadata = metadata if metadata is not None else {}
    order.amount = _int(amount, "amount", errors) or 0
    order.discount_amount = _int(discount_amount, "discount_amount", errors) or 0
    schemas = _schemas()
    errors.merge(metadata_errors(order.metadata, schema=schemas.get(MetadataObject.ORDER)))
    # Items and customers are checked even when the fields above failed, so that one call reports every
    # bad field; what they write is rolled back with the transaction when anything failed.
    resolved = _resolve_items(items, errors, schemas) if items is not None else None
    order.customer = _customer_or_error(customer, "customer", errors, schemas)
    order.referrer = _customer_or_error(referrer, "referrer", errors, schemas)
    errors.raise_if_any()
    _apply_totals(order, resolved, errors)
    explicit_initial = _int(initial_amount, "initial_amount", errors)
    order.initial_amount = order.amount if explicit_initial is None else explicit_initial
    errors.raise_if_any()

    try:
        with transaction.atomic():
            order.save(force_insert=True)
    except IntegrityError:
        # Another request created an order with this source id since we looked: this call is an upsert.
        if source_id and Order.objects.filter(source_id=source_id).exists():
            return order_create(
                actor=actor,
                id=id,
                source_id=source_id,
                status=status,
                customer=order.customer,
                referrer=order.referrer,
                items=items,
                amount=amount,
                initial_amount=initial_amount,
                discount_amount=discount_amount,
                metadata=metadata,
                imported=imported,
            )
        raise
    for item in resolved or []:
        item.order = order
    OrderItem.objects.bulk_create(resolved or [])
    after = events.order_snapshot(order)
    diff = Diff(
        changes={name: {"before": None, "after": value} for name, value in after.items() if value not in (None, "")},
        items={"added": [events.item_snapshot(item) for item in resolved]} if resolved else {},
        metadata=events.metadata_diff({}, order.metadata),
    )
    events.order_created(order, actor, diff, imported=imported)
    _move_customer_summaries(None, _contribution(order))
    return order


def _customer_or_error(value, path: str, errors: _Errors, schemas) -> Customer | None:
    if value is None:
        return None
    try:
        return customer_upsert(data=value, path=path, schemas=schemas)
    except InvalidInput as exc:
        errors.merge(exc.errors)
    except NotFound as exc:
        errors.add(f"{path}.id", f"no customer with id {exc.resource_id}")
    return None


@transaction.atomic
def order_update(
    *,
    order: Order | str,
    actor: Actor,
    version: int | None = None,
    source_id: str | None = UNSET,
    status: str | None = None,
    customer: Mapping[str, Any] | Customer | None = UNSET,
    referrer: Mapping[str, Any] | Customer | None = UNSET,
    items: list[Mapping[str, Any]] | None = None,
    amount: int | None = None,
    initial_amount: int | None = None,
    discount_amount: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    metadata_set: Mapping[str, Any] | None = None,
    metadata_remove: Iterable[str] | None = None,
) -> Order:
    """Change what is given and nothing else. ``items`` replaces the whole cart; ``metadata`` replaces
    the metadata object, ``metadata_set``/``metadata_remove`` change single keys; ``customer=None``
    detaches the customer. Records ``order.updated`` with the before/after diff, plus the status event
    (``order.paid`` …) when the status moves. An update that changes nothing records nothing."""
    order = _lock_order(order, version)
    errors = _Errors()
    schemas = _schemas()
    before = events.order_snapshot(order)
    before_contribution = _contribution(order)
    before_items = [events.item_snapshot(item) for item in order.items.all()] if items is not None else None
    before_metadata = dict(order.metadata)

    if source_id is not UNSET:
        order.source_id = _source_id(source_id, "source_id", errors)
    new_status = status if status is not None else order.status
    if new_status not in OrderStatus.values:
        errors.add("status", f"must be one of {', '.join(OrderStatus.values)}")
    elif new_status != order.status and not can_transition(order.status, new_status):
        raise InvalidStatusTransition(order.status, new_status)
    # A given amount counts only for an order without items; with items it is their sum.
    if amount is not None and not (bool(items) if items is not None else order.items.exists()):
        order.amount = _int(amount, "amount", errors) or 0
    if discount_amount is not None:
        order.discount_amount = _int(discount_amount, "discount_amount", errors) or 0
    if metadata is not None:
        order.metadata = metadata
    if metadata_set or metadata_remove:
        if not isinstance(order.metadata, dict):
            order.metadata = {}
        order.metadata = {**order.metadata, **(metadata_set or {})}
        for key in metadata_remove or ():
            order.metadata.pop(key, None)
    errors.merge(metadata_errors(order.metadata, schema=schemas.get(MetadataObject.ORDER)))
    resolved = _resolve_items(items, errors, schemas) if items is not None else None
    if customer is not UNSET:
        order.customer = _customer_or_error(customer, "customer", errors, schemas)
    if referrer is not UNSET:
        order.referrer = _customer_or_error(referrer, "referrer", errors, schemas)
    errors.raise_if_any()
    _apply_totals(order, resolved, errors)
    explicit_initial = _int(initial_amount, "initial_amount", errors)
    if explicit_initial is not None:
        order.initial_amount = explicit_initial
    elif order.amount != before["amount"]:
        order.initial_amount = order.amount
    errors.raise_if_any()
    if order.source_id != before["source_id"]:
        _check_source_id_free(order.source_id, order.pk)

    after_items = [events.item_snapshot(item) for item in resolved] if resolved is not None else None
    diff = Diff(
        changes=events.fields_diff(before, events.order_snapshot(order)),
        items=events.items_diff(before_items, after_items) if resolved is not None else {},
        metadata=events.metadata_diff(before_metadata, order.metadata),
    )
    if not diff and new_status == order.status:
        return order
    order.status = new_status
    order.version += 1
    order.updated_at = timezone.now()
    order.save()
    if resolved is not None and diff.items:
        order.items.all().delete()
        for item in resolved:
            item.order = order
        OrderItem.objects.bulk_create(resolved)
    # The status event follows the event of the other changes.
    if diff:
        events.order_updated(order, actor, diff)
    if new_status != before["status"]:
        events.order_status_changed(order, actor, before["status"], new_status)
    _move_customer_summaries(before_contribution, _contribution(order))
    return order


@transaction.atomic
def order_set_status(*, order: Order | str, status: str, actor: Actor, version: int | None = None) -> Order:
    """Move the order to ``status`` following ``choices.STATUS_TRANSITIONS``; records ``order.paid`` /
    ``order.canceled`` / ``order.fulfilled`` / ``order.status_reset``. Raises ``InvalidStatusTransition``
    for a refused move (anything out of CANCELED). Setting the current status again changes nothing."""
    if status not in OrderStatus.values:
        raise InvalidInput({"status": [f"must be one of {', '.join(OrderStatus.values)}"]})
    order = _lock_order(order, version)
    if order.status == status:
        return order
    if not can_transition(order.status, status):
        raise InvalidStatusTransition(order.status, status)
    before_status, before_contribution = order.status, _contribution(order)
    order.status = status
    order.version += 1
    order.updated_at = timezone.now()
    order.save(update_fields=["status", "version", "updated_at"])
    events.order_status_changed(order, actor, before_status, status)
    _move_customer_summaries(before_contribution, _contribution(order))
    return order


# --- redemptions -------------------------------------------------------------------------------------


@transaction.atomic
def redemption_record(
    *,
    order: Order | str,
    actor: Actor,
    amount: int = 0,
    status: str = RedemptionStatus.SUCCEEDED,
    incentive_kind: str = IncentiveKind.VOUCHER,
    incentive_id: str = "",
    incentive_code: str = "",
    incentive_name: str = "",
    failure_code: str = "",
    failure_message: str = "",
    version: int | None = None,
) -> Redemption:
    """Record an applied incentive. SUCCEEDED adds ``amount`` to the order's discount and makes a CREATED
    order PAID (records ``redemption.succeeded`` and ``order.paid``); FAILED only records the attempt and
    its failure (``redemption.failed``). A CANCELED order takes no redemption."""
    errors = _Errors()
    amount = _int(amount, "amount", errors) or 0
    if status not in (RedemptionStatus.SUCCEEDED, RedemptionStatus.FAILED):
        errors.add("status", "must be SUCCEEDED or FAILED")
    if incentive_kind not in IncentiveKind.values:
        errors.add("incentive_kind", f"must be one of {', '.join(IncentiveKind.values)}")
    errors.raise_if_any()
    order = _lock_order(order, version)
    redemption = Redemption(
        order=order,
        customer_id=order.customer_id,
        incentive_kind=incentive_kind,
        incentive_id=incentive_id,
        incentive_code=incentive_code,
        incentive_name=incentive_name,
        amount=amount if status == RedemptionStatus.SUCCEEDED else 0,
        status=status,
        failure_code=failure_code,
        failure_message=failure_message,
        created_at=timezone.now(),
    )
    if status == RedemptionStatus.FAILED:
        redemption.save(force_insert=True)
        events.redemption_failed(order, actor, redemption)
        return redemption

    if order.status == OrderStatus.CANCELED:
        raise InvalidStatusTransition(order.status, OrderStatus.PAID)
    before_status, before_contribution = order.status, _contribution(order)
    discount_before = order.discount_amount
    order.discount_amount += amount
    _apply_totals(order, None, errors)
    errors.raise_if_any()
    if order.status == OrderStatus.CREATED:
        order.status = OrderStatus.PAID
    order.version += 1
    order.updated_at = redemption.created_at
    order.save()
    redemption.save(force_insert=True)
    events.redemption_succeeded(order, actor, redemption, discount_before)
    if order.status != before_status:
        events.order_status_changed(order, actor, before_status, order.status, redemption_id=redemption.id)
    _move_customer_summaries(before_contribution, _contribution(order))
    return redemption


@transaction.atomic
def redemption_rollback(*, redemption: Redemption | str, actor: Actor, reason: str = "") -> Redemption:
    """Undo a SUCCEEDED redemption: its discount leaves the order and the order becomes CANCELED.
    Records ``redemption.rollback.succeeded`` and ``order.canceled``. Raises
    ``RedemptionNotRollbackable`` (code ``already_rolled_back``) for anything but SUCCEEDED."""
    redemption_id = redemption.pk if isinstance(redemption, Redemption) else redemption
    order_id = Redemption.objects.filter(pk=redemption_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound("redemption", str(redemption_id))
    order = _lock_order(order_id, None)  # the order first: every service locks orders before the rest
    redemption = Redemption.objects.select_for_update().get(pk=redemption_id)
    if redemption.status != RedemptionStatus.SUCCEEDED:
        raise RedemptionNotRollbackable(redemption.pk, redemption.status)
    errors = _Errors()
    reason = _str(reason, "reason", errors, max_length=2000) or ""
    errors.raise_if_any()
    now = timezone.now()
    redemption.status = RedemptionStatus.ROLLED_BACK
    redemption.rollback_id = new_id(PREFIXES["rollback"])
    redemption.rollback_reason = reason
    redemption.rollback_date = now
    redemption.save(update_fields=["status", "rollback_id", "rollback_reason", "rollback_date"])

    before_status, before_contribution = order.status, _contribution(order)
    discount_before = order.discount_amount
    order.discount_amount = max(0, order.discount_amount - redemption.amount)
    _apply_totals(order, None, errors)
    order.status = OrderStatus.CANCELED
    order.version += 1
    order.updated_at = now
    order.save()
    events.redemption_rolled_back(order, actor, redemption, discount_before)
    if before_status != OrderStatus.CANCELED:
        events.order_status_changed(order, actor, before_status, order.status, redemption_id=redemption.id)
    _move_customer_summaries(before_contribution, _contribution(order))
    return redemption


# --- summaries ---------------------------------------------------------------------------------------


@transaction.atomic
def customer_summaries_rebuild(*, customer_ids: Iterable[str] | None = None) -> int:
    """Recompute order summaries from the orders, set-wise in SQL (one UPDATE with correlated subqueries
    on the (customer, status, created_at) index). Returns the number of customers updated."""
    counted = Order.objects.filter(customer=OuterRef("pk"), status__in=SUMMARY_STATUSES).order_by()
    totals = counted.values("customer").annotate(
        total=Cast(Sum("total_amount"), models.BigIntegerField()), count=Count("*")
    )
    total = Coalesce(Subquery(totals.values("total")), 0, output_field=models.BigIntegerField())
    count = Coalesce(Subquery(totals.values("count")), 0, output_field=models.IntegerField())
    latest = counted.order_by("-created_at", "-id")
    queryset = Customer.objects.all()
    if customer_ids is not None:
        queryset = queryset.filter(pk__in=list(customer_ids))
    return queryset.update(
        orders_total_amount=total,
        orders_total_count=count,
        orders_average_amount=Coalesce(
            Subquery(totals.values("total")) / Subquery(totals.values("count")),
            0,
            output_field=models.BigIntegerField(),
        ),
        last_order_amount=Subquery(latest.values("total_amount")[:1]),
        last_order_date=Subquery(latest.values("created_at")[:1]),
    )


# --- preview -----------------------------------------------------------------------------------------


def order_preview(
    *,
    status: str | None = None,
    customer: Mapping[str, Any] | Customer | None = None,
    referrer: Mapping[str, Any] | Customer | None = None,
    items: list[Mapping[str, Any]] | None = None,
    amount: int | None = None,
    initial_amount: int | None = None,
    discount_amount: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    created_at: dt.datetime | str | None = None,
    imported: bool = False,
) -> dict[str, Any]:
    """What ``order_create`` would compute for this input, keeping nothing: the very same code runs in a
    transaction that is always rolled back, so the catalog items and inline customers it would create,
    its event and any summary move vanish with it. The "+" form's live totals use it, so they cannot
    disagree with what saving computes.

    Returns the order's amounts (``amount``, ``initial_amount``, ``discount_amount``,
    ``items_discount_amount``, ``total_discount_amount``, ``total_amount``) and under ``items`` one dict
    per line in input order (``position``, ``name``, ``source_id``, ``quantity``, ``price``, ``amount``,
    ``discount_amount``, ``subtotal_amount``). Raises ``InvalidInput`` with the same field paths as
    ``order_create``."""
    with transaction.atomic():
        order = order_create(
            actor=Actor.system("preview"),
            status=status,
            customer=customer,
            referrer=referrer,
            items=items,
            amount=amount,
            initial_amount=initial_amount,
            discount_amount=discount_amount,
            metadata=metadata,
            created_at=created_at,
            imported=imported,
        )
        result: dict[str, Any] = {
            name: getattr(order, name)
            for name in (
                "amount",
                "initial_amount",
                "discount_amount",
                "items_discount_amount",
                "total_discount_amount",
                "total_amount",
            )
        }
        result["items"] = [
            {
                "position": line.position,
                "name": line.display_name,
                "source_id": line.source_id,
                "quantity": line.quantity,
                "price": line.price,
                "amount": line.amount,
                "discount_amount": line.discount_amount,
                "subtotal_amount": line.subtotal_amount,
            }
            for line in order.items.order_by("position")
        ]
        transaction.set_rollback(True)
    return result


# --- bulk import -------------------------------------------------------------------------------------

# The keyword arguments of order_create that an import row may hold.
IMPORT_ROW_FIELDS = frozenset(
    {
        "id",
        "source_id",
        "status",
        "customer",
        "referrer",
        "items",
        "amount",
        "initial_amount",
        "discount_amount",
        "metadata",
        "created_at",
    }
)
_BIGINT_MAX = 2**63 - 1  # what a BigIntegerField holds
_IMPORT_CHUNK = 1000  # values per lookup query, rows per INSERT


@dataclass
class ImportResult:
    """What ``orders_import`` did (in a dry run: would do)."""

    created: int  # orders created
    updated: int  # existing orders updated (upsert by id / source_id, as order_create does)
    # row index (0-based, in the given rows) → {field path: messages}, e.g. {3: {"items[0].quantity": ["…"]}}
    failed: dict[int, dict[str, list[str]]]
    # per row: the order id written (or that would be written in a dry run), None if the row failed
    order_ids: list[str | None]


@transaction.atomic
def orders_import(*, rows: Sequence[Mapping[str, Any]], actor: Actor, dry_run: bool = False) -> ImportResult:
    """Create or upsert many orders at once. Each row holds ``order_create``'s keyword arguments (``id``,
    ``source_id``, ``status``, ``customer``, ``referrer``, ``items``, ``amount``, ``initial_amount``,
    ``discount_amount``, ``metadata``, ``created_at``) and means what it means there, checked the same way.

    - A bad row fails alone: its errors are reported under its index, with the same field paths as
      ``order_create``'s, and it writes nothing (no order, item, event, customer or catalog row; the rows
      after it do not see what it would have created). Every other row is written.
    - A new order records one ``order.imported`` event (its values as the "after" of the diff). A row that
      names an existing order (by ``id`` or ``source_id``) updates it through ``order_update``, which
      records what it always records (``order.updated`` and the status event, nothing when nothing changed).
    - An order may appear once per import: a row naming the same ``source_id`` or the same existing order
      as an earlier row fails, whether or not the earlier row failed.
    - Customer order summaries end as ``customer_summaries_rebuild`` would compute them.
    - ``dry_run``: the very same work in a transaction that is rolled back; the result says what would be
      done (order ids included), nothing is kept.

    Bulk mode: existing orders, customers and catalog rows are read up front in a few queries; new orders,
    their items and events, new customers and catalog rows are inserted in bulk at the end (COPY on
    PostgreSQL); a row that upserts first writes the rows before it, then runs ``order_update``. Everything happens in
    one transaction: an unexpected error (a database failure) raises and leaves nothing.
    """
    result = _OrdersImport(rows, actor).run()
    if dry_run:
        transaction.set_rollback(True)
    return result


class _RowFailed(Exception):
    def __init__(self, errors: Mapping[str, list[str]]):
        super().__init__("row failed")
        self.errors = dict(errors)


class _Undo:
    """What the current row changed in the import's memory, undone when the row fails."""

    def __init__(self):
        self.steps: list = []

    def __call__(self, step) -> None:
        self.steps.append(step)

    def commit(self) -> None:
        self.steps.clear()

    def rollback(self) -> None:
        while self.steps:
            self.steps.pop()()


def _chunks(values: list, size: int = _IMPORT_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert(model, objs: list) -> None:
    """Insert new rows: COPY on PostgreSQL (measured: the 2,000 orders, 6,000 items and 2,000 events of an
    import went in 3.4× faster than with bulk_create, whose SQL compiling dominated), bulk_create
    elsewhere. The values are what bulk_create would send (each field's ``get_db_prep_save``)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=_IMPORT_CHUNK)
        return
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField | models.BigAutoField)]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields])
    if connection.queries_logged:  # a query like any other for the query counts of tests and DEBUG
        connection.queries_log.append({"sql": f"{sql} -- {len(objs)} rows", "time": "0.000"})


def _named(pairs: list[tuple[str, str]]) -> models.Q:
    """``("id", …)`` and ``("source_id", …)`` pairs → the rows that have one of those ids or source ids."""
    ids = [value for key, value in pairs if key == "id"]
    source_ids = [value for key, value in pairs if key == "source_id"]
    return models.Q(pk__in=ids) | models.Q(source_id__in=source_ids)


class _PlannedRows:
    """Rows of the ``kinds`` of models as an import sees them: the ones read up front, plus those it will create
    (``new``) or change (``changed``), kept in memory until ``write`` inserts and updates them in bulk.
    Each step is undoable, so a failing order row leaves nothing behind."""

    kinds: tuple[type, ...] = ()

    def __init__(self, undo: _Undo):
        self.undo = undo
        self.by_pk: dict[type, dict[str, Any]] = {model: {} for model in self.kinds}
        self.by_source_id: dict[type, dict[str, Any]] = {model: {} for model in self.kinds}
        self.new: dict[type, dict[str, Any]] = {model: {} for model in self.kinds}
        self.changed: dict[tuple[type, str], tuple[Any, set[str]]] = {}

    def add(self, obj, *, replace: bool = False) -> None:
        model = type(obj)
        old = self.by_pk[model].get(obj.pk)
        if old is not None and not replace:
            return
        if old is not None and old.source_id and self.by_source_id[model].get(old.source_id) is old:
            del self.by_source_id[model][old.source_id]
        self.by_pk[model][obj.pk] = obj
        if obj.source_id:
            self.by_source_id[model][obj.source_id] = obj

    def get(self, model, *, pk=None, source_id=None):
        if pk is not None:
            return self.by_pk[model].get(pk) if isinstance(pk, str) else None
        return self.by_source_id[model].get(source_id) if isinstance(source_id, str) else None

    def create(self, obj):
        model = type(obj)
        self.add(obj)
        self.new[model][obj.pk] = obj

        def forget():
            self.new[model].pop(obj.pk, None)
            self.by_pk[model].pop(obj.pk, None)
            if obj.source_id and self.by_source_id[model].get(obj.source_id) is obj:
                del self.by_source_id[model][obj.source_id]

        self.undo(forget)
        return obj

    def change(self, obj, values: Mapping[str, Any]) -> None:
        model, key = type(obj), (type(obj), obj.pk)
        before = {name: getattr(obj, name) for name in values}
        before_updated_at = obj.updated_at
        before_fields = set(self.changed[key][1]) if key in self.changed else None
        self._index_source_id(obj, drop=True)
        for name, value in values.items():
            setattr(obj, name, value)
        obj.updated_at = timezone.now()
        self._index_source_id(obj)
        if obj.pk not in self.new[model]:
            self.changed.setdefault(key, (obj, set()))[1].update(values)

        def restore():
            self._index_source_id(obj, drop=True)
            for name, value in before.items():
                setattr(obj, name, value)
            obj.updated_at = before_updated_at
            self._index_source_id(obj)
            if before_fields is None:
                self.changed.pop(key, None)
            else:
                self.changed[key] = (obj, before_fields)

        self.undo(restore)

    def _index_source_id(self, obj, *, drop: bool = False) -> None:
        index = self.by_source_id[type(obj)]
        if not obj.source_id:
            return
        if drop:
            if index.get(obj.source_id) is obj:
                del index[obj.source_id]
        else:
            index[obj.source_id] = obj

    def write(self) -> None:
        for model in self.kinds:  # in dependency order: products before the SKUs that name them
            if self.new[model]:
                model.objects.bulk_create(list(self.new[model].values()), batch_size=_IMPORT_CHUNK)
                self.new[model].clear()
        for model in self.kinds:
            changed = [(obj, fields) for (kind, _), (obj, fields) in self.changed.items() if kind is model]
            if changed:
                fields = sorted(set().union(*(fields for _, fields in changed)))
                objs = [obj for obj, _ in changed]
                model.objects.bulk_update(objs, [*fields, "updated_at"], batch_size=_IMPORT_CHUNK)
        self.changed.clear()


class _PlannedCatalog(_PlannedRows):
    """The products and SKUs of an import. Given as ``rows`` to ``_resolve_items``, it takes over
    ``_catalog_get``: the same decisions (find by id; find or create by source id; change only with
    ``override: true``), made in memory."""

    kinds = (Product, SKU)

    def read(self, items: list, *, replace: bool = False) -> None:
        """The catalog rows that ``items`` (of any number of orders) name, in a few queries per chunk."""
        for chunk in _chunks(items):
            loaded = _CatalogRows.load(chunk)
            for model in self.kinds:
                for obj in loaded.by_pk[model].values():
                    self.add(obj, replace=replace)
        products = self.by_pk[Product]
        for sku in self.by_pk[SKU].values():
            if sku.product_id in products:
                SKU.product.field.set_cached_value(sku, products[sku.product_id])

    def catalog_get(self, model, kind: str, object_id, data, source_id, path: str, errors: _Errors, extra=None):
        data = data if isinstance(data, Mapping) else {}
        values = _catalog_values(kind, data, path, errors)
        if errors:
            return None
        if object_id:
            obj = self.get(model, pk=object_id)  # every id the import names was read up front
            if obj is None:
                errors.add(f"{path}.id" if data.get("id") else f"{path}_id", f"no {kind} with id {object_id}")
            return obj
        if not source_id:
            return None
        values.update(extra or {})
        obj = self.get(model, source_id=source_id)
        if obj is None:
            return self.create(model(source_id=source_id, **values))
        if data.get("override") is True:
            changed = {name: value for name, value in values.items() if getattr(obj, name) != value}
            if changed:
                self.change(obj, changed)
        return obj


class _PlannedCustomers(_PlannedRows):
    """The customers and referrers of an import, upserted in memory as ``customer_upsert`` does."""

    kinds = (Customer,)

    def read(self, rows: list, *, replace: bool = False) -> None:
        wanted: set[tuple[str, str]] = set()
        for row in rows:
            for name in ("customer", "referrer"):
                value = row.get(name)
                if isinstance(value, Mapping):
                    for key in ("id", "source_id"):
                        if isinstance(value.get(key), str) and value[key].strip():
                            wanted.add((key, value[key].strip()))
        for chunk in _chunks(sorted(wanted)):
            for customer in Customer.objects.select_for_update().filter(_named(chunk)).order_by("pk"):
                self.add(customer, replace=replace)

    def resolve(self, value, path: str, errors: _Errors, schemas) -> Customer | None:
        if value is None:
            return None
        if isinstance(value, Customer):
            return value
        if not isinstance(value, Mapping):
            errors.add(path, "must be an object with an id or a source_id")
            return None
        own = _Errors()
        values, customer_id, source_id = _customer_input(value, path, own, schemas)
        if own:
            errors.merge(own)
            return None
        if customer_id:
            customer = self.get(Customer, pk=customer_id)
            if customer is None:
                errors.add(f"{path}.id", f"no customer with id {customer_id}")
                return None
            if source_id and source_id != customer.source_id:
                other = self.get(Customer, source_id=source_id)
                if other is not None:
                    errors.add(f"{path}.source_id", f"customer {other.pk} already has the source id {source_id!r}")
                    return None
                values["source_id"] = source_id
        elif source_id:
            customer = self.get(Customer, source_id=source_id)
            if customer is None:
                return self.create(Customer(source_id=source_id, **values))
        else:
            return self.create(Customer(**values))
        changed = {name: new for name, new in values.items() if getattr(customer, name) != new}
        if changed:
            self.change(customer, changed)
        return customer


class _OrdersImport:
    def __init__(self, rows: Sequence[Mapping[str, Any]], actor: Actor):
        self.rows = list(rows)
        self.actor = actor
        self.undo = _Undo()
        self.catalog = _PlannedCatalog(self.undo)
        self.customers = _PlannedCustomers(self.undo)
        self.schemas = _schemas()
        self.orders_by_pk: dict[str, Order] = {}
        self.orders_by_source_id: dict[str, Order] = {}
        self.named_by: dict[tuple[str, str], int] = {}  # ("order", id) / ("source_id", …) → first row
        self.new_orders: list[Order] = []
        self.new_items: list[OrderItem] = []
        self.new_events: list[OrderEvent] = []
        self.summaries: set[str] = set()  # customers whose summary the new orders move
        self.result = ImportResult(created=0, updated=0, failed={}, order_ids=[None] * len(self.rows))

    def run(self) -> ImportResult:
        heads: dict[int, tuple[str | None, str | None]] = {}
        for index, row in enumerate(self.rows):
            try:
                heads[index] = self._head(row)
            except _RowFailed as exc:
                self.result.failed[index] = exc.errors
        self._read([self.rows[index] for index in heads], heads.values())
        for index, (order_id, source_id) in heads.items():
            try:
                self._row(index, self.rows[index], order_id, source_id)
            except _RowFailed as exc:
                self.undo.rollback()
                self.result.failed[index] = exc.errors
            else:
                self.undo.commit()
        self._write()
        self.result.failed = dict(sorted(self.result.failed.items()))
        return self.result

    # --- reading -------------------------------------------------------------------------------------

    def _head(self, row) -> tuple[str | None, str | None]:
        if not isinstance(row, Mapping):
            raise _RowFailed({"": ["must be an object of order fields"]})
        unknown = sorted(str(name) for name in row if name not in IMPORT_ROW_FIELDS)
        if unknown:
            raise _RowFailed({name: ["is not a field of an order"] for name in unknown})
        errors = _Errors()
        order_id = _str(row.get("id"), "id", errors, max_length=64) or None
        source_id = _source_id(row.get("source_id"), "source_id", errors)
        if errors:
            raise _RowFailed(errors)
        return order_id, source_id

    def _read(self, rows: list[Mapping[str, Any]], heads) -> None:
        """Everything the rows name, read up front: orders first (locked, as every service locks the order
        before the rest), then customers (locked), then the catalog."""
        wanted = sorted({("id", i) for i, _ in heads if i} | {("source_id", s) for _, s in heads if s})
        for chunk in _chunks(wanted):
            for order in Order.objects.select_for_update().filter(_named(chunk)).order_by("pk"):
                self.orders_by_pk[order.pk] = order
                if order.source_id:
                    self.orders_by_source_id[order.source_id] = order
        self.customers.read(rows)
        self.catalog.read([item for row in rows if isinstance(row.get("items"), list) for item in row["items"]])

    # --- one row -------------------------------------------------------------------------------------

    def _row(self, index: int, row: Mapping[str, Any], order_id: str | None, source_id: str | None) -> None:
        existing = (self.orders_by_pk.get(order_id) if order_id else None) or (
            self.orders_by_source_id.get(source_id) if source_id else None
        )
        self._claim(index, order_id, source_id, existing)
        if existing is None:
            self._create(index, row, order_id, source_id)
        elif order_id and existing.pk != order_id:
            raise _RowFailed({"id": [f"no order with id {order_id}"]})  # order_create's NotFound
        else:
            self._upsert(index, row, existing, source_id)

    def _claim(self, index: int, order_id: str | None, source_id: str | None, existing: Order | None) -> None:
        claims = []
        if existing is not None:
            claims.append((("order", existing.pk), "id" if order_id else "source_id"))
        elif order_id:
            claims.append((("order", order_id), "id"))
        if source_id:
            claims.append((("source_id", source_id), "source_id"))
        for key, path in claims:
            first = self.named_by.get(key)
            if first is not None:
                what = "has the same source id as" if key[0] == "source_id" else "names the same order as"
                raise _RowFailed(
                    {path: [f"{what} an earlier row of this import (index {first}); an order may appear once"]}
                )
        for key, _ in claims:
            self.named_by[key] = index

    def _create(self, index: int, row: Mapping[str, Any], order_id: str | None, source_id: str | None) -> None:
        """order_create's reading of the row, in memory: nothing is written until ``_write``."""
        errors = _Errors()
        if order_id and not looks_like("order", order_id):
            errors.add("id", f"must look like '{PREFIXES['order']}_' followed by letters and digits")
        order = Order(id=order_id or new_id(PREFIXES["order"]), source_id=source_id)
        order.status = row.get("status") or OrderStatus.CREATED
        if order.status not in OrderStatus.values:
            errors.add("status", f"must be one of {', '.join(OrderStatus.values)}")
        now = timezone.now()
        order.created_at = _parse_created_at(row.get("created_at"), errors) or now
        order.updated_at = now
        order.metadata = row["metadata"] if row.get("metadata") is not None else {}
        order.amount = _int(row.get("amount"), "amount", errors) or 0
        order.discount_amount = _int(row.get("discount_amount"), "discount_amount", errors) or 0
        errors.merge(metadata_errors(order.metadata, schema=self.schemas.get(MetadataObject.ORDER)))
        items = row.get("items")
        resolved = _resolve_items(items, errors, self.schemas, rows=self.catalog) if items is not None else None
        order.customer = self.customers.resolve(row.get("customer"), "customer", errors, self.schemas)
        order.referrer = self.customers.resolve(row.get("referrer"), "referrer", errors, self.schemas)
        if errors:
            raise _RowFailed(errors)
        _apply_totals(order, resolved, errors)
        explicit_initial = _int(row.get("initial_amount"), "initial_amount", errors)
        order.initial_amount = order.amount if explicit_initial is None else explicit_initial
        # What a single create would learn from the database (a 400 there): a product too large to store.
        for item in resolved or []:
            if item.amount > _BIGINT_MAX:
                errors.add(f"items[{item.position}]", "price × quantity is too large to store")
        if order.amount > _BIGINT_MAX:
            errors.add("amount", "the sum of the items is too large to store")
        if errors:
            raise _RowFailed(errors)

        for item in resolved or []:
            item.order = order
        after = events.order_snapshot(order)
        diff = Diff(  # what order_create records
            changes={name: {"before": None, "after": v} for name, v in after.items() if v not in (None, "")},
            items={"added": [events.item_snapshot(item) for item in resolved]} if resolved else {},
            metadata=events.metadata_diff({}, order.metadata),
        )
        self.new_orders.append(order)
        self.new_items.extend(resolved or [])
        self.new_events.append(
            OrderEvent(
                order=order,
                type=EventType.ORDER_IMPORTED,
                actor_type=self.actor.type,
                actor_user=self.actor.user if self.actor.type == ActorType.USER else None,
                actor_id=self.actor.id,
                actor_name=self.actor.name,
                data=events._jsonable(diff.as_data()),  # as events.record stores it
                created_at=now,
            )
        )
        contribution = _contribution(order)
        if contribution:
            self.summaries.add(contribution[0])
        self.result.created += 1
        self.result.order_ids[index] = order.pk

    def _upsert(self, index: int, row: Mapping[str, Any], existing: Order, source_id: str | None) -> None:
        """order_create's upsert: ``order_update``, after the rows before this one are written (it reads
        the database: the catalog, the customers and their orders). A failure rolls back its savepoint."""
        self._write()
        try:
            order_update(
                order=existing,
                actor=self.actor,
                source_id=source_id if source_id else UNSET,
                status=row.get("status"),
                customer=row["customer"] if row.get("customer") is not None else UNSET,
                referrer=row["referrer"] if row.get("referrer") is not None else UNSET,
                items=row.get("items"),
                amount=row.get("amount"),
                initial_amount=row.get("initial_amount"),
                discount_amount=row.get("discount_amount"),
                metadata=row.get("metadata"),
            )
        except (InvalidInput, InvalidStatusTransition) as exc:
            raise _RowFailed(exc.errors or {"": [exc.message]}) from None
        except (DataError, OverflowError):
            raise _RowFailed({"": ["a number is too large to store (amounts are integers below 10^15)"]}) from None
        except IntegrityError as exc:
            raise _RowFailed({"": [f"conflicts with another record: {str(exc).splitlines()[0]}"]}) from None
        # order_update may have created or changed customers and catalog rows: read this row's again.
        self.customers.read([row], replace=True)
        if isinstance(row.get("items"), list):
            self.catalog.read(row["items"], replace=True)
        self.result.updated += 1
        self.result.order_ids[index] = existing.pk

    # --- writing -------------------------------------------------------------------------------------

    def _write(self) -> None:
        self.catalog.write()
        self.customers.write()
        _insert(Order, self.new_orders)
        _insert(OrderItem, self.new_items)
        _insert(OrderEvent, self.new_events)
        for chunk in _chunks(sorted(self.summaries)):
            customer_summaries_rebuild(customer_ids=chunk)
        self.new_orders, self.new_items, self.new_events = [], [], []
        self.summaries = set()
