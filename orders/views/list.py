"""The orders list (``/orders/``): one view, three shapes of the same template.

- a normal request gets the whole page;
- an htmx request from the filter form or the pager (target ``#results``) gets the ``results`` partial;
- an htmx request from a link that changes the form's state too (removing a chip, clearing the filters,
  sorting by a column header, a customer link; target ``#listing``) gets the ``listing`` partial: the form
  and the results, so the form never shows filters that are no longer applied.

Everything the list shows comes from the query string, read through ``OrderFilterSet``; pages are keyset
pages (``orders.pagination``); the query string, links and partials work as in every list page
(``orders/views/listing.py``). A constant number of queries whatever the page size: the page of orders
(customers joined; the item count is a column of the order) and a capped count.
"""

from django.views.decorators.vary import vary_on_headers

from orders.filters import DEFAULT_SORT, SEARCH_MIN_CONTAINS, SORTS, OrderFilterSet
from orders.models import Order
from orders.pagination import Count, InvalidCursor, KeysetPaginator, capped_count, estimated_rows
from orders_dashboard.access import require_perms

from .listing import ListPage, page_size

COUNT_CAP = 1000
# Columns a header click sorts by: column → sort value for "high to low / newest first".
SORTABLE_COLUMNS = {"amount": "-amount", "total": "-total", "created": "-created"}
LIST_PAGE = ListPage(
    url_name="orders:list",
    template="orders/order_list.html",
    default_sort=DEFAULT_SORT,
    sorts=SORTS,
    sortable_columns=SORTABLE_COLUMNS,
)

LIST_FIELDS = (
    "id",
    "source_id",
    "status",
    "amount",
    "total_discount_amount",
    "total_amount",
    "items_count",  # the cart's line count, kept on the order by the services
    "created_at",
    "updated_at",
    "customer",
    "customer__name",
    "customer__email",
)


def _count(filterset: OrderFilterSet, queryset) -> Count:
    count = capped_count(queryset, COUNT_CAP, witness=filterset.count_witness)
    if not count.exact and not filterset.has_active_filters():
        # The whole table: PostgreSQL's statistics say roughly how big it is, for free.
        estimate = estimated_rows(Order, using=queryset.db)
        if estimate and estimate > COUNT_CAP:
            return Count(estimate, exact=False, estimated=True)
    return count


@require_perms("orders.view_order")
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def order_list(request):
    query = LIST_PAGE.clean_query(request.GET)
    filterset = OrderFilterSet(query, queryset=Order.objects.all(), request=request)
    per_page, size_problem = page_size(query.get("per_page"))
    notices = [size_problem] if size_problem else []
    if filterset.is_valid() and filterset.search_too_short():
        notices.append(f"Type at least {SEARCH_MIN_CONTAINS} characters to search customer names and emails.")
    page = count = None
    if filterset.is_valid():
        queryset = filterset.qs.select_related("customer").only(*LIST_FIELDS)
        paginator = KeysetPaginator(queryset, per_page=per_page)
        try:
            page = paginator.page(query.get("cursor"))
        except InvalidCursor as problem:
            notices.append(str(problem))
            page = paginator.page(None)
        count = _count(filterset, filterset.qs)
    context = LIST_PAGE.context(query, filterset, page, count, notices, per_page)
    context["text_fields"] = [filterset.form["customer"], filterset.form["product"]]
    return LIST_PAGE.render(request, query, context)
