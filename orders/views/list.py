"""The orders list (``/orders/``): one view, three shapes of the same template.

- a normal request gets the whole page;
- an htmx request from the filter form or the pager (target ``#results``) gets the ``results`` partial;
- an htmx request from a link that changes the form's state too (removing a chip, clearing the filters,
  sorting by a column header, a customer link; target ``#listing``) gets the ``listing`` partial: the form
  and the results, so the form never shows filters that are no longer applied.

Everything the list shows comes from the query string, read through ``OrderFilterSet``; pages are keyset
pages (``orders.pagination``). A constant number of queries whatever the page size: the page of orders
(customers joined), their item counts (one grouped query for the page's ids), and a capped count.
"""

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from orders.filters import DEFAULT_SORT, SEARCH_MIN_CONTAINS, SORTS, OrderFilterSet
from orders.models import Order
from orders.pagination import Count, InvalidCursor, KeysetPaginator, capped_count, estimated_rows
from orders_dashboard.access import require_perms

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
COUNT_CAP = 1000
# Parameters of the list that are not filters: they survive "clear filters" and chip removal.
VIEW_PARAMETERS = ("sort", "per_page")
# Columns a header click sorts by: column → sort value for "high to low / newest first".
SORTABLE_COLUMNS = {"amount": "-amount", "total": "-total", "created": "-created"}

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


def _clean_query(data: QueryDict) -> QueryDict:
    """The query string without empty values and defaults (what a GET form sends for untouched fields), so
    that the address bar and the links show only what differs from the plain list."""
    defaults = {"sort": DEFAULT_SORT, "per_page": str(DEFAULT_PAGE_SIZE)}
    clean = QueryDict(mutable=True)
    for key, values in data.lists():
        kept = [value for value in values if value.strip() and value != defaults.get(key)]
        if kept:
            clean.setlist(key, kept)
    return clean


def _without(query: QueryDict, key: str, value: str | None = None) -> QueryDict:
    """``query`` minus one value of ``key`` (all of its values when ``value`` is None), and minus the cursor:
    a different filter starts the list again."""
    query = query.copy()
    query.pop("cursor", None)
    if value is None:
        query.pop(key, None)
    else:
        values = query.getlist(key)
        if value in values:
            values.remove(value)
        query.setlist(key, values)
        if not values:
            query.pop(key)
    return query


def _url(query: QueryDict) -> str:
    path = reverse("orders:list")
    return f"{path}?{query.urlencode()}" if query else path


def _page_size(raw: str | None) -> tuple[int, str | None]:
    if not raw:
        return DEFAULT_PAGE_SIZE, None
    try:
        size = int(raw)
    except ValueError:
        size = None
    if size not in PAGE_SIZES:
        choices = ", ".join(map(str, PAGE_SIZES))
        return DEFAULT_PAGE_SIZE, f"Rows per page can be {choices}; showing {DEFAULT_PAGE_SIZE}."
    return size, None


def _count(filterset: OrderFilterSet, queryset) -> Count:
    count = capped_count(queryset, COUNT_CAP, witness=filterset.count_witness)
    if not count.exact and not filterset.has_active_filters():
        # The whole table: PostgreSQL's statistics say roughly how big it is, for free.
        estimate = estimated_rows(Order, using=queryset.db)
        if estimate and estimate > COUNT_CAP:
            return Count(estimate, exact=False, estimated=True)
    return count


def _sort_headers(query: QueryDict, current: str) -> dict[str, dict]:
    """For each sortable column: the link that sorts by it (flipping the direction when it is the current
    sort) and its aria-sort state."""
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


@require_perms("orders.view_order")
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def order_list(request):
    query = _clean_query(request.GET)
    filterset = OrderFilterSet(query, queryset=Order.objects.all(), request=request)
    per_page, size_problem = _page_size(query.get("per_page"))
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

    chips = [{"chip": chip, "url": _url(_without(query, chip.param, chip.raw))} for chip in filterset.active_filters()]
    view_only = QueryDict(mutable=True)
    for key in VIEW_PARAMETERS:
        if key in query:
            view_only.setlist(key, query.getlist(key))
    state = _without(query, "cursor")  # the view without its position: what pager links add a cursor to
    form = filterset.form
    context = {
        "filterset": filterset,
        "form": form,
        "range_fields": [{"legend": legend, "low": form[low], "high": form[high]} for low, high, legend in form.RANGES],
        "text_fields": [form["customer"], form["product"]],
        # Filters other apps registered (orders.filters.register_order_filter) render generically.
        "extra_fields": [form[name] for name in form.fields if name not in OrderFilterSet.declared_filters],
        "page": page,
        "count": count,
        "chips": chips,
        "clear_url": _url(view_only),
        "has_filters": bool(chips) or not filterset.is_valid(),
        "notices": notices,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "sort": filterset.sort_value,
        "sort_headers": _sort_headers(state, filterset.sort_value),
        "first_url": _url(state) if page is not None and page.has_previous else None,
        "next_url": _url(_with_cursor(state, page.next_cursor)) if page is not None and page.next_cursor else None,
        "previous_url": (
            _url(_with_cursor(state, page.previous_cursor)) if page is not None and page.previous_cursor else None
        ),
    }

    template = "orders/order_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#listing" if request.htmx.target == "listing" else "#results"
    response = render(request, template, context)
    if request.htmx:
        # The form sends its empty fields too; the address bar gets the tidy URL of the same view.
        push_url(response, _url(query))
    return response


def _with_cursor(query: QueryDict, cursor: str) -> QueryDict:
    query = query.copy()
    query["cursor"] = cursor
    return query
