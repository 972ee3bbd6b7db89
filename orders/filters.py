"""The one ``OrderFilterSet``: the list page, its htmx partial, the CSV export and the API list all filter
orders through it, so they can never disagree (DESIGN §5, STYLE "Reads are selectors and FilterSets").

Query parameters (all optional, all in the query string):

    status=PAID&status=FULFILLED        several statuses at once
    created_from / created_to           dates (YYYY-MM-DD, UTC days, both ends inclusive)
    updated_from / updated_to
    amount_min / amount_max             currency units as people type them ("12.50"), compared in minor units
    total_min / total_max
    customer=<id | source id | email>
    product=<product or SKU: id | source id>      orders with at least one such item
    metadata=<key>=<value>              repeatable (all must hold); the value is typed by the order metadata
                                        schema where the key is defined (number, boolean, date, …; a list
                                        key matches lists containing the value); undefined keys compare as
                                        text. Same rows on PostgreSQL (@>, GIN index) and SQLite.
    q=<text>                            exact order id or source id, or part (3+ characters) of the
                                        customer's name or email, any case
    sort=-created (default) | created | -updated | updated | -amount | amount | -total | total

``OrderFilterSet(data, queryset=...).qs`` is the filtered queryset, ordered by the chosen sort with the
order id as the last key (what keyset pagination needs). Invalid values are form errors
(``filterset.errors``); callers show them instead of querying (the page) or answer 400 (the API).

Extending from another app: ``orders`` never imports the apps that build on it, so they add their filters
here at start-up, from their ``AppConfig.ready()``::

    from orders.filters import register_order_filter
    register_order_filter("segment", django_filters.CharFilter(method=filter_by_segment, label="Segment"),
                          describe=lambda value: f"in segment {value}")

The filter becomes a query parameter and a form field of every ``OrderFilterSet`` made after that call;
``describe`` (optional) turns a cleaned value into the text of its removable chip on the list page.
"""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import NotSupportedError
from django.db.models import BooleanField, Exists, Expression, F, OuterRef, Q, Value
from django.utils import timezone

from .choices import MetadataObject, MetadataType, OrderStatus
from .metadata import parse_value
from .models import SKU, Customer, MetadataSchemaProperty, Order, OrderItem, Product
from .money import decimals, format_minor, to_minor

SORTS: dict[str, tuple[str, tuple[str, str]]] = {
    # value: (label, ordering) — every ordering ends in the id and has an index (see Order.Meta.indexes)
    "-created": ("Newest first", ("-created_at", "-id")),
    "created": ("Oldest first", ("created_at", "id")),
    "-updated": ("Recently updated", ("-updated_at", "-id")),
    "updated": ("Least recently updated", ("updated_at", "id")),
    "-total": ("Total, high to low", ("-total_amount", "-id")),
    "total": ("Total, low to high", ("total_amount", "id")),
    "-amount": ("Amount, high to low", ("-amount", "-id")),
    "amount": ("Amount, low to high", ("amount", "id")),
}
DEFAULT_SORT = "-created"

# How a search reaches the orders of the customers it matches (see OrderFilterSet.filter_search).
CUSTOMER_SEARCH_LIST_LIMIT = 1000
CUSTOMER_SEARCH_SUBQUERY_LIMIT = 20_000
# Names and emails are searched for fragments of at least this many characters (what a trigram index
# can serve); shorter text matches order ids and source ids only.
SEARCH_MIN_CONTAINS = 3
# Up to this many order items of a product/SKU, its orders are fetched by id; past it, found by a walk.
PRODUCT_ITEMS_LIST_LIMIT = 2000
SEARCH_MAX_LENGTH = 200
MAX_AMOUNT = 10**15  # minor units; what the services accept


# --- fields --------------------------------------------------------------------------------------------


class MoneyField(forms.CharField):
    """An amount typed in currency units ("1,234.50") → integer minor units (orders.money.to_minor)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            minor = to_minor(value)
        except ValueError:
            places = decimals()
            if _looks_numeric(value):
                raise ValidationError(
                    "Use at most %(places)d decimal places.", code="precision", params={"places": places}
                ) from None
            example = "12.50" if places else "1250"
            raise ValidationError(
                "Enter an amount such as %(example)s.", code="invalid", params={"example": example}
            ) from None
        if minor < 0:
            raise ValidationError("Amounts cannot be negative.", code="negative")
        if minor > MAX_AMOUNT:
            raise ValidationError("That amount is too large.", code="too_large")
        return minor


def _looks_numeric(text: str) -> bool:
    try:
        return Decimal(text.strip().replace(",", "").replace("_", "")).is_finite()
    except InvalidOperation:
        return False


class MultipleTextInput(forms.TextInput):
    """A text input whose parameter may repeat (``?metadata=a=1&metadata=b=2``); its value is a list."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return []
        if isinstance(values, str):
            values = [values]
        return [value for value in values if value is not None and value.strip()]

    def value_omitted_from_data(self, data, files, name):
        return name not in data


@dataclass(frozen=True)
class MetadataCondition:
    """``metadata[key]`` equals ``value`` (the typed value), or contains it when the key holds a list."""

    key: str
    raw: str
    value: Any = None
    type: str = MetadataType.STRING
    is_array: bool = False
    defined: bool = False

    def __str__(self) -> str:
        return f"{self.key} = {self.raw}"


class MetadataConditionsField(forms.Field):
    """``key=value`` texts → [MetadataCondition] (untyped: the form types them with the schema)."""

    widget = MultipleTextInput

    def to_python(self, value):
        if not value:
            return []
        conditions = []
        for text in value:
            key, sep, raw = text.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or not key:
                raise ValidationError(
                    "Write metadata filters as key=value, e.g. channel=web (got “%(text)s”).",
                    code="invalid",
                    params={"text": text},
                )
            if not raw:
                raise ValidationError("Give a value for the metadata key “%(key)s”.", code="empty", params={"key": key})
            conditions.append(MetadataCondition(key=key, raw=raw))
        return conditions


class MoneyFilter(django_filters.Filter):
    field_class = MoneyField


class MetadataFilter(django_filters.Filter):
    field_class = MetadataConditionsField


# --- metadata typed by the schema -------------------------------------------------------------------------


def typed_metadata_value(type_: str, raw: str):
    """The JSON value that ``raw`` (what someone typed) stands for under the schema type; ValueError when
    it cannot be one."""
    if type_ == MetadataType.OBJECT:
        raise ValueError("holds objects, which cannot be compared with one value")
    return parse_value(type_, raw)
    if type_ == MetadataType.OBJECT:
        raise ValueError("holds objects, which cannot be compared with one value")
    return raw


def type_metadata_conditions(conditions: list[MetadataCondition], related_object: str) -> list[MetadataCondition]:
    """Type each condition by the schema property of its key (one query); undefined keys compare as text.
    Raises ValidationError listing every value that does not fit its key's type."""
    if not conditions:
        return []
    properties = {
        prop.key: prop
        for prop in MetadataSchemaProperty.objects.filter(
            schema__related_object=related_object, key__in={c.key for c in conditions}
        )
    }
    typed, problems = [], []
    for condition in conditions:
        prop = properties.get(condition.key)
        if prop is None:
            typed.append(condition)
            continue
        try:
            value = typed_metadata_value(prop.type, condition.raw)
        except ValueError as exc:
            problems.append(
                ValidationError(
                    "“%(key)s” %(problem)s (got “%(raw)s”).",
                    code="type",
                    params={"key": condition.key, "problem": exc, "raw": condition.raw},
                )
            )
            continue
        typed.append(
            MetadataCondition(
                key=condition.key,
                raw=condition.raw,
                value=value,
                type=prop.type,
                is_array=prop.is_array,
                defined=True,
            )
        )
    if problems:
        raise ValidationError(problems)
    return typed


class JSONKeyMatches(Expression):
    """True where the JSON object in ``expression`` has ``key`` equal to the JSON scalar ``value`` (same
    type and value: 5 matches 5 and 5.0, never "5"), or, with ``in_array``, a list under ``key`` that
    contains it. The same rows on PostgreSQL (``@>``, served by the GIN index on the column) and SQLite
    (json_each), which has no JSON containment."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, expression, key: str, value, *, in_array: bool = False):
        super().__init__()
        if not isinstance(value, (str, int, float, bool)):
            raise TypeError("JSONKeyMatches compares with a JSON scalar (text, number or boolean)")
        self.expression = F(expression) if isinstance(expression, str) else expression
        self.key, self.value, self.in_array = key, value, in_array

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"JSONKeyMatches supports PostgreSQL and SQLite, not {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        wanted = {self.key: [self.value] if self.in_array else self.value}
        return f"({sql} @> %s::jsonb)", (*params, json.dumps(wanted))

    def as_sqlite(self, compiler, connection):
        # json_each over the object's members compares the key as a plain string: a JSON path would
        # misread keys holding dots or quotes.
        sql, params = compiler.compile(self.expression)
        if isinstance(self.value, bool):
            test, test_params = "je.type = %s", ["true" if self.value else "false"]
        elif isinstance(self.value, (int, float)):
            test, test_params = "je.type IN ('integer', 'real') AND je.value = %s", [self.value]
        else:
            test, test_params = "je.type = 'text' AND je.value = %s", [self.value]
        if self.in_array:
            source = f"json_each({sql}) AS member JOIN json_each(member.value) AS je"
            where = "member.key = %s AND member.type = 'array'"
        else:
            source, where = f"json_each({sql}) AS je", "je.key = %s"
        return f"EXISTS (SELECT 1 FROM {source} WHERE {where} AND {test})", (*params, self.key, *test_params)


# --- the form ----------------------------------------------------------------------------------------------


class OrderFilterForm(forms.Form):
    """Cross-field checks and the schema typing of metadata conditions."""

    RANGES = (
        ("created_from", "created_to", "Created"),
        ("updated_from", "updated_to", "Updated"),
        ("amount_min", "amount_max", "Amount"),
        ("total_min", "total_max", "Total"),
    )

    def clean_metadata(self):
        return type_metadata_conditions(self.cleaned_data.get("metadata") or [], MetadataObject.ORDER)

    def clean_q(self):
        return (self.cleaned_data.get("q") or "").strip()

    def clean(self):
        cleaned = super().clean()
        for low, high, label in self.RANGES:
            start, end = cleaned.get(low), cleaned.get(high)
            if start is not None and end is not None and start > end:
                self.add_error(high, f"{label}: the end of the range is before its start.")
        return cleaned


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MONEY_INPUT = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})


# --- the filterset -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveFilter:
    """One value of one filter in effect, as a chip: ``label: text``; ``param``/``raw`` name the query
    parameter value that removing the chip drops."""

    name: str
    label: str
    text: str
    param: str
    raw: str


RESERVED_PARAMETERS = frozenset({"cursor", "per_page"})


class ListFilterSetMixin:
    """What the filter sets of the orders list and the customer list share: the "search too short" notice,
    the chips of the filters in effect, and the registration point through which other apps add filters.

    A filter set sets ``registered`` (its own dict: name → describe(cleaned value), or None for ``str()``),
    ``MONEY_FILTERS`` (shown as amounts), and may extend ``_chips`` (one filter's chips) or ``_describe``."""

    # Parameters that are not filters of the result set (chips and "clear filters" leave them alone).
    NOT_FILTERS = frozenset({"sort"})
    MONEY_FILTERS: frozenset[str] = frozenset()
    registered: dict[str, Callable[[Any], str] | None]

    def search_too_short(self) -> bool:
        """True when the search text is too short to look into names and emails (ids still match)."""
        cleaned = getattr(self.form, "cleaned_data", None) or {}
        return 0 < len(cleaned.get("q") or "") < SEARCH_MIN_CONTAINS

    def has_active_filters(self) -> bool:
        return bool(self.active_filters())

    def active_filters(self) -> list[ActiveFilter]:
        """Every filter value in effect (valid ones only), one per chip, in form order."""
        if not self.is_bound or not self.form.is_valid():
            return []
        cleaned = self.form.cleaned_data
        chips: list[ActiveFilter] = []
        for name, filter_ in self.filters.items():
            value = cleaned.get(name)
            if name in self.NOT_FILTERS or value in (None, "", [], ()):
                continue
            chips += self._chips(name, str(filter_.label or name), value)
        return chips

    def _chips(self, name: str, label: str, value) -> list[ActiveFilter]:
        raws = self._raw(name)
        if name == "metadata":
            return [ActiveFilter(name, label, str(c), name, raw) for c, raw in zip(value, raws, strict=True)]
        return [ActiveFilter(name, label, self._describe(name, value), name, raws[0] if raws else "")]

    def _raw(self, name: str) -> list[str]:
        return [v for v in self.data.getlist(name) if v.strip()] if hasattr(self.data, "getlist") else []

    def _describe(self, name: str, value) -> str:
        if self.registered.get(name) is not None:
            return self.registered[name](value)
        if name in self.MONEY_FILTERS:
            return format_minor(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if name == "q":
            return f"“{value}”"
        return str(value)

    @classmethod
    def register(cls, name: str, filter_: django_filters.Filter, describe: Callable[[Any], str] | None) -> None:
        """Add ``filter_`` as the query parameter ``name`` of every filter set of this class made from now on.
        Registering the same name again replaces the filter."""
        if name in RESERVED_PARAMETERS or (name in cls.base_filters and name not in cls.registered):
            raise ValueError(f"{name!r} is already a parameter of the {cls.list_name}")
        filter_.model = cls._meta.model
        cls.base_filters[name] = filter_
        cls.registered[name] = describe


class OrderFilterSet(ListFilterSetMixin, django_filters.FilterSet):
    # Filters registered by other apps (register_order_filter): name → describe(cleaned value) or None.
    registered: dict[str, Callable[[Any], str] | None] = {}
    list_name = "orders list"
    MONEY_FILTERS = frozenset({"amount_min", "amount_max", "total_min", "total_max"})
    # A subset of ``qs`` that is cheap to count, or None (see orders.pagination.capped_count); set by .qs.
    count_witness = None

    q = django_filters.CharFilter(
        method="filter_search", label="Search", max_length=SEARCH_MAX_LENGTH, help_text="Order id, source id, customer"
    )
    # distinct=False: a column of the order itself needs no DISTINCT (django-filter's default adds one, which
    # makes the database de-duplicate every selected column before it can stop at the page's last row).
    status = django_filters.MultipleChoiceFilter(
        choices=OrderStatus.choices, widget=forms.CheckboxSelectMultiple, label="Status", distinct=False
    )
    created_from = django_filters.DateFilter(
        method="filter_from", field_name="created_at", label="Created from", widget=DATE_INPUT
    )
    created_to = django_filters.DateFilter(
        method="filter_to", field_name="created_at", label="Created to", widget=DATE_INPUT
    )
    updated_from = django_filters.DateFilter(
        method="filter_from", field_name="updated_at", label="Updated from", widget=DATE_INPUT
    )
    updated_to = django_filters.DateFilter(
        method="filter_to", field_name="updated_at", label="Updated to", widget=DATE_INPUT
    )
    amount_min = MoneyFilter(field_name="amount", lookup_expr="gte", label="Amount from", widget=MONEY_INPUT)
    amount_max = MoneyFilter(field_name="amount", lookup_expr="lte", label="Amount to", widget=MONEY_INPUT)
    total_min = MoneyFilter(field_name="total_amount", lookup_expr="gte", label="Total from", widget=MONEY_INPUT)
    total_max = MoneyFilter(field_name="total_amount", lookup_expr="lte", label="Total to", widget=MONEY_INPUT)
    customer = django_filters.CharFilter(
        method="filter_customer", label="Customer", max_length=254, help_text="Id, source id or email"
    )
    product = django_filters.CharFilter(
        method="filter_product", label="Product or SKU", max_length=255, help_text="Id or source id"
    )
    metadata = MetadataFilter(method="filter_metadata", label="Metadata", help_text="key=value, e.g. channel=web")
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        label="Sort",
        choices=[(value, label) for value, (label, _) in SORTS.items()],
        empty_label=None,
    )

    class Meta:
        model = Order
        fields: list[str] = []
        form = OrderFilterForm

    # -- ordering

    @property
    def sort_value(self) -> str:
        """The chosen sort (the default when none or an invalid one was given)."""
        if self.is_bound:
            self.form.errors  # noqa: B018 — validates the form once (cached), so cleaned_data exists
        cleaned = getattr(self.form, "cleaned_data", None) or {}
        return cleaned.get("sort") or DEFAULT_SORT

    @property
    def ordering(self) -> tuple[str, str]:
        return SORTS[self.sort_value][1]

    def filter_sort(self, queryset, name, value):
        return queryset  # applied last, in filter_queryset, so that it holds for every combination

    def filter_queryset(self, queryset):
        # The search goes last, so that it sees (and its count witness keeps) every other filter.
        self.count_witness = None
        cleaned = self.form.cleaned_data
        for name, value in cleaned.items():
            if name != "q":
                queryset = self.filters[name].filter(queryset, value)
        if "q" in cleaned:
            queryset = self.filters["q"].filter(queryset, cleaned["q"])
        return queryset.order_by(*self.ordering)

    # -- filters

    def filter_from(self, queryset, name, value):
        return queryset.filter(**{f"{name}__gte": _day_start(value)})

    def filter_to(self, queryset, name, value):
        return queryset.filter(**{f"{name}__lt": _day_start(value + dt.timedelta(days=1))})

    def filter_customer(self, queryset, name, value):
        value = value.strip()
        customers = Customer.objects.filter(Q(pk=value) | Q(source_id=value) | Q(email__iexact=value))
        return queryset.filter(customer_id__in=customers.order_by().values("pk"))

    def filter_product(self, queryset, name, value):
        value = value.strip()
        # The catalog rows first (ids and source ids are indexed there; one query for products and SKUs),
        # then the items by their indexed product/SKU columns. A SKU's items carry its product too, so a
        # product matches the orders of all its SKUs.
        named = Q(pk=value) | Q(source_id=value)
        catalog = (
            Product.objects.filter(named)
            .order_by()
            .annotate(kind=Value("product"))
            .values_list("pk", "kind")
            .union(SKU.objects.filter(named).order_by().annotate(kind=Value("sku")).values_list("pk", "kind"))
            .order_by()
        )
        found = list(catalog)
        products = [pk for pk, kind in found if kind == "product"]
        skus = [pk for pk, kind in found if kind == "sku"]
        if not found:
            return queryset.none()
        items = OrderItem.objects.filter(Q(product_id__in=products) | Q(sku_id__in=skus)).order_by()
        # Few matching items: take their orders by primary key (cost ∝ matches). Many: walk the orders in
        # list order and keep those with such an item (EXISTS), which finds a page quickly because matches
        # are dense. The database's own choice between the two misjudges the cost of the per-order probes.
        if items[: PRODUCT_ITEMS_LIST_LIMIT + 1].count() <= PRODUCT_ITEMS_LIST_LIMIT:
            # the LIMIT keeps the subquery apart (PostgreSQL does not flatten it into a semi-join)
            return queryset.filter(pk__in=items.values("order_id")[: PRODUCT_ITEMS_LIST_LIMIT + 1])
        return queryset.filter(Exists(items.filter(order=OuterRef("pk"))))

    def filter_metadata(self, queryset, name, conditions):
        for condition in conditions:
            value = condition.value if condition.defined else condition.raw
            queryset = queryset.filter(JSONKeyMatches("metadata", condition.key, value, in_array=condition.is_array))
        return queryset

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        exact = Q(pk=value) | Q(source_id=value)
        if len(value) < SEARCH_MIN_CONTAINS:
            return queryset.filter(exact)  # too short to search names and emails (the page says so)
        # Customers first (pg_trgm indexes on PostgreSQL serve these contains-searches), then their orders,
        # in the cheapest of three ways by how many customers match:
        # - a few: a list of their ids, so the database combines three index scans (order id, source id,
        #   orders.customer_id);
        # - many: a subquery the database hashes once, then tests the orders in list order against it;
        # - most (a fragment like "example"): no customer set at all; each order's customer is tested as
        #   the orders are walked in list order, which finds a page at once because matches are dense.
        customers = Customer.objects.filter(Q(name__icontains=value) | Q(email__icontains=value)).order_by()
        ids = list(customers.values_list("pk", flat=True)[: CUSTOMER_SEARCH_LIST_LIMIT + 1])
        if len(ids) <= CUSTOMER_SEARCH_LIST_LIMIT:
            return queryset.filter(exact | Q(customer_id__in=ids)) if ids else queryset.filter(exact)
        if customers.values("pk")[: CUSTOMER_SEARCH_SUBQUERY_LIMIT + 1].count() <= CUSTOMER_SEARCH_SUBQUERY_LIMIT:
            # Counting these orders means testing orders one by one until the cap; the orders of the
            # customers found so far are a subset that the customer index counts at once, and usually
            # enough to tell that there are more orders than the list counts exactly.
            self.count_witness = queryset.filter(customer_id__in=ids)
            return queryset.filter(exact | Q(customer_id__in=customers.values("pk")))
        return queryset.filter(exact | Q(customer__name__icontains=value) | Q(customer__email__icontains=value))

    # -- what is in effect

    def _chips(self, name: str, label: str, value) -> list[ActiveFilter]:
        if name == "status":  # one chip per status, by its label
            labels = dict(OrderStatus.choices)
            return [ActiveFilter(name, label, str(labels[v]), name, v) for v in value]
        return super()._chips(name, label, value)


def register_order_filter(name: str, filter_: django_filters.Filter, *, describe: Callable[[Any], str] | None = None):
    """Add ``filter_`` as the query parameter ``name`` of every OrderFilterSet made from now on (call it from
    an ``AppConfig.ready()``). Registering the same name again replaces the filter."""
    OrderFilterSet.register(name, filter_, describe)
