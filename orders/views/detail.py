"""One order: the page with its tabs (Summary, Metadata, Activity, and tabs other apps register through
``orders.tabs``), the live Activity poller, the status change, the metadata editor and the redemption
rollback. HTTP only: reads come from ``orders.selectors``, every write goes through ``orders.services``.

Every page answers two shapes (``Vary: HX-Request``): the whole page, or for an htmx request only the
tab bar and the tab (the ``tabs`` partial of ``orders/order_detail.html``).
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from orders import selectors, services
from orders import tabs as order_tabs
from orders.choices import STATUS_TRANSITIONS, OrderStatus
from orders.events import Actor
from orders.exceptions import (
    InvalidInput,
    InvalidStatusTransition,
    NotFound,
    RedemptionNotRollbackable,
    VersionConflict,
)
from orders.metadata import metadata_errors
from orders.metadata_rows import add_row, attach_errors, remove_row, rows_from_metadata, rows_from_post
from orders.metadata_rows import rows_to_metadata as metadata_from_rows
from orders.models import Order
from orders_dashboard.access import require_perms

TEMPLATE = "orders/order_detail.html"
VIEW, CHANGE = "orders.view_order", "orders.change_order"
# The Activity tab asks for new events this often (new events must show within 5 s).
POLL_SECONDS = 3


def _access(*perms: str):
    """``require_perms``, except that an htmx request of a signed-out user (an expired session while the
    poller runs) sends the whole window to the login page instead of swapping the login form into a tab."""

    def decorator(view):
        guarded = require_perms(*perms)(view)

        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.htmx and not request.user.is_authenticated:
                back = request.htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(redirect_to_login(back).url)
            return guarded(request, *args, **kwargs)

        return wrapped

    return decorator


def _partial_request(request) -> bool:
    # A history restore (back button after htmx navigation, cache miss) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _order_or_404(order_id: str, *, with_lines: bool = False) -> Order:
    order = selectors.order_get(order_id, with_lines=with_lines)
    if order is None:
        raise Http404(f"No order with id {order_id}")
    return order


def _int_param(value, *, default=None, minimum: int = 0):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number >= minimum else default


def _status_choices(order: Order) -> list[tuple[str, str]]:
    """The statuses the order may move to, in the enum's order (CANCELED is final: none)."""
    allowed = STATUS_TRANSITIONS[OrderStatus(order.status)]
    return [(status.value, status.label) for status in OrderStatus if status in allowed]


def header_context(order: Order, *, can_change: bool, tab: str) -> dict:
    return {
        "order": order,
        "tab": tab,
        "can_change": can_change,
        "status_choices": _status_choices(order) if can_change else [],
        "return_url": _tab_url(order.pk, tab),
        "poll_seconds": POLL_SECONDS,
    }


def _tab_url(order_id: str, tab: str) -> str:
    found = order_tabs.get(tab)
    return found.url(order_id) if found is not None else reverse("orders:detail", args=[order_id])


def render_order_page(
    request, *, order: Order, tab: str, panel: str = "", panel_template: str = "", extra=None, status=200
):
    """The order page with ``tab`` active and ``panel`` (a partial of the page template) or
    ``panel_template`` (any template, for tabs of other apps) as its content; only the tab bar and the
    panel for an htmx request."""
    context = header_context(order, can_change=request.user.has_perm(CHANGE), tab=tab)
    context.update(
        tabs=order_tabs.tab_links(request.user, order.pk),
        panel=panel,
        panel_template=panel_template,
        **(extra or {}),
    )
    template = f"{TEMPLATE}#tabs" if _partial_request(request) else TEMPLATE
    return render(request, template, context, status=status)


# --- tabs ----------------------------------------------------------------------------------------------


@_access(VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_summary(request, order_id: str):
    order = _order_or_404(order_id, with_lines=True)
    return render_order_page(request, order=order, tab="summary", panel="summary", extra=_summary_context(order))


def _summary_context(order: Order) -> dict:
    return {"items": list(order.items.all()), "redemptions": list(order.redemptions.all())}


@_access(VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_metadata(request, order_id: str):
    order = _order_or_404(order_id)
    schema = selectors.metadata_schema()
    properties = selectors.schema_properties(schema)
    entries = [
        {"key": key, "value": value, "prop": properties.get(key)} for key, value in sorted(order.metadata.items())
    ]
    missing = [prop for key, prop in properties.items() if key not in order.metadata]
    return render_order_page(
        request,
        order=order,
        tab="metadata",
        panel="metadata",
        extra={
            "entries": entries,
            "undefined_keys_allowed": not (schema and schema.allow_defined_only),
            "missing": missing,
        },
    )


@_access(VIEW, CHANGE)
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_metadata_edit(request, order_id: str):
    """The metadata editor: rows of key + value. "Add row" and "Remove" are plain submit buttons (htmx
    swaps just the form when it can); "Save" writes through ``order_update(metadata=…, version=…)``."""
    order = _order_or_404(order_id)
    schema = selectors.metadata_schema()
    properties = selectors.schema_properties(schema)
    form_errors: list[str] = []
    if request.method != "POST":
        rows = rows_from_metadata(order.metadata, properties)
        version = order.version
    else:
        rows = rows_from_post(request.POST, properties)
        version = _int_param(request.POST.get("version"), minimum=1)
        if "add_row" in request.POST:
            rows = add_row(rows)
        elif "remove_row" in request.POST:
            rows = remove_row(rows, request.POST.get("remove_row")) or add_row([])
        elif version is None:
            form_errors.append("The form lost the order's version. Reload the page and make your change again.")
        else:
            saved = _save_metadata(request, order, rows, version, schema, form_errors)
            if saved:
                return redirect("orders:metadata", order_id=order.pk)
    extra = {
        "rows": rows,
        "form_version": version or "",
        "form_errors": form_errors,
        "undefined_keys_allowed": not (schema and schema.allow_defined_only),
    }
    if request.method == "POST" and _partial_request(request):
        context = header_context(order, can_change=True, tab="metadata") | extra
        return render(request, f"{TEMPLATE}#metadata_form", context)
    return render_order_page(request, order=order, tab="metadata", panel="metadata_edit", extra=extra)


def _save_metadata(request, order, rows, version, schema, form_errors) -> bool:
    metadata, has_errors = metadata_from_rows(rows)
    if has_errors:
        # Show every problem at once: the schema check the service would run, for the rows that parsed.
        broken = {row.key for row in rows if row.errors and row.key}
        errors = {
            path: messages_
            for path, messages_ in metadata_errors(metadata, schema=schema).items()
            if not any(path == f"metadata.{key}" or path.startswith(f"metadata.{key}[") for key in broken)
        }
        form_errors.extend(attach_errors(rows, errors))
        form_errors.append("Nothing was saved: correct the rows marked below.")
        return False
    try:
        saved = services.order_update(
            order=order.pk, actor=Actor.for_user(request.user), metadata=metadata, version=version
        )
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except VersionConflict as exc:
        form_errors.append(
            f"{exc.message} Nothing was saved; what you typed is kept below. Open the editor again to start "
            "from the current metadata."
        )
        return False
    except InvalidInput as exc:
        form_errors.extend(attach_errors(rows, exc.errors))
        form_errors.append("Nothing was saved: correct the rows marked below.")
        return False
    if saved.version != version:
        messages.success(request, "Metadata saved.")
    else:
        messages.info(request, "The metadata was already like this: nothing to save.")
    return True


@_access(VIEW)
@require_safe
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def order_activity(request, order_id: str):
    """Newest 100 events, then "show older" (keyset on the event id: ``?before=<id>``). The newest page
    carries the poller that fetches what comes after its newest event."""
    order = _order_or_404(order_id)
    before = _int_param(request.GET.get("before"), minimum=1)
    page = selectors.order_events(order.pk, before=before)
    extra = {
        "events": page.events,
        "older_than": page.older_than,
        "before": before,
        "after": page.events[0].id if page.events and before is None else 0,
    }
    if before is not None and _partial_request(request):
        # "Show older" clicked: only the next rows, which replace the link.
        return render(request, f"{TEMPLATE}#older_rows", {"order": order, **extra})
    return render_order_page(request, order=order, tab="activity", panel="activity", extra=extra)


@_access()
@require_safe
@vary_on_headers("HX-Request")
def order_activity_new(request, order_id: str):
    """The Activity poller: events newer than ``?after=<event id>``. Nothing new → 204 (htmx swaps
    nothing) after ONE query (see ``selectors.activity_poll``); otherwise the new rows to prepend, the
    poller moved to the newest of them, and the order header out of band (status, total, version)."""
    after = _int_param(request.GET.get("after"), minimum=0)
    if after is None:
        return HttpResponseBadRequest("after must be an event id (a whole number ≥ 0)")
    state = selectors.activity_poll(order_id, after, user=request.user)
    if state is None:
        if not request.user.has_perm(VIEW):
            raise PermissionDenied
        raise Http404(f"No order with id {order_id}")
    if not state.can_view:
        raise PermissionDenied
    if not request.htmx:
        return redirect("orders:activity", order_id=order_id)
    if not state.has_new:
        return HttpResponse(status=204)
    events = selectors.order_events_after(state.order.pk, after)
    context = header_context(state.order, can_change=state.can_change, tab="activity")
    context.update(events=events, after=events[0].id, oob=True)
    return render(request, f"{TEMPLATE}#poll", context)


# --- actions ---------------------------------------------------------------------------------------------


def _back(request, order_id: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("orders:detail", args=[order_id])


@_access(VIEW, CHANGE)
@require_POST
def order_set_status(request, order_id: str):
    """Move the order to the status posted (``status``, with the ``version`` the user saw), then back to
    the page it came from with a message saying what happened."""
    status = request.POST.get("status", "")
    version = _int_param(request.POST.get("version"), minimum=1)
    if not selectors.order_exists(order_id):
        raise Http404(f"No order with id {order_id}")
    if version is None:
        messages.error(request, "The status form lost the order's version. Reload the page and try again.")
        return redirect(_back(request, order_id))
    try:
        order = services.order_set_status(
            order=order_id, status=status, version=version, actor=Actor.for_user(request.user)
        )
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except VersionConflict as exc:
        messages.error(request, f"Status not changed. {exc.message}")
    except InvalidStatusTransition as exc:
        messages.error(request, f"Status not changed. {exc.message}")
    except InvalidInput as exc:
        problem = next(iter(exc.errors.get("status", [])), exc.message)
        messages.error(request, f"Status not changed: choose a status; it {problem}.")
    else:
        label = OrderStatus(order.status).label
        if order.version != version:
            messages.success(request, f"Order {order.pk} is now {label}.")
        else:
            messages.info(request, f"Order {order.pk} was already {label}.")
    return redirect(_back(request, order_id))


@_access(VIEW, CHANGE)
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def redemption_rollback(request, order_id: str, redemption_id: str):
    """Roll back a SUCCEEDED redemption: GET asks for confirmation (and a reason), POST does it through
    ``services.redemption_rollback`` — the discount leaves the order and the order becomes CANCELED."""
    order = _order_or_404(order_id)
    redemption = selectors.order_redemption(order.pk, redemption_id)
    if redemption is None:
        raise Http404(f"Order {order.pk} has no redemption {redemption_id}")
    detail_url = reverse("orders:detail", args=[order.pk])
    if not redemption.can_roll_back:
        messages.error(request, RedemptionNotRollbackable(redemption.pk, redemption.status).message)
        return redirect(detail_url)
    reason, errors = "", []
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            done = services.redemption_rollback(
                redemption=redemption.pk, actor=Actor.for_user(request.user), reason=reason
            )
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except RedemptionNotRollbackable as exc:
            messages.error(request, exc.message)
            return redirect(detail_url)
        except InvalidInput as exc:
            errors = [message for messages_ in exc.errors.values() for message in messages_]
        else:
            messages.success(
                request,
                f"Redemption {done.pk} rolled back (rollback {done.rollback_id}); order {order.pk} is now Canceled.",
            )
            return redirect(detail_url)
    return render_order_page(
        request,
        order=order,
        tab="summary",
        panel="rollback",
        extra={"redemption": redemption, "reason": reason, "reason_errors": errors},
    )
