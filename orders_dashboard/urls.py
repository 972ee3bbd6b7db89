from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .api.errors import api_not_found

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("orders/", include("orders.urls")),
    path("customers/", include("orders.urls_customers")),
    path("segments/", include("segments.urls")),
    path("rules/", include("rules.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("orders_dashboard.api.urls")),
    path("api", api_not_found),  # the API's JSON 404, not an APPEND_SLASH redirect
    path("api-keys/", include("orders_dashboard.urls_api_keys")),
]
