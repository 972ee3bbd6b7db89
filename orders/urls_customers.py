"""The customer pages (orders/views/customers.py), mounted at ``/customers/`` by the project's urls."""

from django.urls import path

from .views import customers

app_name = "customers"

urlpatterns = [
    path("", customers.customer_list, name="list"),
    path("<str:customer_id>/", customers.customer_detail, name="detail"),
]
