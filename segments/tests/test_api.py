"""The Segments API (/api/v1/segments) and the customers of a segment (/api/v1/customers?segment_id=…), every
response checked against the OpenAPI schema by the client of orders/tests/api_support.py."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from orders.models import Customer
from orders.tests import api_support
from orders.tests.api_support import API, SchemaCheckingClient
from orders.tests.factories import CustomerFactory, make_order
from segments import selectors, services
from segments.models import Segment, SegmentMember

anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db

LOYAL = {
    "junction": "and",
    "summary.orders.total_amount": {"conditions": {"$more_than_or_equal": [5000]}},
    "summary.orders.total_count": {"conditions": {"$more_than_equal": [2]}},
    "summary.orders.last_order_date": {"conditions": {"$after": ["30 days ago"]}},
}


def paid(customer, amount: int, *, days_ago: int = 1):
    return make_order(
        customer=customer,
        status="PAID",
        items=[],
        amount=amount,
        created_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def post(api, body, status=200):
    response = api.post(f"{API}/segments", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def errors_of(api, body) -> dict[str, list[str]]:
    """The field errors of a refused create, after checking that it created nothing."""
    before = Segment.objects.count()
    body = post(api, body, status=400)
    assert body["key"] == "invalid_payload"
    assert Segment.objects.count() == before
    return body["errors"]


@pytest.fixture
def loyal_customers(db):
    """Customers around the LOYAL filter: only ``in`` meets all three conditions."""
    inside = CustomerFactory(source_id="loyal-in")
    paid(inside, 3000, days_ago=40)
    paid(inside, 2500, days_ago=3)
    small = CustomerFactory(source_id="loyal-small")  # two recent orders, 4,000 in all
    paid(small, 2000, days_ago=2)
    paid(small, 2000, days_ago=1)
    single = CustomerFactory(source_id="loyal-single")  # one big order
    paid(single, 9000, days_ago=1)
    lapsed = CustomerFactory(source_id="loyal-lapsed")  # enough, but the last order is old
    paid(lapsed, 5000, days_ago=60)
    paid(lapsed, 5000, days_ago=45)
    make_order(customer=small, status="CREATED", items=[], amount=90000)  # does not count
    also = CustomerFactory(source_id="loyal-also")
    paid(also, 4000, days_ago=10)
    paid(also, 1000, days_ago=5)
    return {"in": [inside, also], "out": [small, single, lapsed]}


# --- create ---------------------------------------------------------------------------------------------


def test_create_static_segment_by_ids_and_source_ids(api):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory(source_id="shop-c")
    CustomerFactory()  # not in it
    body = post(api, {"name": " VIP ", "type": "static", "customers": [a.pk, b.pk, "shop-c", a.pk]})
    assert body["id"].startswith("seg_")
    assert (body["name"], body["type"], body["filter"], body["customers_count"]) == ("VIP", "static", None, 3)
    assert (body["initial_sync_status"], body["object"]) == ("DONE", "segment")
    assert body["created_at"].endswith("Z")
    members = set(SegmentMember.objects.filter(segment_id=body["id"]).values_list("customer_id", flat=True))
    assert members == {a.pk, b.pk, c.pk}


def test_create_static_segment_without_customers_is_empty(api):
    body = post(api, {"name": "Later", "type": "static"})
    assert body["customers_count"] == 0 and body["filter"] is None


def test_create_auto_update_segment_counts_the_real_members(api, loyal_customers):
    body = post(api, {"name": "Loyal", "type": "auto-update", "filter": LOYAL})
    assert body["type"] == "auto-update"
    # stored and answered in canonical form: the "or_equal" spelling becomes "$more_than_equal"
    assert body["filter"]["summary.orders.total_amount"] == {"conditions": {"$more_than_equal": [5000]}}
    assert body["filter"]["junction"] == "and" and len(body["filter"]) == 4
    segment = Segment.objects.get(pk=body["id"])
    real = set(selectors.segment_customers(segment).values_list("pk", flat=True))
    assert real == {customer.pk for customer in loyal_customers["in"]}
    assert body["customers_count"] == 2
    assert api.get(f"{API}/segments/{segment.pk}").json()["customers_count"] == 2


def test_an_auto_update_count_follows_new_orders(api, loyal_customers):
    segment_id = post(api, {"name": "Loyal", "type": "auto-update", "filter": LOYAL})["id"]
    paid(loyal_customers["out"][0], 5000)  # "small" now spent 9,000
    assert api.get(f"{API}/segments/{segment_id}").json()["customers_count"] == 3


def test_invalid_filters_are_named_by_the_path_of_their_condition(api):
    errors = errors_of(
        api,
        {
            "name": "Bad",
            "type": "auto-update",
            "filter": {
                "junction": "xor",
                "summary.orders.total_amount": {"conditions": {"$more_than": ["lots"]}},
                "summary.orders.last_order_date": {"conditions": {"$after": ["yesterday-ish"]}},
                "nope": {"conditions": {"$is": [1]}},
            },
        },
    )
    assert set(errors) == {
        "filter.junction",
        "filter.summary.orders.total_amount.$more_than",
        "filter.summary.orders.last_order_date.$after",
        "filter.nope",
    }
    assert "minor units" in errors["filter.summary.orders.total_amount.$more_than"][0]
    assert "unknown attribute" in errors["filter.nope"][0]


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"type": "static"}, "name", "required"),
        ({"name": "   ", "type": "static"}, "name", "must not be empty"),
        ({"name": "x" * 201, "type": "static"}, "name", "at most 200"),
        ({"name": "X"}, "type", "required"),
        ({"name": "X", "type": "dynamic"}, "type", "not a valid choice"),
        ({"name": "X", "type": "auto-update"}, "filter", "needs a filter"),
        ({"name": "X", "type": "auto-update", "filter": None}, "filter", "needs a filter"),
        ({"name": "X", "type": "auto-update", "filter": "total > 5"}, "filter", "dictionary"),
        ({"name": "X", "type": "auto-update", "filter": {}}, "filter", ""),
        ({"name": "X", "type": "auto-update", "filter": LOYAL, "customers": ["a"]}, "customers", "not a member list"),
        ({"name": "X", "type": "static", "filter": LOYAL}, "filter", "not a filter"),
        ({"name": "X", "type": "static", "customers": "cust_1"}, "customers", "list"),
        ({"name": "X", "type": "static", "customers": ["ok", 5, ""]}, "customers[1]", "customer id"),
    ],
)
def test_bad_input_is_400_naming_the_field(api, body, path, words):
    errors = errors_of(api, body)
    assert path in errors, errors
    assert words in " ".join(errors[path])
    assert not Segment.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(api):
    response = api.post(f"{API}/segments", ["static"], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"": ["The request body must be a JSON object."]}


def test_unknown_customers_are_listed_and_nothing_is_created(api):
    known = CustomerFactory()
    errors = errors_of(api, {"name": "VIP", "type": "static", "customers": [known.pk, "cust_ghost", "shop-ghost"]})
    assert errors == {"customers": ["2 references match no customer (by id or source id): cust_ghost, shop-ghost"]}
    assert not SegmentMember.objects.exists()


def test_the_static_member_limit_is_400_on_customers(api, monkeypatch):
    monkeypatch.setattr(services, "STATIC_MEMBER_LIMIT", 2)
    customers = [CustomerFactory().pk for _ in range(3)]
    errors = errors_of(api, {"name": "Too many", "type": "static", "customers": customers})
    assert list(errors) == ["customers"]
    assert "at most 2 customers" in errors["customers"][0] and "1 too many" in errors["customers"][0]
    assert post(api, {"name": "Fits", "type": "static", "customers": customers[:2]})["customers_count"] == 2


# --- get, list, delete ------------------------------------------------------------------------------------


def test_get_by_id_with_or_without_a_trailing_slash(api):
    segment = services.segment_create(name="VIP", type="static", customers=[CustomerFactory().pk])
    for path in (f"{API}/segments/{segment.pk}", f"{API}/segments/{segment.pk}/"):
        body = api.get(path).json()
        assert (body["id"], body["name"], body["customers_count"]) == (segment.pk, "VIP", 1)


def test_unknown_segment_is_404_naming_it(api):
    for method in ("get", "delete"):
        response = getattr(api, method)(f"{API}/segments/seg_ghost")
        assert response.status_code == 404
        body = response.json()
        assert (body["key"], body["resource_type"], body["resource_id"]) == ("not_found", "segment", "seg_ghost")
        assert body["details"] == "Cannot find segment with id seg_ghost"


def test_list_pages_oldest_first_with_a_total(api):
    start = timezone.now() - dt.timedelta(days=1)
    ids = []
    for n in range(12):
        segment = services.segment_create(name=f"S{n:02d}", type="static")
        Segment.objects.filter(pk=segment.pk).update(created_at=start + dt.timedelta(minutes=n))
        ids.append(segment.pk)
    body = api.get(f"{API}/segments").json()
    assert (body["object"], body["data_ref"], body["total"]) == ("list", "segments", 12)
    assert [s["id"] for s in body["segments"]] == ids[:10]
    assert [s["id"] for s in api.get(f"{API}/segments/", {"page": 2}).json()["segments"]] == ids[10:]
    newest = api.get(f"{API}/segments", {"limit": 3, "page": 2, "order": "-created_at"}).json()
    assert [s["id"] for s in newest["segments"]] == ids[-4:-7:-1]
    assert api.get(f"{API}/segments", {"page": 3}).json() == {
        "object": "list",
        "data_ref": "segments",
        "segments": [],
        "total": 12,
    }


@pytest.mark.parametrize(
    ("params", "path"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"page": "x"}, "page"), ({"order": "name"}, "order")],
)
def test_list_parameters_out_of_range_are_400(api, params, path):
    response = api.get(f"{API}/segments", params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [path]


def test_list_counts_every_segment_in_a_fixed_number_of_queries(api, loyal_customers, django_assert_max_num_queries):
    everyone = [c.pk for group in loyal_customers.values() for c in group]
    for n in range(4):
        services.segment_create(name=f"static {n}", type="static", customers=everyone[: n + 1])
        junction = "or" if n else "and"
        services.segment_create(name=f"auto {n}", type="auto-update", filter={**LOYAL, "junction": junction})
    services.segment_create(
        name="gmail", type="auto-update", filter={"email": {"conditions": {"$ends_with": ["@example.com"]}}}
    )
    api.get(f"{API}/segments")  # the API key's last use is written once
    counts = []
    for limit in (2, 9):
        with CaptureQueriesContext(connection) as captured:
            assert len(api.get(f"{API}/segments", {"limit": limit}).json()["segments"]) == limit
        counts.append(len(captured))
    assert counts[0] == counts[1]
    # the key; the page with its static counts; the total; the auto-update counts (+ the table estimate on PG)
    with django_assert_max_num_queries(5):
        body = api.get(f"{API}/segments", {"limit": 100}).json()
    answered = {s["id"]: s["customers_count"] for s in body["segments"]}
    assert len(answered) == 9
    for segment in Segment.objects.all():
        assert answered[segment.pk] == selectors.segment_member_count(segment), segment.name
    assert sorted(answered.values()) == [1, 2, 2, 3, 4, 5, 5, 5, 5]


def test_delete_is_204_then_404_and_keeps_the_customers(api):
    customer = CustomerFactory()
    segment = services.segment_create(name="VIP", type="static", customers=[customer.pk])
    # 204 has no body, which the schema-checking client cannot read as JSON: a plain client sends it, and
    # the schema is asked whether 204 is documented.
    plain = APIClient()
    plain.credentials(**api._credentials)
    response = plain.delete(f"{API}/segments/{segment.pk}")
    assert response.status_code == 204 and response.content == b""
    assert "204" in api_support.openapi_schema()["paths"]["/api/v1/segments/{segment_id}"]["delete"]["responses"]
    assert api.get(f"{API}/segments/{segment.pk}").status_code == 404
    assert api.delete(f"{API}/segments/{segment.pk}").status_code == 404
    assert not SegmentMember.objects.exists()
    assert Customer.objects.filter(pk=customer.pk).exists()


# --- customers of a segment -------------------------------------------------------------------------------


def customer_ids(api, **params) -> list[str]:
    response = api.get(f"{API}/customers", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == len(body["customers"]) or body["total"] > len(body["customers"])
    return [c["id"] for c in body["customers"]]


def test_customers_of_a_static_segment(api):
    start = timezone.now() - dt.timedelta(days=10)
    customers = [CustomerFactory(created_at=start + dt.timedelta(days=n)) for n in range(5)]
    segment = services.segment_create(name="Some", type="static", customers=[customers[3].pk, customers[1].pk])
    assert customer_ids(api, segment_id=segment.pk) == [customers[1].pk, customers[3].pk]
    assert customer_ids(api, segment_id=segment.pk, order="-created_at") == [customers[3].pk, customers[1].pk]
    assert customer_ids(api, segment_id=segment.pk, limit=1, page=2) == [customers[3].pk]
    body = api.get(f"{API}/customers", {"segment_id": segment.pk, "limit": 1}).json()
    assert body["total"] == 2
    assert customer_ids(api, segment_id=segment.pk, email=customers[3].email) == [customers[3].pk]
    assert customer_ids(api, segment_id=segment.pk, email=customers[0].email) == []
    assert len(customer_ids(api)) == 5  # without segment_id: everyone


def test_customers_of_an_auto_update_segment(api, loyal_customers):
    segment = services.segment_create(name="Loyal", type="auto-update", filter=LOYAL)
    expected = sorted(loyal_customers["in"], key=lambda c: (c.created_at, c.pk))
    assert customer_ids(api, segment_id=segment.pk) == [c.pk for c in expected]


def test_customers_of_an_unknown_segment_is_400_naming_segment_id(api):
    CustomerFactory()
    response = api.get(f"{API}/customers", {"segment_id": "seg_ghost"})
    assert response.status_code == 400
    body = response.json()
    assert body["key"] == "invalid_payload"
    assert body["errors"] == {"segment_id": ["No segment has the id “seg_ghost”."]}
    assert "segment_id" in body["details"]


def test_customers_of_a_segment_cost_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    customers = [CustomerFactory() for _ in range(12)]
    segment = services.segment_create(name="Most", type="static", customers=[c.pk for c in customers[:10]])
    api.get(f"{API}/customers")
    # the key; the segment; the page; the count (+ the table estimate on PostgreSQL)
    with django_assert_max_num_queries(5):
        assert len(customer_ids(api, segment_id=segment.pk, limit=100)) == 10


# --- authentication ---------------------------------------------------------------------------------------


@pytest.fixture
def wrong_key_api(api_key):
    client = SchemaCheckingClient()
    client.credentials(HTTP_X_APP_ID=api_key.key.app_id, HTTP_X_APP_TOKEN="not-the-token")
    return client


@pytest.mark.parametrize("client_name", ["anon_api", "wrong_key_api"])
def test_every_segments_url_needs_a_valid_key(request, client_name):
    client = request.getfixturevalue(client_name)
    segment = services.segment_create(name="VIP", type="static", customers=[CustomerFactory().pk])
    calls = [
        ("get", f"{API}/segments"),
        ("post", f"{API}/segments"),
        ("get", f"{API}/segments/{segment.pk}"),
        ("delete", f"{API}/segments/{segment.pk}"),
        ("get", f"{API}/customers?segment_id={segment.pk}"),
    ]
    for method, path in calls:
        kwargs = {"data": {"name": "X", "type": "static"}, "format": "json"} if method == "post" else {}
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == 401, (method, path)
        assert response.json()["key"] == "unauthorized"
    assert Segment.objects.count() == 1 and SegmentMember.objects.count() == 1
