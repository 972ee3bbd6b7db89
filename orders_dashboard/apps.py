from django.apps import AppConfig


class OrdersDashboardConfig(AppConfig):
    name = "orders_dashboard"
    verbose_name = "Dashboard"
