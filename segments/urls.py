"""The segment pages (segments/views.py), mounted at ``/segments/`` by the project's urls."""

from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_new, name="new"),
    path("builder/count/", views.builder_count, name="builder_count"),
    path("add-customers/", views.add_customers, name="add_customers"),
    path("orders/<str:order_id>/", views.order_tab, name="order_tab"),
    path("<str:segment_id>/", views.segment_detail, name="detail"),
    path("<str:segment_id>/count/", views.segment_count, name="count"),
    path("<str:segment_id>/edit/", views.segment_edit, name="edit"),
    path("<str:segment_id>/delete/", views.segment_delete, name="delete"),
    path("<str:segment_id>/export/", views.segment_export, name="export"),
    path("<str:segment_id>/members/add/", views.segment_members_add, name="members_add"),
    path("<str:segment_id>/members/remove/", views.segment_members_remove, name="members_remove"),
]
