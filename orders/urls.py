from django.urls import path

from .views import detail, form
from .views import export as export_views
from .views import imports as import_views
from .views import list as list_views

app_name = "orders"

urlpatterns = [
    # The list (orders/views/list.py)
    path("", list_views.order_list, name="list"),
    # The "+" form and its htmx helpers (orders/views/form.py)
    path("new/", form.order_new, name="new"),
    path("new/totals/", form.order_form_totals, name="form_totals"),
    path("new/item-row/", form.order_form_item_row, name="form_item_row"),
    path("lookup/customers/", form.customer_lookup, name="customer_lookup"),
    path("lookup/catalog/", form.catalog_lookup, name="catalog_lookup"),
    # The CSV export (orders/views/export.py)
    path("export/", export_views.order_export, name="export"),
    path("export/dialog/", export_views.export_dialog, name="export_dialog"),
    path("exports/", export_views.export_list, name="exports"),
    path("exports/<str:export_id>/download/", export_views.export_download, name="export_download"),
    # The CSV/XLSX import (orders/views/imports.py)
    path("import/", import_views.order_import, name="import"),
    path("<str:order_id>/edit/", form.order_edit, name="edit"),
    # One order (orders/views/detail.py): tabs are real URLs
    path("<str:order_id>/", detail.order_summary, name="detail"),
    path("<str:order_id>/metadata/", detail.order_metadata, name="metadata"),
    path("<str:order_id>/metadata/edit/", detail.order_metadata_edit, name="metadata_edit"),
    path("<str:order_id>/activity/", detail.order_activity, name="activity"),
    path("<str:order_id>/activity/new/", detail.order_activity_new, name="activity_new"),
    path("<str:order_id>/status/", detail.order_set_status, name="set_status"),
    path(
        "<str:order_id>/redemptions/<str:redemption_id>/rollback/",
        detail.redemption_rollback,
        name="redemption_rollback",
    ),
]
