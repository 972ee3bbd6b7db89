"""Validation, redemption and rollback through the API (every response checked against the OpenAPI schema by
the client of orders/tests/api_support.py), limits under concurrency on PostgreSQL."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orders.choices import EventType, OrderStatus, RedemptionStatus
from orders.models import Customer, Order, OrderEvent, Product, Redemption
from orders.tests import api_support
from orders.tests.api_support import API, SchemaCheckingClient
from orders.tests.factories import CustomerFactory, make_order
from rules import services as rules_services
from rules.models import ValidationRule
from rules.tests.factories import make_promotion, make_rule, make_voucher

anon_api, api, api_key = api_support.anon_api, api_support.api, api_support.api_key
pytestmark = pytest.mark.django_db

MIN_5000 = {
    "1": {
        "name": "order.amount",
        "conditions": {"$more_than_or_equal": [5000]},
        "error": {"message": "Spend at least 50"},
    },
    "logic": "1",
}


@pytest.fixture
def voucher(db):
    return make_voucher("BIG10", rules=[make_rule(MIN_5000, error_message="The cart is too small")])


def post(api, path, body, status=200):
    response = api.post(f"{API}/{path}", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


# --- validations ------------------------------------------------------------------------------------------


def test_validation_of_a_stored_order_applies_and_computes_the_discount_without_storing(api, voucher):
    order = make_order(source_id="shop-1", items=[{"source_id": "tv", "related_object": "product", "price": 9000}])
    body = post(
        api, "validations", {"order": {"source_id": "shop-1"}, "redeemables": [{"object": "voucher", "id": "big10"}]}
    )
    assert body["valid"] is True
    (entry,) = body["redeemables"]
    assert (entry["status"], entry["id"], entry["object"]) == ("APPLICABLE", "big10", "voucher")
    assert entry["result"]["discount"] == {
        "type": "AMOUNT",
        "amount_off": 1000,
        "effect": "APPLY_TO_ORDER",
        "amount": 1000,
    }
    assert entry["order"]["id"] == order.pk
    assert (entry["order"]["discount_amount"], entry["order"]["total_amount"]) == (1000, 8000)
    order.refresh_from_db()
    assert (order.discount_amount, order.status, order.version) == (0, OrderStatus.CREATED, 1)
    assert not Redemption.objects.exists()


def test_validation_failure_says_why_with_the_conditions_own_message(api, voucher):
    order = make_order()  # 2000
    body = post(api, "validations", {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]})
    assert body["valid"] is False
    (entry,) = body["redeemables"]
    assert entry["status"] == "INAPPLICABLE"
    error = entry["result"]["error"]
    assert (error["code"], error["key"], error["message"]) == (400, "order_rules_violated", "Spend at least 50")
    assert error["failed"] == [
        {
            "rule_id": voucher.rule_links.get().rule_id,
            "condition": "1",
            "name": "order.amount",
            "message": "Spend at least 50",
        }
    ]
    assert entry["order"]["discount_amount"] == 0


def test_validation_of_an_inline_order_stores_nothing(api, voucher):
    counts = (Order.objects.count(), Customer.objects.count(), Product.objects.count())
    body = post(
        api,
        "validations",
        {
            "customer": {"source_id": "new-customer", "metadata": {"tier": "gold"}},
            "order": {
                "items": [{"source_id": "new-product", "related_object": "product", "quantity": 3, "price": 2000}]
            },
            "redeemables": [{"object": "voucher", "id": "BIG10"}, {"object": "voucher", "id": "NOPE"}],
        },
    )
    assert body["valid"] is False
    applicable, missing = body["redeemables"]
    assert applicable["status"] == "APPLICABLE" and applicable["order"]["id"] is None
    assert applicable["order"]["amount"] == 6000 and applicable["order"]["total_amount"] == 5000
    assert missing["result"]["error"]["key"] == "not_found" and missing["result"]["error"]["code"] == 404
    assert (Order.objects.count(), Customer.objects.count(), Product.objects.count()) == counts


@pytest.mark.parametrize(
    ("setup", "key"),
    [
        ({"active": False}, "inactive"),
        ({"redemption_limit": 1}, "quantity_exceeded"),
    ],
)
def test_validation_keys_for_inactive_and_used_up_incentives(api, setup, key):
    voucher = make_voucher("X1", **setup)
    if setup.get("redemption_limit"):
        post(api, "redemptions", {"order": {"id": make_order().pk}, "redeemables": [{"object": "voucher", "id": "X1"}]})
    body = post(
        api, "validations", {"order": {"id": make_order().pk}, "redeemables": [{"object": "voucher", "id": voucher.pk}]}
    )
    assert body["redeemables"][0]["result"]["error"]["key"] == key


def test_customer_rules_violated_for_customer_conditions(api):
    rule = make_rule(
        {"1": {"name": "customer.metadata", "property": "tier", "conditions": {"$is": ["gold"]}}, "logic": "1"}
    )
    promotion = make_promotion(rules=[rule])
    order = make_order(customer=CustomerFactory(metadata={"tier": "silver"}))
    body = post(
        api,
        "validations",
        {"order": {"id": order.pk}, "redeemables": [{"object": "promotion_tier", "id": promotion.pk}]},
    )
    assert body["redeemables"][0]["result"]["error"]["key"] == "customer_rules_violated"


def test_stacked_discounts_show_in_each_redeemables_order(api):
    make_voucher("A", amount_off=500)
    promotion = make_promotion(percent_off="10")
    order = make_order(items=[{"source_id": "x", "related_object": "product", "price": 10000}])
    body = post(
        api,
        "validations",
        {
            "order": {"id": order.pk},
            "redeemables": [{"object": "voucher", "id": "A"}, {"object": "promotion_tier", "id": promotion.pk}],
        },
    )
    first, second = body["redeemables"]
    assert first["order"]["total_amount"] == 9500
    assert second["result"]["discount"]["amount"] == 950 and second["order"]["total_amount"] == 8550


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"redeemables": [{"object": "voucher", "id": "A"}]}, "order"),
        ({"order": {"id": "ord_x"}, "redeemables": []}, "redeemables"),
        ({"order": {"id": "ord_x"}, "redeemables": [{"object": "gift", "id": "A"}]}, "redeemables[0].object"),
        (
            {
                "order": {"items": [{"source_id": "p", "price": "12"}]},
                "redeemables": [{"object": "voucher", "id": "A"}],
            },
            "order.items[0].price",
        ),
        (
            {"order": {"items": [{"source_id": "p"}]}, "redeemables": [{"object": "voucher", "id": "A"}]},
            "order.items[0].price",
        ),
    ],
)
def test_bad_requests_are_invalid_payload_with_paths(api, body, path):
    response = post(api, "validations", body, status=400)
    assert response["key"] == "invalid_payload"
    assert path in response["errors"]


def test_unknown_stored_order_is_404(api, voucher):
    body = post(
        api,
        "validations",
        {"order": {"id": "ord_nope"}, "redeemables": [{"object": "voucher", "id": "BIG10"}]},
        status=404,
    )
    assert (body["key"], body["resource_type"], body["resource_id"]) == ("not_found", "order", "ord_nope")


def test_every_endpoint_needs_a_key(anon_api):
    for path in ("validations", "redemptions", "redemptions/r_x/rollback", "validation-rules"):
        assert anon_api.post(f"{API}/{path}", {}, format="json").status_code == 401
    for path in ("validation-rules", "validation-rules/val_x"):
        assert anon_api.get(f"{API}/{path}").status_code == 401
    assert anon_api.put(f"{API}/validation-rules/val_x", {}, format="json").status_code == 401
    assert anon_api.delete(f"{API}/validation-rules/val_x").status_code == 401


# --- redemptions ----------------------------------------------------------------------------------------


def test_redemption_records_the_discount_makes_the_order_paid_and_records_activity(api, api_key, voucher):
    body = post(
        api,
        "redemptions",
        {
            "order": {
                "source_id": "shop-9",
                "items": [{"source_id": "tv", "related_object": "product", "price": 9000}],
            },
            "customer": {"source_id": "alice"},
            "redeemables": [{"object": "voucher", "id": "BIG10"}],
        },
    )
    (redemption,) = body["redemptions"]
    assert (redemption["status"], redemption["result"], redemption["amount"]) == ("SUCCEEDED", "SUCCESS", 1000)
    assert redemption["voucher"] == {"id": voucher.pk, "code": "BIG10", "object": "voucher"}
    order = Order.objects.get(source_id="shop-9")
    assert body["order"]["id"] == order.pk and body["order"]["status"] == "PAID"
    assert (order.status, order.discount_amount, order.customer.source_id) == (OrderStatus.PAID, 1000, "alice")
    assert redemption["id"] in body["order"]["redemptions"]
    event = OrderEvent.objects.get(order=order, type=EventType.REDEMPTION_SUCCEEDED)
    assert event.actor_name == api_key.key.name


def test_failed_redemption_is_recorded_and_answers_400_in_the_envelope(api, voucher):
    order = make_order()
    body = post(
        api,
        "redemptions",
        {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]},
        status=400,
    )
    assert (body["code"], body["key"], body["message"]) == (400, "order_rules_violated", "Spend at least 50")
    assert body["request_id"].startswith("v-")
    failed = Redemption.objects.get(order=order)
    assert body["resource_type"] == "redemption" and body["resource_id"] == failed.pk
    assert (failed.status, failed.failure_code, failed.failure_message) == (
        RedemptionStatus.FAILED,
        "order_rules_violated",
        "Spend at least 50",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED
    shown = api.get(f"{API}/orders/{order.pk}").json()
    assert shown["redemptions"] == {}  # failed attempts are not in the order's redemptions


def test_unknown_code_records_a_failed_not_found_redemption(api):
    order = make_order()
    body = post(
        api,
        "redemptions",
        {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "NOPE"}]},
        status=400,
    )
    assert body["key"] == "not_found"
    assert Redemption.objects.get(order=order).failure_code == "not_found"


def test_redemption_on_a_canceled_order_is_refused(api, voucher):
    from orders import services as order_services
    from orders.tests.factories import SYSTEM

    order = make_order(items=[{"source_id": "tv", "related_object": "product", "price": 9000}])
    order_services.order_set_status(order=order, status=OrderStatus.CANCELED, actor=SYSTEM)
    body = post(
        api,
        "redemptions",
        {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]},
        status=400,
    )
    assert body["key"] == "invalid_status_transition"
    assert not Redemption.objects.exists()


def test_a_stored_order_of_another_customer_is_refused(api, voucher):
    order = make_order(
        customer=CustomerFactory(), items=[{"source_id": "tv", "related_object": "product", "price": 9000}]
    )
    body = post(
        api,
        "redemptions",
        {
            "order": {"id": order.pk},
            "customer": {"source_id": "someone-else"},
            "redeemables": [{"object": "voucher", "id": "BIG10"}],
        },
        status=400,
    )
    assert "customer" in body["errors"]


# --- rollback -------------------------------------------------------------------------------------------


def test_rollback_cancels_the_order_reverts_the_discount_and_refuses_a_second_time(api, voucher):
    order = make_order(items=[{"source_id": "tv", "related_object": "product", "price": 9000}])
    redemption_id = post(
        api, "redemptions", {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]}
    )["redemptions"][0]["id"]
    body = post(api, f"redemptions/{redemption_id}/rollback?reason=wrong%20code", {})
    assert body["object"] == "redemption_rollback" and body["id"].startswith("rr_")
    assert (body["redemption"], body["reason"], body["amount"], body["status"]) == (
        redemption_id,
        "wrong code",
        1000,
        "SUCCEEDED",
    )
    assert body["order"]["status"] == "CANCELED" and body["order"]["discount_amount"] == 0
    assert OrderEvent.objects.filter(order=order, type=EventType.REDEMPTION_ROLLBACK_SUCCEEDED).exists()
    again = post(api, f"redemptions/{redemption_id}/rollback", {"reason": "again"}, status=400)
    assert (again["code"], again["key"]) == (400, "already_rolled_back")
    missing = post(api, "redemptions/r_nope/rollback", {}, status=404)
    assert missing["key"] == "not_found"


def test_rollback_reason_in_the_body_wins(api, voucher):
    order = make_order(items=[{"source_id": "tv", "related_object": "product", "price": 9000}])
    redemption_id = post(
        api, "redemptions", {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]}
    )["redemptions"][0]["id"]
    body = post(api, f"redemptions/{redemption_id}/rollback?reason=query", {"reason": "body"})
    assert body["reason"] == "body"


# --- concurrency --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_redemptions_of_a_code_with_one_use_left_yield_exactly_one_success(api_key):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers (IMMEDIATE transactions)")
    make_voucher("LAST1", redemption_limit=3)
    orders = [make_order() for _ in range(10)]
    client = SchemaCheckingClient()
    client.credentials(HTTP_X_APP_ID=api_key.key.app_id, HTTP_X_APP_TOKEN=api_key.token)
    for order in orders[:2]:  # two of the three uses are gone
        assert (
            client.post(
                f"{API}/redemptions",
                {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "LAST1"}]},
                format="json",
            ).status_code
            == 200
        )
    barrier = threading.Barrier(8)
    statuses, errors = [], []

    def work(order):
        try:
            thread_client = SchemaCheckingClient()
            thread_client.credentials(HTTP_X_APP_ID=api_key.key.app_id, HTTP_X_APP_TOKEN=api_key.token)
            barrier.wait()
            response = thread_client.post(
                f"{API}/redemptions",
                {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "LAST1"}]},
                format="json",
            )
            statuses.append((response.status_code, response.json()["key"] if response.status_code != 200 else "ok"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(order,)) for order in orders[2:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(statuses) == [(200, "ok")] + [(400, "quantity_exceeded")] * 7
    assert Redemption.objects.filter(incentive_code="LAST1", status=RedemptionStatus.SUCCEEDED).count() == 3
    assert Redemption.objects.filter(incentive_code="LAST1", status=RedemptionStatus.FAILED).count() == 7


def test_validating_a_stored_order_reads_a_fixed_number_of_rows(api, voucher):
    from django.test.utils import CaptureQueriesContext

    order = make_order(customer=CustomerFactory())
    body = {"order": {"id": order.pk}, "redeemables": [{"object": "voucher", "id": "BIG10"}]}
    post(api, "validations", body)
    with CaptureQueriesContext(connection) as queries:
        post(api, "validations", body)
    reads = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # the API key, the order with its customer, its lines, the voucher, its rules
    assert len(reads) == 5, reads


# --- validation rules ---------------------------------------------------------------------------------------


def test_validation_rules_are_created_read_updated_and_deleted(api):
    created = post(
        api,
        "validation-rules",
        {
            "name": "Big carts",
            "rules": {"1": {"name": "order.amount", "conditions": {"$more_than_equal": [5000]}}},
            "error": {"message": "Too small"},
        },
    )
    assert created["id"].startswith("val_") and created["object"] == "validation_rules"
    assert created["rules"] == {
        "1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [5000]}},
        "logic": "1",
    }
    assert created["error"] == {"message": "Too small"} and created["assignments_count"] == 0
    rule_id = created["id"]
    assert api.get(f"{API}/validation-rules/{rule_id}").json()["name"] == "Big carts"
    listing = api.get(f"{API}/validation-rules").json()
    assert listing["total"] == 1 and listing["data"][0]["id"] == rule_id
    updated = api.put(f"{API}/validation-rules/{rule_id}", {"name": "Bigger carts"}, format="json").json()
    assert updated["name"] == "Bigger carts" and updated["rules"] == created["rules"]
    voucher = make_voucher("USES", rules=[ValidationRule.objects.get(pk=rule_id)])
    in_use = api.delete(f"{API}/validation-rules/{rule_id}")
    assert in_use.status_code == 400 and "Voucher USES" in in_use.json()["details"]
    rules_services.incentive_update(incentive=voucher, rules=[])
    # 204 has no body, which the schema-checking client cannot read as JSON: a plain client says it
    plain = APIClient()
    plain.credentials(**api._credentials)
    assert plain.delete(f"{API}/validation-rules/{rule_id}").status_code == 204
    assert api.get(f"{API}/validation-rules/{rule_id}").status_code == 404


def test_rule_definitions_are_checked_on_save_with_paths_naming_the_condition(api):
    body = post(
        api,
        "validation-rules",
        {
            "name": "Broken",
            "rules": {
                "1": {"name": "order.amout", "conditions": {"$is": [1]}},
                "2": {"name": "order.amount", "conditions": {"$between": [1]}},
                "3": {"name": "order.items.count", "conditions": {"$is": ["two"]}},
                "logic": "1 and (2 or 4",
            },
        },
        status=400,
    )
    assert body["key"] == "invalid_payload"
    assert set(body["errors"]) == {"rules.1.name", "rules.2.conditions", "rules.3.conditions", "rules.logic"}
    assert "unknown operator “$between”" in body["errors"]["rules.2.conditions"][0]
    assert "“two” is not a whole number" in body["errors"]["rules.3.conditions"][0]
    missing = post(
        api,
        "validation-rules",
        {"name": "x", "rules": {"1": {"name": "order.amount", "conditions": {"$is": [1]}}, "logic": "1 or 2"}},
        status=400,
    )
    assert missing["errors"] == {"rules.logic": ["Logic names condition 2, which the rule does not have."]}
