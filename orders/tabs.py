"""Tabs of the order page, and the registration point through which other apps add theirs.

The order page (``orders/views/detail.py``) shows three built-in tabs — Summary, Metadata, Activity — and
after them every tab registered here. ``orders`` never imports ``segments`` or ``rules`` (DESIGN §2: the
dependency goes ``rules → segments → orders``), so those apps register their tab themselves, typically
in their ``AppConfig.ready()``::

    # segments/apps.py
    class SegmentsConfig(AppConfig):
        name = "segments"

        def ready(self):
            from orders.tabs import OrderTab, register

            register(
                OrderTab(
                    key="segments",
                    label="Segments",
                    url_name="segments:order_tab",  # a URL taking ``order_id``
                    permission="segments.view_segment",  # the tab is hidden from users without it
                )
            )

The registered URL belongs to that app: its view renders the tab. To show it inside the order page (header,
tab bar, the tab's own content below) and answer htmx tab switches with only the tab, that view calls
:func:`render_tab`::

    # segments/views.py
    @require_perms("orders.view_order", "segments.view_segment")
    def order_tab(request, order_id):
        order = get_object_or_404(Order, pk=order_id)
        return render_tab(
            request,
            order=order,
            key="segments",
            template_name="segments/order_tab.html",
            context={"segments": segments_of(order.customer)},
        )

``render_tab`` renders ``template_name`` (a plain template, or ``"file.html#partial"``) with ``order``,
``can_change`` and ``context``: the full order page for a normal request, only the tab bar and tab
content for an htmx request. Registered tabs appear in ``order`` then registration order.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class OrderTab:
    """One tab of the order page.

    ``key``: a slug unique among the tabs (also the ``data-tab`` attribute browser tests use);
    ``label``: the text of the tab link; ``url_name``: a URL name reversed with ``order_id=<order id>``;
    ``permission``: shown only to users with it (``"app_label.codename"``; None: every user who may see
    the order); ``order``: position among the registered tabs (lower first).
    """

    key: str
    label: str
    url_name: str
    permission: str | None = None
    order: int = 100

    def url(self, order_id: str) -> str:
        return reverse(self.url_name, kwargs={"order_id": order_id})


BUILTIN_TABS = (
    OrderTab(key="summary", label="Summary", url_name="orders:detail", order=0),
    OrderTab(key="metadata", label="Metadata", url_name="orders:metadata", order=1),
    OrderTab(key="activity", label="Activity", url_name="orders:activity", order=2),
)
_BUILTIN_KEYS = frozenset(tab.key for tab in BUILTIN_TABS)

_registry: dict[str, OrderTab] = {}


def register(tab: OrderTab) -> OrderTab:
    """Add ``tab`` after the built-in tabs. Registering the same tab again is harmless (``ready()`` may
    run twice in tests); another tab under a key already taken is a configuration error."""
    if tab.key in _BUILTIN_KEYS:
        raise ImproperlyConfigured(f"Order tab key {tab.key!r} is a built-in tab of the order page.")
    existing = _registry.get(tab.key)
    if existing is not None and existing != tab:
        raise ImproperlyConfigured(f"Another order tab is already registered under the key {tab.key!r}.")
    _registry[tab.key] = tab
    return tab


def unregister(key: str) -> None:
    """Remove a registered tab (for tests, or an app that turns its tab off)."""
    _registry.pop(key, None)


def registered() -> list[OrderTab]:
    return sorted(_registry.values(), key=lambda tab: tab.order)


def get(key: str) -> OrderTab | None:
    return next((tab for tab in (*BUILTIN_TABS, *_registry.values()) if tab.key == key), None)


@dataclass(frozen=True)
class TabLink:
    key: str
    label: str
    url: str


def tab_links(user, order_id: str) -> list[TabLink]:
    """The tabs ``user`` sees on the page of order ``order_id``: the built-in ones, then the registered
    ones the user has the permission for and whose URL exists."""
    links = []
    for tab in (*BUILTIN_TABS, *registered()):
        if tab.permission and not user.has_perm(tab.permission):
            continue
        try:
            url = tab.url(order_id)
        except NoReverseMatch:
            continue  # an app registered a tab but its URLs are not mounted: show nothing rather than fail
        links.append(TabLink(key=tab.key, label=tab.label, url=url))
    return links


def render_tab(
    request,
    *,
    order,
    key: str,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
):
    """Render a registered tab inside the order page (see the module docstring)."""
    from .views.detail import render_order_page  # the view module imports this one

    if get(key) is None:
        raise ImproperlyConfigured(f"No order tab is registered under the key {key!r}.")
    return render_order_page(
        request, order=order, tab=key, panel_template=template_name, extra=dict(context or {}), status=status
    )
