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

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from orders import selectors
from orders.choices import MetadataObject
from orders.customer_filters import DEFAULT_SORT, SORTS, CustomerFilterSet
from orders.customer_panels import actions_for, panels_for
from orders.filters import SEARCH_MIN_CONTAINS
from orders.models import Customer, Order
from orders.pagination import Count, InvalidCursor, KeysetPaginator, capped_count, estimated_rows
from orders_dashboard.access import require_perms

from .listing import ListPage, page_size

ORDERS_PAGE_SIZE = 25
COUNT_CAP = 1000
# Columns a header click sorts by: column → the sort for "high to low / newest first".
SORTABLE_COLUMNS = {"spent": "-spent", "orders": "-orders", "last_order": "-last_order", "created": "-created"}
CURSOR_SALT = "orders.customers.cursor"
LIST_PAGE = ListPage(
    url_name="customers:list",
    template="orders/customer_list.html",
    default_sort=DEFAULT_SORT,
    sorts=SORTS,
    sortable_columns=SORTABLE_COLUMNS,
)

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


def _count(filterset: CustomerFilterSet, queryset) -> Count:
    count = capped_count(queryset, COUNT_CAP)
    if not count.exact and not filterset.has_active_filters() and not filterset.skips_nulls:
        estimate = estimated_rows(Customer, using=queryset.db)
        if estimate and estimate > COUNT_CAP:
            return Count(estimate, exact=False, estimated=True)
    return count


@require_perms("orders.view_customer")
@require_safe
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def customer_list(request):
    query = LIST_PAGE.clean_query(request.GET)
    filterset = CustomerFilterSet(query, queryset=Customer.objects.all(), request=request)
    per_page, size_problem = page_size(query.get("per_page"))
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
    context = LIST_PAGE.context(query, filterset, page, count, notices, per_page)
    context["days_fields"] = [filterset.form["last_order_within"], filterset.form["last_order_older"]]
    context["skips_nulls"] = filterset.skips_nulls
    context["actions"] = actions_for(request.user)
    return LIST_PAGE.render(request, query, context)


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
