"""Bulk order import over the API: POST /api/v1/orders/import and GET /api/v1/async-actions/{id}. Every
response is also checked against the OpenAPI schema by the client (orders/tests/api_support.py)."""

import json
import logging
import signal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from orders import services
from orders.api.imports import IMPORT_MAX_BODY_BYTES
from orders.choices import ActorType, EventType
from orders.models import AsyncAction, Customer, Order, OrderEvent, OrderItem, Product
from orders.tests import api_support
from orders.tests.api_support import API
from orders.tests.factories import ProductFactory, SKUFactory
from orders.tests.test_api_contract import EXAMPLES, RUN, rewrite_order

# The API fixtures of api_support, bound here so that this module's tests can ask for them.
anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db

IMPORT = f"{API}/orders/import"


def line(source_id="p-a", quantity=1, price=1000, **extra):
    return {"source_id": source_id, "related_object": "product", "quantity": quantity, "price": price, **extra}


def start(api, body, status=200) -> dict:
    response = api.post(IMPORT, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def action_of(api, async_action_id: str) -> dict:
    response = api.get(f"{API}/async-actions/{async_action_id}")
    assert response.status_code == 200, response.content
    return response.json()


def imported(api, body) -> dict:
    """Start an import and read its async action (the tests' immediate backend has run it already)."""
    return action_of(api, start(api, body)["async_action_id"])


# --- the import ----------------------------------------------------------------------------------------


def test_import_with_good_and_bad_rows_reports_each_failed_row_by_index_with_its_errors(api, api_key):
    response = api.post(
        IMPORT,
        [
            {"source_id": "i-0", "status": "PAID", "customer": {"source_id": "ann"}, "items": [line("p", 2, 500)]},
            {"source_id": "i-1", "items": [{"product_id": "prod_unknown", "quantity": 1}]},
            {"source_id": "i-2", "amount": 7000, "discount_amount": 8000},
            {"source_id": "i-3", "status": "CANCELED", "amount": 100},
        ],
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["async_action_id"] and body["async_action_id"].startswith("aa_")
    action = action_of(api, body["async_action_id"])
    assert action["id"] == body["async_action_id"]
    assert (action["object"], action["type"], action["status"], action["progress"]) == (
        "async_action",
        "ORDERS.IMPORT",
        "DONE",
        100,
    )
    assert action["request_id"] == response["X-Request-Id"]
    assert isinstance(action["processing_time"], int)
    result = action["result"]
    assert (result["done_count"], result["failed_count"], result["created_count"], result["updated_count"]) == (
        2,
        2,
        2,
        0,
    )
    assert result["message"] == "2 order(s) imported successfully, 2 failed."
    assert result["failed"] == [
        {
            "index": 1,
            "source_id": "i-1",
            "reason": "items[0].product_id: no product with id prod_unknown",
            "errors": {"items[0].product_id": ["no product with id prod_unknown"]},
        },
        {
            "index": 2,
            "source_id": "i-2",
            "reason": "discount_amount: the total discount (8000) cannot exceed the order amount (7000)",
            "errors": {"discount_amount": ["the total discount (8000) cannot exceed the order amount (7000)"]},
        },
    ]
    assert set(Order.objects.values_list("source_id", flat=True)) == {"i-0", "i-3"}
    for order in Order.objects.all():
        (event,) = OrderEvent.objects.filter(order=order)
        assert (event.type, event.actor_type, event.actor_id, event.actor_name) == (
            EventType.ORDER_IMPORTED,
            ActorType.API_KEY,
            api_key.key.app_id,
            api_key.key.name,
        )
    ann = Customer.objects.get(source_id="ann")
    assert (ann.orders_total_count, ann.orders_total_amount) == (1, 1000)


def test_voucherify_import_example_imports_five_orders_and_reports_the_two_whose_items_name_nothing(api):
    # The catalog rows that the example names by Voucherify id exist here under their rewritten source ids
    # (as in test_api_contract), and "vase_1" has a price: the example's orders were written for a shop
    # whose catalog already holds them.
    ProductFactory(source_id="vase_1", name="Vase - Boho Vintage", price=1500)
    ProductFactory(source_id="ref-prod_0b72b0bd64d198e3ae", name="Vase - Boho Vintage", price=1500)
    SKUFactory(source_id="ref-sku_0b1621b319d248b79f", sku="Comics2", price=1600)
    (example,) = EXAMPLES["import_requests"]
    body = [rewrite_order(order) for order in example["body"]]
    action = imported(api, body)
    assert action["status"] == "DONE"
    result = action["result"]
    assert (result["done_count"], result["failed_count"]) == (5, 2)
    names_nothing = ["names no product: give product_id, or source_id with related_object 'product'"]
    assert [(f["index"], f["source_id"], f["errors"]) for f in result["failed"]] == [
        (5, f"orderImport19-{RUN}", {"items[0]": names_nothing, "items[1]": names_nothing}),
        (6, f"orderImport20-{RUN}", {"items[0]": names_nothing, "items[1]": names_nothing}),
    ]
    for index, documented in enumerate(example["body"][:5]):
        order = Order.objects.get(source_id=f"{documented['source_id']}-{RUN}")
        assert order.status == documented["status"]
        assert order.items.count() == len(documented.get("items", [])), index
        assert OrderEvent.objects.get(order=order).type == EventType.ORDER_IMPORTED
    assert Order.objects.get(source_id=f"orderImport17-{RUN}").amount == 7000
    # 2 × 70000 + 1 × 1600: the first order's lines at the prices its override brought into the catalog.
    assert Order.objects.get(source_id=f"orderImport14-{RUN}").amount == 141600
    assert not Order.objects.filter(source_id__startswith="orderImport19").exists()


def test_an_existing_order_is_updated_and_a_repeated_source_id_fails(api):
    start(api, [{"source_id": "again", "amount": 100}])
    result = imported(
        api,
        [
            {"source_id": "again", "status": "PAID"},
            {"source_id": "dup", "amount": 1},
            {"source_id": "dup", "amount": 2},
        ],
    )["result"]
    assert (result["created_count"], result["updated_count"], result["failed_count"]) == (1, 1, 1)
    assert result["failed"][0]["index"] == 2
    assert result["failed"][0]["errors"] == {
        "source_id": ["has the same source id as an earlier row of this import (index 1); an order may appear once"]
    }
    again = Order.objects.get(source_id="again")
    assert again.status == "PAID"
    assert list(again.events.order_by("id").values_list("type", flat=True)) == ["order.imported", "order.paid"]


def test_errors_about_a_top_level_customer_id_name_customer_id(api):
    result = imported(api, [{"source_id": "c", "customer_id": "cust_nobody"}])["result"]
    assert result["failed"][0]["errors"] == {"customer_id": ["no customer with id cust_nobody"]}


def test_a_big_import_takes_a_fixed_number_of_queries(api):
    body = [
        {
            "source_id": f"big-{i}",
            "status": "PAID",
            "customer": {"source_id": f"c-{i % 10}"},
            "items": [line(f"p-{i % 4}"), line(f"p-{i % 3 + 10}", 2, 300), line("p-x", 1, 50)],
            "metadata": {"n": i},
        }
        for i in range(200)
    ]
    with CaptureQueriesContext(connection) as queries:
        action = imported(api, body)
    assert action["result"]["done_count"] == 200
    # Authentication, the action's row and its updates, and the import: 22 queries for 200 orders of 3
    # items (on either database); one order_create per order would take thousands.
    assert len(queries) <= 30, len(queries)
    assert OrderItem.objects.count() == 600


# --- refused up front -----------------------------------------------------------------------------------


def test_shape_errors_of_any_order_refuse_the_whole_import_naming_each_path(api):
    response = api.post(
        IMPORT,
        [
            {"source_id": "ok"},
            "not an order",
            {"source_id": "bad", "amount": "12", "items": [{"source_id": "x", "quantity": 0}]},
        ],
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["key"] == "invalid_payload"
    assert body["errors"] == {
        "[1]": ["Must be an order object."],
        "[2].amount": ["Must be a whole number (a JSON integer, in minor units such as cents)."],
        "[2].items[0].quantity": ["Ensure this value is greater than or equal to 1."],
    }
    assert "[2].items[0].quantity" in body["details"]
    assert not AsyncAction.objects.exists() and not Order.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source_id": "one"}, "The request body must be a JSON array of orders."),
        ([], "The array is empty: send at least one order."),
        ([{"amount": 1}] * 2001, "An import takes at most 2000 orders; this one has 2001. Split it."),
    ],
    ids=["object", "empty", "2001"],
)
def test_not_an_array_empty_or_more_than_2000_orders_is_a_400(api, body, message):
    response = api.post(IMPORT, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"": [message]}
    assert not AsyncAction.objects.exists()


def test_2000_orders_are_accepted_and_a_body_past_the_limit_is_a_413(api):
    # ~3 MB: past the 2.5 MB of other endpoints, within the import's limit.
    body = [{"source_id": f"n-{i}", "amount": i, "metadata": {"note": "x" * 1400}} for i in range(2000)]
    assert len(json.dumps(body)) > 2_621_440
    assert imported(api, body)["result"]["created_count"] == 2000
    oversized = b"[" + b" " * IMPORT_MAX_BODY_BYTES + b"]"
    response = api.post(IMPORT, oversized, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["key"] == "payload_too_large"
    assert AsyncAction.objects.count() == 1


def test_both_urls_need_an_api_key(anon_api, api):
    action_id = start(api, [{"amount": 1}])["async_action_id"]
    for response in (
        anon_api.post(IMPORT, [{"amount": 1}], format="json"),
        anon_api.get(f"{API}/async-actions/{action_id}"),
    ):
        assert response.status_code == 401
        assert response.json()["key"] == "unauthorized"
    anon_api.credentials(HTTP_X_APP_ID="app_wrong", HTTP_X_APP_TOKEN="wrong")
    assert anon_api.get(f"{API}/async-actions/{action_id}").status_code == 401
    assert AsyncAction.objects.count() == 1 and Order.objects.count() == 1


def test_unknown_async_action_is_the_not_found_envelope(api):
    response = api.get(f"{API}/async-actions/aa_nothing")
    assert response.status_code == 404
    body = response.json()
    assert (body["key"], body["resource_type"], body["resource_id"]) == ("not_found", "async_action", "aa_nothing")
    assert body["details"] == "Cannot find async_action with id aa_nothing"


# --- the async action's lifecycle -----------------------------------------------------------------------


def test_an_unexpected_error_marks_the_action_failed_and_logs_it(api, monkeypatch, caplog):
    def failing(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "orders_import", failing)
    with caplog.at_level(logging.ERROR, logger="orders.tasks"):
        action = imported(api, [{"source_id": "lost", "amount": 1}])
    assert (action["status"], action["progress"]) == ("FAILED", 100)
    assert action["result"]["message"].startswith("The import stopped on an unexpected error")
    assert (action["result"]["done_count"], action["result"]["failed"]) == (0, [])
    assert "boom" in caplog.text and action["id"] in caplog.text
    stored = AsyncAction.objects.get()
    assert stored.error and stored.finished_at and stored.started_at


def test_a_failure_inside_the_import_leaves_no_order(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # The last step of the writing, after the orders, items and events went in.
    monkeypatch.setattr(services, "customer_summaries_rebuild", broken)
    order = {"source_id": "gone", "status": "PAID", "customer": {"source_id": "gone-c"}, "items": [line("gone-p")]}
    action = imported(api, [order])
    assert action["status"] == "FAILED"
    assert not Order.objects.exists() and not Customer.objects.exists() and not Product.objects.exists()


@pytest.fixture
def database_tasks(settings):
    """The production backend: tasks wait in the database for ``db_worker``."""
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKENDS["database"]}}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for sig, handler in handlers.items():  # db_worker installs its own
        signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_backend_the_import_waits_for_the_worker(api, database_tasks):
    action_id = start(api, [{"source_id": "queued", "amount": 5}, {"source_id": "queued", "amount": 6}])[
        "async_action_id"
    ]
    waiting = action_of(api, action_id)
    assert (waiting["status"], waiting["result"], waiting["progress"], waiting["processing_time"]) == (
        "ENQUEUED",
        None,
        0,
        None,
    )
    assert not Order.objects.exists()
    # The task carries the action's id only: the worker reads the orders from the action's row.
    (queued,) = DBTaskResult.objects.all()
    assert queued.args_kwargs == {"args": [action_id], "kwargs": {}}
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    done = action_of(api, action_id)
    assert done["status"] == "DONE"
    assert (done["result"]["created_count"], done["result"]["failed_count"]) == (1, 1)
    assert Order.objects.get(source_id="queued").amount == 5
