"""Validation and redemption API routes, relative to /api/v1/ (see orders_dashboard.api.urls). Paths take
no trailing slash (one is tolerated)."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^validations/?$", views.ValidationsView.as_view(), name="validations"),
    re_path(r"^redemptions/?$", views.RedemptionsView.as_view(), name="redemptions"),
    re_path(r"^redemptions/(?P<redemption_id>[^/]+)/rollback/?$", views.RollbackView.as_view(), name="rollback"),
    re_path(r"^validation-rules/?$", views.RulesView.as_view(), name="validation_rules"),
    re_path(r"^validation-rules/(?P<rule_id>[^/]+)/?$", views.RuleView.as_view(), name="validation_rule"),
]
