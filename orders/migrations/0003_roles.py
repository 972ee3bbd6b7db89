"""The staff roles as groups (definition: orders_dashboard/roles.py, which only ever grows)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from orders_dashboard.roles import sync_roles

    sync_roles(apps, create_missing_permissions=True)


def remove_roles(apps, schema_editor):
    from orders_dashboard.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_metadata_gin_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
