"""The customer pages: the list (``/customers/``) and one customer (``/customers/<id>/``).

The list works exactly like the orders list (``orders/views/list.py``): everything it shows comes from the
query string, read through ``CustomerFilterSet``; pages are keyset pages; a normal request gets the whole
page, an htmx request from the filter form or the pager (target ``#results``) the ``results`` partial, and
one from a link that changes the form too (chips, clear, column sort; target ``#listing``) the ``listing``
partial. A constant number of queries whatever the page size.

The customer page shows the profile, the metadata, the order summary (PAID and FULFILLED orders only, as
the services keep it), the customer's orders (keyset pages, the ``orders`` partial for htmx) and the
panels other apps register through ``orders.customer_panels`` (segments adds "Segments").
"""

from urllib.parse import urlencode

from django.http import Http404, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from orders import selectors
from orders.choices import MetadataObject
from orders.customer_filters import DEFAULT_SORT, SORTS, CustomerFilterSet
from orders.customer_panels import actions_for, panels_for
from orders.filters import SEARCH_MIN_CONTAINS
from orders.models import Customer, Order
from orders.pagination import Count, InvalidCursor, KeysetPaginator, capped_count, estimated_rows
from orders_dashboard.access import require_perms

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
ORDERS_PAGE_SIZE = 25
COUNT_CAP = 1000
VIEW_PARAMETERS = ("sort", "per_page")
# Columns a header click sorts by: column → the sort for "high to low / newest first".
SORTABLE_COLUMNS = {"spent": "-spent", "orders": "-orders", "last_order": "-last_order", "created": "-created"}
CURSOR_SALT = "orders.customers.cursor"

LIST_FIELDS = (
    "id",
    "source_id",
    "name",
    "email",
    "created_at",
    "orders_total_amount",
    "orders_total_count",
    "orders_average_amount",
    "last_order_amount",
    "last_order_date",
)
ORDER_FIELDS = ("id", "source_id", "status", "amount", "total_discount_amount", "total_amount", "created_at")


def _clean_query(data: QueryDict) -> QueryDict:
    """The query string without empty values and defaults, so the address bar shows only what differs."""
    defaults = {"sort": DEFAULT_SORT, "per_page": str(DEFAULT_PAGE_SIZE)}
    clean = QueryDict(mutable=True)
    for key, values in data.lists():
        kept = [value for value in values if value.strip() and value != defaults.get(key)]
        if kept:
            clean.setlist(key, kept)
    return clean


def _without(query: QueryDict, key: str, value: str | None = None) -> QueryDict:
    """``query`` minus one value of ``key`` (all of them when ``value`` is None) and minus the cursor."""
    query = query.copy()
    query.pop("cursor", None)
    if value is None:
        query.pop(key, None)
    else:
        values = [v for v in query.getlist(key) if v != value]
        if values:
            query.setlist(key, values)
        else:
            query.pop(key, None)
    return query


def _with_cursor(query: QueryDict, cursor: str) -> QueryDict:
    query = query.copy()
    query["cursor"] = cursor
    return query


def _url(query: QueryDict, name: str = "customers:list", *args) -> str:
    path = reverse(name, args=args)
    return f"{path}?{query.urlencode()}" if query else path


def _page_size(raw: str | None) -> tuple[int, str | None]:
    if not raw:
        return DEFAULT_PAGE_SIZE, None
    try:
        size = int(raw)
    except ValueError:
        size = None
    if size not in PAGE_SIZES:
        return (
            DEFAULT_PAGE_SIZE,
            f"Rows per page can be {', '.join(map(str, PAGE_SIZES))}; showing {DEFAULT_PAGE_SIZE}.",
        )
    return size, None


def _count(filterset: CustomerFilterSet, queryset) -> Count:
    count = capped_count(queryset, COUNT_CAP)
    if not count.exact and not filterset.has_active_filters() and not filterset.skips_nulls:
        estimate = estimated_rows(Customer, using=queryset.db)
        if estimate and estimate > COUNT_CAP:
            return Count(estimate, exact=False, estimated=True)
    return count


def _sort_headers(query: QueryDict, current: str) -> dict[str, dict]:
    headers = {}
    for column, default in SORTABLE_COLUMNS.items():
        bare = default.removeprefix("-")
        if current.removeprefix("-") == bare:
            target = bare if current.startswith("-") else f"-{bare}"
            state = "descending" if current.startswith("-") else "ascending"
        else:
            target, state = default, None
        link = _without(query, "sort")
        if target != DEFAULT_SORT:
            link["sort"] = target
        headers[column] = {"url": _url(link), "state": state, "label": SORTS[target][0]}
    return headers


@require_perms("orders.view_customer")
@require_safe
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def customer_list(request):
    query = _clean_query(request.GET)
    filterset = CustomerFilterSet(query, queryset=Customer.objects.all(), request=request)
    per_page, size_problem = _page_size(query.get("per_page"))
    notices = [size_problem] if size_problem else []
    page = count = None
    if filterset.is_valid():
        if filterset.search_too_short():
            notices.append(f"Type at least {SEARCH_MIN_CONTAINS} characters to search names and emails.")
        queryset = filterset.qs.only(*LIST_FIELDS)
        paginator = KeysetPaginator(queryset, per_page=per_page, salt=CURSOR_SALT, skip_nulls=filterset.skips_nulls)
        try:
            page = paginator.page(query.get("cursor"))
        except InvalidCursor as problem:
            notices.append(str(problem))
            page = paginator.page(None)
        count = _count(filterset, filterset.qs)

    chips = [{"chip": chip, "url": _url(_without(query, chip.param, chip.raw))} for chip in filterset.active_filters()]
    view_only = QueryDict(mutable=True)
    for key in VIEW_PARAMETERS:
        if key in query:
            view_only.setlist(key, query.getlist(key))
    state = _without(query, "cursor")
    form = filterset.form
    context = {
        "filterset": filterset,
        "form": form,
        "range_fields": [{"legend": legend, "low": form[low], "high": form[high]} for low, high, legend in form.RANGES],
        "days_fields": [form["last_order_within"], form["last_order_older"]],
        "extra_fields": [form[name] for name in form.fields if name not in CustomerFilterSet.declared_filters],
        "page": page,
        "count": count,
        "chips": chips,
        "clear_url": _url(view_only),
        "has_filters": bool(chips) or not filterset.is_valid(),
        "skips_nulls": filterset.skips_nulls,
        "notices": notices,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "sort": filterset.sort_value,
        "sort_headers": _sort_headers(state, filterset.sort_value),
        "actions": actions_for(request.user),
        "first_url": _url(state) if page is not None and page.has_previous else None,
        "next_url": _url(_with_cursor(state, page.next_cursor)) if page is not None and page.next_cursor else None,
        "previous_url": (
            _url(_with_cursor(state, page.previous_cursor)) if page is not None and page.previous_cursor else None
        ),
    }
    template = "orders/customer_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#listing" if request.htmx.target == "listing" else "#results"
    response = render(request, template, context)
    if request.htmx:
        push_url(response, _url(query))
    return response


@require_perms("orders.view_customer")
@require_safe
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def customer_detail(request, customer_id: str):
    """The customer's page; an htmx request from its orders pager (target ``#customer-orders``) gets only
    the ``orders`` partial."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise Http404(f"No customer with id {customer_id}")
    notices: list[str] = []
    orders_page = None
    can_see_orders = request.user.has_perm("orders.view_order")
    if can_see_orders:
        paginator = KeysetPaginator(
            Order.objects.filter(customer_id=customer.pk).only(*ORDER_FIELDS),
            per_page=ORDERS_PAGE_SIZE,
            ordering=("-created_at", "-id"),
            salt=CURSOR_SALT,
        )
        try:
            orders_page = paginator.page(request.GET.get("cursor"))
        except InvalidCursor as problem:
            notices.append(str(problem))
            orders_page = paginator.page(None)
    context = {
        "customer": customer,
        "orders_page": orders_page,
        "can_see_orders": can_see_orders,
        "notices": notices,
        "orders_first_url": _detail_url(customer) if orders_page and orders_page.has_previous else None,
        "orders_next_url": (
            _detail_url(customer, orders_page.next_cursor) if orders_page and orders_page.next_cursor else None
        ),
        "orders_previous_url": (
            _detail_url(customer, orders_page.previous_cursor) if orders_page and orders_page.previous_cursor else None
        ),
    }
    partial = request.htmx and not request.htmx.history_restore_request and request.htmx.target == "customer-orders"
    if partial:
        return render(request, "orders/customer_detail.html#orders", context)
    properties = selectors.schema_properties(selectors.metadata_schema(MetadataObject.CUSTOMER))
    context["metadata_entries"] = [
        {"key": key, "value": value, "prop": properties.get(key)} for key, value in sorted(customer.metadata.items())
    ]
    context["panels"] = panels_for(request, customer)
    return render(request, "orders/customer_detail.html", context)


def _detail_url(customer: Customer, cursor: str | None = None) -> str:
    path = reverse("customers:detail", args=[customer.pk])
    return f"{path}?{urlencode({'cursor': cursor})}" if cursor else path
