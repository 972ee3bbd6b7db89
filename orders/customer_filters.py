"""The one ``CustomerFilterSet``: the customer list (``/customers/``), its htmx partial and anything else that
lists customers filter through it (the orders list's ``OrderFilterSet`` is its model).

Query parameters (all optional, all in the query string):

    q=<text>                        exact customer id or source id, or part (3+ characters) of the name or
                                    email, any case
    spent_min / spent_max           total spent (PAID and FULFILLED orders), in currency units ("150.00")
    orders_min / orders_max         number of orders (PAID and FULFILLED)
    last_order_from / last_order_to dates of the last order (YYYY-MM-DD, UTC days, both ends inclusive)
    last_order_within=<N>           the last order is at most N days old
    last_order_older=<N>            the last order is more than N days old (customers who never ordered
                                    have no last order, so they are not "older")
    metadata=<key>=<value>          repeatable, all must hold; typed by the customer metadata schema
    sort=-created (default) | created | -spent | spent | -orders | orders | -last_order | last_order

Sorting by the last order lists only customers who have one (the page says so): a keyset page needs a
value to continue from. Every sort has an index ending in the id (``Customer.Meta.indexes``).

Extending from another app: ``orders`` never imports the apps that build on it, so they add their filters
from their ``AppConfig.ready()``, exactly like ``orders.filters.register_order_filter``::

    from orders.customer_filters import register_customer_filter
    register_customer_filter("segment", SegmentFilter(method=customers_of_segment, label="Segment"),
                             describe=lambda segment: segment.name)
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from .choices import MetadataObject
from .filters import (
    DATE_INPUT,
    MONEY_INPUT,
    SEARCH_MAX_LENGTH,
    SEARCH_MIN_CONTAINS,
    JSONKeyMatches,
    ListFilterSetMixin,
    MetadataFilter,
    MoneyFilter,
    type_metadata_conditions,
)
from .models import Customer

SORTS: dict[str, tuple[str, tuple[str, str]]] = {
    "-created": ("Newest customers first", ("-created_at", "-id")),
    "created": ("Oldest customers first", ("created_at", "id")),
    "-spent": ("Total spent, high to low", ("-orders_total_amount", "-id")),
    "spent": ("Total spent, low to high", ("orders_total_amount", "id")),
    "-orders": ("Most orders first", ("-orders_total_count", "-id")),
    "orders": ("Fewest orders first", ("orders_total_count", "id")),
    "-last_order": ("Last order, newest first", ("-last_order_date", "-id")),
    "last_order": ("Last order, oldest first", ("last_order_date", "id")),
}
DEFAULT_SORT = "-created"
# Sorts on a nullable column: customers without a value are left out of them.
SORTS_WITHOUT_NULLS = frozenset({"-last_order", "last_order"})
MAX_DAYS = 36_500
MAX_ORDERS = 10**9


DAYS_INPUT = forms.NumberInput(attrs={"min": 0, "step": 1, "inputmode": "numeric"})
COUNT_INPUT = forms.NumberInput(attrs={"min": 0, "step": 1, "inputmode": "numeric"})


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


class CustomerFilterForm(forms.Form):
    RANGES = (
        ("spent_min", "spent_max", "Total spent"),
        ("orders_min", "orders_max", "Number of orders"),
        ("last_order_from", "last_order_to", "Last order"),
    )

    def clean_metadata(self):
        return type_metadata_conditions(self.cleaned_data.get("metadata") or [], MetadataObject.CUSTOMER)

    def clean_q(self):
        return (self.cleaned_data.get("q") or "").strip()

    def clean(self):
        cleaned = super().clean()
        for low, high, label in self.RANGES:
            start, end = cleaned.get(low), cleaned.get(high)
            if start is not None and end is not None and start > end:
                self.add_error(high, f"{label}: the end of the range is before its start.")
        return cleaned


class CustomerFilterSet(ListFilterSetMixin, django_filters.FilterSet):
    # Filters registered by other apps (register_customer_filter): name → describe(cleaned value) or None.
    registered: dict[str, Callable[[Any], str] | None] = {}
    list_name = "customer list"
    MONEY_FILTERS = frozenset({"spent_min", "spent_max"})

    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        max_length=SEARCH_MAX_LENGTH,
        help_text="Customer id, source id, name or email",
    )
    spent_min = MoneyFilter(
        field_name="orders_total_amount", lookup_expr="gte", label="Total spent from", widget=MONEY_INPUT
    )
    spent_max = MoneyFilter(
        field_name="orders_total_amount", lookup_expr="lte", label="Total spent to", widget=MONEY_INPUT
    )
    orders_min = IntegerFilter(
        field_name="orders_total_count", lookup_expr="gte", label="Orders from", min_value=0, max_value=MAX_ORDERS,
        widget=COUNT_INPUT,
    )  # fmt: skip
    orders_max = IntegerFilter(
        field_name="orders_total_count", lookup_expr="lte", label="Orders to", min_value=0, max_value=MAX_ORDERS,
        widget=COUNT_INPUT,
    )  # fmt: skip
    last_order_from = django_filters.DateFilter(
        method="filter_from", field_name="last_order_date", label="Last order from", widget=DATE_INPUT
    )
    last_order_to = django_filters.DateFilter(
        method="filter_to", field_name="last_order_date", label="Last order to", widget=DATE_INPUT
    )
    last_order_within = IntegerFilter(
        method="filter_within", label="Last order within (days)", min_value=0, max_value=MAX_DAYS, widget=DAYS_INPUT
    )
    last_order_older = IntegerFilter(
        method="filter_older",
        label="Last order more than (days ago)",
        min_value=0,
        max_value=MAX_DAYS,
        widget=DAYS_INPUT,
    )
    metadata = MetadataFilter(method="filter_metadata", label="Metadata", help_text="key=value, e.g. tier=gold")
    sort = django_filters.ChoiceFilter(
        method="filter_sort",
        label="Sort",
        choices=[(value, label) for value, (label, _) in SORTS.items()],
        empty_label=None,
    )

    class Meta:
        model = Customer
        fields: list[str] = []
        form = CustomerFilterForm

    def __init__(self, *args, now: dt.datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    # -- ordering

    @property
    def sort_value(self) -> str:
        if self.is_bound:
            self.form.errors  # noqa: B018 — validates the form once (cached), so cleaned_data exists
        cleaned = getattr(self.form, "cleaned_data", None) or {}
        return cleaned.get("sort") or DEFAULT_SORT

    @property
    def ordering(self) -> tuple[str, str]:
        return SORTS[self.sort_value][1]

    @property
    def skips_nulls(self) -> bool:
        """True when the sort leaves out customers without a last order."""
        return self.sort_value in SORTS_WITHOUT_NULLS

    def filter_sort(self, queryset, name, value):
        return queryset  # applied in filter_queryset, so that it holds for every combination

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.skips_nulls:
            queryset = queryset.filter(last_order_date__isnull=False)
        return queryset.order_by(*self.ordering)

    # -- filters

    def filter_from(self, queryset, name, value):
        return queryset.filter(**{f"{name}__gte": _day_start(value)})

    def filter_to(self, queryset, name, value):
        return queryset.filter(**{f"{name}__lt": _day_start(value + dt.timedelta(days=1))})

    def filter_within(self, queryset, name, value):
        return queryset.filter(last_order_date__gte=self.now - dt.timedelta(days=int(value)))

    def filter_older(self, queryset, name, value):
        return queryset.filter(last_order_date__lt=self.now - dt.timedelta(days=int(value)))

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
            return queryset.filter(exact)
        # On PostgreSQL the trigram indexes of orders.0004 serve these contains-searches.
        return queryset.filter(exact | Q(name__icontains=value) | Q(email__icontains=value))

    # -- what is in effect

    def _describe(self, name: str, value) -> str:
        if name in ("last_order_within", "last_order_older"):
            days = int(value)
            return f"{days:,} day{'' if days == 1 else 's'}"
        if name in ("orders_min", "orders_max"):
            return f"{int(value):,}"
        return super()._describe(name, value)


def register_customer_filter(
    name: str, filter_: django_filters.Filter, *, describe: Callable[[Any], str] | None = None
) -> None:
    """Add ``filter_`` as the query parameter ``name`` of every CustomerFilterSet made from now on (call it
    from an ``AppConfig.ready()``). Registering the same name again replaces the filter."""
    CustomerFilterSet.register(name, filter_, describe)
