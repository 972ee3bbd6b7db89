"""The three staff roles of DESIGN §5, as groups: Viewer (read), Manager (edit orders and segments,
import, export), Admin (everything, plus users and groups).

One definition, applied by the data migration ``orders.0003_roles`` and again after every ``migrate`` and
``flush`` (post_migrate, once per app: cheap and idempotent), so that permissions of apps added later join
their roles, and a test database flushed between browser tests gets its groups back. Syncing only adds:
permissions granted by hand stay.
"""

from django.contrib.auth.management import create_permissions

ORDER_MODELS = (
    "order",
    "orderitem",
    "customer",
    "product",
    "sku",
    "redemption",
    "orderevent",
    "metadataschema",
    "metadataschemaproperty",
)
MANAGER_EDITS = ("order", "orderitem", "customer", "product", "sku", "redemption")
CRUD = ("view", "add", "change", "delete")

VIEWER = [("orders", f"view_{model}") for model in ORDER_MODELS]
# Segments: Viewers see them; Managers and Admins create, edit (static members too) and delete them.
SEGMENTS_EDIT = [("segments", f"{action}_segment") for action in CRUD]
VIEWER += [("segments", "view_segment")]
# Rules: Viewers see validation rules and incentives; Managers also redeem incentives on orders; Admins
# manage rules and incentives (DESIGN §5).
RULES_MODELS = ("validationrule", "incentive")
RULES_MANAGE = [("rules", f"{action}_{model}") for model in RULES_MODELS for action in CRUD]
VIEWER += [("rules", f"view_{model}") for model in RULES_MODELS]
MANAGER = [
    *VIEWER,
    *[("orders", f"{action}_{model}") for model in MANAGER_EDITS for action in ("add", "change")],
    ("orders", "export_order"),
    ("orders", "import_order"),
    *SEGMENTS_EDIT,
    ("rules", "redeem_incentive"),
]
ADMIN = [
    *[("orders", f"{action}_{model}") for model in ORDER_MODELS for action in CRUD],
    ("orders", "export_order"),
    ("orders", "import_order"),
    ("orders", "view_export"),  # the list of past exports (who exported what)
    *SEGMENTS_EDIT,
    *RULES_MANAGE,
    ("rules", "redeem_incentive"),
    *[("auth", f"{action}_{model}") for model in ("user", "group") for action in CRUD],
    # API keys: list (view), create (add), revoke (change)
    *[("orders_dashboard", f"{action}_apikey") for action in ("view", "add", "change")],
]
ROLES = {"Viewer": VIEWER, "Manager": MANAGER, "Admin": ADMIN}


def sync_roles(apps, *, create_missing_permissions: bool = False) -> None:
    """Create the role groups and grant their permissions (``apps``: the app registry, or a migration's)."""
    if create_missing_permissions:
        # Inside a migration, permissions of models created in the same run do not exist yet.
        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = {(app_label, codename) for app_label, codename in perms}
        found = Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted}, codename__in={code for _, code in wanted}
        )
        group.permissions.add(*[p for p in found if (p.content_type.app_label, p.codename) in wanted])


def on_post_migrate(sender, **kwargs) -> None:
    from django.apps import apps as global_apps

    sync_roles(kwargs.get("apps") or global_apps)
