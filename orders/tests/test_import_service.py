"""services.orders_import: many orders at once, in bulk, with the single create's meaning row by row."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orders import services
from orders.choices import ActorType, EventType
from orders.events import Actor
from orders.exceptions import InvalidInput, NotFound
from orders.models import SKU, Customer, Order, OrderEvent, OrderItem, Product
from orders.tests.factories import CustomerFactory, ProductFactory, make_order

pytestmark = pytest.mark.django_db

SHOP = Actor.for_api_key(key_id="app_import_tests", name="Import tests")
SUMMARY = ("orders_total_amount", "orders_total_count", "orders_average_amount", "last_order_amount", "last_order_date")


def line(source_id="p-a", quantity=1, price=1000, **extra):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price, **extra}


def row(source_id, **fields):
    return {"source_id": source_id, **fields}


def counts():
    return {model.__name__: model.objects.count() for model in (Order, OrderItem, OrderEvent, Customer, Product, SKU)}


def summaries():
    return {c["id"]: c for c in Customer.objects.order_by("id").values("id", *SUMMARY)}


def run(rows, **kwargs):
    return services.orders_import(rows=rows, actor=kwargs.pop("actor", SHOP), **kwargs)


# --- good and bad rows ---------------------------------------------------------------------------------


def test_good_rows_are_written_and_bad_rows_are_reported_by_index_and_path_and_write_nothing():
    before = counts()
    result = run(
        [
            row("good-0", status="PAID", customer={"source_id": "ann"}, items=[line("p-a", 2, 1500)]),
            # Bad: a new customer, a new product, then a bad quantity. Neither the customer nor the product
            # may be created, and the rows after it must not see them.
            row(
                "bad-1",
                customer={"source_id": "ghost-customer", "name": "Ghost"},
                items=[line("ghost-product", 1, 700), line("p-b", 0, 100)],
            ),
            row("bad-2", items=[{"product_id": "prod_doesnotexist", "quantity": 1}], discount_amount=-5),
            row("good-3", amount=7000, status="CANCELED"),
        ]
    )
    assert (result.created, result.updated) == (2, 0)
    assert result.failed == {
        1: {"items[1].quantity": ["must be at least 1"]},
        2: {
            "discount_amount": ["must be at least 0"],
            "items[0].product_id": ["no product with id prod_doesnotexist"],
        },
    }
    assert result.order_ids[1] is None and result.order_ids[2] is None
    good = Order.objects.get(source_id="good-0")
    assert result.order_ids == [good.pk, None, None, Order.objects.get(source_id="good-3").pk]
    assert (good.amount, good.total_amount, good.items_count, good.items_quantity) == (3000, 3000, 1, 2)
    assert good.customer.source_id == "ann"
    assert not Order.objects.filter(source_id__in=["bad-1", "bad-2"]).exists()
    assert not Customer.objects.filter(source_id="ghost-customer").exists()
    assert not Product.objects.filter(source_id="ghost-product").exists()
    after = counts()
    assert after["Order"] - before["Order"] == 2
    assert after["OrderItem"] - before["OrderItem"] == 1
    assert after["OrderEvent"] - before["OrderEvent"] == 2
    assert after["Customer"] - before["Customer"] == 1  # ann
    assert after["Product"] - before["Product"] == 1  # p-a


def test_a_failed_row_leaves_nothing_that_a_later_row_could_use():
    result = run(
        [
            # Would bring "p-new" into the catalog with a price, but fails on its second item.
            row("first", items=[line("p-new", 1, 500), line("p-x", 1, -1)]),
            # Names "p-new" without a price: only the failed row knew one.
            row("second", items=[{"source_id": "p-new", "related_object": "product", "quantity": 1}]),
        ]
    )
    assert result.failed[0] == {"items[1].price": ["must be at least 0"]}
    assert result.failed[1] == {"items[0].price": ["is required: neither the item nor its product/SKU has a price"]}
    assert not Product.objects.filter(source_id="p-new").exists()


def test_rows_that_are_not_order_objects_or_hold_unknown_fields_fail_alone():
    result = run([["not", "an", "object"], row("x", colour="red"), row("ok", amount=10), row("  ", amount=1)])
    assert result.failed == {
        0: {"": ["must be an object of order fields"]},
        1: {"colour": ["is not a field of an order"]},
    }
    assert result.created == 2  # a blank source id is no source id, as for order_create


def test_later_rows_use_what_earlier_rows_brought_into_the_catalog_and_customers():
    result = run(
        [
            row(
                "a",
                customer={"source_id": "bob", "name": "Bob"},
                items=[
                    line("p-shared", 1, 1200, product={"name": "Shared", "price": 1200}),
                    {"source_id": "sku-shared", "related_object": "sku", "quantity": 1, "price": 300},
                ],
            ),
            row(
                "b",
                customer={"source_id": "bob", "email": "bob@example.com"},
                items=[
                    {"source_id": "p-shared", "related_object": "product", "quantity": 2},
                    {"source_id": "sku-shared", "related_object": "sku", "quantity": 3, "price": 300},
                ],
            ),
        ]
    )
    assert result.failed == {}
    assert Product.objects.filter(source_id="p-shared").count() == 1
    assert SKU.objects.filter(source_id="sku-shared").count() == 1
    bob = Customer.objects.get(source_id="bob")
    assert (bob.name, bob.email) == ("Bob", "bob@example.com")
    assert Customer.objects.filter(source_id="bob").count() == 1
    b = Order.objects.get(source_id="b")
    assert b.amount == 2 * 1200 + 3 * 300  # p-shared's price is what row "a" brought into the catalog
    lines = list(b.items.order_by("position"))
    assert [(x.product_name, x.sku_source_id, x.price) for x in lines] == [
        ("Shared", "", 1200),
        ("", "sku-shared", 300),
    ]


def test_override_changes_existing_catalog_rows_but_not_from_a_failed_row():
    product = ProductFactory(source_id="p-o", name="Old", price=100)
    result = run(
        [
            row("bad", items=[line("p-o", 1, 100, product={"name": "From a bad row", "override": True}), line("z", 0)]),
            row("good", items=[line("p-o", 1, 100, product={"name": "New", "price": 150, "override": True})]),
        ]
    )
    assert list(result.failed) == [0]
    product.refresh_from_db()
    assert (product.name, product.price) == ("New", 150)
    assert Order.objects.get(source_id="good").items.get().product_name == "New"


def test_customers_named_by_id_must_exist_and_are_updated_with_what_is_given():
    known = CustomerFactory(name="Known", email="known@example.com")
    result = run(
        [
            row("a", customer={"id": known.pk, "phone": "+1 555"}),
            row("b", customer={"id": "cust_nobody"}, referrer={"source_id": "r", "email": "not an email"}),
        ]
    )
    assert result.failed == {
        1: {"customer.id": ["no customer with id cust_nobody"], "referrer.email": ["must be a valid email address"]}
    }
    known.refresh_from_db()
    assert (known.name, known.phone) == ("Known", "+1 555")
    assert not Customer.objects.filter(source_id="r").exists()


def test_numbers_too_large_to_store_fail_their_row_only():
    result = run(
        [
            row("big-line", items=[line("p", 10**9, 10**15)]),
            row("big-sum", items=[line(f"p{i}", 1000, 10**15) for i in range(10)]),
            row("fine", amount=5),
        ]
    )
    assert result.failed == {
        0: {
            "items[0]": ["price × quantity is too large to store"],
            "amount": ["the sum of the items is too large to store"],
        },
        1: {"amount": ["the sum of the items is too large to store"]},
    }
    assert result.created == 1


# --- events and actors ----------------------------------------------------------------------------------


def test_each_new_order_records_one_order_imported_event_with_the_api_key_as_actor():
    result = run([row("e-1", status="PAID", items=[line("p", 2, 500)], metadata={"channel": "web"}), row("e-2")])
    for order_id in result.order_ids:
        (event,) = OrderEvent.objects.filter(order_id=order_id)
        assert event.type == EventType.ORDER_IMPORTED
        assert (event.actor_type, event.actor_id, event.actor_name) == (
            ActorType.API_KEY,
            "app_import_tests",
            "Import tests",
        )
    event = OrderEvent.objects.get(order_id=result.order_ids[0])
    assert event.data["changes"]["status"] == {"before": None, "after": "PAID"}
    assert event.data["changes"]["amount"] == {"before": None, "after": 1000}
    assert [added["source_id"] for added in event.data["items"]["added"]] == ["p"]
    assert event.data["metadata"] == {"set": {"channel": {"before": None, "after": "web"}}}
    # The same data as a single imported create records.
    single = services.order_create(
        actor=SHOP,
        source_id="e-3",
        status="PAID",
        items=[line("p", 2, 500)],
        metadata={"channel": "web"},
        imported=True,
    )
    single_data = OrderEvent.objects.get(order=single).data
    assert single_data["changes"] | {"source_id": None} == event.data["changes"] | {"source_id": None}
    assert single_data["items"]["added"][0] == event.data["items"]["added"][0]


# --- upserts and duplicates -----------------------------------------------------------------------------


def test_rows_naming_existing_orders_update_them_through_order_update():
    existing = make_order(source_id="up-1", status="CREATED", customer={"source_id": "upsert-customer"})
    by_id = make_order(source_id="up-2")
    events_before = OrderEvent.objects.count()
    result = run(
        [
            row("new-before", status="PAID", customer={"source_id": "upsert-customer"}, amount=100),
            row("up-1", status="PAID", items=[line("p-up", 3, 1000, product={"price": 1000})]),
            {"id": by_id.pk, "metadata": {"note": "x"}},
            row("new-after", items=[{"source_id": "p-up", "related_object": "product", "quantity": 1}]),
        ]
    )
    assert result.failed == {}
    assert (result.created, result.updated) == (2, 2)
    assert result.order_ids[1:3] == [existing.pk, by_id.pk]
    existing.refresh_from_db()
    assert (existing.status, existing.amount, existing.items_count) == ("PAID", 3000, 1)
    types = list(OrderEvent.objects.filter(order=existing).order_by("id").values_list("type", flat=True))
    assert types == [EventType.ORDER_CREATED, EventType.ORDER_UPDATED, EventType.ORDER_PAID]
    assert not OrderEvent.objects.filter(order=existing, type=EventType.ORDER_IMPORTED).exists()
    # The row after the upsert found the product the upsert brought into the catalog, with its price.
    assert Order.objects.get(source_id="new-after").amount == 1000
    assert OrderEvent.objects.count() - events_before == 2 + 2 + 1  # 2 imported, updated+paid, updated
    customer = Customer.objects.get(source_id="upsert-customer")
    assert (customer.orders_total_count, customer.orders_total_amount) == (2, 100 + 3000)


def test_a_failed_upsert_changes_nothing_and_the_import_goes_on():
    order = make_order(source_id="up-bad", status="CANCELED")
    result = run([row("up-bad", status="PAID", customer={"source_id": "from-failed-upsert"}), row("next", amount=1)])
    assert result.failed == {0: {"status": ["The order is CANCELED, which is final: it cannot move to PAID."]}}
    order.refresh_from_db()
    assert order.status == "CANCELED" and order.customer_id is None
    assert not Customer.objects.filter(source_id="from-failed-upsert").exists()
    assert result.created == 1


def test_an_id_that_names_no_order_while_the_source_id_names_one_fails_as_order_create_would():
    make_order(source_id="taken")
    result = run([{"id": "ord_unknown1", "source_id": "taken"}])
    assert result.failed == {0: {"id": ["no order with id ord_unknown1"]}}
    with pytest.raises(NotFound):
        services.order_create(actor=SHOP, id="ord_unknown1", source_id="taken")


def test_the_same_source_id_twice_in_one_import_fails_the_later_row_even_when_the_first_failed():
    existing = make_order(source_id="dup-existing")
    result = run(
        [
            row("dup", amount=1),
            row("dup", amount=2),
            row("dup-bad", amount=-1),
            row("dup-bad", amount=3),
            row("dup-existing", amount=4),
            {"id": existing.pk, "amount": 5},
        ]
    )
    same = "has the same source id as an earlier row of this import (index {}); an order may appear once"
    assert result.failed == {
        1: {"source_id": [same.format(0)]},
        2: {"amount": ["must be at least 0"]},
        3: {"source_id": [same.format(2)]},
        5: {"id": ["names the same order as an earlier row of this import (index 4); an order may appear once"]},
    }
    assert Order.objects.get(source_id="dup").amount == 1
    assert not Order.objects.filter(source_id="dup-bad").exists()


# --- summaries, dry run ---------------------------------------------------------------------------------


def test_customer_summaries_after_an_import_equal_a_rebuild():
    ann = CustomerFactory(source_id="ann")
    make_order(customer=ann, status="PAID", created_at="2024-06-01T10:00:00Z")
    long_ago = (timezone.now() - dt.timedelta(days=800)).isoformat()
    run(
        [
            row("s-1", status="PAID", customer={"source_id": "ann"}, items=[line("p", 1, 900)], created_at=long_ago),
            row("s-2", status="FULFILLED", customer={"source_id": "ann"}, amount=5000, discount_amount=500),
            row("s-3", status="CREATED", customer={"source_id": "ann"}, amount=99999),
            row("s-4", status="PAID", customer={"source_id": "new-c"}, referrer={"source_id": "ann"}, amount=10),
            row("s-5", status="PAID", customer={"source_id": "new-c"}, amount=-1),
            row("up", status="PAID", customer={"source_id": "new-c"}, amount=1),
        ]
    )
    incremental = summaries()
    services.customer_summaries_rebuild()
    assert summaries() == incremental
    ann.refresh_from_db()
    assert (ann.orders_total_count, ann.orders_total_amount) == (3, 2000 + 900 + 4500)
    assert ann.last_order_amount == 4500


def test_dry_run_checks_everything_and_writes_nothing():
    ProductFactory(source_id="known", price=100)
    make_order(source_id="exists")
    rows = [
        row("d-1", customer={"source_id": "dry-customer"}, items=[line("dry-product", 1, 10)], id="ord_dryrun1"),
        row("d-2", items=[{"product_id": "prod_nope"}]),
        row("exists", status="PAID"),
        row("d-1", amount=1),
    ]
    before, summaries_before = counts(), summaries()
    dry = run(rows, dry_run=True)
    assert counts() == before and summaries() == summaries_before
    real = run(rows)
    assert (dry.created, dry.updated) == (real.created, real.updated) == (1, 1)
    assert (
        dry.failed
        == real.failed
        == {
            1: {"items[0].product_id": ["no product with id prod_nope"]},
            3: {
                "source_id": [
                    "has the same source id as an earlier row of this import (index 0); an order may appear once"
                ]
            },
        }
    )
    assert dry.order_ids[0] == real.order_ids[0] == "ord_dryrun1"
    assert dry.order_ids[2] == real.order_ids[2] == Order.objects.get(source_id="exists").pk
    assert counts()["Order"] == before["Order"] + 1


# --- bulk ------------------------------------------------------------------------------------------------


def test_the_bulk_path_runs_a_fixed_number_of_queries_whatever_the_number_of_rows(django_assert_max_num_queries):
    CustomerFactory(source_id="c-0")
    ProductFactory(source_id="p-0", price=100)
    rows = [
        row(
            f"q-{i}",
            status="PAID" if i % 2 else "CREATED",
            customer={"source_id": f"c-{i % 7}", "name": f"C {i % 7}"},
            items=[line(f"p-{i % 5}", 1, 100), line(f"p-{i % 3}", 2, 200), {"source_id": "p-0", "quantity": 1}],
            metadata={"i": i},
        )
        for i in range(100)
    ]
    # Schemas, three lookups, catalog and customer writes, orders, items, events, summaries: 15 in all,
    # where one order_create per row takes ~15 per row.
    with django_assert_max_num_queries(20):
        result = run(rows)
    assert result.created == 100 and not result.failed
    assert OrderItem.objects.filter(order__source_id__startswith="q-").count() == 300


def test_a_database_error_while_writing_leaves_nothing(monkeypatch):
    before = counts()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # The last step of the writing, after the orders, items and events went in.
    monkeypatch.setattr(services, "customer_summaries_rebuild", broken)
    with pytest.raises(RuntimeError):
        run([row("x", status="PAID", customer={"source_id": "c-x"}, items=[line("p-x")])])
    assert counts() == before


# --- the same as order_create, row by row ---------------------------------------------------------------

statuses = st.sampled_from(["CREATED", "PAID", "FULFILLED", "CANCELED"])
items_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.one_of(st.none(), st.integers(-1, 2000))),
    max_size=3,
)
rows_strategy = st.lists(
    st.tuples(st.integers(0, 5), statuses, st.one_of(st.none(), st.integers(0, 3)), items_strategy),
    min_size=1,
    max_size=8,
)


def _rows_of(spec):
    rows = []
    for number, (source, status, customer, items) in enumerate(spec):
        rows.append(
            {
                "source_id": f"h-{source}-{number % 2}",
                "status": status,
                "customer": {"source_id": f"hc-{customer}"} if customer is not None else None,
                "items": [
                    {"source_id": f"hp-{product}", "related_object": "product", "quantity": quantity, "price": price}
                    for product, quantity, price in items
                ],
            }
        )
    return rows


def _state():
    orders = {
        o.source_id: (o.status, o.amount, o.total_amount, o.items_count, o.customer.source_id if o.customer else None)
        for o in Order.objects.select_related("customer")
    }
    customers = {c.source_id: tuple(getattr(c, f) for f in SUMMARY[:3]) for c in Customer.objects.all()}
    products = {p.source_id: p.price for p in Product.objects.all()}
    return orders, customers, products


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=rows_strategy)
def test_an_import_ends_where_order_create_row_by_row_would_for_distinct_orders(spec):
    rows = _rows_of(spec)
    seen, distinct = set(), []
    for data in rows:  # an import refuses a second row for one order; compare the rows it keeps
        if data["source_id"] not in seen:
            seen.add(data["source_id"])
            distinct.append(data)
    with transaction.atomic():
        result = run(distinct)
        imported = _state()
        transaction.set_rollback(True)
    with transaction.atomic():
        failed = set()
        for index, data in enumerate(distinct):
            try:
                services.order_create(actor=SHOP, imported=True, **data)
            except InvalidInput:
                failed.add(index)
        one_by_one = _state()
        transaction.set_rollback(True)
    assert set(result.failed) == failed
    assert imported == one_by_one
