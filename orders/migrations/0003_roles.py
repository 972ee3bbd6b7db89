"""The three staff roles of DESIGN §5 as groups: Viewer (read), Manager (edit orders, import, export),
Admin (everything in orders, plus users and groups). Later apps add their permissions in their own
migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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

ROLES = {
    "Viewer": [("orders", f"view_{model}") for model in ORDER_MODELS],
    "Manager": [("orders", f"view_{model}") for model in ORDER_MODELS]
    + [("orders", f"{action}_{model}") for model in MANAGER_EDITS for action in ("add", "change")]
    + [("orders", "export_order"), ("orders", "import_order")],
    "Admin": [
        ("orders", f"{action}_{model}") for model in ORDER_MODELS for action in ("view", "add", "change", "delete")
    ]
    + [("orders", "export_order"), ("orders", "import_order")]
    + [("auth", f"{action}_{model}") for model in ("user", "group") for action in ("view", "add", "change", "delete")],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after migrate; make sure those we grant exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_metadata_gin_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
