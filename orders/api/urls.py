"""Orders API routes, relative to /api/v1/ (see orders_dashboard.api.urls). Paths take no trailing slash
(one is tolerated); ``{id}`` is an id or a source id, so it may hold any character but "/"."""

from django.urls import re_path

from . import exports, imports, views

urlpatterns = [
    re_path(r"^orders/?$", views.OrdersView.as_view(), name="orders"),
    # Above orders/{id}, which would take "export" for an order id.
    re_path(r"^orders/export/?$", exports.OrdersExportView.as_view(), name="orders_export"),
    re_path(r"^orders/import/?$", imports.OrdersImportView.as_view(), name="orders_import"),
    re_path(r"^orders/(?P<order_id>[^/]+)/?$", views.OrderView.as_view(), name="order"),
    re_path(r"^customers/?$", views.CustomersView.as_view(), name="customers"),
    re_path(r"^customers/(?P<customer_id>[^/]+)/?$", views.CustomerView.as_view(), name="customer"),
    re_path(r"^async-actions/(?P<async_action_id>[^/]+)/?$", imports.AsyncActionView.as_view(), name="async_action"),
    re_path(r"^exports/(?P<export_id>[^/]+)/?$", exports.ExportView.as_view(), name="export"),
    re_path(r"^exports/(?P<export_id>[^/]+)/download/?$", exports.ExportDownloadView.as_view(), name="export_download"),
]
