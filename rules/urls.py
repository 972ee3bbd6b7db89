"""The rules pages (rules/views.py), mounted at ``/rules/`` by the project's urls."""

from django.urls import path

from . import views

app_name = "rules"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", views.rule_builder, name="new"),
    path("incentives/", views.incentive_list, name="incentives"),
    path("incentives/new/", views.incentive_form, name="incentive_new"),
    path("incentives/<str:incentive_id>/", views.incentive_detail, name="incentive_detail"),
    path("incentives/<str:incentive_id>/edit/", views.incentive_form, name="incentive_edit"),
    path("orders/<str:order_id>/", views.order_tab, name="order_tab"),
    path("orders/<str:order_id>/redeem/<str:incentive_id>/", views.redeem, name="redeem"),
    path("<str:rule_id>/", views.rule_detail, name="detail"),
    path("<str:rule_id>/edit/", views.rule_builder, name="edit"),
    path("<str:rule_id>/delete/", views.rule_delete, name="delete"),
]
