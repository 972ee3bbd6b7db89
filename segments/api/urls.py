"""Segments API routes, relative to /api/v1/ (see orders_dashboard.api.urls). Paths take no trailing slash
(one is tolerated)."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^segments/?$", views.SegmentsView.as_view(), name="segments"),
    re_path(r"^segments/(?P<segment_id>[^/]+)/?$", views.SegmentView.as_view(), name="segment"),
]
