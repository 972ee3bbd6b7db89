"""Order.items_count and Order.items_quantity: the cart's line count and units, kept by the services from
now on, filled here for the orders that exist (one UPDATE; orders without lines keep the default 0)."""

from django.db import migrations, models
from django.db.models import Count, Exists, OuterRef, Subquery, Sum


def fill_cart_sizes(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    OrderItem = apps.get_model("orders", "OrderItem")
    lines = OrderItem.objects.filter(order_id=OuterRef("pk")).order_by().values("order_id")
    Order.objects.filter(Exists(lines)).update(
        items_count=Subquery(lines.annotate(n=Count("id")).values("n")),
        items_quantity=Subquery(lines.annotate(units=Sum("quantity")).values("units")),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_export"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="items_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="order",
            name="items_quantity",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(fill_cart_sizes, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("items_quantity__gte", 0)), name="order_items_quantity_gte_0"
            ),
        ),
    ]
