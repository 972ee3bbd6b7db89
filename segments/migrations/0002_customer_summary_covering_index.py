"""A covering index for counting segment members, on PostgreSQL only.

An auto-update segment over the order summary ("spent more than X, at least N orders, last order within
90 days") is counted live while someone builds it and on every segment page. The single-column indexes of
``orders_customer`` each serve one condition, so the count either combines several bitmaps or reads the
whole (wide: metadata, address) table. This index holds every summary column, leading with the last order
date (the most selective condition in practice: a recency window), so such a count is one index-only scan
over a narrow index, reading no table rows; conditions on the other summary columns are checked inside the
index. It also serves counts without a date condition, as a scan of the small index instead of the table.

SQLite has no INCLUDE; at laptop sizes its plain scans are fast enough.
"""

from django.db import migrations

NAME = "segment_customer_summary_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON orders_customer (last_order_date) "
        "INCLUDE (orders_total_amount, orders_total_count, orders_average_amount, last_order_amount)"
    )
    schema_editor.execute("ANALYZE orders_customer")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_segments"), ("orders", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
