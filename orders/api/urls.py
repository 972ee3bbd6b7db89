"""Orders API routes, relative to /api/v1/ (see orders_dashboard.api.urls). Paths take no trailing slash
(one is tolerated); ``{id}`` is an id or a source id, so it may hold any character but "/"."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^orders/?$", views.OrdersView.as_view(), name="orders"),
    re_path(r"^orders/(?P<order_id>[^/]+)/?$", views.OrderView.as_view(), name="order"),
    re_path(r"^customers/?$", views.CustomersView.as_view(), name="customers"),
    re_path(r"^customers/(?P<customer_id>[^/]+)/?$", views.CustomerView.as_view(), name="customer"),
]
