"""GIN indexes on the metadata columns, on PostgreSQL only (SQLite has no GIN; its JSON queries scan).

jsonb_ops (the default operator class) serves both ``metadata__contains`` (@>) and ``__has_key`` (?).
"""

from django.db import migrations

TABLES = ("orders_order", "orders_customer")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {table.removeprefix('orders_')}_metadata_gin ON {table} USING gin (metadata)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table.removeprefix('orders_')}_metadata_gin")


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
