"""segments.services and segments.selectors: creating, editing and deleting segments, static member lists
(limits, unknown ids), and auto-update membership following orders through orders.services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import services as order_services
from orders.choices import MetadataObject, MetadataType
from orders.exceptions import InvalidInput, NotFound
from orders.models import Customer, MetadataSchema, MetadataSchemaProperty
from orders.tests.factories import SYSTEM, CustomerFactory, make_order
from segments import selectors, services
from segments.models import STATIC_MEMBER_LIMIT, Segment, SegmentMember

pytestmark = pytest.mark.django_db

BIG_SPENDERS = {"summary.orders.total_amount": {"conditions": {"$more_than_equal": [10000]}}}


def order_of(customer, total: int, status: str = "CREATED", **kwargs):
    return make_order(customer=customer, status=status, items=[], amount=total, **kwargs)


def members(segment) -> set[str]:
    return set(selectors.segment_customers(segment).values_list("pk", flat=True))


# --- create / update / delete ---------------------------------------------------------------------------------


def test_an_auto_update_segment_stores_its_filter_in_canonical_form():
    segment = services.segment_create(
        name="  Big spenders ",
        type="auto-update",
        filter={
            "JUNCTION".lower(): "AND",
            "summary.orders.total_amount": {"conditions": {"$more_than_or_equal": 10000}},
        },
    )
    segment.refresh_from_db()
    assert segment.pk.startswith("seg_")
    assert segment.name == "Big spenders"
    assert segment.filter == {"junction": "and", **BIG_SPENDERS}


def test_create_reports_every_problem_with_paths():
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(
            name="",
            type="auto-update",
            filter={"summary.orders.total_amount": {"conditions": {"$more_than": ["lots"]}}, "nope": {}},
            customers=["x"],
        )
    errors = caught.value.errors
    assert errors["name"] == ["must not be empty"]
    assert "minor units" in errors["filter.summary.orders.total_amount.$more_than"][0]
    assert "unknown attribute" in errors["filter.nope"][0]
    assert "takes a filter, not a member list" in errors["customers"][0]
    assert not Segment.objects.exists()


def test_the_filter_is_checked_against_the_customer_metadata_schema():
    schema = MetadataSchema.objects.create(related_object=MetadataObject.CUSTOMER)
    MetadataSchemaProperty.objects.create(schema=schema, key="age", type=MetadataType.NUMBER)
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(name="x", type="auto-update", filter={"metadata.age": {"conditions": {"$is": ["30"]}}})
    assert "holds number values" in caught.value.errors["filter.metadata.age.$is"][0]


def test_type_must_be_known_and_static_segments_take_no_filter():
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(name="x", type="dynamic")
    assert "“static” or “auto-update”" in caught.value.errors["type"][0]
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(name="x", type="static", filter=BIG_SPENDERS)
    assert "not a filter" in caught.value.errors["filter"][0]


def test_update_renames_and_replaces_the_filter_but_never_the_type():
    segment = services.segment_create(name="A", type="auto-update", filter=BIG_SPENDERS)
    updated = services.segment_update(
        segment=segment.pk, name="B", filter={"summary.orders.total_count": {"conditions": {"$more_than": [2]}}}
    )
    assert updated.name == "B"
    assert updated.filter == {"junction": "and", "summary.orders.total_count": {"conditions": {"$more_than": [2]}}}
    assert updated.updated_at > segment.updated_at
    static = services.segment_create(name="S", type="static")
    with pytest.raises(InvalidInput):
        services.segment_update(segment=static, filter=BIG_SPENDERS)
    with pytest.raises(NotFound):
        services.segment_update(segment="seg_missing", name="x")


def test_delete_removes_the_segment_and_its_members_but_not_the_customers():
    customer = CustomerFactory()
    segment = services.segment_create(name="S", type="static", customers=[customer.pk])
    services.segment_delete(segment=segment.pk)
    assert not Segment.objects.exists()
    assert not SegmentMember.objects.exists()
    assert Customer.objects.filter(pk=customer.pk).exists()
    with pytest.raises(NotFound):
        services.segment_delete(segment=segment.pk)


# --- static members ---------------------------------------------------------------------------------------------


def test_static_members_are_given_by_id_or_source_id_once_each():
    ann, bob = CustomerFactory(source_id="shop-ann"), CustomerFactory()
    segment = services.segment_create(name="S", type="static", customers=["shop-ann", bob.pk, ann.pk, " shop-ann "])
    assert members(segment) == {ann.pk, bob.pk}
    assert selectors.segment_member_count(segment) == 2


def test_unknown_ids_refuse_the_whole_list_and_are_named():
    known = CustomerFactory()
    unknown = [f"ghost-{n}" for n in range(25)]
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(name="S", type="static", customers=[known.pk, *unknown])
    message = caught.value.errors["customers"][0]
    assert message.startswith("25 references match no customer (by id or source id): ghost-0, ghost-1")
    assert message.endswith("ghost-19 and 5 more")
    assert not Segment.objects.exists()

    segment = services.segment_create(name="S", type="static", customers=[known.pk])
    with pytest.raises(InvalidInput) as caught:
        services.segment_add_customers(segment=segment, customers=["ghost"])
    assert "1 reference matches no customer" in caught.value.errors["customers"][0]
    assert members(segment) == {known.pk}


def test_adding_is_idempotent_and_reports_only_new_members():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    segment = services.segment_create(name="S", type="static", customers=[a.pk])
    assert services.segment_add_customers(segment=segment.pk, customers=[a.pk, b.pk, c.source_id]) == 2
    assert services.segment_add_customers(segment=segment.pk, customers=[a.pk]) == 0
    assert members(segment) == {a.pk, b.pk, c.pk}
    assert services.segment_remove_customers(segment=segment.pk, customers=[a.pk, "ghost", c.source_id]) == 2
    assert members(segment) == {b.pk}


def test_a_static_segment_never_passes_its_limit(monkeypatch):
    monkeypatch.setattr(services, "STATIC_MEMBER_LIMIT", 3)
    customers = [CustomerFactory() for _ in range(5)]
    ids = [c.pk for c in customers]
    with pytest.raises(InvalidInput) as caught:
        services.segment_create(name="S", type="static", customers=ids[:4])
    assert caught.value.errors["customers"] == [
        "a static segment holds at most 3 customers: it has 0 and 4 new ones were given, 1 too many"
    ]
    segment = services.segment_create(name="S", type="static", customers=ids[:2])
    with pytest.raises(InvalidInput) as caught:
        services.segment_add_customers(segment=segment, customers=ids[1:4])  # one already in, two new
    assert "it has 2 and 2 new ones were given, 1 too many" in caught.value.errors["customers"][0]
    assert services.segment_add_customers(segment=segment, customers=ids[1:3]) == 1
    assert selectors.segment_member_count(segment) == 3


def test_the_real_limit_is_twenty_thousand_and_refused_before_any_lookup():
    assert STATIC_MEMBER_LIMIT == 20_000
    refs = [f"cust-{n}" for n in range(STATIC_MEMBER_LIMIT + 1)]
    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidInput) as caught:
        services.segment_create(name="S", type="static", customers=refs)
    assert "at most 20,000 customers" in caught.value.errors["customers"][0]
    assert not [q for q in queries if "orders_customer" in q["sql"]]


def test_twenty_thousand_members_fit():
    Customer.objects.bulk_create(
        [Customer(id=f"cust_bulk{n:05d}", source_id=f"bulk-{n}") for n in range(STATIC_MEMBER_LIMIT)], batch_size=2000
    )
    segment = services.segment_create(
        name="Everyone", type="static", customers=[f"bulk-{n}" for n in range(STATIC_MEMBER_LIMIT)]
    )
    assert selectors.segment_member_count(segment) == STATIC_MEMBER_LIMIT
    extra = CustomerFactory()
    with pytest.raises(InvalidInput) as caught:
        services.segment_add_customers(segment=segment, customers=[extra.pk])
    assert "it has 20,000 and 1 new ones were given, 1 too many" in caught.value.errors["customers"][0]


def test_auto_update_segments_have_no_member_list():
    segment = services.segment_create(name="A", type="auto-update", filter=BIG_SPENDERS)
    with pytest.raises(InvalidInput):
        services.segment_add_customers(segment=segment, customers=[CustomerFactory().pk])


def test_pasted_lists_split_on_any_separator_and_skip_a_header():
    text = 'id\n"cust_1", cust_2;cust_3\tcust_1\n\n  cust_4  '
    assert services.parse_customer_refs(text) == ["cust_1", "cust_2", "cust_3", "cust_4"]
    assert services.parse_customer_refs("") == []


# --- auto-update membership follows the orders ----------------------------------------------------------------


def test_membership_changes_when_an_order_becomes_paid_or_canceled():
    customer = CustomerFactory()
    segment = services.segment_create(name="Big", type="auto-update", filter=BIG_SPENDERS)
    order = order_of(customer, 15000)  # CREATED: does not count
    assert customer.pk not in members(segment)

    order_services.order_set_status(order=order.pk, status="PAID", actor=SYSTEM)
    assert customer.pk in members(segment)
    assert [s.pk for s in selectors.segments_of_customer(customer.pk)] == [segment.pk]

    order_services.order_set_status(order=order.pk, status="CANCELED", actor=SYSTEM)
    assert customer.pk not in members(segment)
    assert selectors.segments_of_customer(customer.pk) == []


def test_membership_follows_a_redemption_rollback():
    customer = CustomerFactory()
    segment = services.segment_create(
        name="Recent buyers",
        type="auto-update",
        filter={"summary.orders.last_order_date": {"conditions": {"$after": ["30 days ago"]}}},
    )
    order = order_of(customer, 5000)
    redemption = order_services.redemption_record(
        order=order.pk, actor=SYSTEM, amount=500, incentive_code="SPRING", status="SUCCEEDED"
    )
    assert customer.pk in members(segment)
    order_services.redemption_rollback(redemption=redemption.pk, actor=SYSTEM, reason="returned")
    assert customer.pk not in members(segment)


def test_the_segments_of_a_customer_cost_two_queries_however_many_segments():
    customer = CustomerFactory(metadata={"tier": "gold"})
    order_of(customer, 20000, status="PAID")
    expected = set()
    for n in range(12):
        threshold = 10000 if n % 2 else 30000
        segment = services.segment_create(
            name=f"auto {n:02d}",
            type="auto-update",
            filter={"summary.orders.total_amount": {"conditions": {"$more_than": [threshold]}}},
        )
        if n % 2:
            expected.add(segment.pk)
    static_in = services.segment_create(name="static in", type="static", customers=[customer.pk])
    services.segment_create(name="static out", type="static", customers=[CustomerFactory().pk])
    tier = services.segment_create(
        name="gold tier", type="auto-update", filter={"metadata.tier": {"conditions": {"$is": ["gold"]}}}
    )
    expected |= {static_in.pk, tier.pk}
    with CaptureQueriesContext(connection) as queries:
        found = selectors.segments_of_customer(customer.pk)
    assert {s.pk for s in found} == expected
    assert [s.name for s in found] == sorted(s.name for s in found)
    assert len(queries) == 2
