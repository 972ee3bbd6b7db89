"""What other apps add to the customer pages: panels on a customer's page, and actions on a selection of
the customer list.

``orders`` never imports ``segments`` or ``rules`` (DESIGN §2), so those apps register here, from their
``AppConfig.ready()``::

    from orders.customer_panels import CustomerAction, CustomerPanel, register_action, register_panel

    register_panel(
        CustomerPanel(
            key="segments",
            title="Segments",
            template_name="segments/customer_panel.html",
            context=lambda request, customer: {"segments": segments_of_customer(customer.pk)},
            permission="segments.view_segment",  # hidden from users without it
        )
    )
    register_action(
        CustomerAction(
            key="add-to-segment",
            label="Add to a static segment",
            url_name="segments:add_customers",  # a URL taking no arguments
            permission="segments.change_segment",
        )
    )

A panel's template is included in the customer page with the page's context (``customer`` …) plus
``panel_context``: what ``context(request, customer)`` returned (called once per page view, so it should
cost a fixed number of queries). An action is a submit
button of the customer list: it sends the ticked customers to its URL as ``GET ?customer=<id>&customer=…``
(a plain form, so it works without JavaScript); that page asks what to do with them.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class CustomerPanel:
    key: str
    title: str
    template_name: str
    context: Callable[[Any, Any], Mapping[str, Any]] = field(compare=False)
    permission: str | None = None
    order: int = 100


@dataclass(frozen=True)
class CustomerAction:
    key: str
    label: str
    url_name: str
    permission: str | None = None
    order: int = 100


@dataclass(frozen=True)
class Panel:
    """A panel ready to render: its template and context."""

    key: str
    title: str
    template_name: str
    context: dict


@dataclass(frozen=True)
class ActionLink:
    key: str
    label: str
    url: str


_panels: dict[str, CustomerPanel] = {}
_actions: dict[str, CustomerAction] = {}


def _register(registry: dict, item, kind: str):
    existing = registry.get(item.key)
    if existing is not None and existing != item:
        raise ImproperlyConfigured(f"Another customer {kind} is already registered under the key {item.key!r}.")
    registry[item.key] = item
    return item


def register_panel(panel: CustomerPanel) -> CustomerPanel:
    """Add a panel to the customer page. Registering the same panel again is harmless (``ready()`` may run
    twice in tests); another panel under a taken key is a configuration error."""
    return _register(_panels, panel, "panel")


def register_action(action: CustomerAction) -> CustomerAction:
    """Add an action on a selection of the customer list (same rules as register_panel)."""
    return _register(_actions, action, "action")


def unregister_panel(key: str) -> None:
    _panels.pop(key, None)


def unregister_action(key: str) -> None:
    _actions.pop(key, None)


def panels_for(request, customer) -> list[Panel]:
    """The panels ``request.user`` may see on ``customer``'s page, with their context, in ``order``."""
    panels = []
    for panel in sorted(_panels.values(), key=lambda p: p.order):
        if panel.permission and not request.user.has_perm(panel.permission):
            continue
        panels.append(Panel(panel.key, panel.title, panel.template_name, dict(panel.context(request, customer))))
    return panels


def actions_for(user) -> list[ActionLink]:
    """The selection actions ``user`` may use whose URL exists, in ``order``."""
    links = []
    for action in sorted(_actions.values(), key=lambda a: a.order):
        if action.permission and not user.has_perm(action.permission):
            continue
        try:
            url = reverse(action.url_name)
        except NoReverseMatch:
            continue
        links.append(ActionLink(action.key, action.label, url))
    return links
