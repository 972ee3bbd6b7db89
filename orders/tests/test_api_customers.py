"""Customers API: /api/v1/customers (create/upsert, get with the order summary, list)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.models import Customer
from orders.tests import api_support
from orders.tests.api_support import API
from orders.tests.factories import CustomerFactory, make_order

# The API fixtures of api_support, bound here so that this module's tests can ask for them.
api, api_key = api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db


def test_create_then_upsert_by_source_id(api):
    body = {"source_id": "bob-1", "name": "Bob", "email": "bob@example.com", "metadata": {"lang": "en"}}
    response = api.post(f"{API}/customers", body, format="json")
    assert response.status_code == 200
    created = response.json()
    assert created["object"] == "customer" and created["id"].startswith("cust_")
    assert (created["source_id"], created["name"], created["email"], created["metadata"]) == (
        "bob-1",
        "Bob",
        "bob@example.com",
        {"lang": "en"},
    )
    assert created["phone"] is None and created["address"] is None and created["birthdate"] is None
    assert created["summary"]["orders"] == {
        "total_amount": 0,
        "total_count": 0,
        "average_amount": 0,
        "last_order_amount": 0,
        "last_order_date": None,
    }
    again = api.post(f"{API}/customers", {"source_id": "bob-1", "phone": "+1 555"}, format="json").json()
    assert again["id"] == created["id"] and again["phone"] == "+1 555" and again["name"] == "Bob"
    assert Customer.objects.count() == 1


def test_upsert_by_id_and_unknown_id(api):
    customer = CustomerFactory(name="Old")
    response = api.post(f"{API}/customers", {"id": customer.pk, "name": "New"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "New"
    missing = api.post(f"{API}/customers", {"id": "cust_nobody", "name": "x"}, format="json")
    assert missing.status_code == 404
    assert (missing.json()["resource_type"], missing.json()["resource_id"]) == ("customer", "cust_nobody")


def test_invalid_customer_fields_are_named_without_a_prefix(api):
    response = api.post(
        f"{API}/customers",
        {"source_id": "x", "email": "nope", "birthdate": "01/02/2000", "address": "Main St"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"address"}  # the shape is checked first
    response = api.post(
        f"{API}/customers", {"source_id": "x", "email": "nope", "birthdate": "01/02/2000"}, format="json"
    )
    assert set(response.json()["errors"]) == {"email", "birthdate"}
    assert not Customer.objects.exists()


def test_get_by_id_or_source_id_with_the_order_summary(api):
    customer = CustomerFactory(source_id="shop-cust-1")
    make_order(customer=customer, status="PAID", items=[{"source_id": "a", "quantity": 1, "price": 3000}])
    last = make_order(customer=customer, status="FULFILLED", items=[{"source_id": "a", "quantity": 1, "price": 1000}])
    make_order(customer=customer, status="CREATED")  # does not count
    for ref in (customer.pk, "shop-cust-1"):
        response = api.get(f"{API}/customers/{ref}")
        assert response.status_code == 200
        summary = response.json()["summary"]["orders"]
        assert (summary["total_amount"], summary["total_count"], summary["average_amount"]) == (4000, 2, 2000)
        assert summary["last_order_amount"] == 1000
        assert summary["last_order_date"] == last.created_at.astimezone(dt.UTC).isoformat(
            timespec="milliseconds"
        ).replace("+00:00", "Z")


def test_get_unknown_customer_is_404(api):
    response = api.get(f"{API}/customers/cust_nobody")
    assert response.status_code == 404
    assert response.json()["details"] == "Cannot find customer with id cust_nobody"


def test_list_pages_orders_and_filters_by_email(api):
    start = timezone.now() - dt.timedelta(days=30)
    customers = [CustomerFactory(created_at=start + dt.timedelta(days=i)) for i in range(12)]
    body = api.get(f"{API}/customers").json()
    assert (body["object"], body["data_ref"], body["total"]) == ("list", "customers", 12)
    assert [c["id"] for c in body["customers"]] == [c.pk for c in customers[:10]]
    newest = api.get(f"{API}/customers", {"order": "-created_at", "limit": 2, "page": 2}).json()
    assert [c["id"] for c in newest["customers"]] == [customers[9].pk, customers[8].pk]
    found = api.get(f"{API}/customers", {"email": customers[3].email.upper()}).json()
    assert [c["id"] for c in found["customers"]] == [customers[3].pk] and found["total"] == 1
    assert api.get(f"{API}/customers", {"limit": 500}).status_code == 400


def test_list_costs_the_same_queries_for_any_page_size(api):
    for _ in range(20):
        CustomerFactory()
    api.get(f"{API}/customers")
    counts = []
    for limit in (2, 20):
        with CaptureQueriesContext(connection) as captured:
            assert len(api.get(f"{API}/customers", {"limit": limit}).json()["customers"]) == limit
        counts.append(len(captured))
    assert counts[0] == counts[1] <= 4  # key, page, count (+ the table estimate on PostgreSQL)
