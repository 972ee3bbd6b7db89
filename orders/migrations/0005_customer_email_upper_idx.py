"""A btree on UPPER(email) for the orders list's customer filter, which matches an email exactly but in any
case (Django writes ``email__iexact`` as ``UPPER(email::text) = UPPER(…)`` on PostgreSQL). The trigram
index of 0004 can answer that too, but slowly: every email shares the trigrams of its domain. PostgreSQL
only; on SQLite ``iexact`` is a LIKE that no index serves, which is fine at laptop sizes."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS customer_email_upper_idx ON orders_customer ((UPPER(email::text)))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS customer_email_upper_idx")


class Migration(migrations.Migration):
    dependencies = [("orders", "0004_customer_search_trgm")]
    operations = [migrations.RunPython(create, drop)]
