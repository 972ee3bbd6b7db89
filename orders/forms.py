"""The "+" order form (DESIGN §5): what staff type, parsed and checked, turned into the keyword arguments of
``services.order_create`` / ``order_update`` / ``order_preview``; and the services' error paths
(``items[2].quantity``, ``metadata.color``, ``customer.email`` …) mapped back onto the fields they name.

One ``OrderEditor`` bundles the three parts of the page: the order header form, the item rows and the
metadata rows (two formsets). Rows may be added or removed in the browser (htmx) or by the server (the
"Add item" submit without JavaScript); a row that is missing from the posted data is a row that was
removed, and a row with nothing typed in it is ignored.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from .choices import STATUS_TRANSITIONS, MetadataObject, MetadataType, OrderStatus, RelatedObject
from .ids import looks_like
from .metadata import MAX_KEY_LENGTH, MAX_KEYS, parse_value
from .models import SKU, Customer, MetadataSchema, Order, Product
from .money import decimals, minor_to_input, to_minor

ITEMS = "items"
METADATA = "metadata"
LOOKUP_LIMIT = 8
HEADER_FIELDS = (
    "source_id",
    "status",
    "customer_query",
    "customer_id",
    "new_customer_source_id",
    "new_customer_name",
    "new_customer_email",
    "referrer_query",
    "referrer_id",
    "discount",
    "version",
    "base_amount",
)
ITEM_FIELDS = ("related_object", "catalog_id", "query", "source_id", "name", "quantity", "price", "discount")
METADATA_FIELDS = ("key", "value")
BLANK_ITEM = {"related_object": RelatedObject.PRODUCT, "quantity": "1"}

# The buttons that change the form instead of saving it (they work without JavaScript).
ACTIONS = (
    "add_item",
    "remove_item",
    "pick_item",
    "clear_item",
    "add_metadata",
    "remove_metadata",
    "pick_customer",
    "clear_customer",
    "pick_referrer",
    "clear_referrer",
    "find",
    "refresh",
)


# --- reads the form needs ----------------------------------------------------------------------------


def order_metadata_schema() -> MetadataSchema | None:
    return MetadataSchema.objects.filter(related_object=MetadataObject.ORDER).prefetch_related("properties").first()


def customer_matches(query: str, limit: int = LOOKUP_LIMIT) -> list[Customer]:
    """Customers whose id, source id or email is ``query`` (indexed), then those whose name, email or
    source id contains it. Two bounded queries; no ORDER BY on the broad one, so it stops at ``limit``."""
    query = (query or "").strip()
    if not query:
        return []
    exact = list(Customer.objects.filter(Q(pk=query) | Q(source_id=query) | Q(email=query))[:limit])
    if len(exact) >= limit:
        return exact
    broad = (
        Customer.objects.filter(Q(name__icontains=query) | Q(email__icontains=query) | Q(source_id__icontains=query))
        .exclude(pk__in=[c.pk for c in exact])
        .order_by()[: limit - len(exact)]
    )
    return exact + list(broad)


@dataclass(frozen=True)
class CatalogMatch:
    kind: str  # "product" | "sku"
    obj: Any

    @property
    def id(self) -> str:
        return self.obj.pk

    @property
    def name(self) -> str:
        return self.obj.sku if self.kind == RelatedObject.SKU else self.obj.name

    @property
    def product_name(self) -> str:
        product = getattr(self.obj, "product", None) if self.kind == RelatedObject.SKU else None
        return product.name if product else ""


def catalog_matches(query: str, limit: int = LOOKUP_LIMIT) -> list[CatalogMatch]:
    """Products and SKUs whose id or source id is ``query``, or whose name or source id contains it."""
    query = (query or "").strip()
    if not query:
        return []
    products = Product.objects.filter(
        Q(pk=query) | Q(source_id__icontains=query) | Q(name__icontains=query)
    ).order_by()[:limit]
    skus = (
        SKU.objects.filter(Q(pk=query) | Q(source_id__icontains=query) | Q(sku__icontains=query))
        .select_related("product")
        .order_by()[:limit]
    )
    found = [CatalogMatch(RelatedObject.PRODUCT, p) for p in products] + [
        CatalogMatch(RelatedObject.SKU, s) for s in skus
    ]
    # Exact hits first, then by name; at most ``limit`` in all.
    found.sort(key=lambda m: (query not in (m.obj.pk, m.obj.source_id), (m.name or "").lower()))
    return found[:limit]


def catalog_objects(ids) -> dict[str, Any]:
    """Products and SKUs by id, for the rows that picked one (at most two queries)."""
    ids = {i for i in ids if i}
    product_ids = [i for i in ids if looks_like("product", i)]
    sku_ids = [i for i in ids if looks_like("sku", i)]
    found: dict[str, Any] = {}
    if product_ids:
        found.update(Product.objects.in_bulk(product_ids))
    if sku_ids:
        found.update(SKU.objects.select_related("product").in_bulk(sku_ids))
    return found


# --- fields ------------------------------------------------------------------------------------------


class MoneyField(forms.CharField):
    """An amount typed in major units ('12.50'), cleaned to integer minor units by ``orders.money``."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"})
    default_error_messages = {
        "invalid": "Enter an amount like 12.50.",
        "decimals": "Use at most %(places)s decimal places.",
        "negative": "Must not be negative.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)

    def clean(self, value) -> int | None:
        text = super().clean(value)
        if text in self.empty_values:
            return None
        try:
            minor = to_minor(text)
        except ValueError as exc:
            if "decimal places" in str(exc):
                raise ValidationError(
                    self.error_messages["decimals"], code="decimals", params={"places": decimals()}
                ) from None
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if minor < 0:
            raise ValidationError(self.error_messages["negative"], code="negative")
        return minor


def _text(label: str, **kwargs) -> forms.CharField:
    kwargs.setdefault("required", False)
    kwargs.setdefault("max_length", 255)
    return forms.CharField(label=label, **kwargs)


def _search_widget(placeholder: str) -> forms.TextInput:
    return forms.TextInput(attrs={"type": "search", "autocomplete": "off", "placeholder": placeholder})


# --- the parts of the form ---------------------------------------------------------------------------


class OrderHeaderForm(forms.Form):
    source_id = _text("Source id", help_text="The shop's own id for this order (optional, unique).")
    status = forms.ChoiceField(label="Status", choices=OrderStatus.choices, initial=OrderStatus.CREATED)
    customer_query = _text("Find a customer", widget=_search_widget("Name, email or source id"))
    customer_id = _text("Customer", widget=forms.HiddenInput)
    new_customer_source_id = _text("Source id")
    new_customer_name = _text("Name")
    new_customer_email = forms.EmailField(
        label="Email",
        required=False,
        max_length=254,
        error_messages={"invalid": "Enter a valid email address, like name@example.com."},
    )
    referrer_query = _text("Find a referrer", widget=_search_widget("Name, email or source id"))
    referrer_id = _text("Referrer", widget=forms.HiddenInput)
    discount = MoneyField(label="Order discount")
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    base_amount = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, status_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        if status_choices is not None:
            self.fields["status"].choices = status_choices

    @property
    def new_customer_given(self) -> bool:
        return any(self._raw(name) for name in ("new_customer_source_id", "new_customer_name", "new_customer_email"))

    def _raw(self, name: str) -> str:
        if self.is_bound:
            return (self.data.get(self.add_prefix(name)) or "").strip()
        return str(self.initial.get(name) or "").strip()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("customer_id") and self.new_customer_given:
            self.add_error(
                "new_customer_source_id",
                "You picked an existing customer: clear it, or leave these fields empty.",
            )
        return cleaned


class RowForm(forms.Form):
    """A row of a formset: blank rows (nothing that matters typed) are skipped, not validated."""

    content_fields: tuple[str, ...] = ()

    def has_changed(self) -> bool:
        if not self.is_bound:
            return False
        return any((self.data.get(self.add_prefix(name)) or "").strip() for name in self.content_fields)


class ItemForm(RowForm):
    content_fields = ("catalog_id", "source_id", "name", "price", "discount")

    related_object = forms.ChoiceField(label="Kind", choices=RelatedObject.choices, initial=RelatedObject.PRODUCT)
    catalog_id = _text("Catalog item", max_length=64, widget=forms.HiddenInput)
    query = _text("Find in catalog", widget=_search_widget("Product or SKU name, source id"))
    source_id = _text("New item source id", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    name = _text("New item name")
    quantity = forms.IntegerField(
        label="Quantity",
        min_value=1,
        max_value=10**9,
        initial=1,
        error_messages={
            "required": "Enter a quantity.",
            "invalid": "Enter a whole number.",
            "min_value": "Quantity must be at least 1.",
            "max_value": "Quantity is too large.",
        },
    )
    price = MoneyField(label="Unit price")
    discount = MoneyField(label="Line discount")

    def clean(self):
        cleaned = super().clean()
        catalog_id = cleaned.get("catalog_id")
        if catalog_id:
            if looks_like("sku", catalog_id):
                cleaned["related_object"] = RelatedObject.SKU
            elif looks_like("product", catalog_id):
                cleaned["related_object"] = RelatedObject.PRODUCT
            else:
                self.add_error("catalog_id", "This is not a product or SKU id.")
        elif not cleaned.get("source_id") and "source_id" not in self.errors:
            self.add_error("source_id", "Pick an item from the catalog, or enter the source id of a new one.")
        return cleaned

    def payload(self) -> dict[str, Any]:
        """The item as ``order_create`` takes it."""
        cd = self.cleaned_data
        kind = cd["related_object"]
        item: dict[str, Any] = {"related_object": kind, "quantity": cd["quantity"]}
        if cd.get("price") is not None:
            item["price"] = cd["price"]
        if cd.get("discount"):
            item["discount_amount"] = cd["discount"]
        if cd.get("catalog_id"):
            item["sku_id" if kind == RelatedObject.SKU else "product_id"] = cd["catalog_id"]
        else:
            item["source_id"] = cd["source_id"]
            if cd.get("name"):
                item[kind] = {"sku": cd["name"]} if kind == RelatedObject.SKU else {"name": cd["name"]}
        return item


def metadata_value(text: str, prop) -> Any:
    """A typed metadata value from what was typed: text for undefined keys, the schema type otherwise
    (lists as JSON or comma-separated). Raises ValueError."""
    if prop is None:
        return text
    if prop.type in (MetadataType.DATE, MetadataType.DATETIME) and not prop.is_array:
        return text  # checked by the service, so that one submit reports them with every other field
    if not prop.is_array:
        return parse_value(prop.type, text)
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise ValueError('must be a list, like ["a", "b"] or a, b') from None
        if not isinstance(values, list):
            raise ValueError('must be a list, like ["a", "b"] or a, b')
        return [parse_value(prop.type, v) if isinstance(v, str) else v for v in values]
    return [parse_value(prop.type, part.strip()) for part in text.split(",") if part.strip()]


def metadata_text(value: Any) -> str:
    """What an input shows for a stored metadata value (the inverse of ``metadata_value``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    simple = isinstance(value, list) and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) and "," not in str(v) for v in value
    )
    return ", ".join(str(v) for v in value) if simple else json.dumps(value, ensure_ascii=False)


class MetadataRowForm(RowForm):
    content_fields = ("key", "value")

    key = _text("Key", max_length=MAX_KEY_LENGTH, widget=forms.TextInput(attrs={"list": "metadata-keys"}))
    value = _text("Value", max_length=5000)

    def __init__(self, *args, properties=None, original=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.properties = properties or {}
        self.original = original or {}

    @property
    def prop(self):
        key = (self.data.get(self.add_prefix("key")) if self.is_bound else self.initial.get("key")) or ""
        return self.properties.get(key.strip())

    def clean(self):
        cleaned = super().clean()
        key, text = cleaned.get("key") or "", cleaned.get("value") or ""
        if "key" in self.errors or "value" in self.errors:
            return cleaned
        if not key:
            self.add_error("key", "Enter a key for this value.")
            return cleaned
        if text == "":
            cleaned["parsed"] = None  # a key without a value is not stored
            return cleaned
        prop = self.properties.get(key)
        if prop is None and key in self.original and metadata_text(self.original[key]) == text:
            cleaned["parsed"] = self.original[key]  # an untouched value keeps its type
            return cleaned
        try:
            cleaned["parsed"] = metadata_value(text, prop)
        except ValueError as exc:
            self.add_error("value", _sentence(str(exc)))
        return cleaned


class RowFormSet(forms.BaseFormSet):
    default_error_messages = {"too_many_forms": "Too many rows: at most %(num)d are allowed."}

    def get_form_kwargs(self, index):
        # Every row may be left blank, also the ones the page started with.
        return {**super().get_form_kwargs(index), "empty_permitted": True}

    def present_forms(self):
        """The rows to show: a bound row absent from the data was removed in the browser."""
        if not self.is_bound:
            return list(self.forms)
        prefixes = {key.rsplit("-", 1)[0] for key in self.data if key.startswith(f"{self.prefix}-")}
        return [form for form in self.forms if form.prefix in prefixes]


class MetadataFormSet(RowFormSet):
    def clean(self):
        seen = set()
        for form in self.forms:
            key = (getattr(form, "cleaned_data", None) or {}).get("key")
            if not key:
                continue
            if key in seen:
                form.add_error("key", "This key is already used above; each key may appear once.")
            seen.add(key)


ItemFormSet = forms.formset_factory(
    ItemForm,
    formset=RowFormSet,
    extra=0,
    max_num=settings.ORDERS_MAX_ITEMS,
    validate_max=True,
    absolute_max=settings.ORDERS_MAX_ITEMS,
)
MetadataRowFormSet = forms.formset_factory(
    MetadataRowForm,
    formset=MetadataFormSet,
    extra=0,
    max_num=MAX_KEYS,
    validate_max=True,
    absolute_max=MAX_KEYS,
)


def _sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


# --- the whole form ----------------------------------------------------------------------------------


@dataclass
class FormState:
    """The raw values of the whole form (strings, as typed), rows renumbered from 0. The no-JavaScript
    actions ("Add item", "Remove", pick …) change this and the page is rendered again from it."""

    header: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, str]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_data(cls, data) -> "FormState":
        return cls(
            header={name: (data.get(name) or "") for name in HEADER_FIELDS},
            items=[row for _, row in _raw_rows(data, ITEMS, ITEM_FIELDS)],
            metadata=[row for _, row in _raw_rows(data, METADATA, METADATA_FIELDS)],
        )

    def as_data(self) -> dict[str, str]:
        data = dict(self.header)
        for prefix, rows in ((ITEMS, self.items), (METADATA, self.metadata)):
            data.update({f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"})
            for index, row in enumerate(rows):
                data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
        return data


def _raw_rows(data, prefix: str, names) -> list[tuple[int, dict[str, str]]]:
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS") or 0)
    except ValueError:
        total = 0
    limit = settings.ORDERS_MAX_ITEMS if prefix == ITEMS else MAX_KEYS
    rows = []
    for index in range(max(0, min(total, limit + 1))):
        keys = {name: f"{prefix}-{index}-{name}" for name in names}
        if any(key in data for key in keys.values()):
            rows.append((index, {name: (data.get(key) or "") for name, key in keys.items()}))
    return rows


def requested_action(data) -> tuple[str, str] | None:
    """The form-changing button that was pressed, if any: (name, value)."""
    for name in ACTIONS:
        if name in data:
            return name, data.get(name) or ""
    return None


def apply_action(state: FormState, data, action: tuple[str, str]) -> FormState:
    """The form state after a no-JavaScript button: add/remove a row, pick/clear a customer or a
    catalog item. Row numbers in values refer to the posted rows (which may have gaps)."""
    name, value = action
    posted_items = _raw_rows(data, ITEMS, ITEM_FIELDS)
    posted_metadata = _raw_rows(data, METADATA, METADATA_FIELDS)
    item_position = {index: position for position, (index, _) in enumerate(posted_items)}
    metadata_position = {index: position for position, (index, _) in enumerate(posted_metadata)}

    def position(mapping, raw):
        try:
            return mapping.get(int(raw))
        except (TypeError, ValueError):
            return None

    if name == "add_item" and len(state.items) < settings.ORDERS_MAX_ITEMS:
        state.items.append(dict(BLANK_ITEM))
    elif name == "remove_item" and (at := position(item_position, value)) is not None:
        del state.items[at]
    elif name == "add_metadata" and len(state.metadata) < MAX_KEYS:
        state.metadata.append({"key": "", "value": ""})
    elif name == "remove_metadata" and (at := position(metadata_position, value)) is not None:
        del state.metadata[at]
    elif name == "pick_item":
        raw_index, _, catalog_id = value.partition(":")
        if (at := position(item_position, raw_index)) is not None:
            pick_catalog_item(state.items[at], catalog_id)
    elif name == "clear_item" and (at := position(item_position, value)) is not None:
        state.items[at]["catalog_id"] = ""
    elif name in ("pick_customer", "pick_referrer"):
        which = name.removeprefix("pick_")
        state.header[f"{which}_id"] = value.strip()
        state.header[f"{which}_query"] = ""
        if which == "customer":  # picking replaces a customer being typed in
            for field_name in ("new_customer_source_id", "new_customer_name", "new_customer_email"):
                state.header[field_name] = ""
    elif name in ("clear_customer", "clear_referrer"):
        state.header[f"{name.removeprefix('clear_')}_id"] = ""
    return state


def pick_catalog_item(row: dict[str, str], catalog_id: str) -> None:
    catalog_id = catalog_id.strip()
    row["catalog_id"] = catalog_id
    row["query"] = ""
    if looks_like("sku", catalog_id):
        row["related_object"] = RelatedObject.SKU
    elif looks_like("product", catalog_id):
        row["related_object"] = RelatedObject.PRODUCT


def blank_state(schema: MetadataSchema | None) -> FormState:
    """A new order: one empty item row; a metadata row for each required key, and one empty row."""
    required = [p.key for p in schema.properties.all() if not p.optional] if schema else []
    return FormState(
        header={"status": OrderStatus.CREATED},
        items=[dict(BLANK_ITEM)],
        metadata=[{"key": key, "value": ""} for key in required] + [{"key": "", "value": ""}],
    )


def order_state(order: Order) -> FormState:
    """An existing order as the form shows it (items must be prefetched or are fetched once)."""
    items = []
    for item in order.items.all():
        catalog_id = item.sku_id if item.related_object == RelatedObject.SKU else item.product_id
        name = item.sku_name if item.related_object == RelatedObject.SKU else item.product_name
        items.append(
            {
                "related_object": item.related_object,
                "catalog_id": catalog_id or "",
                "query": "",
                "source_id": item.source_id,
                "name": name,
                "quantity": str(item.quantity),
                "price": minor_to_input(item.price),
                "discount": minor_to_input(item.discount_amount) if item.discount_amount else "",
            }
        )
    # Sorted by key: PostgreSQL's jsonb does not keep the order the keys were written in.
    metadata = [{"key": key, "value": metadata_text(value)} for key, value in sorted((order.metadata or {}).items())]
    return FormState(
        header={
            "source_id": order.source_id or "",
            "status": order.status,
            "customer_id": order.customer_id or "",
            "referrer_id": order.referrer_id or "",
            "discount": minor_to_input(order.discount_amount) if order.discount_amount else "",
            "version": str(order.version),
            "base_amount": str(order.amount),
        },
        items=items or [dict(BLANK_ITEM)],
        metadata=[*metadata, {"key": "", "value": ""}],
    )


@dataclass
class ItemRow:
    form: ItemForm
    index: int
    catalog: Any = None
    matches: list[CatalogMatch] | None = None

    @property
    def catalog_id(self) -> str:
        return _value(self.form, "catalog_id")

    @property
    def query(self) -> str:
        return _value(self.form, "query")

    @property
    def price_placeholder(self) -> str:
        """What the empty price input shows: the catalog price that applies when it stays empty."""
        price = getattr(self.catalog, "price", None)
        return minor_to_input(price) if price is not None else "0.00"


@dataclass
class MetadataRow:
    form: MetadataRowForm
    index: int

    @property
    def prop(self):
        return self.form.prop


@dataclass
class Picker:
    """A customer or referrer chooser: the picked customer, or a search box with its matches."""

    field: str  # "customer" | "referrer"
    label: str
    customer: Customer | None = None
    picked_id: str = ""
    query: str = ""
    matches: list[Customer] | None = None
    errors: list[str] = field(default_factory=list)


def _value(form: forms.Form, name: str) -> str:
    if form.is_bound:
        return (form.data.get(form.add_prefix(name)) or "").strip()
    value = form.initial.get(name, form.fields[name].initial)
    return "" if value is None else str(value).strip()


def status_choices(order: Order | None):
    if order is None:
        return OrderStatus.choices
    allowed = {order.status, *STATUS_TRANSITIONS[OrderStatus(order.status)]}
    return [(value, label) for value, label in OrderStatus.choices if value in allowed]


ITEM_PATH = re.compile(r"^items\[(\d+)\](?:\.(.+))?$")
# Which item field a service path below ``items[n].`` belongs to.
ITEM_PATH_FIELDS = {
    "quantity": "quantity",
    "price": "price",
    "amount": "price",
    "discount_amount": "discount",
    "source_id": "source_id",
    "related_object": "related_object",
    "product_id": "catalog_id",
    "sku_id": "catalog_id",
    "product.id": "catalog_id",
    "sku.id": "catalog_id",
    "product": "name",
    "sku": "name",
    "product.name": "name",
    "sku.sku": "name",
    "product.source_id": "source_id",
    "sku.source_id": "source_id",
}
HEADER_PATH_FIELDS = {
    "source_id": "source_id",
    "status": "status",
    "discount_amount": "discount",
    "customer": "customer_query",
    "customer.id": "customer_query",
    "customer.source_id": "new_customer_source_id",
    "customer.name": "new_customer_name",
    "customer.email": "new_customer_email",
    "referrer": "referrer_query",
    "referrer.id": "referrer_query",
}


class OrderEditor:
    """The whole "+" form: header, item rows and metadata rows; bound to posted data, or showing a
    ``FormState`` (a new order, an existing one, or the result of a no-JavaScript action)."""

    def __init__(
        self,
        data=None,
        *,
        state: FormState | None = None,
        order: Order | None = None,
        schema: MetadataSchema | None = None,
    ):
        self.order = order
        self.schema = schema
        self.properties = {p.key: p for p in schema.properties.all()} if schema else {}
        state = state if data is None else None
        self.header = OrderHeaderForm(
            data, initial=state.header if state else None, status_choices=status_choices(order)
        )
        self.items = ItemFormSet(data, prefix=ITEMS, initial=state.items if state else None)
        self.metadata = MetadataRowFormSet(
            data,
            prefix=METADATA,
            initial=state.metadata if state else None,
            form_kwargs={"properties": self.properties, "original": order.metadata if order else {}},
        )
        self.general_errors: list[str] = []
        self.metadata_errors: list[str] = []
        self.duplicate_order_id: str | None = None
        self.existing_customer_id: str | None = None
        self.stale = False
        self.version_override: int | None = None
        self._service_rows: list[ItemForm] = []
        self._searching = False
        self._pickers: dict[str, Picker] = {}

    # -- validation -------------------------------------------------------------------------------

    def is_valid(self) -> bool:
        valid = all([self.header.is_valid(), self.items.is_valid(), self.metadata.is_valid()])
        return valid and not self.has_extra_errors

    @property
    def has_extra_errors(self) -> bool:
        return bool(self.general_errors or self.metadata_errors)

    @property
    def error_count(self) -> int:
        if not self.header.is_bound:
            return 0
        count = len(self.header.errors) + len(self.general_errors) + len(self.metadata_errors)
        count += sum(len(form.errors) for form in self.items.forms) + len(self.items.non_form_errors())
        count += sum(len(form.errors) for form in self.metadata.forms) + len(self.metadata.non_form_errors())
        return count

    def check_for_save(self) -> bool:
        """The checks that read the database, made before saving only (the totals skip them): a source id
        another order has (``order_create`` would update that order instead), and an inline customer
        whose source id exists (saving would overwrite that customer's name and email)."""
        cd = self.header.cleaned_data
        source_id = cd.get("source_id")
        if source_id:
            others = Order.objects.filter(source_id=source_id)
            if self.order is not None:
                others = others.exclude(pk=self.order.pk)
            existing = others.values_list("pk", flat=True).first()
            if existing:
                self.mark_duplicate(existing)
        new_source_id = cd.get("new_customer_source_id")
        if new_source_id and not cd.get("customer_id"):
            existing = Customer.objects.filter(source_id=new_source_id).values_list("pk", flat=True).first()
            if existing:
                self.existing_customer_id = existing
                self.header.add_error(
                    "new_customer_source_id",
                    "A customer with this source id already exists: pick them instead of creating a new one.",
                )
        return not (self.duplicate_order_id or self.existing_customer_id)

    def mark_duplicate(self, existing_id: str) -> None:
        self.duplicate_order_id = existing_id
        self.header.add_error("source_id", f"An order with this source id already exists ({existing_id}).")

    # -- what the services take -------------------------------------------------------------------

    def _customer(self, which: str):
        cd = self.header.cleaned_data
        if cd.get(f"{which}_id"):
            return {"id": cd[f"{which}_id"]}
        if which == "customer" and self.header.new_customer_given:
            data = {"name": cd.get("new_customer_name") or "", "email": cd.get("new_customer_email") or ""}
            if cd.get("new_customer_source_id"):
                data["source_id"] = cd["new_customer_source_id"]
            return data
        return None

    def _items(self, exclude: int | None = None) -> list[dict[str, Any]]:
        self._service_rows = [
            form
            for form in self.items.forms
            if form.has_changed() and getattr(form, "cleaned_data", None) and _index(form) != exclude
        ]
        return [form.payload() for form in self._service_rows]

    def _metadata(self) -> dict[str, Any]:
        metadata = {}
        for form in self.metadata.forms:
            cd = getattr(form, "cleaned_data", None) or {}
            if cd.get("key") and cd.get("parsed") is not None:
                metadata[cd["key"]] = cd["parsed"]
        return metadata

    def service_kwargs(self, exclude_item: int | None = None) -> dict[str, Any]:
        """Keyword arguments for ``order_create`` (and, minus ``source_id``, ``order_preview``)."""
        cd = self.header.cleaned_data
        return {
            "source_id": cd.get("source_id") or None,
            "status": cd["status"],
            "customer": self._customer("customer"),
            "referrer": self._customer("referrer"),
            "items": self._items(exclude_item),
            "discount_amount": cd.get("discount") or 0,
            "metadata": self._metadata(),
        }

    def preview_kwargs(self, exclude_item: int | None = None) -> dict[str, Any]:
        kwargs = self.service_kwargs(exclude_item)
        del kwargs["source_id"]
        # An existing order without items keeps its amount when saved; show that.
        base_amount = self.header.cleaned_data.get("base_amount")
        if not kwargs["items"] and base_amount:
            kwargs["amount"] = base_amount
        return kwargs

    @property
    def service_row_indexes(self) -> list[int]:
        """Row number (as posted) of each item the last ``service_kwargs`` call passed on, in order."""
        return [_index(form) for form in self._service_rows]

    def update_kwargs(self) -> dict[str, Any]:
        return {**self.service_kwargs(), "version": self.header.cleaned_data.get("version")}

    # -- errors from the services -----------------------------------------------------------------

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put each of a service's ``InvalidInput.errors`` next to the field its path names; what names no
        field goes to the list at the top of the form."""
        for path, messages in errors.items():
            for message in messages:
                self._add_service_error(path, message)

    def _add_service_error(self, path: str, message: str) -> None:
        text = _sentence(message)
        if path in HEADER_PATH_FIELDS:
            name = HEADER_PATH_FIELDS[path]
            if name == "customer_query" and not self.header.cleaned_data.get("customer_id"):
                name = "new_customer_source_id"
            self.header.add_error(name, text)
            return
        if match := ITEM_PATH.match(path):
            position, rest = int(match.group(1)), match.group(2) or ""
            if position < len(self._service_rows):
                form = self._service_rows[position]
                name = ITEM_PATH_FIELDS.get(rest)
                if name == "name" and _value(form, "catalog_id"):
                    name = "catalog_id"
                form.add_error(name, text if name or not rest else f"{rest}: {message}")
                return
        if path == METADATA:
            self.metadata_errors.append(text)
        elif path.startswith(f"{METADATA}."):
            self._metadata_error(path.removeprefix(f"{METADATA}."), message)
        elif path == ITEMS:
            self.general_errors.append(f"Items: {message}")
        else:
            self.general_errors.append(f"{path}: {message}" if path else text)

    def _metadata_error(self, key_path: str, message: str) -> None:
        rows = {}
        for form in self.metadata.forms:
            key = (getattr(form, "cleaned_data", None) or {}).get("key")
            if key:
                rows.setdefault(key, form)
        key = key_path if key_path in rows else re.sub(r"\[\d+\]$", "", key_path)
        if key in rows:
            rows[key].add_error("value", _sentence(message))
            return
        if key_path.endswith("…"):
            start = key_path.removesuffix("…")
            for candidate, form in rows.items():
                if candidate.startswith(start):
                    form.add_error("key", _sentence(message))
                    return
        self.metadata_errors.append(f"{key}: {message}")

    # -- what the template shows ------------------------------------------------------------------

    def search(self) -> "OrderEditor":
        """Show the matches of every search box that has text and no pick (the no-JavaScript lookups)."""
        self._searching = True
        return self

    def item_rows(self) -> list[ItemRow]:
        forms_ = self.items.present_forms()
        rows = [ItemRow(form=form, index=_index(form)) for form in forms_]
        found = catalog_objects(row.catalog_id for row in rows)
        for row in rows:
            row.catalog = found.get(row.catalog_id)
            if self._searching and not row.catalog_id and row.query:
                row.matches = catalog_matches(row.query)
        return rows

    def metadata_rows(self) -> list[MetadataRow]:
        return [MetadataRow(form=form, index=_index(form)) for form in self.metadata.present_forms()]

    def _build_pickers(self) -> dict[str, Picker]:
        if self._pickers:
            return self._pickers
        ids = {which: _value(self.header, f"{which}_id") for which in PICKERS}
        known = {c.pk: c for c in (self.order.customer, self.order.referrer) if c} if self.order else {}
        missing = [pk for pk in ids.values() if pk and pk not in known]
        if missing:
            known.update(Customer.objects.in_bulk(missing))
        field_errors = self.header.errors if self.header.is_bound else {}
        for which in PICKERS:
            picker = Picker(
                field=which,
                label=which.capitalize(),
                picked_id=ids[which],
                query=_value(self.header, f"{which}_query"),
                customer=known.get(ids[which]),
                errors=[*field_errors.get(f"{which}_query", []), *field_errors.get(f"{which}_id", [])],
            )
            if not picker.picked_id and self._searching and picker.query:
                picker.matches = customer_matches(picker.query)
            if picker.picked_id and picker.customer is None and not picker.errors:
                picker.errors.append(f"No customer with id {picker.picked_id}.")
            self._pickers[which] = picker
        return self._pickers

    @property
    def customer_picker(self) -> Picker:
        return self._build_pickers()["customer"]

    @property
    def referrer_picker(self) -> Picker:
        return self._build_pickers()["referrer"]

    @property
    def version(self) -> str:
        if self.version_override is not None:
            return str(self.version_override)
        return _value(self.header, "version")

    @property
    def hidden_errors(self) -> list[str]:
        """Errors of fields the page does not show (only a tampered or outdated page has them)."""
        if not self.header.is_bound:
            return []
        return [f"{name}: {e}" for name in ("version", "base_amount") for e in self.header.errors.get(name, [])]

    @property
    def metadata_keys(self):
        return list(self.properties.values())

    def error_hints(self, limit: int = 4) -> list[str]:
        """Short "what to fix" lines for the totals box, from the form's errors."""
        hints = []
        for name, errors in self.header.errors.items():
            label = self.header.fields[name].label if name in self.header.fields else ""
            hints += [f"{label}: {e}" if label else e for e in errors]
        for position, form in enumerate(self.items.present_forms(), start=1):
            for name, errors in form.errors.items():
                label = form.fields[name].label if name in form.fields else ""
                hints += [f"Item {position} · {label}: {e}" if label else f"Item {position}: {e}" for e in errors]
        hints += [str(e) for e in self.items.non_form_errors()]
        for form in self.metadata.present_forms():
            key = _value(form, "key") or "metadata"
            hints += [f"Metadata {key}: {e}" for errors in form.errors.values() for e in errors]
        hints += self.metadata_errors + self.general_errors
        return hints[:limit]


PICKERS = ("customer", "referrer")


def _index(form: forms.Form) -> int:
    return int(form.prefix.rsplit("-", 1)[1])
