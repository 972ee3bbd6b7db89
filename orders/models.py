"""The orders domain model (DESIGN §3): data, constraints and named indexes. Writes live in services.py."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .choices import (
    SUMMARY_STATUSES,
    ActorType,
    EventType,
    IncentiveKind,
    MetadataObject,
    MetadataType,
    OrderStatus,
    RedemptionStatus,
    RelatedObject,
)
from .ids import ID_MAX_LENGTH, id_factory

SOURCE_ID_MAX_LENGTH = 255


def _non_negative(model: str, *fields: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(**{f"{field}__gte": 0}), name=f"{model}_{field}_gte_0") for field in fields
    ]


class Customer(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("customer"))
    source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, unique=True, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    address = models.JSONField(default=dict, blank=True)
    birthdate = models.DateField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Order summary, kept by orders.services in the order's transaction; PAID and FULFILLED orders only.
    orders_total_amount = models.BigIntegerField(default=0)
    orders_total_count = models.IntegerField(default=0)
    orders_average_amount = models.BigIntegerField(default=0)
    last_order_amount = models.BigIntegerField(null=True, blank=True)
    last_order_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["name"], name="customer_name_idx"),
            models.Index(fields=["created_at", "id"], name="customer_created_idx"),
            models.Index(fields=["orders_total_amount", "id"], name="customer_total_amount_idx"),
            models.Index(fields=["orders_total_count", "id"], name="customer_total_count_idx"),
            models.Index(fields=["last_order_date", "id"], name="customer_last_order_idx"),
        ]
        constraints = [
            *_non_negative("customer", "orders_total_amount", "orders_total_count", "orders_average_amount"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.source_id or self.id


class Product(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("product"))
    source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, unique=True, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True)
    price = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["name"], name="product_name_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0) | Q(price__isnull=True), name="product_price_gte_0")
        ]

    def __str__(self) -> str:
        return self.name or self.source_id or self.id


class SKU(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("sku"))
    source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, unique=True, null=True, blank=True)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="skus")
    sku = models.CharField("name", max_length=255, blank=True)
    price = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "SKU"
        verbose_name_plural = "SKUs"
        ordering = ["sku", "id"]
        indexes = [models.Index(fields=["sku"], name="sku_name_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0) | Q(price__isnull=True), name="sku_price_gte_0")
        ]

    def __str__(self) -> str:
        return self.sku or self.source_id or self.id


class Order(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("order"))
    source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.CREATED)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    referrer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="referred_orders"
    )
    amount = models.BigIntegerField(default=0)
    initial_amount = models.BigIntegerField(default=0)
    discount_amount = models.BigIntegerField(default=0)
    items_discount_amount = models.BigIntegerField(default=0)
    total_discount_amount = models.BigIntegerField(default=0)
    total_amount = models.BigIntegerField(default=0)
    # The cart's size, kept by the services with the lines (like the amounts): how many lines, and how many
    # units in all. Rules on cart volume ("at least 3 items") compare these columns instead of counting
    # lines per order (DESIGN §4).
    items_count = models.PositiveIntegerField(default=0)
    items_quantity = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("export_order", "Can export orders"),
            ("import_order", "Can import orders"),
        ]
        # Every list sort has an index ending in the id tie-breaker, which keyset pagination needs.
        indexes = [
            models.Index(fields=["created_at", "id"], name="order_created_idx"),
            models.Index(fields=["updated_at", "id"], name="order_updated_idx"),
            models.Index(fields=["amount", "id"], name="order_amount_idx"),
            models.Index(fields=["total_amount", "id"], name="order_total_amount_idx"),
            models.Index(fields=["status", "created_at", "id"], name="order_status_created_idx"),
            models.Index(fields=["customer", "status", "created_at"], name="order_customer_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            *_non_negative(
                "order",
                "amount",
                "initial_amount",
                "discount_amount",
                "items_discount_amount",
                "total_discount_amount",
                "total_amount",
                "items_quantity",
            ),
            models.CheckConstraint(
                condition=Q(total_discount_amount__lte=F("amount")), name="order_total_discount_lte_amount"
            ),
            models.CheckConstraint(
                condition=Q(total_discount_amount=F("discount_amount") + F("items_discount_amount")),
                name="order_total_discount_sum",
            ),
            models.CheckConstraint(
                condition=Q(total_amount=F("amount") - F("total_discount_amount")), name="order_total_amount_diff"
            ),
        ]

    def __str__(self) -> str:
        return self.source_id or self.id

    @property
    def is_paid(self) -> bool:
        return self.status in SUMMARY_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status == OrderStatus.CANCELED


class OrderItem(models.Model):
    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("order_item"))
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    related_object = models.CharField(max_length=8, choices=RelatedObject.choices, default=RelatedObject.PRODUCT)
    # Catalog links outlive catalog deletions (SET_NULL); the snapshot below keeps what the order said.
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    sku = models.ForeignKey(SKU, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    product_source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, blank=True)
    product_name = models.CharField(max_length=255, blank=True)
    sku_source_id = models.CharField(max_length=SOURCE_ID_MAX_LENGTH, blank=True)
    sku_name = models.CharField(max_length=255, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    price = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(default=0)
    discount_amount = models.BigIntegerField(default=0)
    subtotal_amount = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order", "position"]
        indexes = [
            models.Index(fields=["product"], name="orderitem_product_idx"),
            models.Index(fields=["sku"], name="orderitem_sku_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderitem_quantity_gte_1"),
            *_non_negative("orderitem", "price", "amount", "discount_amount", "subtotal_amount"),
            models.CheckConstraint(condition=Q(discount_amount__lte=F("amount")), name="orderitem_discount_lte_amount"),
            models.CheckConstraint(
                condition=Q(subtotal_amount=F("amount") - F("discount_amount")), name="orderitem_subtotal_diff"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.display_name}"

    @property
    def source_id(self) -> str:
        return self.sku_source_id if self.related_object == RelatedObject.SKU else self.product_source_id

    @property
    def display_name(self) -> str:
        return self.sku_name or self.product_name or self.source_id or "item"


class Redemption(models.Model):
    """An incentive applied to an order; ``rules`` decides when, ``orders.services`` records it."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("redemption"))
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="redemptions", db_index=False)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incentive_kind = models.CharField(max_length=16, choices=IncentiveKind.choices, default=IncentiveKind.VOUCHER)
    incentive_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    incentive_code = models.CharField(max_length=255, blank=True)
    incentive_name = models.CharField(max_length=255, blank=True)
    amount = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=RedemptionStatus.choices)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    rollback_id = models.CharField(max_length=ID_MAX_LENGTH, unique=True, null=True, blank=True)
    rollback_reason = models.TextField(blank=True)
    rollback_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "created_at"], name="redemption_order_idx"),
            models.Index(fields=["incentive_id", "status"], name="redemption_incentive_idx"),
        ]
        constraints = [
            *_non_negative("redemption", "amount"),
            models.CheckConstraint(condition=Q(status__in=RedemptionStatus.values), name="redemption_status_valid"),
            models.CheckConstraint(
                condition=Q(status=RedemptionStatus.ROLLED_BACK, rollback_id__isnull=False)
                | (~Q(status=RedemptionStatus.ROLLED_BACK) & Q(rollback_id__isnull=True)),
                name="redemption_rollback_iff_rolled_back",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def can_roll_back(self) -> bool:
        return self.status == RedemptionStatus.SUCCEEDED


class OrderEvent(models.Model):
    """Activity: append-only, written only by services in the transaction of the change it describes."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=48, choices=EventType.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        # "Anything newer than event X for this order?" is one index probe.
        indexes = [models.Index(fields=["order", "id"], name="orderevent_order_idx")]

    def __str__(self) -> str:
        return f"{self.type} on {self.order_id}"


class MetadataSchema(models.Model):
    """Which metadata keys an object may carry and of what type (one schema per object kind)."""

    related_object = models.CharField(max_length=16, choices=MetadataObject.choices, unique=True)
    allow_defined_only = models.BooleanField(
        default=False, help_text="Refuse keys that have no definition in this schema."
    )

    class Meta:
        ordering = ["related_object"]

    def __str__(self) -> str:
        return f"{self.get_related_object_display()} metadata"


class MetadataSchemaProperty(models.Model):
    schema = models.ForeignKey(MetadataSchema, on_delete=models.CASCADE, related_name="properties")
    key = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=MetadataType.choices)
    is_array = models.BooleanField(default=False, help_text="The value is a list of values of this type.")
    optional = models.BooleanField(default=True)

    class Meta:
        ordering = ["schema", "key"]
        verbose_name_plural = "metadata schema properties"
        constraints = [models.UniqueConstraint(fields=["schema", "key"], name="metadata_property_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.type}{'[]' if self.is_array else ''})"


class ExportStatus(models.TextChoices):
    """Where an export is: a job waits (SCHEDULED), runs (IN_PROGRESS) and ends DONE or in ERROR. A dashboard
    download starts IN_PROGRESS (it runs while the browser receives it)."""

    SCHEDULED = "SCHEDULED", "Scheduled"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    DONE = "DONE", "Done"
    ERROR = "ERROR", "Error"


class Export(models.Model):
    """One CSV export: who asked for what (filters, fields, order) and how it went. Written by
    ``orders.export``; exports read orders and change none, so they record no OrderEvent.

    The shape serves the dashboard download now and the API's export jobs later (``POST /v1/orders/export``
    → ``{id, object: "export", status, parameters: {order, fields, filters}, result: {url} | null}``): a job
    is created SCHEDULED and keeps its CSV in ``file``; a download streams and keeps nothing.
    """

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("export"))
    # What was exported: "order" (the orders list) or, for the segment member export, "customer".
    exported_object = models.CharField(max_length=16, default="order")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.SCHEDULED)
    # Who: a staff user, an API key (by name) or the system, as orders.events.Actor describes them.
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(  # indexed by export_actor_user_idx
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    # What: the filters as the list's query string (OrderFilterSet parameters), the columns in order, the sort.
    filters = models.TextField(blank=True)
    fields = models.JSONField(default=list, blank=True)
    order = models.CharField(max_length=32, blank=True)
    # An API export job's parameters as the client named them (Voucherify's order, fields and filters), echoed
    # by GET /v1/exports/{id}; null for a dashboard export. ``filters`` above is their translation.
    parameters = models.JSONField(null=True, blank=True)
    # How it went.
    method = models.CharField(max_length=8, blank=True, help_text="copy (PostgreSQL COPY) or python")
    row_count = models.BigIntegerField(null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes sent or stored.")
    error = models.TextField(blank=True)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True, help_text="The stored CSV of an export job.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)  # records are written by the exporter, never by hand
        indexes = [
            models.Index(fields=["created_at", "id"], name="export_created_idx"),
            # "The fields this user chose last time" is one index probe.
            models.Index(fields=["actor_user", "exported_object", "created_at"], name="export_actor_user_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="export_status_valid"),
            models.CheckConstraint(
                condition=Q(row_count__gte=0) | Q(row_count__isnull=True), name="export_row_count_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.ERROR)

    @property
    def duration(self):
        """Seconds from start to finish (None while running or never started)."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class AsyncActionStatus(models.TextChoices):
    """Where a background action is (Voucherify's async action statuses): it waits for a worker
    (ENQUEUED), runs (IN_PROGRESS) and ends DONE, or FAILED when something unexpected stopped it."""

    ENQUEUED = "ENQUEUED", "Enqueued"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class AsyncActionType(models.TextChoices):
    ORDER_IMPORT = "order.import", "Order import"


class AsyncAction(models.Model):
    """One background action (``aa_…``), e.g. a bulk order import, and how it went: what was asked
    (``payload``, which the task reads from here rather than from its arguments), by whom, and its
    ``result``. Written by ``orders.tasks``; ``GET /v1/async-actions/{id}`` reads it."""

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=id_factory("async_action"))
    type = models.CharField(max_length=32, choices=AsyncActionType.choices)
    status = models.CharField(max_length=16, choices=AsyncActionStatus.choices, default=AsyncActionStatus.ENQUEUED)
    # Who: a staff user, an API key (by name) or the system, as orders.events.Actor describes them.
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_id = models.CharField(max_length=ID_MAX_LENGTH, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True, help_text="The id of the API request that asked.")
    payload = models.JSONField(default=dict, blank=True, help_text="What the action works on, e.g. the orders.")
    result = models.JSONField(null=True, blank=True, help_text="What it did (set when DONE or FAILED).")
    error = models.TextField(blank=True, help_text="Why it FAILED.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)  # records are written by the tasks, never by hand
        indexes = [models.Index(fields=["created_at", "id"], name="asyncaction_created_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AsyncActionStatus.values), name="asyncaction_status_valid"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_finished(self) -> bool:
        return self.status in (AsyncActionStatus.DONE, AsyncActionStatus.FAILED)

    @property
    def processing_time_ms(self) -> int | None:
        """Milliseconds from start to finish (None while waiting or running)."""
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds() * 1000)
        return None
