from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrdersDashboardConfig(AppConfig):
    name = "orders_dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from .roles import on_post_migrate

        # Sent once per app that has models (this one has ApiKey), each time after that app's permissions
        # were created; listed last, so auth's handler runs before ours for every app.
        post_migrate.connect(on_post_migrate, dispatch_uid="orders_dashboard.sync_roles")
