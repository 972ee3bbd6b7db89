"""The "+" form (DESIGN §5): a new order (``orders:new``), the same form for an existing one
(``orders:edit``), and its htmx helpers: live totals, one more item/metadata row, customer and catalog
lookups. HTTP only: orders.forms parses and maps errors, orders.services writes.

Everything works without JavaScript: the "Add item", "Remove", "Find" and pick buttons are submit buttons
that post the whole form back to the page, which renders it again from what was typed plus the change.
With htmx the same buttons fetch just a row, a list of matches or the totals box instead.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from orders import services
from orders.events import Actor
from orders.exceptions import InvalidInput, InvalidStatusTransition, OrdersError, VersionConflict
from orders.forms import (
    BLANK_ITEM,
    ITEMS,
    METADATA,
    FormState,
    ItemForm,
    ItemRow,
    MetadataRow,
    MetadataRowForm,
    OrderEditor,
    Picker,
    apply_action,
    blank_state,
    catalog_matches,
    catalog_objects,
    customer_matches,
    order_metadata_schema,
    order_state,
    pick_catalog_item,
    requested_action,
)
from orders.metadata import MAX_KEYS
from orders.models import Customer, Order
from orders_dashboard.access import require_perms

TEMPLATE = "orders/order_form.html"
FORM_PERMS = ("orders.add_order", "orders.change_order")


def require_any_perm(*perms: str) -> Callable:
    """Signed in (else the login page) and holding at least one of ``perms`` (else 403). The form's
    helpers serve both the new-order form and the edit form, so either right is enough for them."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not any(request.user.has_perm(perm) for perm in perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


# --- the page ----------------------------------------------------------------------------------------


@require_perms("orders.add_order")
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def order_new(request):
    return _form_page(request, order=None)


@require_perms("orders.change_order")
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def order_edit(request, order_id: str):
    order = get_object_or_404(Order.objects.select_related("customer", "referrer"), pk=order_id)
    return _form_page(request, order=order)


def _form_page(request, *, order: Order | None):
    schema = order_metadata_schema()
    if request.method == "GET":
        state = order_state(order) if order else blank_state(schema)
        editor = OrderEditor(state=state, order=order, schema=schema)
        return _render_page(request, editor, totals=_stored_totals(order))

    if action := requested_action(request.POST):
        # A form-changing button: render the form again with the change, keeping every value typed.
        state = apply_action(FormState.from_data(request.POST), request.POST, action)
        editor = OrderEditor(state=state, order=order, schema=schema).search()
        totals = _preview(OrderEditor(state.as_data(), order=order, schema=schema))
        return _render_page(request, editor, totals=totals)

    editor = OrderEditor(request.POST, order=order, schema=schema)
    if editor.is_valid() and editor.check_for_save():
        saved = _save(request, editor, order)
        if saved is not None:
            messages.success(request, saved[1])
            url = reverse("orders:detail", args=[saved[0].pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _render_page(request, editor, totals={"hints": ["Fix the marked fields to see the totals."]})


def _save(request, editor: OrderEditor, order: Order | None) -> tuple[Order, str] | None:
    """Create or update through the services; on refusal, mark the fields and return None."""
    actor = Actor.for_user(request.user)
    try:
        if order is None:
            created = services.order_create(actor=actor, **editor.service_kwargs())
            return created, f"Order {created.source_id or created.pk} created."
        kwargs = editor.update_kwargs()
        updated = services.order_update(order=order.pk, actor=actor, **kwargs)
        if kwargs["version"] is not None and updated.version == kwargs["version"]:
            return updated, f"Order {updated.source_id or updated.pk}: nothing changed."
        return updated, f"Order {updated.source_id or updated.pk} saved."
    except VersionConflict as exc:
        editor.stale = True
        editor.version_override = exc.actual
        editor.general_errors.append(
            f"Someone else changed this order while you were editing it (you started from version {exc.expected}, "
            f"it is now at version {exc.actual}). Your values are kept below: check the order's current state, "
            "then save again to apply them."
        )
    except InvalidStatusTransition as exc:
        editor.header.add_error("status", exc.message)
    except InvalidInput as exc:
        existing = getattr(exc, "existing_id", None)
        if existing:
            editor.mark_duplicate(existing)
        else:
            editor.add_service_errors(exc.errors)
    return None


def _render_page(request, editor: OrderEditor, *, totals: dict):
    order = editor.order
    context = {
        "editor": editor,
        "order": order,
        "totals": totals,
        "form_action": reverse("orders:edit", args=[order.pk]) if order else reverse("orders:new"),
        "max_items": settings.ORDERS_MAX_ITEMS,
    }
    template = f"{TEMPLATE}#form_body" if request.htmx else TEMPLATE
    return render(request, template, context)


# --- totals ------------------------------------------------------------------------------------------


TOTALS = ("amount", "items_discount_amount", "discount_amount", "total_discount_amount", "total_amount")


def _stored_totals(order: Order | None) -> dict:
    """The totals box of a freshly opened form: zero for a new order, the saved amounts for an existing one."""
    if order is None:
        return {"amounts": dict.fromkeys(TOTALS, 0), "lines": []}
    return {"amounts": {name: getattr(order, name) for name in TOTALS}, "lines": [], "stored": True}


def _preview(editor: OrderEditor, *, exclude_item: int | None = None) -> dict:
    """The totals box: what ``services.order_preview`` computes for the form, or why it cannot yet."""
    if not editor.is_valid():
        return {"hints": editor.error_hints()}
    try:
        result = services.order_preview(**editor.preview_kwargs(exclude_item))
    except InvalidInput as exc:
        editor.add_service_errors(exc.errors)
        return {"hints": editor.error_hints()}
    except OrdersError as exc:
        return {"hints": [exc.message]}
    rows = editor.service_row_indexes
    lines = [{**line, "row": rows[line["position"]]} for line in result.pop("items")]
    return {"amounts": result, "lines": lines}


@require_any_perm(*FORM_PERMS)
@require_POST
def order_form_totals(request):
    """The totals box for the form as posted (htmx, as the user types). ``remove_item=n`` (the Remove
    button of row n, which htmx deletes from the page) computes them without that row."""
    editor = OrderEditor(request.POST, schema=order_metadata_schema())
    exclude = request.POST.get("remove_item")
    exclude_item = int(exclude) if exclude and exclude.isdigit() else None
    totals = _preview(editor, exclude_item=exclude_item)
    context = {"totals": totals, "oob": "remove_item" in request.POST or "remove_metadata" in request.POST}
    return render(request, f"{TEMPLATE}#totals", context)


# --- one more row ------------------------------------------------------------------------------------


@require_any_perm(*FORM_PERMS)
@require_GET
def order_form_item_row(request):
    """One item row (htmx). A new row: ``items-TOTAL_FORMS`` says its number, and the response also
    replaces the management form's count (out of band). ``index`` + ``pick=<product/SKU id>`` (or
    ``clear=1``): row ``index`` again with its typed values and that catalog item picked (or unpicked).
    ``kind=metadata``: a new metadata row the same way."""
    kind = request.GET.get("kind", ITEMS)
    if kind not in (ITEMS, METADATA):
        return HttpResponseBadRequest("kind must be items or metadata")
    limit = settings.ORDERS_MAX_ITEMS if kind == ITEMS else MAX_KEYS
    if "index" in request.GET and kind == ITEMS:
        index = _int_param(request.GET.get("index"), limit)
        if index is None:
            return HttpResponseBadRequest("index must be a row number")
        row = {name: request.GET.get(f"{ITEMS}-{index}-{name}", "") for name in ItemForm.base_fields}
        if "pick" in request.GET:
            pick_catalog_item(row, request.GET["pick"])
        elif "clear" in request.GET:
            row["catalog_id"] = ""
        form = ItemForm(prefix=f"{ITEMS}-{index}", initial=row, empty_permitted=True, use_required_attribute=False)
        item = ItemRow(form=form, index=index, catalog=catalog_objects([row["catalog_id"]]).get(row["catalog_id"]))
        response = render(request, f"{TEMPLATE}#item_row", {"row": item, "position": index + 1})
        response["HX-Trigger"] = "order-form-changed"
        return response

    index = _int_param(request.GET.get(f"{kind}-TOTAL_FORMS", "0"), limit + 1)
    if index is None:
        return HttpResponseBadRequest("TOTAL_FORMS must be a number")
    if index >= limit:
        response = HttpResponse("")
        response["HX-Reswap"] = "none"
        return response
    context = {"total_forms_oob": {"prefix": kind, "value": index + 1}, "position": index + 1}
    if kind == ITEMS:
        form = ItemForm(prefix=f"{ITEMS}-{index}", initial=BLANK_ITEM, use_required_attribute=False)
        context["row"] = ItemRow(form=form, index=index)
        return render(request, f"{TEMPLATE}#item_row", context)
    schema = order_metadata_schema()
    properties = {p.key: p for p in schema.properties.all()} if schema else {}
    form = MetadataRowForm(prefix=f"{METADATA}-{index}", properties=properties, use_required_attribute=False)
    context["mrow"] = MetadataRow(form=form, index=index)
    return render(request, f"{TEMPLATE}#metadata_row", context)


def _int_param(value, limit: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < limit else None


# --- lookups -----------------------------------------------------------------------------------------


@require_any_perm(*FORM_PERMS)
@require_GET
def customer_lookup(request):
    """Customers matching ``q`` (or the ``<field>_query`` box) as a short list of pick buttons; with
    ``pick=<id>`` the chooser with that customer picked, with ``clear=1`` the empty chooser. ``field`` is
    ``customer`` or ``referrer``."""
    which = request.GET.get("field", "customer")
    if which not in ("customer", "referrer"):
        return HttpResponseBadRequest("field must be customer or referrer")
    picker = Picker(field=which, label=which.capitalize())
    if "pick" in request.GET:
        picker.picked_id = request.GET["pick"].strip()
        picker.customer = Customer.objects.filter(pk=picker.picked_id).first()
        if picker.customer is None:
            picker.errors.append(f"No customer with id {picker.picked_id}.")
        return render(request, f"{TEMPLATE}#customer_picker", {"picker": picker})
    if "clear" in request.GET:
        return render(request, f"{TEMPLATE}#customer_picker", {"picker": picker})
    picker.query = (request.GET.get("q") or request.GET.get(f"{which}_query") or "").strip()
    picker.matches = customer_matches(picker.query)
    return render(request, f"{TEMPLATE}#customer_matches", {"picker": picker})


@require_any_perm(*FORM_PERMS)
@require_GET
def catalog_lookup(request):
    """Products and SKUs matching ``q`` (or row ``row``'s search box) as pick buttons for that row."""
    row = _int_param(request.GET.get("row", "0"), settings.ORDERS_MAX_ITEMS)
    if row is None:
        return HttpResponseBadRequest("row must be a row number")
    query = (request.GET.get("q") or request.GET.get(f"{ITEMS}-{row}-query") or "").strip()
    item = {"index": row, "query": query, "matches": catalog_matches(query)}
    return render(request, f"{TEMPLATE}#catalog_matches", {"row": item})
