from django.urls import path

from . import views_api_keys as views

app_name = "api_keys"

urlpatterns = [
    path("", views.api_key_list, name="list"),
    path("new/", views.api_key_new, name="new"),
    path("<int:key_id>/revoke/", views.api_key_revoke_view, name="revoke"),
]
