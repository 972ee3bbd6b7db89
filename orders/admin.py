"""Django admin for every model. Orders, their items, redemptions and events are read-only here: the
admin has no way to record activity, and order writes must go through orders.services. Customers and the
catalog are editable, with metadata checked against the schema; customer summaries are read-only."""

from django import forms
from django.contrib import admin

from .choices import MetadataObject
from .metadata import metadata_errors
from .models import (
    SKU,
    AsyncAction,
    Customer,
    MetadataSchema,
    MetadataSchemaProperty,
    Order,
    OrderEvent,
    OrderItem,
    Product,
    Redemption,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ("position", "related_object", "product", "sku", "quantity", "price", "amount", "discount_amount")
    readonly_fields = fields


class RedemptionInline(ReadOnlyInline):
    model = Redemption
    fields = ("id", "status", "incentive_code", "amount", "created_at", "rollback_id")
    readonly_fields = fields


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("created_at", "type", "actor_type", "actor_name", "data")
    readonly_fields = fields
    ordering = ("-id",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "source_id", "status", "customer", "amount", "total_amount", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "=source_id", "customer__email")
    date_hierarchy = None
    list_select_related = ("customer",)
    show_full_result_count = False  # COUNT(*) over millions of orders on every page is not free
    raw_id_fields = ("customer", "referrer")
    inlines = (OrderItemInline, RedemptionInline, OrderEventInline)


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "type", "actor_type", "actor_name", "created_at")
    list_filter = ("type", "actor_type")
    search_fields = ("=order__id",)
    show_full_result_count = False


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "status", "incentive_code", "amount", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "=order__id", "incentive_code")
    show_full_result_count = False


@admin.register(AsyncAction)
class AsyncActionAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "status", "actor_name", "created_at", "finished_at")
    list_filter = ("type", "status")
    search_fields = ("=id", "=request_id")
    exclude = ("payload",)  # up to 2,000 orders: not for a form


@admin.register(OrderItem)
class OrderItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "related_object", "product_name", "sku_name", "quantity", "amount")
    search_fields = ("=order__id",)
    show_full_result_count = False


class MetadataCheckedForm(forms.ModelForm):
    """Runs the same metadata checks as the services (the schema of ``metadata_object`` if any)."""

    metadata_object: str | None = None

    def clean_metadata(self):
        metadata = self.cleaned_data.get("metadata") or {}
        schema = None
        if self.metadata_object:
            schema = (
                MetadataSchema.objects.prefetch_related("properties")
                .filter(related_object=self.metadata_object)
                .first()
            )
        errors = metadata_errors(metadata, schema=schema)
        if errors:
            raise forms.ValidationError([f"{path}: {msg}" for path, messages in errors.items() for msg in messages])
        return metadata


class CustomerForm(MetadataCheckedForm):
    metadata_object = MetadataObject.CUSTOMER


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    list_display = ("id", "source_id", "name", "email", "orders_total_count", "orders_total_amount")
    search_fields = ("=id", "=source_id", "email", "name")
    show_full_result_count = False
    readonly_fields = (
        "orders_total_amount",
        "orders_total_count",
        "orders_average_amount",
        "last_order_amount",
        "last_order_date",
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = MetadataCheckedForm
    list_display = ("id", "source_id", "name", "price")
    search_fields = ("=id", "=source_id", "name")


@admin.register(SKU)
class SKUAdmin(admin.ModelAdmin):
    form = MetadataCheckedForm
    list_display = ("id", "source_id", "sku", "product", "price")
    search_fields = ("=id", "=source_id", "sku")
    raw_id_fields = ("product",)


class MetadataSchemaPropertyInline(admin.TabularInline):
    model = MetadataSchemaProperty
    extra = 1


@admin.register(MetadataSchema)
class MetadataSchemaAdmin(admin.ModelAdmin):
    list_display = ("related_object", "allow_defined_only")
    inlines = (MetadataSchemaPropertyInline,)
