"""Export.parameters: an API export job's parameters (order, fields, filters) as the client sent them, echoed
by GET /v1/exports/{id}; null for dashboard exports."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_order_items_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="export",
            name="parameters",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
