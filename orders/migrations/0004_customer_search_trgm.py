"""Trigram indexes for the orders list's free-text search, on PostgreSQL only.

The search matches part of a customer's name or email, case-insensitively. Django writes that
``icontains`` as ``UPPER(col::text) LIKE UPPER('%…%')``; a btree cannot serve a leading wildcard, but a
pg_trgm GIN index on exactly that expression can, so the customers are found without reading the whole
table (and the orders then through the index on ``orders_order.customer_id``). The same indexes serve the
case-insensitive exact email of the customer filter (pg_trgm ≥ 1.6 answers ``=`` too). SQLite has no
pg_trgm; there the search reads the customers table, which is fine at laptop sizes.
"""

from django.db import migrations

INDEXES = {
    "customer_name_upper_trgm": "orders_customer USING gin ((UPPER(name::text)) gin_trgm_ops)",
    "customer_email_upper_trgm": "orders_customer USING gin ((UPPER(email::text)) gin_trgm_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")
    schema_editor.execute("ANALYZE orders_customer")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0003_roles")]
    operations = [migrations.RunPython(create, drop)]
