import pytest
from django.db import IntegrityError

from orders import services
from orders.choices import EventType, MetadataObject, MetadataType, OrderStatus, RedemptionStatus
from orders.events import Actor
from orders.exceptions import (
    InvalidInput,
    InvalidStatusTransition,
    NotFound,
    RedemptionNotRollbackable,
    VersionConflict,
)
from orders.models import SKU, Customer, MetadataSchema, Order, OrderEvent, OrderItem, Product, Redemption
from orders.tests.factories import SYSTEM, make_order

pytestmark = pytest.mark.django_db


def event_types(order):
    return list(OrderEvent.objects.filter(order=order).order_by("id").values_list("type", flat=True))


def item(source_id="sku-a", quantity=1, price=1000, **extra):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price, **extra}


# --- create and upsert --------------------------------------------------------------------------------


def test_create_computes_every_derived_amount_from_items_and_ignores_given_ones():
    order = services.order_create(
        actor=SYSTEM,
        source_id="S-1",
        items=[item("a", 2, 1500, discount_amount=500), item("b", 1, 999)],
        amount=1,  # ignored: an order with items is worth the sum of its lines
        discount_amount=1000,
    )
    order.refresh_from_db()
    assert order.amount == 2 * 1500 + 999
    assert order.initial_amount == order.amount
    assert order.items_discount_amount == 500
    assert order.total_discount_amount == 1500
    assert order.total_amount == order.amount - 1500
    assert (order.items_count, order.items_quantity) == (2, 3)
    lines = list(order.items.order_by("position"))
    assert [(line.quantity, line.price, line.amount, line.subtotal_amount) for line in lines] == [
        (2, 1500, 3000, 2500),
        (1, 999, 999, 999),
    ]
    assert order.id.startswith("ord_") and len(order.id) == 24


def test_create_without_items_takes_the_given_amount():
    order = services.order_create(actor=SYSTEM, amount=20000, discount_amount=2500)
    assert (order.amount, order.total_discount_amount, order.total_amount) == (20000, 2500, 17500)
    assert (order.items_count, order.items_quantity) == (0, 0)


def test_create_records_created_event_with_the_actor_and_the_new_values():
    order = make_order(source_id="S-2", metadata={"channel": "web"})
    (event,) = OrderEvent.objects.filter(order=order)
    assert event.type == EventType.ORDER_CREATED
    assert (event.actor_type, event.actor_name) == ("system", "tests")
    assert event.data["changes"]["source_id"] == {"before": None, "after": "S-2"}
    assert event.data["changes"]["total_amount"] == {"before": None, "after": 2000}
    assert event.data["items"]["added"][0]["quantity"] == 2
    assert event.data["metadata"] == {"set": {"channel": {"before": None, "after": "web"}}}


def test_import_records_order_imported():
    order = make_order(imported=True)
    assert event_types(order) == [EventType.ORDER_IMPORTED]


def test_upsert_by_source_id_updates_the_existing_order():
    first = make_order(source_id="S-3", status="CREATED")
    second = services.order_create(actor=SYSTEM, source_id="S-3", status="PAID", metadata={"a": 1})
    assert second.pk == first.pk
    assert Order.objects.count() == 1
    second.refresh_from_db()
    assert second.status == OrderStatus.PAID
    assert second.items.count() == 1  # items not given: cart unchanged
    assert event_types(second) == [EventType.ORDER_CREATED, EventType.ORDER_UPDATED, EventType.ORDER_PAID]


def test_upsert_by_id_updates_the_existing_order():
    first = make_order()
    again = services.order_create(actor=SYSTEM, id=first.id, source_id="now-known")
    assert again.pk == first.pk
    assert Order.objects.get().source_id == "now-known"


def test_create_with_a_new_well_formed_id_keeps_it_and_refuses_a_malformed_one():
    assert make_order(id="ord_fromElsewhere1").pk == "ord_fromElsewhere1"
    with pytest.raises(InvalidInput) as exc:
        make_order(id="order-42")
    assert "id" in exc.value.errors


def test_upsert_that_changes_nothing_records_nothing():
    order = make_order(source_id="S-4")
    services.order_create(actor=SYSTEM, source_id="S-4")
    assert event_types(order) == [EventType.ORDER_CREATED]
    order.refresh_from_db()
    assert order.version == 1


def test_inline_customer_and_referrer_are_upserted_by_source_id():
    payload = {"source_id": "bob", "name": "Bob", "email": "bob@example.com", "metadata": {"lang": "en"}}
    order = make_order(customer=payload, referrer={"source_id": "jane", "name": "Jane"})
    again = make_order(customer={"source_id": "bob", "phone": "+1 933"})
    assert Customer.objects.count() == 2
    bob = Customer.objects.get(source_id="bob")
    assert (bob.name, bob.email, bob.phone) == ("Bob", "bob@example.com", "+1 933")
    assert order.customer_id == again.customer_id == bob.pk
    assert order.referrer.source_id == "jane"


def test_unknown_customer_id_is_a_field_error():
    with pytest.raises(InvalidInput) as exc:
        make_order(customer={"id": "cust_nope"})
    assert exc.value.errors == {"customer.id": ["no customer with id cust_nope"]}


# --- items and the catalog ----------------------------------------------------------------------------


def test_items_by_source_id_create_catalog_entries_and_by_id_reuse_them():
    order = services.order_create(
        actor=SYSTEM,
        items=[
            {
                "source_id": "iphone",
                "related_object": "product",
                "quantity": 2,
                "product": {"name": "iPhone", "price": 60000},
            },
            {
                "source_id": "comic-1",
                "related_object": "sku",
                "product": {"source_id": "books", "name": "Books", "price": 2100},
                "sku": {"sku": "Comics 1", "price": 1700},
            },
        ],
    )
    iphone = Product.objects.get(source_id="iphone")
    comic = SKU.objects.get(source_id="comic-1")
    assert comic.product.source_id == "books"
    lines = list(order.items.order_by("position"))
    assert (lines[0].product_id, lines[0].price, lines[0].amount) == (iphone.pk, 60000, 120000)
    assert (lines[1].sku_id, lines[1].product_id, lines[1].price, lines[1].sku_name) == (
        comic.pk,
        comic.product_id,
        1700,
        "Comics 1",
    )
    assert order.amount == 121700

    by_id = services.order_create(actor=SYSTEM, items=[{"product_id": iphone.pk, "quantity": 1}])
    assert by_id.amount == 60000
    assert Product.objects.filter(source_id="iphone").count() == 1


def test_catalog_entry_changes_only_with_override():
    make_order(items=[item("p1", product={"name": "Old", "price": 100})])
    make_order(items=[item("p1", product={"name": "Ignored"})])
    assert Product.objects.get(source_id="p1").name == "Old"
    make_order(items=[item("p1", product={"name": "New", "override": True})])
    assert Product.objects.get(source_id="p1").name == "New"


def test_unknown_product_id_and_bad_quantity_name_their_paths():
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[{"product_id": "prod_missing", "price": 1}, item("x", quantity=0), item("y", price=1.5)])
    assert set(exc.value.errors) == {"items[0].product_id", "items[1].quantity", "items[2].price"}
    assert Order.objects.count() == 0
    assert Product.objects.count() == 0  # the catalog rows of valid lines went with the failed call


def test_an_item_without_any_price_is_refused():
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[{"source_id": "no-price", "related_object": "product"}])
    assert "items[0].price" in exc.value.errors


def test_at_most_500_items():
    make_order(items=[item(f"p{i}", price=1) for i in range(500)])
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[item(f"p{i}", price=1) for i in range(501)])
    assert "at most 500" in exc.value.errors["items"][0]


def test_item_discount_cannot_exceed_the_line_and_order_discount_cannot_exceed_the_order():
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[item("a", 1, 100, discount_amount=101)])
    assert "items[0].discount_amount" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[item("a", 1, 100)], discount_amount=101)
    assert "discount_amount" in exc.value.errors


def test_update_replaces_items_and_records_the_item_diff():
    order = make_order(items=[item("a", 1, 100), item("b", 1, 200)])
    services.order_update(order=order, actor=SYSTEM, items=[item("a", 3, 100), item("c", 1, 50)])
    order.refresh_from_db()
    assert order.amount == 350
    assert (order.items_count, order.items_quantity) == (2, 4)
    assert sorted(order.items.values_list("product_source_id", "quantity")) == [("a", 3), ("c", 1)]
    event = OrderEvent.objects.filter(order=order, type=EventType.ORDER_UPDATED).get()
    items = event.data["items"]
    assert [line["source_id"] for line in items["added"]] == ["c"]
    assert [line["source_id"] for line in items["removed"]] == ["b"]
    assert items["changed"][0]["quantity"] == {"before": 1, "after": 3}
    assert event.data["changes"]["amount"] == {"before": 300, "after": 350}
    assert OrderItem.objects.count() == 2
    # A change that leaves the cart alone keeps its size; emptying the cart zeroes it.
    services.order_update(order=order, actor=SYSTEM, metadata_set={"gift": True})
    order.refresh_from_db()
    assert (order.items_count, order.items_quantity) == (2, 4)
    services.order_update(order=order, actor=SYSTEM, items=[])
    order.refresh_from_db()
    assert (order.items_count, order.items_quantity, order.amount) == (0, 0, 350)


# --- updates, metadata --------------------------------------------------------------------------------


def test_update_is_partial_and_diffs_fields_and_metadata_keys():
    order = make_order(metadata={"keep": 1, "drop": 2, "change": "x"})
    services.order_update(
        order=order, actor=SYSTEM, metadata_set={"change": "y", "new": True}, metadata_remove=["drop"]
    )
    order.refresh_from_db()
    assert order.metadata == {"keep": 1, "change": "y", "new": True}
    assert order.version == 2
    event = OrderEvent.objects.filter(order=order, type=EventType.ORDER_UPDATED).get()
    assert event.data == {
        "metadata": {
            "set": {"change": {"before": "x", "after": "y"}, "new": {"before": None, "after": True}},
            "removed": {"drop": 2},
        }
    }


def test_update_to_a_source_id_of_another_order_names_that_order():
    other = make_order(source_id="taken")
    order = make_order()
    with pytest.raises(services.DuplicateSourceId) as exc:
        services.order_update(order=order, actor=SYSTEM, source_id="taken")
    assert exc.value.existing_id == other.pk
    assert "source_id" in exc.value.errors


def test_metadata_schema_types_required_keys_and_defined_only():
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER, allow_defined_only=True)
    schema.properties.create(key="channel", type=MetadataType.STRING, optional=False)
    schema.properties.create(key="gift", type=MetadataType.BOOLEAN)
    schema.properties.create(key="tags", type=MetadataType.STRING, is_array=True)
    schema.properties.create(key="ship_on", type=MetadataType.DATE)
    make_order(metadata={"channel": "web", "gift": False, "tags": ["a"], "ship_on": "2026-01-31"})
    with pytest.raises(InvalidInput) as exc:
        make_order(metadata={"gift": "yes", "tags": ["a", 3], "ship_on": "31/01/2026", "color": "red"})
    assert exc.value.errors == {
        "metadata.gift": ["must be true or false"],
        "metadata.tags[1]": ["must be a text value"],
        "metadata.ship_on": ["must be a date in the form YYYY-MM-DD"],
        "metadata.color": ["is not a defined metadata key (this schema allows only defined keys)"],
        "metadata.channel": ["is required"],
    }


def test_metadata_limits_apply_without_a_schema():
    with pytest.raises(InvalidInput) as exc:
        make_order(metadata={"deep": {"a": {"b": {"c": {"d": {"e": 1}}}}}})
    assert "levels deep" in exc.value.errors["metadata"][0]
    with pytest.raises(InvalidInput):
        make_order(metadata={"big": "x" * 20000})
    with pytest.raises(InvalidInput):
        make_order(metadata=["not", "an", "object"])


def test_item_and_customer_metadata_are_checked_against_their_schemas():
    schema = MetadataSchema.objects.create(related_object=MetadataObject.ORDER_ITEM)
    schema.properties.create(key="size", type=MetadataType.NUMBER)
    schema = MetadataSchema.objects.create(related_object=MetadataObject.CUSTOMER)
    schema.properties.create(key="vip", type=MetadataType.BOOLEAN)
    with pytest.raises(InvalidInput) as exc:
        make_order(items=[item("a", metadata={"size": "L"})], customer={"source_id": "c", "metadata": {"vip": 1}})
    assert set(exc.value.errors) == {"items[0].metadata.size", "customer.metadata.vip"}
    assert Customer.objects.count() == 0


# --- status -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("CREATED", "PAID"),
        ("CREATED", "FULFILLED"),
        ("CREATED", "CANCELED"),
        ("PAID", "FULFILLED"),
        ("PAID", "CREATED"),
        ("PAID", "CANCELED"),
        ("FULFILLED", "PAID"),
        ("FULFILLED", "CANCELED"),
    ],
)
def test_every_move_out_of_a_live_status_is_allowed_and_recorded(start, target):
    order = make_order(status=start)
    services.order_set_status(order=order, status=target, actor=SYSTEM)
    order.refresh_from_db()
    assert order.status == target
    last = OrderEvent.objects.filter(order=order).order_by("-id").first()
    assert last.data["changes"]["status"] == {"before": start, "after": target}


@pytest.mark.parametrize("target", ["CREATED", "PAID", "FULFILLED"])
def test_canceled_is_final(target):
    order = make_order(status="CANCELED")
    with pytest.raises(InvalidStatusTransition, match="final"):
        services.order_set_status(order=order, status=target, actor=SYSTEM)
    with pytest.raises(InvalidStatusTransition):
        services.order_update(order=order, actor=SYSTEM, status=target)
    order.refresh_from_db()
    assert order.status == "CANCELED"
    assert event_types(order) == [EventType.ORDER_CREATED]


def test_status_events_by_target():
    order = make_order()
    for status in ("PAID", "FULFILLED", "CREATED", "CANCELED"):
        services.order_set_status(order=order, status=status, actor=SYSTEM)
    assert event_types(order)[1:] == [
        EventType.ORDER_PAID,
        EventType.ORDER_FULFILLED,
        EventType.ORDER_STATUS_RESET,
        EventType.ORDER_CANCELED,
    ]


def test_unknown_status_is_a_field_error():
    with pytest.raises(InvalidInput) as exc:
        make_order(status="SHIPPED")
    assert "status" in exc.value.errors


def test_setting_the_same_status_changes_nothing():
    order = make_order(status="PAID")
    services.order_set_status(order=order, status="PAID", actor=SYSTEM)
    order.refresh_from_db()
    assert order.version == 1
    assert event_types(order) == [EventType.ORDER_CREATED]


# --- actors, versions, atomicity ----------------------------------------------------------------------


def test_actor_of_each_kind_is_recorded(django_user_model):
    user = django_user_model.objects.create_user("alice")
    order = make_order(actor=Actor.for_user(user))
    services.order_set_status(order=order, status="PAID", actor=Actor.for_api_key(key_id="key_1", name="Shop backend"))
    first, second = OrderEvent.objects.filter(order=order).order_by("id")
    assert (first.actor_type, first.actor_user, first.actor_name) == ("user", user, "alice")
    assert (second.actor_type, second.actor_id, second.actor_name, second.actor_user) == (
        "api_key",
        "key_1",
        "Shop backend",
        None,
    )


def test_stale_version_is_a_conflict_and_changes_nothing():
    order = make_order()
    services.order_update(order=order, actor=SYSTEM, version=1, metadata={"a": 1})
    with pytest.raises(VersionConflict) as exc:
        services.order_update(order=order, actor=SYSTEM, version=1, metadata={"a": 2})
    assert exc.value.status == 409
    with pytest.raises(VersionConflict):
        services.order_set_status(order=order, status="PAID", actor=SYSTEM, version=1)
    order.refresh_from_db()
    assert (order.metadata, order.status, order.version) == ({"a": 1}, "CREATED", 2)
    services.order_set_status(order=order, status="PAID", actor=SYSTEM, version=2)


def test_a_failure_after_the_change_leaves_neither_change_nor_event(monkeypatch, customer):
    order = make_order(customer=customer, status="CREATED")

    def explode(*args, **kwargs):
        raise IntegrityError("simulated failure after the order row was written")

    monkeypatch.setattr(services.events, "order_status_changed", explode)
    with pytest.raises(IntegrityError):
        services.order_set_status(order=order, status="PAID", actor=SYSTEM)
    order.refresh_from_db()
    customer.refresh_from_db()
    assert (order.status, order.version) == ("CREATED", 1)
    assert customer.orders_total_count == 0
    assert event_types(order) == [EventType.ORDER_CREATED]


def test_a_failure_while_creating_leaves_no_order_customer_or_catalog(monkeypatch):
    monkeypatch.setattr(services.events, "order_created", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        make_order(customer={"source_id": "c1"}, items=[item("new-product")])
    assert (Order.objects.count(), Customer.objects.count(), Product.objects.count(), OrderEvent.objects.count()) == (
        0,
        0,
        0,
        0,
    )


def test_unknown_order_is_not_found():
    with pytest.raises(NotFound) as exc:
        services.order_set_status(order="ord_missing", status="PAID", actor=SYSTEM)
    assert (exc.value.resource_type, exc.value.resource_id) == ("order", "ord_missing")


# --- redemptions --------------------------------------------------------------------------------------


def test_redemption_applies_the_discount_and_makes_the_order_paid(customer):
    order = make_order(customer=customer, items=[item("a", 1, 10000)])
    redemption = services.redemption_record(
        order=order, actor=SYSTEM, amount=1500, incentive_code="SUMMER15", incentive_id="v_1"
    )
    order.refresh_from_db()
    customer.refresh_from_db()
    assert redemption.id.startswith("r_")
    assert (order.status, order.discount_amount, order.total_amount) == ("PAID", 1500, 8500)
    assert event_types(order)[1:] == [EventType.REDEMPTION_SUCCEEDED, EventType.ORDER_PAID]
    assert (customer.orders_total_count, customer.orders_total_amount) == (1, 8500)


def test_failed_redemption_is_recorded_without_touching_the_order():
    order = make_order()
    redemption = services.redemption_record(
        order=order,
        actor=SYSTEM,
        status=RedemptionStatus.FAILED,
        failure_code="order_rules_violated",
        failure_message="Cart total below 50.00",
    )
    order.refresh_from_db()
    assert (redemption.status, order.status, order.version) == ("FAILED", "CREATED", 1)
    event = OrderEvent.objects.filter(order=order).order_by("-id").first()
    assert event.type == EventType.REDEMPTION_FAILED
    assert event.data["failure_code"] == "order_rules_violated"


def test_redemption_larger_than_the_order_is_refused():
    order = make_order(items=[item("a", 1, 1000)])
    with pytest.raises(InvalidInput):
        services.redemption_record(order=order, actor=SYSTEM, amount=1001)
    assert Redemption.objects.count() == 0


def test_rollback_cancels_paid_order_reverts_discount_and_records_events(customer):
    order = make_order(customer=customer, items=[item("a", 1, 10000)])
    redemption = services.redemption_record(order=order, actor=SYSTEM, amount=2000, incentive_code="X")
    rolled = services.redemption_rollback(redemption=redemption, actor=SYSTEM, reason="Customer returned it")
    order.refresh_from_db()
    customer.refresh_from_db()
    assert rolled.status == RedemptionStatus.ROLLED_BACK
    assert rolled.rollback_id.startswith("rr_") and rolled.rollback_date and rolled.rollback_reason
    assert (order.status, order.discount_amount, order.total_amount) == ("CANCELED", 0, 10000)
    assert event_types(order)[-2:] == [EventType.REDEMPTION_ROLLBACK_SUCCEEDED, EventType.ORDER_CANCELED]
    assert (customer.orders_total_count, customer.orders_total_amount, customer.last_order_date) == (0, 0, None)


def test_second_rollback_is_refused_with_already_rolled_back():
    order = make_order()
    redemption = services.redemption_record(order=order, actor=SYSTEM, amount=100)
    services.redemption_rollback(redemption=redemption.pk, actor=SYSTEM)
    with pytest.raises(RedemptionNotRollbackable) as exc:
        services.redemption_rollback(redemption=redemption.pk, actor=SYSTEM)
    assert exc.value.code == "already_rolled_back"


def test_canceled_order_takes_no_redemption():
    order = make_order(status="CANCELED")
    with pytest.raises(InvalidStatusTransition):
        services.redemption_record(order=order, actor=SYSTEM, amount=10)


# --- customer summaries -------------------------------------------------------------------------------


def test_summary_counts_only_paid_and_fulfilled_orders_and_follows_moves(customer):
    other = Customer.objects.create(source_id="other")
    created = make_order(customer=customer, items=[item("a", 1, 100)])
    paid = make_order(customer=customer, status="PAID", items=[item("a", 1, 300)])
    make_order(customer=customer, status="FULFILLED", items=[item("a", 1, 500)])
    customer.refresh_from_db()
    assert (customer.orders_total_amount, customer.orders_total_count, customer.orders_average_amount) == (800, 2, 400)
    assert customer.last_order_amount == 500

    services.order_set_status(order=created, status="PAID", actor=SYSTEM)
    services.order_update(order=paid, actor=SYSTEM, customer=other)
    customer.refresh_from_db()
    other.refresh_from_db()
    assert (customer.orders_total_amount, customer.orders_total_count, customer.orders_average_amount) == (600, 2, 300)
    assert (other.orders_total_amount, other.orders_total_count, other.last_order_amount) == (300, 1, 300)


def test_one_call_reports_every_bad_field_at_once():
    with pytest.raises(InvalidInput) as exc:
        make_order(
            metadata=["not an object"],
            items=[item("a", quantity=0)],
            customer={"source_id": "c", "email": "not-an-email"},
            discount_amount=-1,
        )
    assert set(exc.value.errors) == {"metadata", "items[0].quantity", "customer.email", "discount_amount"}
    assert Customer.objects.count() == 0


def test_the_migration_fills_the_cart_size_of_existing_orders():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("orders.migrations.0008_order_items_counts")
    big = make_order(items=[item("a", 2, 100), item("b", 5, 10)])
    empty = services.order_create(actor=SYSTEM, amount=500)
    Order.objects.update(items_count=0, items_quantity=0)  # as the new columns start

    migration.fill_cart_sizes(apps, None)

    sizes = dict(Order.objects.values_list("pk", "items_count"))
    units = dict(Order.objects.values_list("pk", "items_quantity"))
    assert (sizes[big.pk], units[big.pk]) == (2, 7)
    assert (sizes[empty.pk], units[empty.pk]) == (0, 0)
