"""The segment pages. HTTP only: reads come from ``segments.selectors``, writes go through
``segments.services``.

- ``/segments/``: the list (keyset pages by name);
- ``/segments/new/?type=auto-update|static`` and ``/segments/<id>/edit/``: the form; for an auto-update
  segment it is the builder, whose "Add condition", "Remove" and attribute/operator changes are plain
  submits (htmx swaps only ``#conditions``), and whose member count (``/segments/builder/count/``)
  follows the edits live, debounced;
- ``/segments/<id>/``: the definition in words, the member count, links to the segment's orders and
  customers, the member list (keyset pages, the ``members`` partial for htmx), and for a static segment
  adding (paste or upload) and removing members;
- ``/segments/<id>/export/`` (POST): Export members CSV, streamed by the orders exporter;
- ``/segments/add-customers/?customer=…``: put customers ticked in the customer list into a static
  segment (an existing one or a new one);
- ``/segments/orders/<order id>/``: the order page's Segments tab (``orders.tabs``).
"""

import copy

from django.contrib import messages
from django.db.models import Count as CountOf
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from orders import selectors as order_selectors
from orders.events import Actor
from orders.exceptions import InvalidInput, NotFound
from orders.export import export_filename, export_start, finishes
from orders.models import Customer
from orders.pagination import InvalidCursor, KeysetPaginator
from orders.tabs import render_tab
from orders_dashboard.access import require_perms

from . import builder, selectors, services
from . import export as member_export
from . import language as lang
from .choices import SegmentType
from .forms import MembersForm, SegmentForm, segment_type
from .models import STATIC_MEMBER_LIMIT, Segment

EXPORT = "orders.export_order"
VIEW, ADD, CHANGE, DELETE = (
    "segments.view_segment",
    "segments.add_segment",
    "segments.change_segment",
    "segments.delete_segment",
)
TAB_KEY = "segments"
LIST_PAGE_SIZE = 50
MEMBERS_PAGE_SIZE = 25
CURSOR_SALT = "segments.cursor"
MEMBER_ORDERING = member_export.MEMBER_ORDERING  # biggest spenders first, on the page and in the CSV
MEMBER_FIELDS = (
    "id",
    "source_id",
    "name",
    "email",
    "orders_total_amount",
    "orders_total_count",
    "last_order_amount",
    "last_order_date",
)
# How many picked customers the "add to a segment" page names before "and N more".
PICKED_SHOWN = 20
CONDITIONS_CHANGED = "segment-conditions-changed"


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _segment_or_404(segment_id: str) -> Segment:
    segment = selectors.segment_get(segment_id)
    if segment is None:
        raise Http404(f"No segment with id {segment_id}")
    return segment


def _definition_words(segment: Segment) -> tuple[str, str | None]:
    """(the definition in words, a problem) of an auto-update segment."""
    try:
        return lang.describe(selectors.segment_definition(segment)), None
    except lang.FilterError as problem:
        return "", f"This segment's filter cannot be used any more: {problem}"


# --- the list ---------------------------------------------------------------------------------------------


@require_perms(VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def segment_list(request):
    queryset = Segment.objects.annotate(member_count=CountOf("members"))
    paginator = KeysetPaginator(queryset, per_page=LIST_PAGE_SIZE, ordering=("name", "id"), salt=CURSOR_SALT)
    notices = []
    try:
        page = paginator.page(request.GET.get("cursor"))
    except InvalidCursor as problem:
        notices.append(str(problem))
        page = paginator.page(None)
    rows = []
    for segment in page.object_list:
        words, problem = _definition_words(segment) if not segment.is_static else ("", None)
        rows.append({"segment": segment, "words": words, "problem": problem})
    path = reverse("segments:list")
    context = {
        "rows": rows,
        "page": page,
        "notices": notices,
        "next_url": f"{path}?cursor={page.next_cursor}" if page.next_cursor else None,
        "previous_url": f"{path}?cursor={page.previous_cursor}" if page.previous_cursor else None,
    }
    template = "segments/segment_list.html#results" if _partial(request) else "segments/segment_list.html"
    return render(request, template, context)


@require_perms(VIEW)
@require_safe
def segment_count(request, segment_id: str):
    """The live member count of one segment (the list loads these one by one, after the page)."""
    segment = _segment_or_404(segment_id)
    try:
        count = selectors.segment_member_count(segment)
    except lang.FilterError:
        count = None
    return render(request, "segments/segment_list.html#count", {"segment": segment, "count": count})


# --- the form and the builder ------------------------------------------------------------------------------


@require_perms(VIEW, ADD)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def segment_new(request):
    kind = segment_type(request.GET.get("type") or request.POST.get("type"))
    if kind is None:
        return render(request, "segments/segment_new.html", {})
    return _form_page(request, segment=None, kind=kind)


@require_perms(VIEW, CHANGE)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def segment_edit(request, segment_id: str):
    segment = _segment_or_404(segment_id)
    return _form_page(request, segment=segment, kind=segment.type)


def _form_page(request, *, segment: Segment | None, kind: str):
    metadata_types = selectors.customer_metadata_types()
    form_errors: list[str] = []
    auto = kind == SegmentType.AUTO_UPDATE
    if request.method == "GET":
        form = SegmentForm(initial={"name": segment.name} if segment else None)
        junction, rows = "and", [builder.Row(index=0)]
        if segment is not None and auto:
            try:
                junction, rows = builder.rows_from_filter(segment.filter, metadata_types)
            except lang.FilterError as problem:
                form_errors.append(f"The stored filter cannot be shown as conditions: {problem}")
            form = SegmentForm(initial={"name": segment.name, "junction": junction})
        members_form = MembersForm(required=False)
        return _render_form(request, segment, kind, form, rows, members_form, form_errors, metadata_types)

    form = SegmentForm(request.POST)
    rows = builder.rows_from_post(request.POST, metadata_types) or [builder.Row(index=0)]
    members_form = MembersForm(request.POST, request.FILES, required=False)
    action = None
    if "add_row" in request.POST:
        action, rows = "add", builder.add_row(rows)
    elif "remove_row" in request.POST:
        action, rows = "remove", builder.remove_row(rows, request.POST.get("remove_row"))
    elif "refresh" in request.POST:
        action = "refresh"
    if action:
        if _partial(request):
            context = _conditions_context(rows, segment, kind)
            response = render(request, "segments/segment_form.html#conditions", context)
            return trigger_client_event(response, CONDITIONS_CHANGED, after="settle")  # count the new rows
        return _render_form(request, segment, kind, form, rows, members_form, form_errors, metadata_types)

    saved = _save(request, segment, kind, form, rows, members_form, form_errors, metadata_types)
    if saved is not None:
        url = reverse("segments:detail", args=[saved.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _render_form(request, segment, kind, form, rows, members_form, form_errors, metadata_types)


def _save(request, segment, kind, form, rows, members_form, form_errors, metadata_types) -> Segment | None:
    auto = kind == SegmentType.AUTO_UPDATE
    form_ok = form.is_valid()
    members_ok = auto or segment is not None or members_form.is_valid()
    filter_data = None
    if auto:
        filter_data, loose = builder.build_filter(
            rows, form.cleaned_data.get("junction", "and") if form_ok else "and", metadata_types
        )
        form_errors.extend(loose)
        if filter_data is None:
            form_errors.append("Nothing was saved: correct the conditions marked below.")
            return None
    if not (form_ok and members_ok):
        return None
    try:
        if segment is None:
            saved = services.segment_create(
                name=form.cleaned_data["name"],
                type=kind,
                filter=filter_data,
                customers=[] if auto else members_form.cleaned_data["refs"],
            )
            messages.success(request, f"Segment “{saved.name}” created.")
            return saved
        kwargs = {"name": form.cleaned_data["name"]}
        if auto:
            kwargs["filter"] = filter_data
        saved = services.segment_update(segment=segment.pk, **kwargs)
        messages.success(request, f"Segment “{saved.name}” saved.")
        return saved
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except InvalidInput as exc:
        for path, problems in exc.errors.items():
            target = form if path == "name" else members_form if path == "customers" else None
            for problem in problems:
                if target is not None:
                    target.add_error("name" if path == "name" else None, problem.capitalize())
                else:
                    form_errors.append(problem)
        return None


def _conditions_context(rows, segment, kind) -> dict:
    return {
        "rows": rows,
        "segment": segment,
        "kind": kind,
        "form_url": _form_url(segment, kind),
        "attribute_choices": builder.ATTRIBUTE_CHOICES,
        "max_rows": builder.MAX_ROWS,
    }


def _form_url(segment: Segment | None, kind: str) -> str:
    if segment is not None:
        return reverse("segments:edit", args=[segment.pk])
    return f"{reverse('segments:new')}?type={kind}"


def _live_count(rows, junction: str, metadata_types) -> dict:
    """The builder's count for these rows (on copies: counting marks no row), or why there is none."""
    filter_data, _problems = builder.build_filter(copy.deepcopy(rows), junction, metadata_types)
    if filter_data is None:
        return {"count": None, "count_problem": "Complete the conditions to see how many customers match."}
    definition = lang.parse(filter_data)
    return {"count": selectors.definition_count(definition), "words": lang.describe(definition)}


def _render_form(request, segment, kind, form, rows, members_form, form_errors, metadata_types):
    auto = kind == SegmentType.AUTO_UPDATE
    context = _conditions_context(rows, segment, kind)
    context.update(
        form=form,
        members_form=members_form,
        form_errors=form_errors,
        auto=auto,
        member_limit=STATIC_MEMBER_LIMIT,
        cancel_url=reverse("segments:detail", args=[segment.pk]) if segment else reverse("segments:list"),
    )
    if auto:
        junction = request.POST.get("junction", "and") if request.method == "POST" else _initial_junction(form)
        context.update(_live_count(rows, junction, metadata_types))
    return render(request, "segments/segment_form.html", context)


def _initial_junction(form) -> str:
    return (form.initial or {}).get("junction") or "and"


@require_perms(VIEW)
@require_POST
def builder_count(request):
    """The live member count of the filter being built (posted like the builder form)."""
    metadata_types = selectors.customer_metadata_types()
    rows = builder.rows_from_post(request.POST, metadata_types)
    context = _live_count(rows, request.POST.get("junction", "and"), metadata_types)
    return render(request, "segments/segment_form.html#count", context)


# --- one segment -------------------------------------------------------------------------------------------


@require_perms(VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-Target", "HX-History-Restore-Request")
def segment_detail(request, segment_id: str):
    segment = _segment_or_404(segment_id)
    words, problem = ("", None) if segment.is_static else _definition_words(segment)
    notices = []
    page = count = None
    if problem is None:
        members = selectors.segment_customers(segment).only(*MEMBER_FIELDS)
        paginator = KeysetPaginator(members, per_page=MEMBERS_PAGE_SIZE, ordering=MEMBER_ORDERING, salt=CURSOR_SALT)
        try:
            page = paginator.page(request.GET.get("cursor"))
        except InvalidCursor as exc:
            notices.append(str(exc))
            page = paginator.page(None)
    path = reverse("segments:detail", args=[segment.pk])
    context = {
        "segment": segment,
        "page": page,
        "notices": notices,
        "can_change": request.user.has_perm(CHANGE),
        "first_url": path if page is not None and page.has_previous else None,
        "next_url": f"{path}?cursor={page.next_cursor}" if page is not None and page.next_cursor else None,
        "previous_url": (
            f"{path}?cursor={page.previous_cursor}" if page is not None and page.previous_cursor else None
        ),
    }
    if _partial(request) and request.htmx.target == "members":
        return render(request, "segments/segment_detail.html#members", context)
    if problem is None:
        count = selectors.segment_member_count(segment)
    context.update(
        words=words,
        problem=problem,
        count=count,
        filter_json=segment.filter,
        member_limit=STATIC_MEMBER_LIMIT,
        members_form=MembersForm(),
        can_delete=request.user.has_perm(DELETE),
        can_export=request.user.has_perm(EXPORT),
        can_see_orders=request.user.has_perm("orders.view_order"),
        orders_url=f"{reverse('orders:list')}?segment={segment.pk}",
        customers_url=f"{reverse('customers:list')}?segment={segment.pk}",
    )
    return render(request, "segments/segment_detail.html", context)


@require_perms(VIEW, DELETE)
@require_http_methods(["GET", "POST"])
def segment_delete(request, segment_id: str):
    segment = _segment_or_404(segment_id)
    if request.method == "POST":
        try:
            services.segment_delete(segment=segment.pk)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        messages.success(request, f"Segment “{segment.name}” deleted.")
        return redirect("segments:list")
    return render(request, "segments/segment_delete.html", {"segment": segment})


@require_perms(VIEW, CHANGE)
@require_POST
def segment_members_add(request, segment_id: str):
    """Add pasted and/or uploaded customers to a static segment (all or nothing, see the service)."""
    segment = _segment_or_404(segment_id)
    members_form = MembersForm(request.POST, request.FILES)
    if members_form.is_valid():
        try:
            added = services.segment_add_customers(segment=segment.pk, customers=members_form.cleaned_data["refs"])
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except InvalidInput as exc:
            for problem in exc.errors.get("customers", [exc.message]):
                messages.error(request, f"No customers were added: {problem}.")
        else:
            given = len(members_form.cleaned_data["refs"])
            already = given - added
            note = f" ({already:,} already were)" if already else ""
            messages.success(request, f"{added:,} customer{'s' if added != 1 else ''} added to “{segment.name}”{note}.")
    else:
        for problem in [*members_form.non_field_errors(), *members_form.errors.get("members_file", [])]:
            messages.error(request, f"No customers were added: {problem}")
    return redirect("segments:detail", segment_id=segment.pk)


@require_perms(VIEW, CHANGE)
@require_POST
def segment_members_remove(request, segment_id: str):
    segment = _segment_or_404(segment_id)
    picked = request.POST.getlist("customer")
    if not picked:
        messages.error(request, "Tick the members to remove first.")
        return redirect("segments:detail", segment_id=segment.pk)
    try:
        removed = services.segment_remove_customers(segment=segment.pk, customers=picked)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{removed:,} member{'s' if removed != 1 else ''} removed from “{segment.name}”.")
    return redirect("segments:detail", segment_id=segment.pk)


@require_perms(VIEW, EXPORT)
@require_http_methods(["GET", "POST"])
def segment_export(request, segment_id: str):
    """Export members CSV: the segment's customers now, streamed (a POST, like the orders download; a GET
    goes back to the segment page). Recorded as an export of customers."""
    segment = _segment_or_404(segment_id)
    if request.method != "POST":
        return redirect("segments:detail", segment_id=segment.pk)
    try:
        stream = member_export.member_stream(segment)
    except lang.FilterError as problem:
        messages.error(request, f"This segment's filter cannot be used any more: {problem}")
        return redirect("segments:detail", segment_id=segment.pk)
    export = export_start(
        actor=Actor.for_user(request.user),
        filters=f"segment={segment.pk}",
        fields=list(member_export.MEMBER_FIELDS),
        order=",".join(member_export.MEMBER_ORDERING),
        method=stream.method,
        exported_object="customer",
    )
    stream.on_finish = finishes(export)
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    filename = export_filename(export.created_at, prefix=f"segment-{segment.pk}")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Export-Id"] = export.pk
    return response


# --- from the customer list ------------------------------------------------------------------------------------


@require_perms(VIEW, CHANGE)
@require_http_methods(["GET", "POST"])
def add_customers(request):
    """Customers ticked in the customer list (``?customer=<id>`` repeated) → a static segment: pick one, or
    name a new one. A new one needs ``segments.add_segment`` too."""
    data = request.POST if request.method == "POST" else request.GET
    picked = list(dict.fromkeys(value for value in data.getlist("customer") if value.strip()))[:STATIC_MEMBER_LIMIT]
    static_segments = list(Segment.objects.filter(type=SegmentType.STATIC).order_by("name", "id"))
    can_add = request.user.has_perm(ADD)
    errors: list[str] = []
    chosen = data.get("segment", "")
    new_name = data.get("new_name", "").strip()
    if request.method == "POST":
        if not picked:
            errors.append("No customers were ticked: go back to the customer list and tick some.")
        elif chosen == "__new__" or (not chosen and new_name):
            if not can_add:
                errors.append("Your role cannot create segments; pick an existing one.")
            else:
                try:
                    segment = services.segment_create(name=new_name, type=SegmentType.STATIC, customers=picked)
                except InvalidInput as exc:
                    errors += [
                        f"{path.capitalize()}: {problem}" for path, items in exc.errors.items() for problem in items
                    ]
                else:
                    messages.success(request, f"Segment “{segment.name}” created with {len(picked):,} customers.")
                    return redirect("segments:detail", segment_id=segment.pk)
        elif not chosen:
            errors.append("Pick a segment, or name a new one.")
        else:
            try:
                added = services.segment_add_customers(segment=chosen, customers=picked)
            except NotFound:
                errors.append("That segment no longer exists; pick another one.")
            except InvalidInput as exc:
                errors += [problem for items in exc.errors.values() for problem in items]
            else:
                segment = selectors.segment_get(chosen)
                messages.success(request, f"{added:,} customer{'s' if added != 1 else ''} added to “{segment.name}”.")
                return redirect("segments:detail", segment_id=chosen)
    shown = {c.pk: c for c in Customer.objects.filter(pk__in=picked[:PICKED_SHOWN])}
    context = {
        "picked": picked,
        "shown": [shown[pk] for pk in picked[:PICKED_SHOWN] if pk in shown],
        "more": max(0, len(picked) - PICKED_SHOWN),
        "static_segments": static_segments,
        "chosen": chosen,
        "new_name": new_name,
        "can_add": can_add,
        "errors": errors,
        "back_url": request.META.get("HTTP_REFERER") if _same_site(request) else reverse("customers:list"),
    }
    return render(request, "segments/add_customers.html", context, status=400 if errors else 200)


def _same_site(request) -> bool:
    referer = request.META.get("HTTP_REFERER", "")
    return bool(referer) and url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure())


# --- contributions to the orders pages --------------------------------------------------------------------------


@require_perms("orders.view_order", VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_tab(request, order_id: str):
    """The order page's Segments tab: the segments the order's customer is in now."""
    order = order_selectors.order_get(order_id)
    if order is None:
        raise Http404(f"No order with id {order_id}")
    found = selectors.segments_of_customer(order.customer_id) if order.customer_id else []
    return render_tab(
        request, order=order, key=TAB_KEY, template_name="segments/order_tab.html", context={"segments": found}
    )


def customer_panel_context(request, customer) -> dict:
    """What the customer page's Segments panel shows (registered in SegmentsConfig.ready())."""
    return {"segments": selectors.segments_of_customer(customer.pk)}
