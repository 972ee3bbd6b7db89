"""What the orders list and the customer list share: a list page whose whole state is its query string.

``ListPage`` knows one list's URL name, default sort, sorts and sortable columns, and builds from the
request's query string what both pages need: the tidy query (no empty values, no defaults), the page size,
the links (chips that drop one filter, "clear filters", column sorts, pager) and the response (the whole
page, or for htmx the ``listing`` or ``results`` partial, with the tidy URL pushed to the address bar).
"""

from dataclasses import dataclass

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django_htmx.http import push_url

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
# Parameters of a list that are not filters: they survive "clear filters" and chip removal.
VIEW_PARAMETERS = ("sort", "per_page")


def without(query: QueryDict, key: str, value: str | None = None) -> QueryDict:
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


def with_cursor(query: QueryDict, cursor: str) -> QueryDict:
    query = query.copy()
    query["cursor"] = cursor
    return query


def page_size(raw: str | None) -> tuple[int, str | None]:
    """The rows per page asked for, or the default and a notice saying why."""
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


@dataclass(frozen=True)
class ListPage:
    url_name: str
    template: str
    default_sort: str
    sorts: dict  # sort value → (label, ordering)
    sortable_columns: dict[str, str]  # column → the sort of "high to low / newest first"

    def clean_query(self, data: QueryDict) -> QueryDict:
        """The query string without empty values and defaults (what a GET form sends for untouched fields),
        so that the address bar and the links show only what differs from the plain list."""
        defaults = {"sort": self.default_sort, "per_page": str(DEFAULT_PAGE_SIZE)}
        clean = QueryDict(mutable=True)
        for key, values in data.lists():
            kept = [value for value in values if value.strip() and value != defaults.get(key)]
            if kept:
                clean.setlist(key, kept)
        return clean

    def url(self, query: QueryDict) -> str:
        path = reverse(self.url_name)
        return f"{path}?{query.urlencode()}" if query else path

    def sort_headers(self, query: QueryDict, current: str) -> dict[str, dict]:
        """For each sortable column: the link that sorts by it (flipping the direction when it is the current
        sort) and its aria-sort state."""
        headers = {}
        for column, default in self.sortable_columns.items():
            bare = default.removeprefix("-")
            if current.removeprefix("-") == bare:
                target = bare if current.startswith("-") else f"-{bare}"
                state = "descending" if current.startswith("-") else "ascending"
            else:
                target, state = default, None
            link = without(query, "sort")
            if target != self.default_sort:
                link["sort"] = target
            headers[column] = {"url": self.url(link), "state": state, "label": self.sorts[target][0]}
        return headers

    def context(self, query: QueryDict, filterset, page, count, notices: list[str], per_page: int) -> dict:
        """The context both list templates read: the filter set and its form, the page, the count, the chips
        and every link."""
        chips = [
            {"chip": chip, "url": self.url(without(query, chip.param, chip.raw))} for chip in filterset.active_filters()
        ]
        view_only = QueryDict(mutable=True)
        for key in VIEW_PARAMETERS:
            if key in query:
                view_only.setlist(key, query.getlist(key))
        state = without(query, "cursor")  # the view without its position: what pager links add a cursor to
        form = filterset.form
        return {
            "filterset": filterset,
            "form": form,
            "range_fields": [
                {"legend": legend, "low": form[low], "high": form[high]} for low, high, legend in form.RANGES
            ],
            # Filters other apps registered (ListFilterSetMixin.register) render generically.
            "extra_fields": [form[name] for name in form.fields if name not in type(filterset).declared_filters],
            "page": page,
            "count": count,
            "chips": chips,
            "clear_url": self.url(view_only),
            "has_filters": bool(chips) or not filterset.is_valid(),
            "notices": notices,
            "per_page": per_page,
            "page_sizes": PAGE_SIZES,
            "sort": filterset.sort_value,
            "sort_headers": self.sort_headers(state, filterset.sort_value),
            "first_url": self.url(state) if page is not None and page.has_previous else None,
            "next_url": self.url(with_cursor(state, page.next_cursor))
            if page is not None and page.next_cursor
            else None,
            "previous_url": (
                self.url(with_cursor(state, page.previous_cursor))
                if page is not None and page.previous_cursor
                else None
            ),
        }

    def render(self, request, query: QueryDict, context: dict):
        """The whole page; for htmx the ``listing`` partial (form and results: a link that changes the form
        too) or the ``results`` partial, with the tidy URL of the same view pushed to the address bar."""
        template = self.template
        if request.htmx and not request.htmx.history_restore_request:
            template += "#listing" if request.htmx.target == "listing" else "#results"
        response = render(request, template, context)
        if request.htmx:
            push_url(response, self.url(query))
        return response
