"""The CSV export of the orders list (DESIGN §5 "Export"); the exporter itself is ``orders/export.py``.

- ``GET /orders/export/dialog/?<list filters>``: the field picker. For htmx (the list's "Export CSV") the
  ``dialog`` partial, a modal ``<dialog>``; without JavaScript the same form on a page of its own.
- ``POST /orders/export/dialog/?…``: moves a field up or down, or adds a ``metadata.<key>`` column, and
  renders the picker again (its ``picker`` partial for htmx). Nothing is saved.
- ``POST /orders/export/?<list filters>`` with ``fields=…`` (in their order): the download, a streamed CSV
  of exactly what the list's ``OrderFilterSet`` selects, in the list's sort, recorded as an ``Export`` (the
  chosen fields are remembered through it). A GET there shows the picker: a download is a POST.
- ``GET /orders/exports/``: Admins' list of exports (who, when, what, how many rows, how it went), the API's
  export jobs included, with a link to the stored CSV of a finished job.
- ``GET /orders/exports/<id>/download/``: that CSV (whoever may export orders may download it).

The filters travel in the query string exactly as on the list, so the list's URL, the dialog's and the
download's select the same rows.
"""

import hashlib
from dataclasses import dataclass

from django.http import Http404, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from orders.events import Actor
from orders.export import (
    METADATA_PREFIX,
    ORDER_FIELDS,
    CSVStream,
    check_order_fields,
    export_filename,
    export_start,
    finishes,
    last_export_fields,
    order_columns,
    order_metadata_keys,
)
from orders.export_jobs import export_file_response
from orders.filters import DEFAULT_SORT, SORTS, OrderFilterSet
from orders.models import Export, ExportStatus, Order
from orders.pagination import InvalidCursor, KeysetPaginator, capped_count
from orders_dashboard.access import require_perms

TEMPLATE = "orders/export_dialog.html"
VIEW, EXPORT = "orders.view_order", "orders.export_order"
# The dialog says how many orders the export holds: exactly up to this many, "more than" past it.
COUNT_CAP = 10_000
# Ticked the first time (before the user has exported anything): every order field but the JSON object.
DEFAULT_FIELDS = [field for field in ORDER_FIELDS if field != "metadata"]
LABELS = {
    "id": "Order id",
    "source_id": "Source id",
    "created_at": "Created",
    "updated_at": "Updated",
    "status": "Status",
    "amount": "Amount",
    "discount_amount": "Order discount",
    "items_discount_amount": "Items discount",
    "total_discount_amount": "Total discount",
    "total_amount": "Total",
    "customer_id": "Customer id",
    "referrer_id": "Referrer id",
    "metadata": "Metadata (JSON object)",
}
# Parameters of the list that do not select rows.
NOT_FILTERS = ("cursor", "per_page")


@dataclass(frozen=True)
class PickerField:
    name: str
    checked: bool

    @property
    def label(self) -> str:
        if self.name.startswith(METADATA_PREFIX):
            return f"Metadata: {self.name.removeprefix(METADATA_PREFIX)}"
        return LABELS.get(self.name, self.name)

    @property
    def dom_id(self) -> str:
        # Metadata keys may hold any character; ids must not. Stable per name, so focus follows a moved field.
        return "xf-" + hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:12]


def _list_query(data: QueryDict) -> QueryDict:
    """The filters and sort of the list, without empty values, the default sort and the list's paging."""
    query = QueryDict(mutable=True)
    for key, values in data.lists():
        if key in NOT_FILTERS:
            continue
        kept = [value for value in values if value.strip() and not (key == "sort" and value == DEFAULT_SORT)]
        if kept:
            query.setlist(key, kept)
    return query


def _with_query(name: str, query: QueryDict) -> str:
    path = reverse(name)
    return f"{path}?{query.urlencode()}" if query else path


def _valid_name(name: str) -> bool:
    try:
        check_order_fields([name])
    except ValueError:
        return False
    return True


def _initial_fields(user, keys: list[str]) -> list[PickerField]:
    """The remembered choice first (in its order), then the other fields and the offered metadata keys."""
    remembered = [name for name in (last_export_fields(user) or []) if _valid_name(name)]
    checked = remembered or DEFAULT_FIELDS
    names = list(dict.fromkeys([*remembered, *ORDER_FIELDS, *(METADATA_PREFIX + key for key in keys)]))
    return [PickerField(name, name in checked) for name in names]


def _posted_fields(post: QueryDict) -> tuple[list[PickerField], str | None]:
    """The picker as posted (``order``: every field in its place, ``fields``: the ticked ones), with the
    move or the added metadata key applied; and a problem to show, if any."""
    names = [name for name in dict.fromkeys(post.getlist("order")) if _valid_name(name)]
    checked = set(post.getlist("fields"))
    names += [name for name in ORDER_FIELDS if name not in names]
    problem = None
    if "add_key" in post:
        key = post.get("metadata_key", "").strip()
        name = METADATA_PREFIX + key
        if not key:
            problem = "Type the metadata key to add as a column."
        elif not _valid_name(name):
            problem = f"“{key}” cannot be a column: metadata keys have at most 100 characters."
        else:
            if name not in names:
                names.append(name)
            checked.add(name)
    direction, _, target = post.get("move", "").partition(":")
    if target in names and direction in ("up", "down"):
        index = names.index(target)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(names):
            names[index], names[other] = names[other], names[index]
    return [PickerField(name, name in checked) for name in names], problem


def _context(request, query: QueryDict, filterset: OrderFilterSet, fields: list[PickerField], **extra) -> dict:
    valid = filterset.is_valid()
    return {
        "filterset": filterset,
        "form": filterset.form,
        "valid": valid,
        "fields": fields,
        "chips": filterset.active_filters() if valid else [],
        "count": capped_count(filterset.qs, COUNT_CAP) if valid else None,
        "sort_label": SORTS[filterset.sort_value][0],
        "export_url": _with_query("orders:export", query),
        "dialog_url": _with_query("orders:export_dialog", query),
        "back_url": _with_query("orders:list", query),
        "can_see_exports": request.user.has_perm("orders.view_export"),
        **extra,
    }


def _filterset(request, query: QueryDict) -> OrderFilterSet:
    return OrderFilterSet(query, queryset=Order.objects.all(), request=request)


@require_perms(VIEW, EXPORT)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request", "HX-Target")
def export_dialog(request):
    query = _list_query(request.GET)
    filterset = _filterset(request, query)
    problem = None
    if request.method == "POST":
        fields, problem = _posted_fields(request.POST)
    else:
        keys = order_metadata_keys(filterset.qs) if filterset.is_valid() else []
        fields = _initial_fields(request.user, keys)
    context = _context(request, query, filterset, fields, problem=problem, as_dialog=bool(request.htmx))
    template = TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        template += "#picker" if request.htmx.target == "export-form" else "#dialog"
    return render(request, template, context)


@require_perms(VIEW, EXPORT)
@require_http_methods(["GET", "POST"])
def order_export(request):
    query = _list_query(request.GET)
    if request.method != "POST":
        return HttpResponseRedirect(_with_query("orders:export_dialog", query))
    filterset = _filterset(request, query)
    problem = None
    try:
        names = check_order_fields(request.POST.getlist("fields"))
    except ValueError as error:
        names, problem = [], str(error)
    if problem or not filterset.is_valid():
        # Back to the picker, with what was chosen and what is wrong (the filters' errors show there too).
        fields, _ = _posted_fields(request.POST)
        context = _context(request, query, filterset, fields, problem=problem, as_dialog=False)
        return render(request, TEMPLATE, context, status=400)

    stream = CSVStream(filterset.qs, order_columns(names))
    export = export_start(
        actor=Actor.for_user(request.user),
        filters=query.urlencode(),
        fields=names,
        order=filterset.sort_value,
        method=stream.method,
    )
    stream.on_finish = finishes(export)
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(export.created_at)}"'
    response["Cache-Control"] = "no-store"
    response["X-Export-Id"] = export.pk
    return response


EXPORTS_PER_PAGE = 50


@require_perms("orders.view_export")
@require_safe
def export_list(request):
    paginator = KeysetPaginator(
        Export.objects.all(), per_page=EXPORTS_PER_PAGE, ordering=("-created_at", "-id"), salt="orders.exports"
    )
    notice = None
    try:
        page = paginator.page(request.GET.get("cursor"))
    except InvalidCursor as error:
        notice, page = str(error), paginator.page(None)
    rows = [
        {
            "export": export,
            "filters": list(QueryDict(export.filters).lists()) if export.exported_object == "order" else [],
            "list_url": _with_query("orders:list", QueryDict(export.filters))
            if export.exported_object == "order"
            else None,
            "download_url": reverse("orders:export_download", args=[export.pk])
            if export.status == ExportStatus.DONE and export.file
            else None,
        }
        for export in page.object_list
    ]
    return render(
        request,
        "orders/export_list.html",
        {
            "page": page,
            "rows": rows,
            "notice": notice,
            "next_url": _page_url(page.next_cursor),
            "previous_url": _page_url(page.previous_cursor),
        },
    )


@require_perms(VIEW, EXPORT)
@require_safe
def export_download(request, export_id: str):
    """The stored CSV of a finished export job (an API export); dashboard downloads keep no file."""
    export = get_object_or_404(Export, pk=export_id, status=ExportStatus.DONE)
    if not export.file:
        raise Http404("This export kept no file.")
    try:
        return export_file_response(export)
    except FileNotFoundError:
        raise Http404("The export's file is no longer stored.") from None


def _page_url(cursor: str | None) -> str | None:
    if not cursor:
        return None
    query = QueryDict(mutable=True)
    query["cursor"] = cursor
    return _with_query("orders:exports", query)
